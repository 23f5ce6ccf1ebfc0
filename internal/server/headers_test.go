package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
)

// Every /api/ answer, success or error, a new token in it or not, is not to be cached or
// sniffed; the HTML reference may not be framed. (The harness checks the first two on every
// answer a test sees; this test names them, on answers of every kind.)
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", "correct horse battery staple", "client")
	login := apitest.Request(http.MethodPost, "/api/v1/sessions/create", "text/plain", apitest.Sensitive(t, map[string]any{
		"email": "ada@example.com", "password": "correct horse battery staple", "application": "planoorder"}), "")
	answers := map[string]*http.Request{
		"new session token":   login,
		"registration":        apitest.Request(http.MethodPost, "/api/v1/clients/register", "text/plain", apitest.Sensitive(t, map[string]any{"application": "planoorder", "client": map[string]any{"email": "new@example.com", "password": "correct horse battery staple"}}), ""),
		"error":               apitest.Request(http.MethodGet, "/api/v1/sessions/read", "", nil, "pas_nonsense"),
		"missing token":       apitest.Request(http.MethodGet, "/api/v1/coexistence/index", "", nil, ""),
		"unknown route":       apitest.Request(http.MethodGet, "/api/v1/nothing/here", "", nil, ""),
		"wrong content type":  apitest.Request(http.MethodPost, "/api/v1/sessions/create", "application/json", []byte(`{}`), ""),
		"application request": apitest.Request(http.MethodGet, "/api/v1/coexistence/index", "", nil, env.AppTokens["planoorder"]),
	}
	for name, req := range answers {
		t.Run(name, func(t *testing.T) {
			res := env.Do(req) // validated against the contract, as every answer
			for header, want := range map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
				if got := res.Header.Get(header); got != want {
					t.Errorf("%d answer: %s = %q, want %q", res.Code, header, got, want)
				}
			}
		})
	}
	t.Run("docs", func(t *testing.T) {
		rec := httptestDo(env, "/docs")
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("/docs Content-Security-Policy = %q, want frame-ancestors 'none'", csp)
		}
	})
}
