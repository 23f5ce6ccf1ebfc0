package webhooks

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"github.com/plano/planoauth/internal/seal"
)

// SecretPrefix starts every signing secret (the Standard Webhooks convention): the rest is the
// base64 of the HMAC key.
const SecretPrefix = "whsec_"

// secretBytes is the HMAC key's size: 256 bits, the hash's own size.
const secretBytes = 32

// NewSecret returns a new signing secret, whsec_ and the base64 of 32 random bytes.
func NewSecret() string {
	key := make([]byte, secretBytes)
	_, _ = rand.Read(key) // crypto/rand.Read never fails on supported platforms
	return SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// KeySize is the size of a PLANOAUTH_WEBHOOK_KEY key once base64-decoded (AES-256).
const KeySize = seal.KeySize

// Sealer keeps signing secrets sealed at rest (internal/seal). A secret must be usable to sign,
// so it cannot be hashed like a token; it is encrypted under keys that live in the
// environment, so that a copy of the database is not enough to forge PlanoAuth's webhooks.
// Each sealed secret is bound to its application, so one cannot be moved to another row.
type Sealer struct {
	sealer *seal.Sealer
}

// NewSealer returns a Sealer over PLANOAUTH_WEBHOOK_KEY's keys (seal.ParseKeys), the first of
// which seals.
func NewSealer(keys ...[]byte) (*Sealer, error) {
	sealer, err := seal.New(keys...)
	if err != nil {
		return nil, fmt.Errorf("webhook key: %w", err)
	}
	return &Sealer{sealer: sealer}, nil
}

// Seal encrypts the secret of application's webhook.
func (s *Sealer) Seal(secret string, applicationID int64) []byte {
	return s.sealer.Seal([]byte(secret), additionalData(applicationID))
}

// ErrUnsealable is a sealed secret no key opens: sealed under another key (was
// PLANOAUTH_WEBHOOK_KEY changed?), for another application, or damaged.
var ErrUnsealable = errors.New("the webhook's signing secret cannot be opened with PLANOAUTH_WEBHOOK_KEY (was the key changed? `planoauth webhooks rotate-secret` seals a new one)")

// Open decrypts a secret sealed by Seal for application's webhook.
func (s *Sealer) Open(sealed []byte, applicationID int64) (string, error) {
	plain, err := s.sealer.Open(sealed, additionalData(applicationID))
	if err != nil {
		return "", ErrUnsealable
	}
	return string(plain), nil
}

func additionalData(applicationID int64) []byte {
	return []byte("planoauth webhook secret of application " + strconv.FormatInt(applicationID, 10))
}
