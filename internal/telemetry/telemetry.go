// Package telemetry traces requests and queries with OpenTelemetry: one server span per HTTP
// request (otelhttp) named after its route and carrying the request id, and one client span per
// query (otelpgx) named after its sqlc query, under the request's span. Traces are exported over
// OTLP (HTTP/protobuf) only when the standard OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set; otherwise nothing is instrumented at all, so
// tracing off costs nothing. The exporter, sampler and resource read the other standard OTEL_*
// variables themselves.
package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/plano/planoauth/internal/requestid"
	"github.com/plano/planoauth/internal/spec"
)

// Config is whether and how traces are exported, from the environment.
type Config struct {
	// On: an OTLP endpoint is configured and the SDK is not disabled.
	On bool
	// Export is false with OTEL_TRACES_EXPORTER=none: spans are made and dropped, which measures
	// what tracing costs PlanoAuth without a collector.
	Export bool
}

// FromEnv reads OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
// OTEL_SDK_DISABLED and OTEL_TRACES_EXPORTER (otlp, the default, or none).
func FromEnv(getenv func(string) string) (Config, error) {
	endpoint := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") + getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
	disabled := false
	if v := strings.TrimSpace(getenv("OTEL_SDK_DISABLED")); v != "" {
		var err error
		if disabled, err = strconv.ParseBool(v); err != nil {
			return Config{}, fmt.Errorf("OTEL_SDK_DISABLED: %w", err)
		}
	}
	c := Config{On: endpoint != "" && !disabled}
	switch exporter := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exporter {
	case "", "otlp":
		c.Export = c.On
	case "none":
	default:
		return Config{}, fmt.Errorf("OTEL_TRACES_EXPORTER: %q is not supported (otlp or none)", exporter)
	}
	return c, nil
}

// Start returns the tracer provider of c and its shutdown, which flushes the spans still
// batched; a nil provider (and a no-op shutdown) when tracing is off.
func Start(ctx context.Context, c Config) (*sdktrace.TracerProvider, func(context.Context) error, error) {
	if !c.On {
		return nil, func(context.Context) error { return nil }, nil
	}
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName("planoauth")),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, nil, fmt.Errorf("trace resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if c.Export {
		exporter, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("OTLP trace exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exporter))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	return tp, tp.Shutdown, nil
}

// RequestIDKey is the span attribute holding the request id (the X-Request-Id of the answer and
// of the request's log line).
const RequestIDKey = attribute.Key("planoauth.request_id")

// Middleware starts a server span per request, continuing a W3C trace context the caller sent,
// and puts the request id on it; it must run inside requestid.Middleware. With a nil tp it
// returns the handler as it is.
func Middleware(tp trace.TracerProvider) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if tp == nil {
			return next
		}
		tagged := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			trace.SpanFromContext(r.Context()).SetAttributes(RequestIDKey.String(requestid.FromContext(r.Context())))
			next.ServeHTTP(w, r)
		})
		return otelhttp.NewHandler(tagged, "planoauth", otelhttp.WithTracerProvider(tp),
			otelhttp.WithPropagators(propagation.TraceContext{}), otelhttp.WithSpanNameFormatter(spanName))
	}
}

// SetRoute gives the request's span the route of op, as it was identified (http.route), and
// names the span after it ("POST /api/v1/sessions/create").
func SetRoute(ctx context.Context, op *spec.Operation) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(semconv.HTTPRoute(op.Path))
	span.SetName(op.Method + " " + op.Path)
}

// spanName is the span's name when otelhttp names it, as it begins (before any route is
// identified: SetRoute renames it then) and, for the paths a ServeMux pattern routed, again as
// it ends: the method alone, and "HTTP" for a method no standard names (as otelhttp does),
// since the caller chooses that token and could make a name per request.
func spanName(_ string, r *http.Request) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return r.Method
	}
	return "HTTP"
}

// PoolConfig parses a database URL into a pool configuration whose queries make spans under
// their request's span, when tp is not nil. Spans never carry the queries' arguments (tokens'
// hashes, emails), only their SQL.
func PoolConfig(url string, tp trace.TracerProvider) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse the database URL: %w", err)
	}
	if tp != nil {
		cfg.ConnConfig.Tracer = otelpgx.NewTracer(otelpgx.WithTracerProvider(tp), otelpgx.WithSpanNameFunc(QueryName))
	}
	return cfg, nil
}

// sqlcName is the name sqlc writes at the head of each query it generates.
var sqlcName = regexp.MustCompile(`^\s*-- name: (\w+)`)

// QueryName names a query's span: its sqlc name (CreateSession), else its first word (BEGIN).
func QueryName(sql string) string {
	if m := sqlcName.FindStringSubmatch(sql); m != nil {
		return m[1]
	}
	return otelpgx.SQLOperationName(context.Background(), sql)
}
