package server_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
)

// The API's clean paths go to its router before the ServeMux sees them (apiFirst); a path that
// is not clean is still redirected to its clean form as the ServeMux does (307: the method and
// body kept), under the API's prefix as outside it, and nothing behind it runs.
func TestUncleanPathsRedirectToTheirCleanForm(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	for path, want := range map[string]string{
		"/api/v1//sessions/read":                    "/api/v1/sessions/read",
		"/api/v1/./sessions/read?session_view=full": "/api/v1/sessions/read?session_view=full",
		"/api/v1/../docs":                           "/api/docs",
		"/api/v1/../../docs":                        "/docs",
		"/api/v1/sessions/read/..":                  "/api/v1/sessions",
		"//docs":                                    "/docs",
		"/security/../readyz":                       "/readyz",
	} {
		rec := httptest.NewRecorder()
		env.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusTemporaryRedirect || rec.Header().Get("Location") != want {
			t.Errorf("GET %s: %d to %q, want 307 to %q", path, rec.Code, rec.Header().Get("Location"), want)
		}
	}
	// A path beside the prefix, or an operation's with a slash after it, is still the API
	// router's: route-non-existent.
	for _, path := range []string{"/api/v2/sessions/read", "/apiv1/sessions/read", "/api", "/api/v1/sessions/read/"} {
		if res := env.Do(apitest.Request(http.MethodGet, path, "", nil, "")); res.Envelope.Status != "route-non-existent" {
			t.Errorf("GET %s: %s, want route-non-existent", path, res.Envelope.Status)
		}
	}
}
