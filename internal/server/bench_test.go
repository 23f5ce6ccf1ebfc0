package server_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
)

// BenchmarkSessionsRead serves the token-checked read path in-process (no network), so its
// profile shows the pipeline's own cost; compare with BenchmarkTokenLookup, the baseline's work.
func BenchmarkSessionsRead(b *testing.B) {
	env := apitest.New(b)
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
