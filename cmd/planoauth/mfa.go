package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/plano/planoauth/internal/seal"
)

// mfaKeyFile is where the private cluster's TOTP sealing key is kept when PLANOAUTH_MFA_KEY is
// not set, beside the database whose secrets it seals.
const mfaKeyFile = "mfa.key"

// mfaKeys returns the keys that seal TOTP secrets: PLANOAUTH_MFA_KEY when set; with the private
// cluster (no DATABASE_URL), the key kept in the data folder, made on first start, so that
// `make run` offers authenticator apps out of the box; else none (TOTP answers
// mfa-method-unavailable), since a key made on one instance's disk would not open secrets on
// another instance of the same database.
func mfaKeys(cfg config, stdout io.Writer) ([][]byte, error) {
	switch {
	case cfg.mfaKeys != nil:
		return cfg.mfaKeys, nil
	case cfg.databaseURL != "":
		fmt.Fprintln(stdout, "PLANOAUTH_MFA_KEY is not set: authenticator apps (TOTP) are off (answers mfa-method-unavailable)")
		return nil, nil
	}
	path := filepath.Join(cfg.dataDir, mfaKeyFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(cfg.dataDir, 0o711); err != nil {
			return nil, fmt.Errorf("data folder: %w", err)
		}
		data = []byte(seal.NewKey() + "\n")
		// O_EXCL: two first starts at once keep one key.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, err = f.Write(data)
			if closeErr := f.Close(); err == nil {
				err = closeErr
			}
			fmt.Fprintf(stdout, "made a key for TOTP secrets in %s (set PLANOAUTH_MFA_KEY in production)\n", path)
		}
		if errors.Is(err, fs.ErrExist) {
			data, err = os.ReadFile(path)
		}
		if err != nil {
			return nil, fmt.Errorf("TOTP key file %s: %w", path, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("TOTP key file %s: %w", path, err)
	}
	keys, err := seal.ParseKeys(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("TOTP key file %s: %w", path, err)
	}
	return keys, nil
}
