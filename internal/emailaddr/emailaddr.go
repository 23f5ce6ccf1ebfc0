// Package emailaddr is the one form in which PlanoAuth stores and compares email addresses.
//
// PostgreSQL cannot be trusted to compare them: the private cluster runs without a locale, so
// its lower() folds only ASCII letters, while another server's locale may fold more, or
// differently from Go. So the comparison is made in Go, once, and stored: users.email holds
// Normalize(email), its unique index is on the column itself, and every query compares with
// plain equality against a normalized parameter. Rate-limit keys use the same form.
package emailaddr

import (
	"strings"

	"golang.org/x/text/unicode/norm"
)

// Normalize returns the stored and compared form of an email address: Unicode NFC (so that a
// precomposed "é" and "e" + combining accent are one address), then Go's Unicode lower case
// (strings.ToLower), then NFC again (lower-casing can leave a decomposed sequence). Nothing is
// trimmed: an address with surrounding space is another string, which registration refuses and
// which matches no stored address. Normalize is idempotent.
func Normalize(email string) string {
	return norm.NFC.String(strings.ToLower(norm.NFC.String(email)))
}

// Equal reports whether two addresses are the same account's.
func Equal(a, b string) bool { return Normalize(a) == Normalize(b) }
