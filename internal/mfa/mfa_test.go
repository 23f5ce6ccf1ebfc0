package mfa_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/mfa"
)

func TestMatchTOTP(t *testing.T) {
	secret := "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	now := time.Date(2026, 11, 23, 12, 0, 10, 0, time.UTC)
	step := mfa.TOTPStep(now)
	for offset, want := range map[int64]bool{-2: false, -1: true, 0: true, 1: true, 2: false} {
		code, _ := mfa.TOTPCode(secret, step+offset)
		got, ok, err := mfa.MatchTOTP(secret, code, now)
		if err != nil || ok != want || (ok && got != step+offset) {
			t.Errorf("a code of step %+d: step %d, ok %t, %v; want ok %t", offset, got, ok, err, want)
		}
	}
	// RFC 6238's test vector (SHA-1, 8 digits) truncated to 6: 59 s gives 94287082.
	if code, _ := mfa.TOTPCode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 1); code != "287082" {
		t.Errorf("RFC 6238 vector: %s, want 287082", code)
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes := mfa.NewRecoveryCodes()
	seen := map[string]bool{}
	for _, c := range codes {
		if len(c) != 19 || seen[c] {
			t.Errorf("code %q", c)
		}
		seen[c] = true
	}
	h := mfa.HashRecoveryCode(7, codes[0])
	if !bytes.Equal(h, mfa.HashRecoveryCode(7, " "+codes[0]+" ")) ||
		!bytes.Equal(h, mfa.HashRecoveryCode(7, stringsUpper(codes[0]))) {
		t.Error("case and spaces change the hash")
	}
	if bytes.Equal(h, mfa.HashRecoveryCode(8, codes[0])) {
		t.Error("the hash is not salted with the user")
	}
}

func stringsUpper(s string) string { return string(bytes.ToUpper([]byte(s))) }

func TestLevel(t *testing.T) {
	for _, tc := range []struct {
		methods []gen.SessionMethod
		want    gen.AAL
	}{
		{nil, gen.AAL1},
		{[]gen.SessionMethod{gen.MethodPwd}, gen.AAL1},
		{[]gen.SessionMethod{gen.MethodLink}, gen.AAL1},
		{[]gen.SessionMethod{gen.MethodOtp}, gen.AAL1}, // a second factor alone is not two
		{[]gen.SessionMethod{gen.MethodPwd, gen.MethodOtp}, gen.AAL2},
		{[]gen.SessionMethod{gen.MethodGoogle, gen.MethodRecoveryCode}, gen.AAL2},
		{[]gen.SessionMethod{gen.MethodWebauthn}, gen.AAL2},
	} {
		if got := mfa.Level(tc.methods); got != tc.want {
			t.Errorf("Level(%v) = %s, want %s", tc.methods, got, tc.want)
		}
	}
}

func TestRelyingParty(t *testing.T) {
	for _, tc := range []struct{ url, id, origin string }{
		{"http://127.0.0.1:8080", "localhost", "http://localhost:8080"},
		{"http://localhost:3000", "localhost", "http://localhost:3000"},
		{"https://auth.plano.example", "auth.plano.example", "https://auth.plano.example"},
	} {
		rp, err := mfa.NewRelyingParty(tc.url, "", nil, "Plano")
		if err != nil || rp.ID != tc.id || len(rp.Origins) != 1 || rp.Origins[0] != tc.origin {
			t.Errorf("%s: %+v, %v", tc.url, rp, err)
		}
	}
	if _, err := mfa.NewRelyingParty("https://192.0.2.7", "", nil, "Plano"); !errors.Is(err, mfa.ErrNoRelyingParty) {
		t.Errorf("an IP address made a relying party: %v", err)
	}
}
