// Package seal encrypts small secrets at rest (TOTP secrets, webhook signing secrets) with
// AES-256-GCM under keys that live in the environment, not in the database: a copy of the
// database (a backup, a replica, an injection elsewhere) is then not enough to use them.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of a sealing key: AES-256.
const KeySize = 32

// sealVersion starts every sealed value, so that another scheme can follow.
const sealVersion = 1

// ErrUnsealable is a sealed value that no key opens (a wrong key, or altered bytes).
var ErrUnsealable = errors.New("the sealed value does not open with any key")

// Sealer encrypts small secrets with AES-256-GCM, bound to what they belong to (the associated
// data, e.g. the user id), so that a sealed value moved to another row does not open. It seals
// with its first key and opens with any, so keys can be rotated.
type Sealer struct {
	aeads []cipher.AEAD
}

// New returns a Sealer over keys, the first of which seals.
func New(keys ...[]byte) (*Sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("no sealing key")
	}
	s := &Sealer{}
	for i, key := range keys {
		if len(key) != KeySize {
			return nil, fmt.Errorf("key %d: want %d bytes, got %d", i+1, KeySize, len(key))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		s.aeads = append(s.aeads, aead)
	}
	return s, nil
}

// ParseKeys reads a key setting (PLANOAUTH_MFA_KEY, PLANOAUTH_WEBHOOK_KEY): comma-separated
// keys, each 32 bytes in base64 (standard or URL alphabet, padded or not); the first seals, all
// open.
func ParseKeys(v string) ([][]byte, error) {
	var keys [][]byte
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, err := decodeKey(part)
		if err != nil {
			return nil, err
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, errors.New("no key given")
	}
	return keys, nil
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) != KeySize {
				return nil, fmt.Errorf("a key must be %d bytes in base64, got %d bytes", KeySize, len(key))
			}
			return key, nil
		}
	}
	return nil, errors.New("a key must be base64 (for example: openssl rand -base64 32)")
}

// NewKey returns a new random sealing key in base64.
func NewKey() string {
	key := make([]byte, KeySize)
	_, _ = rand.Read(key) // crypto/rand.Read never fails on supported platforms
	return base64.StdEncoding.EncodeToString(key)
}

// Seal encrypts plain bound to associated (which Open must be given again).
func (s *Sealer) Seal(plain, associated []byte) []byte {
	aead := s.aeads[0]
	out := make([]byte, 1, 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = sealVersion
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plain, associated)
}

// Open decrypts what Seal made with one of the keys; ErrUnsealable when none opens it.
func (s *Sealer) Open(sealed, associated []byte) ([]byte, error) {
	if len(sealed) < 1 || sealed[0] != sealVersion {
		return nil, ErrUnsealable
	}
	body := sealed[1:]
	for _, aead := range s.aeads {
		if len(body) < aead.NonceSize() {
			return nil, ErrUnsealable
		}
		if plain, err := aead.Open(nil, body[:aead.NonceSize()], body[aead.NonceSize():], associated); err == nil {
			return plain, nil
		}
	}
	return nil, ErrUnsealable
}
