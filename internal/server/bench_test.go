package server_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
)

// BenchmarkSessionsRead serves the token-checked read path in-process (no network), so its
// profile shows the pipeline's own cost; compare with BenchmarkTokenLookup, the baseline's work.
// TracingOff is how serve runs without OTEL_EXPORTER_OTLP_ENDPOINT (nothing instrumented);
// TracingOn makes and drops every span, as OTEL_TRACES_EXPORTER=none does, which is what tracing
// costs the server before any export. CacheOff reads the session from PostgreSQL every time, as
// PLANOAUTH_SESSION_CACHE_TTL=0s does (its user and system CPU are the server's alone, the
// database's is not counted).
func BenchmarkSessionsRead(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []apitest.Option
	}{
		{"TracingOff", nil},
		{"TracingOn", []apitest.Option{apitest.WithTracer(sdktrace.NewTracerProvider())}},
		{"CacheOff", []apitest.Option{apitest.WithoutSessionCache()}},
	} {
		b.Run(bc.name, func(b *testing.B) { benchmarkRead(b, "/api/v1/sessions/read", bc.opts...) })
	}
}

// BenchmarkHotReads serves, in-process with the session cache on, the two other token-checked
// reads that make bench measures: each reads its own rows from PostgreSQL (the user's sessions,
// the client's record and company), so their profiles show that part beside the pipeline.
func BenchmarkHotReads(b *testing.B) {
	for _, path := range []string{"/api/v1/sessions/index", "/api/v1/scopes/liaison_register"} {
		b.Run(strings.TrimPrefix(path, "/api/v1/"), func(b *testing.B) { benchmarkRead(b, path) })
	}
}

func benchmarkRead(b *testing.B, path string, opts ...apitest.Option) {
	env := apitest.New(b, opts...)
	env.User("ada@example.com", "correct horse battery staple", "client")
	token := env.Login("ada@example.com", "correct horse battery staple", "planoorder")
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		// Parsed once: httptest.NewRequest parses a request from text, which the server's
		// connection does before any handler, so it would only blur the pipeline's profile.
		base := httptest.NewRequest(http.MethodGet, path, nil)
		base.Header.Set("Authorization", "Bearer "+token)
		for pb.Next() {
			req := base.WithContext(context.Background()) // a shallow copy, as each request is its own
			rec := httptest.NewRecorder()
			env.Handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Errorf("answer %d: %s", rec.Code, rec.Body)
				return
			}
		}
	})
}

// BenchmarkSessionsCreate logs in in-process with the allowances lifted (as the bench's servers
// run), so that its profile shows what a login costs beside its argon2id hash.
func BenchmarkSessionsCreate(b *testing.B) {
	env := apitest.New(b, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SignIn = limits.Throttle{PerAccount: 1 << 30, PerKnown: 1 << 30, PerAddress: 1 << 30, Window: time.Minute}
		d.Limits.SignedIn = limits.SuccessQuota{PerAccount: 1 << 30, PerAll: 1 << 30, Window: time.Minute}
	}))
	env.User("ada@example.com", "correct horse battery staple", "client")
	body := base64.StdEncoding.EncodeToString([]byte(`{"email":"ada@example.com","password":"correct horse battery staple","application":"planoorder"}`))
	// BENCH_MEMLIMIT=96 runs under serve's default soft memory limit (PLANOAUTH_MEMORY_LIMIT_MIB).
	// CPU per login and the process's peak RSS are reported beside the time, which the other
	// helpers' load on a shared machine blurs more than CPU.
	if mib, err := strconv.Atoi(os.Getenv("BENCH_MEMLIMIT")); err == nil {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(int64(mib) << 20))
	}
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/api/v1/sessions/create", strings.NewReader(body))
			req.Header.Set("Content-Type", "text/plain")
			req.RemoteAddr = fmt.Sprintf("127.0.0.%d:1234", n.Add(1)%200+1)
			rec := httptest.NewRecorder()
			env.Handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Errorf("answer %d: %s", rec.Code, rec.Body)
				return
			}
		}
	})
}

// reportCPU starts counting the process's CPU and returns the function, to defer, that reports
// user and system CPU per operation and the peak RSS: on a machine that other helpers load, CPU
// per operation moves less than the time per operation.
func reportCPU(b *testing.B) func() {
	var before syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	return func() {
		var after syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
		n := float64(b.N)
		b.ReportMetric(float64(after.Utime.Nano()-before.Utime.Nano())/1e3/n, "user-us/op")
		b.ReportMetric(float64(after.Stime.Nano()-before.Stime.Nano())/1e3/n, "sys-us/op")
		b.ReportMetric(float64(after.Maxrss)/1024, "maxrss-MiB")
	}
}
