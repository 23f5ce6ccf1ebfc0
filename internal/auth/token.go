// Package auth makes and checks credentials: tokens (random, prefixed, stored only as SHA-256),
// argon2id password hashes, and the request's token resolved into who is calling.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/plano/planoauth/internal/params"
)

// Token prefixes say what a token is at a glance (and to secret scanners).
const (
	ApplicationPrefix = "paa_"
	SessionPrefix     = "pas_"
	MagicLinkPrefix   = "pam_"
)

// NewToken returns a new 256-bit random token with prefix, and the hash to store.
func NewToken(prefix string) (token string, hash []byte) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	token = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}

// HashToken returns the SHA-256 of a token, the only form in which tokens are stored. A token
// has 256 bits of entropy, so a fast hash is enough and lookups stay a single indexed SELECT.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// WellFormed reports whether token has the prefix and length of a token made by NewToken, so
// that garbage is refused without a database round trip.
func WellFormed(token, prefix string) bool {
	body, ok := strings.CutPrefix(token, prefix)
	if !ok || len(body) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(body)
	return err == nil
}

// TokenFromRequest returns the token of a request from, in order, the Authorization: Bearer
// header, the token query parameter, or the token body parameter; "" when there is none.
func TokenFromRequest(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, token, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
	}
	if token := r.URL.Query().Get("token"); token != "" {
		return token
	}
	if body := params.Body(r.Context()); body != nil {
		var withToken struct {
			Token string `json:"token"`
		}
		if json.Unmarshal(body, &withToken) == nil {
			return withToken.Token
		}
	}
	return ""
}

type contextKey int
