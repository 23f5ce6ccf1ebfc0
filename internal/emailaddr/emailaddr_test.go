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
		{"straße@example.de", "straße@example.de"},    // lower case, not case folding: ß stays
		{" ada@example.com", " ada@example.com"},      // nothing trimmed
		{"Ada@Exämple.COM", "ada@xn--exmple-cua.com"}, // one domain, its ASCII (IDNA) form
		{"ada@xn--exmple-cua.com", "ada@xn--exmple-cua.com"},
		{"élodie@bücher.example", "élodie@xn--bcher-kva.example"}, // the local part as it is
		{"ada@exa mple.com", "ada@exa mple.com"},                  // no IDNA name: kept
	} {
		if got := emailaddr.Normalize(tc.in); got != tc.want {
			t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if !emailaddr.Equal("ada@exämple.com", "ADA@xn--exmple-cua.com") {
		t.Error("Equal is false for one address with its domain in two spellings")
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

func TestMailbox(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"ada@example.com", "ada+x@example.com", true},
		{"Ada+Work+More@Example.com", "ada@example.com", true},
		{"a.d.a@gmail.com", "ada+liaison@googlemail.com", true},
		{"a.d.a@example.com", "ada@example.com", false}, // dots matter outside Gmail
		{"+ada@example.com", "@example.com", false},     // a local part that is all tag is kept
		{"ada@example.com", "ada@example.org", false},
		{"ada@bücher.example", "ada+x@xn--bcher-kva.example", true}, // one domain, Unicode and ASCII
		{"ada@exаmple.com", "ada@example.com", false},               // a Cyrillic а: another domain
		{"ada@example.com", "bob@example.com", false},
	} {
		if got := emailaddr.SameMailbox(tc.a, tc.b); got != tc.same {
			t.Errorf("SameMailbox(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}

func TestDisplay(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"ada@example.com":           "ada@example.com",
		"ada@exаmple.com":           "ada@xn--exmple-4nf.com", // a Cyrillic а
		"élodie@bücher.example":     "élodie@xn--bcher-kva.example",
		"ada@ex\u00admple.com":      "ada@exmple.com", // IDNA maps a soft hyphen away
		"not an address":            "not an address",
		"ada@xn--bcher-kva.example": "ada@xn--bcher-kva.example",
	} {
		if got := emailaddr.Display(in); got != want {
			t.Errorf("Display(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDomain(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"ada@Example.COM":           "example.com",
		"ada@bücher.example":        "xn--bcher-kva.example",
		"ada@XN--BCHER-KVA.example": "xn--bcher-kva.example",
		"ada@exаmple.com":           "xn--exmple-4nf.com", // a Cyrillic а
		"a@b@Example.com":           "example.com",
		"not an address":            "",
		"ada@":                      "",
	} {
		if got := emailaddr.Domain(in); got != want {
			t.Errorf("Domain(%q) = %q, want %q", in, got, want)
		}
	}
}
