package pages_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/pages"
)

// The security page runs one script, its own, from its own origin: the policy allows nothing
// else (no inline script, no other origin, no form submission), its inlined CSS by hash, and
// the QR code as a data: image.
func TestSecurityPage(t *testing.T) {
	h := pages.SecurityHandler(pages.Security{DefaultApplication: gen.Planoauth, PasskeyOrigins: []string{"http://localhost:8080"}})
	get := func(target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		return rec
	}
	page := get(pages.SecurityPath + "?application=planoorder")
	if page.Code != 200 || !strings.HasPrefix(page.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("page answered %d %s", page.Code, page.Header().Get("Content-Type"))
	}
	csp := page.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "img-src data:",
		"form-action 'none'", "base-uri 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want+";") && !strings.HasSuffix(csp, want) {
			t.Errorf("policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("policy %q allows inline code", csp)
	}
	body := page.Body.String()
	style := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(body)
	sum := sha256.Sum256([]byte(style[1]))
	if !strings.Contains(csp, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
		t.Error("the policy does not allow the inlined CSS by its hash")
	}
	if scripts := regexp.MustCompile(`<script[^>]*>`).FindAllString(body, -1); len(scripts) != 1 || !strings.Contains(scripts[0], `src="`+pages.SecurityScriptPath+`"`) {
		t.Errorf("scripts %v, want the one same-origin file", scripts)
	}
	if !strings.Contains(body, `data-application="planoorder"`) || !strings.Contains(body, `data-passkey-origins="http://localhost:8080"`) {
		t.Error("the page does not carry its application and passkey origins")
	}
	for _, header := range []string{"Cache-Control", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"} {
		if page.Header().Get(header) == "" {
			t.Errorf("no %s", header)
		}
	}
	t.Run("an application the contract does not list", func(t *testing.T) {
		if body := get(pages.SecurityPath + `?application="><script>`).Body.String(); !strings.Contains(body, `data-application="planoauth"`) {
			t.Error("an unknown application was not replaced by the default")
		}
	})
	t.Run("the script", func(t *testing.T) {
		script := get(pages.SecurityScriptPath)
		if script.Code != 200 || script.Header().Get("Content-Type") != "text/javascript; charset=utf-8" ||
			script.Header().Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(script.Body.String(), "navigator.credentials") {
			t.Errorf("script answered %d %s", script.Code, script.Header().Get("Content-Type"))
		}
	})
}
