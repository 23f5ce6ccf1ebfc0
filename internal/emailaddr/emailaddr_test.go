package emailaddr_test

import (
	"testing"

	"github.com/plano/planoauth/internal/emailaddr"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"Ada@Example.COM", "ada@example.com"},
		{"ÉLODIE@exemple.fr", "élodie@exemple.fr"},
		{"E\u0301lodie@exemple.fr", "élodie@exemple.fr"}, // decomposed É
		{"ÅSA@EXAMPLE.SE", "åsa@example.se"},
		{"ΣΟΦΙΑ@example.gr", "σοφια@example.gr"},
		{"straße@example.de", "straße@example.de"}, // lower case, not case folding: ß stays
		{" ada@example.com", " ada@example.com"},   // nothing trimmed
	} {
		if got := emailaddr.Normalize(tc.in); got != tc.want {
			t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if !emailaddr.Equal("ÉVA@x.example", "e\u0301va@X.example") {
		t.Error("Equal is false for one address in two forms")
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"Ada@Example.com", "E\u0301lodie@exemple.fr", "İSTANBUL@x.tr", "ǅ@x", "ΣΑΣ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := emailaddr.Normalize(s)
		if twice := emailaddr.Normalize(once); twice != once {
			t.Errorf("Normalize is not idempotent on %q: %q then %q", s, once, twice)
		}
	})
}
