package pages

import (
	"strings"
	"testing"
)

// The form-action directive names the redirect URL's origin, and nothing that could end the
// directive or add another.
func TestContentSecurityPolicy(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"https://order.plano.example/welcome?x=1": "form-action 'self' https://order.plano.example;",
		"http://127.0.0.1:8080/app":               "form-action 'self' http://127.0.0.1:8080;",
		"":                                        "form-action 'self';",
		"javascript:alert(1)":                     "form-action 'self';",
		"https://a.example;script-src */x":        "form-action 'self';",
		"https://a.example%3Bscript-src/x":        "form-action 'self';",
		"ftp://files.example/x":                   "form-action 'self';",
	} {
		csp := contentSecurityPolicy(origin(raw))
		if !strings.Contains(csp, want) || strings.Count(csp, ";") != 4 {
			t.Errorf("redirect %q: CSP %q, want %q among five directives", raw, csp, want)
		}
	}
}
