package seal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/plano/planoauth/internal/seal"
)

func TestSealer(t *testing.T) {
	old, current := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	sealer, err := seal.New(old)
	if err != nil {
		t.Fatal(err)
	}
	sealed := sealer.Seal([]byte("JBSWY3DPEHPK3PXP"), []byte("totp:1"))
	if bytes.Contains(sealed, []byte("JBSWY3DPEHPK3PXP")) {
		t.Fatal("sealed in clear")
	}
	if _, err := sealer.Open(sealed, []byte("totp:2")); !errors.Is(err, seal.ErrUnsealable) {
		t.Errorf("opened for another user: %v", err)
	}
	rotated, _ := seal.New(current, old)
	if plain, err := rotated.Open(sealed, []byte("totp:1")); err != nil || string(plain) != "JBSWY3DPEHPK3PXP" {
		t.Errorf("the old key no longer opens after a rotation: %q, %v", plain, err)
	}
	only, _ := seal.New(current)
	if _, err := only.Open(sealed, []byte("totp:1")); !errors.Is(err, seal.ErrUnsealable) {
		t.Errorf("another key opened it: %v", err)
	}
	if _, err := seal.New([]byte("short")); err == nil {
		t.Error("a short key was taken")
	}
}

func TestParseKeys(t *testing.T) {
	keys, err := seal.ParseKeys(seal.NewKey() + ", " + seal.NewKey())
	if err != nil || len(keys) != 2 || len(keys[0]) != 32 {
		t.Errorf("keys %d, %v", len(keys), err)
	}
	for _, bad := range []string{"", "not base64!", "c2hvcnQ="} {
		if _, err := seal.ParseKeys(bad); err == nil {
			t.Errorf("%q was taken", bad)
		}
	}
}
