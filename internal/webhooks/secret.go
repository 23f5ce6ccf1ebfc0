package webhooks

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
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

// KeySize is the size of PLANOAUTH_WEBHOOK_KEY once base64-decoded (AES-256).
const KeySize = 32

// Sealer keeps signing secrets sealed at rest. A secret must be usable to sign, so it cannot be
// hashed like a token; it is encrypted with AES-256-GCM under a key that lives in the
// environment, not in the database, so that a copy of the database (a backup, a replica, a SQL
// injection elsewhere) is not enough to forge PlanoAuth's webhooks. Each sealed secret is bound
// to its application (the GCM additional data), so one cannot be moved to another row.
type Sealer struct {
	aead cipher.AEAD
}

// ParseKey reads PLANOAUTH_WEBHOOK_KEY: the standard base64 of KeySize random bytes.
func ParseKey(v string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("must decode to %d bytes, got %d (make one with `openssl rand -base64 %d`)", KeySize, len(key), KeySize)
	}
	return key, nil
}

// NewSealer returns a Sealer for a key of KeySize bytes.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("webhook key: want %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("webhook key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("webhook key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// sealVersion starts every sealed secret, so that another scheme (or key) can come later.
const sealVersion = 1

// Seal encrypts the secret of application's webhook: a version byte, the nonce, the ciphertext.
func (s *Sealer) Seal(secret string, applicationID int64) []byte {
	nonce := make([]byte, s.aead.NonceSize(), 1+s.aead.NonceSize()+len(secret)+s.aead.Overhead())
	_, _ = rand.Read(nonce)
	out := append([]byte{sealVersion}, nonce...)
	return s.aead.Seal(out, nonce, []byte(secret), additionalData(applicationID))
}

// ErrUnsealable is a sealed secret this key cannot open: sealed under another key (was
// PLANOAUTH_WEBHOOK_KEY changed?), for another application, or damaged.
var ErrUnsealable = errors.New("the webhook's signing secret cannot be opened with PLANOAUTH_WEBHOOK_KEY (was the key changed? `planoauth webhooks rotate-secret` seals a new one)")

// Open decrypts a secret sealed by Seal for application's webhook.
func (s *Sealer) Open(sealed []byte, applicationID int64) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != sealVersion {
		return "", ErrUnsealable
	}
	plain, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], additionalData(applicationID))
	if err != nil {
		return "", ErrUnsealable
	}
	return string(plain), nil
}

func additionalData(applicationID int64) []byte {
	return []byte("planoauth webhook secret of application " + strconv.FormatInt(applicationID, 10))
}
