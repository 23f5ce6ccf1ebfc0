package password_test

import (
	"strings"
	"testing"

	"github.com/plano/planoauth/internal/password"
)

func TestWeakness(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		plain  string
		inputs []string
		want   string // a part of the refusal; "" for accepted
	}{
		{"correct horse battery staple", nil, ""},
		{"many unrelated words beat one", nil, ""},
		{"jK8#mQ2$vL-x", nil, ""},
		{"short", nil, "at least 10 characters"},
		{"password123", nil, "most common passwords"},
		{"Password1234", nil, "most common passwords"},
		{"qwertyuiop12", nil, "too easy to guess"},
		{"aaaaaaaaaaaaaaaa", nil, "repeats"},
		{"abcdefghijklmnop", nil, "sequence"},
		{"ada.lovelace@example.com", []string{"ada.lovelace@example.com", "Ada", "Lovelace"}, "your email address or name"},
		{"Lovelace2026!", []string{"ada@example.com", "Ada", "Lovelace"}, "too easy to guess"},
		// Only the first 40 characters are scored: a repeat there stays weak whatever follows.
		{strings.Repeat("ab", 20) + "jK8#mQ2$vL-x", nil, "repeats"},
	} {
		got := password.Weakness(tc.plain, tc.inputs...)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("Weakness(%q) = %q, want %q", tc.plain, got, tc.want)
		}
		if got != "" && !strings.Contains(got, "unrelated words") && !strings.Contains(got, "characters") {
			t.Errorf("Weakness(%q) = %q, which gives no advice", tc.plain, got)
		}
	}
}
