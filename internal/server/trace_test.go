package server_test

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/requestid"
	"github.com/plano/planoauth/internal/telemetry"
)

// TestTraceOfALogIn shows one log-in's trace as `planoauth serve` makes it with tracing on: its
// HTTP server span, named after the route and carrying the request id, and under it a span per
// query, named after the sqlc query, with the SQL but never its arguments.
func TestTraceOfALogIn(t *testing.T) {
	t.Parallel()
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	env := apitest.New(t, apitest.WithTracer(tp))
	const email, password = "ada@example.com", "correct horse battery staple"
	env.User(email, password, "client")
	exporter.Reset() // only the log-in's spans from here

	res := env.PostSensitive(sessionsCreate, map[string]any{"email": email, "password": password, "application": "planoorder"}, "").
		Expect(t, 200, gen.StatusActionSuccessful)
	var session gen.Session
	res.Data(t, &session)

	spans := exporter.GetSpans()
	var server *tracetest.SpanStub
	for i, s := range spans {
		if s.SpanKind == trace.SpanKindServer {
			if server != nil {
				t.Fatalf("two server spans: %s and %s", server.Name, s.Name)
			}
			server = &spans[i]
		}
	}
	if server == nil {
		t.Fatalf("no server span among %v", names(spans))
	}
	if server.Name != "POST "+sessionsCreate {
		t.Errorf("server span is named %q, want the route", server.Name)
	}
	if got, want := attribute(*server, string(telemetry.RequestIDKey)), res.Header.Get(requestid.Header); got != want || want == "" {
		t.Errorf("server span's request id = %q, want the answer's %q", got, want)
	}
	var queries []string
	for _, s := range spans {
		if s.SpanKind != trace.SpanKindClient {
			continue
		}
		if s.SpanContext.TraceID() != server.SpanContext.TraceID() || !descendsFrom(s, *server, spans) {
			t.Errorf("query span %s is not in the log-in's trace under its server span", s.Name)
		}
		queries = append(queries, s.Name)
		for _, kv := range s.Attributes {
			if v := kv.Value.Emit(); strings.Contains(v, password) || strings.Contains(v, email) || strings.Contains(v, *session.Token) {
				t.Errorf("query span %s carries a secret or personal value in %s", s.Name, kv.Key)
			}
		}
	}
	for _, want := range []string{"GetUserByEmail", "CreateSession", "AppendAuditEvent", "BEGIN", "COMMIT"} {
		if !slices.Contains(queries, want) {
			t.Errorf("the trace has no %s query span; it has %v", want, queries)
		}
	}
}

// TestNoTracingWhenOff checks that with no OTLP endpoint nothing is instrumented: the pool has
// no tracer, so tracing off costs nothing.
func TestNoTracingWhenOff(t *testing.T) {
	t.Parallel()
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	for name, tc := range map[string]struct {
		vars       map[string]string
		on, export bool
	}{
		"Unset":          {vars: map[string]string{}},
		"Endpoint":       {vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, on: true, export: true},
		"TracesEndpoint": {vars: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, on: true, export: true},
		"Disabled":       {vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}},
		"NoExporter":     {vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, on: true},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := telemetry.FromEnv(env(tc.vars))
			if err != nil || c.On != tc.on || c.Export != tc.export {
				t.Errorf("FromEnv = %+v, %v; want on %t, export %t", c, err, tc.on, tc.export)
			}
		})
	}
	if _, err := telemetry.FromEnv(env(map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"})); err == nil {
		t.Error("FromEnv accepted an exporter it does not have")
	}
	cfg, err := telemetry.PoolConfig("postgres://127.0.0.1/planoauth", nil)
	if err != nil || cfg.ConnConfig.Tracer != nil {
		t.Errorf("PoolConfig without a tracer = %v, %v; want no query tracer", cfg.ConnConfig.Tracer, err)
	}
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, fmt.Sprintf("%s (%s)", s.Name, s.SpanKind))
	}
	return out
}

func attribute(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// descendsFrom reports whether span's chain of parents within spans reaches root.
func descendsFrom(span, root tracetest.SpanStub, spans tracetest.SpanStubs) bool {
	for range len(spans) {
		if span.Parent.SpanID() == root.SpanContext.SpanID() {
			return true
		}
		i := slices.IndexFunc(spans, func(s tracetest.SpanStub) bool { return s.SpanContext.SpanID() == span.Parent.SpanID() })
		if i < 0 {
			return false
		}
		span = spans[i]
	}
	return false
}

// TestUnknownRequestsMakeFewSpanNames (review7): a request the service does not know is named by
// its method alone, and a method nobody standardised ("HTTP", as otelhttp names it) cannot mint
// a span name per request: the caller chooses the method token, up to MaxHeaderBytes of it.
func TestUnknownRequestsMakeFewSpanNames(t *testing.T) {
	t.Parallel()
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	env := apitest.New(t, apitest.WithTracer(tp))
	exporter.Reset()
	methods := []string{"GET", "POST", "BREW", "X" + strings.Repeat("Y", 2000), "SEARCH-abc123"}
	for i, method := range methods {
		for _, path := range []string{fmt.Sprintf("/no/such/path/%d", i), sessionsCreate, "/magic"} {
			req := apitest.Request(method, path, "", nil, "")
			req.RemoteAddr = fmt.Sprintf("127.0.0.%d:1234", i+1)
			if path == "/magic" { // a page, not an envelope
				env.Handler.ServeHTTP(httptest.NewRecorder(), req)
				continue
			}
			env.Do(req) // the API's answers are validated against the contract
		}
	}
	allowed := map[string]bool{"GET": true, "POST": true, "HTTP": true, "POST " + sessionsCreate: true} // a body-less log-in is identified
	for _, s := range exporter.GetSpans() {
		if s.SpanKind == trace.SpanKindServer && !allowed[s.Name] {
			t.Errorf("a request that is no operation made a span named %.40q (%d bytes)", s.Name, len(s.Name))
		}
	}
}
