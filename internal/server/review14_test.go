package server_test

// Review 14 of the routing and of the server span's name (written against a change that routed
// the API's paths past the ServeMux, since reverted; both tests hold with and without it).

import (
	"net/http"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
)

// A server span is named after its operation once the registry identified it, a panic in the
// handler included (the recovery answers it); a route that is not deployed, an unknown one under
// the API's prefix or beside it and an unclean path are named by their method alone. None of them
// carries a route that was not identified.
func TestReview14SpanNames(t *testing.T) {
	t.Parallel()
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	env := apitest.New(t, apitest.WithTracer(tp),
		apitest.WithHandlers(func(s *impl.Server) gen.StrictServerInterface { return crashingRead{s} }))
	env.User("ada@example.com", "correct horse battery staple", "client")
	token := env.Login("ada@example.com", "correct horse battery staple", "planoorder")
	setRoute(t, env, coexistenceIndex, false)
	for _, tc := range []struct {
		path, name, route string
		answer            func(*http.Request)
	}{
		{"/api/v1/sessions/read", "GET /api/v1/sessions/read", "/api/v1/sessions/read",
			func(r *http.Request) { env.Do(r).Expect(t, 500, gen.StatusApplicationCrash) }},
		{coexistenceIndex, "GET", "", func(r *http.Request) { env.Do(r).Expect(t, 503, gen.StatusRouteNotFound) }},
		{"/api/v1/no/such", "GET", "", func(r *http.Request) { env.Do(r).Expect(t, 500, gen.StatusRouteNonExistent) }},
		{"/no/such", "GET", "", func(r *http.Request) { env.Do(r).Expect(t, 500, gen.StatusRouteNonExistent) }},
		{"/api/v1//sessions/read", "GET", "", func(r *http.Request) { env.Handler.ServeHTTP(discard{}, r) }},
	} {
		exporter.Reset()
		req := apitest.Request(http.MethodGet, tc.path, "", nil, token)
		req.RemoteAddr = "127.0.0.3:1234"
		tc.answer(req)
		var servers int
		for _, s := range exporter.GetSpans() {
			if s.SpanKind != trace.SpanKindServer {
				continue
			}
			servers++
			if s.Name != tc.name || attribute(s, "http.route") != tc.route {
				t.Errorf("GET %s: server span %q with http.route %q, want %q and %q", tc.path, s.Name, attribute(s, "http.route"), tc.name, tc.route)
			}
		}
		if servers != 1 {
			t.Errorf("GET %s: %d server spans, want 1", tc.path, servers)
		}
	}
}

// discard is a ResponseWriter for answers that are not the API's (a redirect).
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

// A path whose dot segments or slashes are percent-encoded is clean to the ServeMux (it looks at
// the escaped path) but not once decoded, which is what gorilla routes: gorilla then answered
// its own 301 (permanent, so cached by browsers, a POST turned into a GET by most clients, with
// neither Cache-Control: no-store nor nosniff, and to a Location outside the API, "/metrics"
// here). No operation has such a path: each is route-non-existent, in the envelope. FAILED on
// main (301, not an envelope).
func TestReview14EncodedDotSegmentsAreNoRoute(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/%2E/sessions/read"},
		{http.MethodGet, "/api/v1/sessions/%2e%2e/sessions/read"},
		{http.MethodGet, "/api/v1/%2e%2e/%2e%2e/metrics"},
		{http.MethodGet, "/api/v1/..%2Fmetrics"},
		{http.MethodGet, "/api/v1/%2F/sessions/read"},
		{http.MethodPost, "/api/v1/sessions/%2e/create"},
		{http.MethodConnect, "/api/v1//sessions/read"}, // the ServeMux cleans no CONNECT path
	} {
		req := apitest.Request(tc.method, tc.path, "text/plain", apitest.Sensitive(t, map[string]any{}), "")
		req.RemoteAddr = "127.0.0.4:1234"
		env.Do(req).Expect(t, 500, gen.StatusRouteNonExistent) // the harness fails a 301 (no envelope)
	}
}
