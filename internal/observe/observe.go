// Package observe wraps every request with what operators need: panic recovery, one structured
// log line, and Prometheus metrics. It never logs bodies or query strings (tokens travel there).
package observe

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/reqstate"
	"github.com/plano/planoauth/internal/requestid"
)

// info is filled in while the request is served, and read when it ends.
type info struct{ operation string }

// SetOperation records which operation the request was identified as, for logs and metrics.
func SetOperation(ctx context.Context, operationID string) {
	if i := reqstate.Get[*info](ctx, reqstate.Log); i != nil {
		i.operation = operationID
	}
}

// Metrics are the Prometheus collectors of the HTTP layer.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics registers the HTTP collectors with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "planoauth_http_requests_total", Help: "HTTP requests by operation and HTTP code.",
		}, []string{"operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "planoauth_http_request_duration_seconds", Help: "HTTP request latency by operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"operation"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// recorder remembers the status code written.
type recorder struct {
	http.ResponseWriter
	code int
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Middleware logs and measures each request and turns a panic into application-crash. It must
// run inside requestid.Middleware.
func Middleware(log *slog.Logger, metrics *Metrics, writer *envelope.Writer) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			i := &info{operation: "none"}
			r = reqstate.Record(r, reqstate.Log, i)
			rec := &recorder{ResponseWriter: w}
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					crash := &envelope.Error{Status: gen.StatusApplicationCrash,
						Cause: fmt.Errorf("panic: %v\n%s", p, debug.Stack())}
					if rec.code == 0 {
						writer.Error(rec, r, crash) // logs it
					} else { // too late to answer; the client sees a cut answer
						log.LogAttrs(r.Context(), slog.LevelError, "panic after the answer began",
							slog.String("request_id", requestid.FromContext(r.Context())), slog.Any("error", crash))
					}
				}
				elapsed := time.Since(start)
				metrics.requests.WithLabelValues(i.operation, fmt.Sprint(rec.code)).Inc()
				metrics.duration.WithLabelValues(i.operation).Observe(elapsed.Seconds())
				log.LogAttrs(r.Context(), slog.LevelInfo, "request",
					slog.String("request_id", requestid.FromContext(r.Context())),
					slog.String("method", r.Method), slog.String("path", r.URL.Path),
					slog.String("operation", i.operation), slog.Int("code", rec.code),
					slog.Duration("duration", elapsed))
			}()
			next.ServeHTTP(rec, r)
		})
	}
}
