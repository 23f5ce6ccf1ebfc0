package password

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
	"github.com/trustelem/zxcvbn/match"
)

// The password policy of every new password (registration, reset, change, invitation, a
// password set by an application or an employee). The contract's Password schema states it.
const (
	// MinLength is the fewest characters a new password may have.
	MinLength = 10
	// MinScore is the lowest zxcvbn score accepted: 3 of 4 means about 10^8 guesses or more,
	// which zxcvbn calls safe against online attacks and an offline attack on a slow hash
	// (argon2id) alike.
	MinScore = 3
	// ScoredRunes is how much of a password is scored: zxcvbn's cost grows fast with length
	// (a random 100-character password takes it about half a second, 40 characters a few
	// milliseconds). A password whose first 40 characters are strong is strong.
	ScoredRunes = 40
)

// advice ends every refusal, so that a user knows what would be accepted.
const advice = "a few unrelated words, or a longer password, make a strong one"

// Weakness says why plain is too easy to guess for a new password, or "" when it is strong
// enough. It checks the length, then scores the password offline with zxcvbn (a port of
// Dropbox's estimator with its lists of common passwords, English words, names and surnames
// embedded in the binary, and its keyboard, repeat, sequence and date patterns), treating
// userInputs (the user's email, names) as words an attacker would try first.
func Weakness(plain string, userInputs ...string) string {
	if utf8.RuneCountInString(plain) < MinLength {
		return fmt.Sprintf("must be at least %d characters", MinLength)
	}
	result := zxcvbn.PasswordStrength(firstRunes(plain, ScoredRunes), expandInputs(userInputs))
	if result.Score >= MinScore {
		return ""
	}
	return "is too easy to guess (" + reason(result.Sequence) + "); " + advice
}

// firstRunes is s cut to at most n runes.
func firstRunes(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// expandInputs are the words of the user's own data that zxcvbn should look for: each input in
// lower case, and the parts of an email (its local part and domain labels) and of names.
func expandInputs(inputs []string) []string {
	var out []string
	add := func(s string) {
		if s = strings.ToLower(strings.TrimSpace(s)); len(s) >= 3 {
			out = append(out, s)
		}
	}
	for _, in := range inputs {
		add(in)
		for _, part := range strings.FieldsFunc(in, func(r rune) bool { return strings.ContainsRune("@.+-_ ", r) }) {
			add(part)
		}
	}
	return out
}

// reason names the weakest part zxcvbn found, in words a user understands: the longest part
// that is not random characters.
func reason(sequence []*match.Match) string {
	var worst *match.Match
	for _, m := range sequence {
		if m.Pattern == "bruteforce" {
			continue
		}
		if worst == nil || len(m.Token) > len(worst.Token) {
			worst = m
		}
	}
	if worst == nil {
		return "it is short for its mix of characters"
	}
	switch worst.Pattern {
	case "dictionary":
		switch worst.DictionaryName {
		case "passwords":
			return "it is built on one of the most common passwords"
		case "user_inputs":
			return "it contains your email address or name"
		case "male_names", "female_names", "surnames":
			return "it is built on a common name"
		}
		return "it is built on a common word"
	case "spatial":
		return "it is a keyboard pattern"
	case "repeat":
		return "it repeats characters or words"
	case "sequence":
		return "it is a sequence such as abc or 123"
	case "date", "regex":
		return "it is built on a date or a year"
	}
	return "it follows a common pattern"
}
