package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plano/planoauth/internal/seal"
)

// Without PLANOAUTH_MFA_KEY, the private cluster gets a key made once in its data folder; a
// database elsewhere gets none (TOTP is off), since another instance could not share it.
func TestMFAKeys(t *testing.T) {
	t.Parallel()
	t.Run("the private cluster's key file", func(t *testing.T) {
		dir := t.TempDir()
		cfg := config{dataDir: dir}
		var out bytes.Buffer
		first, err := mfaKeys(cfg, &out)
		if err != nil || len(first) != 1 || !strings.Contains(out.String(), "made a key") {
			t.Fatalf("keys %v, %v, printed %q", first, err, out.String())
		}
		info, err := os.Stat(filepath.Join(dir, mfaKeyFile))
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("key file %v, %v; want mode 0600", info, err)
		}
		again, err := mfaKeys(cfg, &out)
		if err != nil || !bytes.Equal(again[0], first[0]) {
			t.Errorf("a second start made another key: %v", err)
		}
	})
	t.Run("a database elsewhere", func(t *testing.T) {
		var out bytes.Buffer
		keys, err := mfaKeys(config{dataDir: t.TempDir(), databaseURL: "postgres://elsewhere/db"}, &out)
		if err != nil || keys != nil || !strings.Contains(out.String(), "PLANOAUTH_MFA_KEY is not set") {
			t.Errorf("keys %v, %v, printed %q; want none and a word", keys, err, out.String())
		}
	})
	t.Run("PLANOAUTH_MFA_KEY", func(t *testing.T) {
		key := seal.NewKey()
		cfg, err := loadConfig(func(name string) string {
			return map[string]string{"PLANOAUTH_MFA_KEY": key, "DATABASE_URL": "postgres://elsewhere/db"}[name]
		})
		if err != nil {
			t.Fatal(err)
		}
		keys, err := mfaKeys(cfg, &bytes.Buffer{})
		if err != nil || len(keys) != 1 {
			t.Errorf("keys %v, %v", keys, err)
		}
		if _, err := loadConfig(func(name string) string {
			return map[string]string{"PLANOAUTH_MFA_KEY": "too short"}[name]
		}); err == nil || !strings.Contains(err.Error(), "PLANOAUTH_MFA_KEY") {
			t.Errorf("a bad key was taken: %v", err)
		}
	})
}
