// Package auth makes and checks credentials: tokens (random, prefixed, stored only as SHA-256),
// argon2id password hashes, and the request's token resolved into who is calling.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"strings"

	"github.com/plano/planoauth/internal/params"
)

// Token prefixes say what a token is at a glance (and to secret scanners).
const (
	ApplicationPrefix = "paa_"
	SessionPrefix     = "pas_"
	MagicLinkPrefix   = "pam_"
	// DevicePrefix marks a device token: what a sign-in hands its caller so that the account
	// knows it again (internal/limits).
	DevicePrefix = "pad_"
)

// tokenBytes is how much randomness a token carries: 256 bits.
const tokenBytes = 32

// tokenBodyLength is the length of a token after its prefix: its bytes in unpadded base64url.
var tokenBodyLength = base64.RawURLEncoding.EncodedLen(tokenBytes)

// NewToken returns a new 256-bit random token with prefix, and the hash to store.
func NewToken(prefix string) (token string, hash []byte) {
	var b [tokenBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	token = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}

// CodeDigits is the length of the short code every link email carries for another device: 8
// decimal digits, 10^8 values.
const CodeDigits = 8

// codeValues is how many codes there are.
var codeValues = new(big.Int).Exp(big.NewInt(10), big.NewInt(CodeDigits), nil)

// NewCode returns a uniformly random code of CodeDigits decimal digits. Unlike a token, a code
// falls to a fast hash offline in a moment: it is stored as an argon2id hash
// (internal/password), and tried only a few times.
func NewCode() string {
	v, err := rand.Int(rand.Reader, codeValues)
	if err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // it does not on supported platforms
	}
	return fmt.Sprintf("%0*d", CodeDigits, v)
}

// HashToken returns the SHA-256 of a token, the only form in which tokens are stored. A token
// has 256 bits of entropy, so a fast hash is enough and lookups stay a single indexed SELECT.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// WellFormed reports whether token is one that NewToken could have made with prefix, so that
// garbage is refused without a database round trip.
func WellFormed(token, prefix string) bool {
	body, ok := strings.CutPrefix(token, prefix)
	if !ok || len(body) != tokenBodyLength {
		return false
	}
	// Strict refuses set bits past the 256th, which would give one token several spellings.
	// Decoders skip new lines whatever the mode, so a body with one decodes to fewer bytes.
	decoded, err := base64.RawURLEncoding.Strict().DecodeString(body)
	return err == nil && len(decoded) == tokenBytes
}

// TokenFromRequest returns the token of a request from, in order, the Authorization: Bearer
// header, the token query parameter, or the token body parameter; "" when there is none.
func TokenFromRequest(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, token, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(token) != "" {
			return strings.TrimSpace(token)
		}
	}
	if token := r.URL.Query().Get("token"); token != "" {
		return token
	}
	if parsed := params.FromContext(r.Context()); parsed != nil {
		return parsed.Token
	}
	return ""
}
