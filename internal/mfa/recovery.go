package mfa

import (
	"crypto/rand"
	"crypto/sha256"
	"strconv"
	"strings"
)

// RecoveryCodeCount is how many recovery codes a set holds.
const RecoveryCodeCount = 10

// recoveryAlphabet is the 31 lower-case letters and digits without 0/o, 1/l/i, so that a code
// is easy to copy from paper; each symbol carries log2(31), about 4.95 bits.
const recoveryAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// recoveryLength is the symbols of a code: 16 of them are about 79 random bits, beyond any
// offline search of its (salted) SHA-256, so a fast hash is enough, as for tokens.
const recoveryLength = 16

// NewRecoveryCodes returns a new set of codes as shown to the user ("abcd-efgh-jkmn-pqrs").
func NewRecoveryCodes() []string {
	codes := make([]string, RecoveryCodeCount)
	for i := range codes {
		codes[i] = newRecoveryCode()
	}
	return codes
}

func newRecoveryCode() string {
	var b strings.Builder
	for i := range recoveryLength {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(recoveryAlphabet[randomBelow(len(recoveryAlphabet))])
	}
	return b.String()
}

// randomBelow returns a uniform random int in [0, n) for n ≤ 256, by rejection.
func randomBelow(n int) int {
	limit := 256 - 256%n
	var b [1]byte
	for {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}

// HashRecoveryCode is what is stored of a user's code: SHA-256 over the user id and the code
// as typed, normalized (case, spaces and hyphens ignored). The user id salts it, so that one
// search cannot target every user's codes at once.
func HashRecoveryCode(userID int64, code string) []byte {
	sum := sha256.Sum256([]byte("planoauth recovery code\x00" + strconv.FormatInt(userID, 10) + "\x00" + normalizeRecoveryCode(code)))
	return sum[:]
}

func normalizeRecoveryCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			return -1
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return r
	}, code)
}
