package server_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/plano/planoauth/internal/apitest"
)

// BenchmarkSessionsRead serves the token-checked read path in-process (no network), so its
// profile shows the pipeline's own cost; compare with BenchmarkTokenLookup, the baseline's work.
// TracingOff is how serve runs without OTEL_EXPORTER_OTLP_ENDPOINT (nothing instrumented);
// TracingOn makes and drops every span, as OTEL_TRACES_EXPORTER=none does, which is what tracing
// costs the server before any export.
func BenchmarkSessionsRead(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []apitest.Option
	}{
		{"TracingOff", nil},
		{"TracingOn", []apitest.Option{apitest.WithTracer(sdktrace.NewTracerProvider())}},
	} {
		b.Run(bc.name, func(b *testing.B) { benchmarkSessionsRead(b, bc.opts...) })
	}
}

func benchmarkSessionsRead(b *testing.B, opts ...apitest.Option) {
	env := apitest.New(b, opts...)
	env.User("ada@example.com", "correct horse battery staple", "client")
	token := env.Login("ada@example.com", "correct horse battery staple", "planoorder")
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, "/api/v1/sessions/read", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			env.Handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Errorf("answer %d: %s", rec.Code, rec.Body)
				return
			}
		}
	})
}
