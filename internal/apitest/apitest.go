// Package apitest runs PlanoAuth in-process against a real PostgreSQL database of the test's
// own, and checks every response it sees against the contract. Test packages call Main from
// TestMain and New from each test.
package apitest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/dbtest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/migrate"
	"github.com/plano/planoauth/internal/params"
	"github.com/plano/planoauth/internal/registry"
	"github.com/plano/planoauth/internal/server"
	"github.com/plano/planoauth/internal/spec"
	"github.com/plano/planoauth/internal/telemetry"
)

// Main runs a package's tests with a migrated template database; call it from TestMain.
func Main(m *testing.M) int { return dbtest.Run(m, migrate.Up) }

var (
	loadOnce sync.Once
	contract *spec.Spec
	loadErr  error
)

// Spec returns the loaded contract.
func Spec(tb testing.TB) *spec.Spec {
	tb.Helper()
	loadOnce.Do(func() { contract, loadErr = spec.Load() })
	if loadErr != nil {
		tb.Fatalf("load spec: %v", loadErr)
	}
	return contract
}

// Clock is a controllable time source for expiry tests.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock set to at.
func NewClock(at time.Time) *Clock { return &Clock{now: at} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestMFAKey seals the TOTP secrets of every Env (PLANOAUTH_MFA_KEY).
var TestMFAKey = []byte("planoauth test key for TOTP 32 b")

// Env is one running PlanoAuth with its own database.
type Env struct {
	T        testing.TB
	Pool     *pgxpool.Pool
	Q        *db.Queries
	Spec     *spec.Spec
	Registry *registry.Registry
	Clock    *Clock
	Server   *impl.Server
	Handler  http.Handler
	// Applications are the handler's applications in memory; Reload them after changing one in
	// the database, as the NOTIFY that follows would.
	Applications *auth.Applications
	// AppTokens are the seeded applications' tokens by slug.
	AppTokens map[string]string

	build func() *server.Service
}

// SecondInstance returns another PlanoAuth handler on the same database, with its own session
// cache, as a second server process would be.
func (e *Env) SecondInstance() http.Handler {
	return e.build().Handler
}

// Option adjusts an Env before its handler is built.
type Option func(*options)

type options struct {
	wrap       func(*impl.Server) gen.StrictServerInterface
	deps       func(*impl.Deps)
	logTo      io.Writer
	noRegistry bool
	tracer     trace.TracerProvider
	proxies    []netip.Prefix
	poolSize   int32
	noCache    bool
}

// WithoutSessionCache turns the session cache off, as PLANOAUTH_SESSION_CACHE_TTL=0s does.
func WithoutSessionCache() Option { return func(o *options) { o.noCache = true } }

// WithPoolSize bounds the database pool at n connections, as pool_max_conns does in DATABASE_URL.
func WithPoolSize(n int32) Option { return func(o *options) { o.poolSize = n } }

// WithTrustedProxies trusts the proxies as PLANOAUTH_TRUSTED_PROXIES does.
func WithTrustedProxies(proxies ...netip.Prefix) Option {
	return func(o *options) { o.proxies = proxies }
}

// WithTracer traces the requests and queries as `planoauth serve` does when tracing is on.
func WithTracer(tp trace.TracerProvider) Option { return func(o *options) { o.tracer = tp } }

// WithLog sends the server's JSON logs to w.
func WithLog(w io.Writer) Option { return func(o *options) { o.logTo = w } }

// WithoutRegistry leaves the route registry unloaded, as if the database had not answered.
func WithoutRegistry() Option { return func(o *options) { o.noRegistry = true } }

// WithHandlers replaces the handlers, for tests that need a misbehaving one.
func WithHandlers(wrap func(*impl.Server) gen.StrictServerInterface) Option {
	return func(o *options) { o.wrap = wrap }
}

// WithDeps adjusts the handlers' dependencies (mailer, limits, ...).
func WithDeps(f func(*impl.Deps)) Option {
	return func(o *options) { o.deps = f }
}

// New starts PlanoAuth on a fresh database cloned from the migrated template, built by
// server.Build as `planoauth serve` builds it, with the session cache on (so every test
// exercises the cached token path) and a controllable clock.
func New(tb testing.TB, opts ...Option) *Env {
	tb.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	ctx := context.Background()
	poolConfig, err := telemetry.PoolConfig(dbtest.NewDatabase(tb), o.tracer)
	if err != nil {
		tb.Fatal(err)
	}
	if o.poolSize > 0 {
		poolConfig.MaxConns = o.poolSize
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolConfig)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(pool.Close)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewJSONHandler(testWriter{tb}, nil))
	}
	if o.logTo != nil {
		log = slog.New(slog.NewJSONHandler(o.logTo, nil))
	}
	e := &Env{T: tb, Pool: pool, Q: db.New(pool), Spec: Spec(tb),
		Clock: &Clock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}, AppTokens: map[string]string{}}
	// TOTP works in every test (a fixed key, as PLANOAUTH_MFA_KEY would give); a test of a
	// server without a key sets MFAKeys to an empty list.
	deps := impl.Deps{MFAKeys: [][]byte{TestMFAKey}}
	// Tests count the passwords evaluated exactly; on a loaded machine a hash takes long enough
	// that the default queue budget would shed some. Shedding has tests of its own, which set
	// their budget.
	deps.Hasher.QueueBudget = time.Minute
	if o.deps != nil {
		o.deps(&deps)
	}
	cfg := server.Config{Pool: pool, Spec: e.Spec, Logger: log, Now: e.Clock.Now, Handlers: deps,
		SessionCacheTTL: 10 * time.Second, SessionCacheEntries: 10_000, RegistryFallback: 30 * time.Second,
		WrapHandlers: o.wrap, LeaveRegistryUnloaded: o.noRegistry, Tracer: o.tracer, TrustedProxies: o.proxies}
	if o.noCache {
		cfg.SessionCacheTTL = 0
	}
	e.build = func() *server.Service {
		tb.Helper()
		cfg.Metrics = prometheus.NewRegistry()
		ctx, cancel := context.WithCancel(context.Background())
		svc, err := server.Build(ctx, cfg)
		if err != nil {
			cancel()
			tb.Fatalf("build the service: %v", err)
		}
		tb.Cleanup(func() {
			cancel()
			svc.Wait()
		})
		if svc.Cache != nil {
			<-svc.Cache.Ready()
		}
		<-svc.Applications.Ready()
		if !o.noRegistry {
			<-svc.Registry.Ready()
		}
		return svc
	}
	svc := e.build()
	e.Handler, e.Server, e.Registry, e.Applications = svc.Handler, svc.Handlers, svc.Registry, svc.Applications
	e.issueAppTokens(ctx)
	// The tokens went straight into the database: read them now rather than when the
	// notification arrives.
	if err := svc.Applications.Reload(ctx); err != nil {
		tb.Fatalf("reload applications: %v", err)
	}
	return e
}

func (e *Env) issueAppTokens(ctx context.Context) {
	for _, slug := range []string{"planoauth", "planoorder", "planox2"} {
		token, hash := auth.NewToken(auth.ApplicationPrefix)
		if _, err := e.Q.RotateApplicationToken(ctx, db.RotateApplicationTokenParams{Slug: slug, TokenHash: hash}); err != nil {
			e.T.Fatalf("issue token for %s: %v", slug, err)
		}
		e.AppTokens[slug] = token
	}
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// Response is an answer that was checked against the contract.
type Response struct {
	Code     int
	Header   http.Header
	Raw      []byte
	Envelope struct {
		Status    gen.Status       `json:"status"`
		Message   string           `json:"message"`
		Data      json.RawMessage  `json:"data"`
		Session   *gen.Session     `json:"session"`
		Errors    []gen.ParamError `json:"errors"`
		RequestID string           `json:"request_id"`
	}
}

// Status is the envelope's status slug.
func (r *Response) Status() gen.Status { return r.Envelope.Status }

// Params returns the failing parameters' paths.
func (r *Response) Params() []string {
	var paths []string
	for _, e := range r.Envelope.Errors {
		paths = append(paths, e.Param)
	}
	return paths
}

// Data unmarshals the envelope's data into v.
func (r *Response) Data(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Envelope.Data, v); err != nil {
		tb.Fatalf("decode data %s: %v", r.Envelope.Data, err)
	}
}

// Do serves req and validates the response against the contract: the HTTP code must be
// documented for the operation and the body must match its schema (including the per-code
// status enum). An unknown route must answer route-non-existent.
func (e *Env) Do(req *http.Request) *Response {
	e.T.Helper()
	return e.DoOn(e.Handler, req)
}

// DoOn is Do on another handler of the same database (SecondInstance).
func (e *Env) DoOn(h http.Handler, req *http.Request) *Response {
	e.T.Helper()
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := &Response{Code: rec.Code, Header: rec.Header(), Raw: rec.Body.Bytes()}
	if err := json.Unmarshal(res.Raw, &res.Envelope); err != nil {
		e.T.Fatalf("%s %s: answer is not an envelope: %v\n%s", req.Method, req.URL.Path, err, res.Raw)
	}
	e.validate(req, reqBody, res)
	return res
}

// InFlight is a request served in a goroutine of its own (Env.Start), for tests that make
// requests meet: its answer is validated, as Do's are, by Wait on the test's goroutine.
type InFlight struct {
	env     *Env
	req     *http.Request
	reqBody []byte
	done    chan struct{}
	rec     *httptest.ResponseRecorder
}

// Start serves req in a goroutine of its own and returns at once.
func (e *Env) Start(req *http.Request) *InFlight {
	f := &InFlight{env: e, req: req, done: make(chan struct{}), rec: httptest.NewRecorder()}
	if req.Body != nil {
		f.reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(f.reqBody))
	}
	go func() {
		defer close(f.done)
		e.Handler.ServeHTTP(f.rec, req)
	}()
	return f
}

// Done is closed once the request was answered.
func (f *InFlight) Done() <-chan struct{} { return f.done }

// Wait waits for the answer and validates it against the contract; call it on the test's
// goroutine.
func (f *InFlight) Wait() *Response {
	f.env.T.Helper()
	<-f.done
	res := &Response{Code: f.rec.Code, Header: f.rec.Header(), Raw: f.rec.Body.Bytes()}
	if err := json.Unmarshal(res.Raw, &res.Envelope); err != nil {
		f.env.T.Fatalf("%s %s: answer is not an envelope: %v\n%s", f.req.Method, f.req.URL.Path, err, res.Raw)
	}
	f.env.validate(f.req, f.reqBody, res)
	return res
}

func (e *Env) validate(req *http.Request, reqBody []byte, res *Response) {
	e.T.Helper()
	if err := e.check(req, reqBody, res.Code, res.Header, res.Raw); err != nil {
		e.T.Fatal(err)
	}
}

// check validates one answer against the contract, and that it has the headers every answer of
// the API has.
func (e *Env) check(req *http.Request, reqBody []byte, code int, header http.Header, body []byte) error {
	if err := checkHeaders(header); err != nil {
		return fmt.Errorf("%s %s: answer %d: %w", req.Method, req.URL.Path, code, err)
	}
	op := e.lookup(req)
	if op == nil {
		var env struct{ Status gen.Status }
		_ = json.Unmarshal(body, &env)
		if code != http.StatusInternalServerError || env.Status != gen.StatusRouteNonExistent {
			return fmt.Errorf("%s %s: unknown route answered %d %s, want 500 route-non-existent", req.Method, req.URL.Path, code, env.Status)
		}
		return nil
	}
	req.Body = io.NopCloser(bytes.NewReader(reqBody))
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, Route: op.Route},
		Status:                 code,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		return fmt.Errorf("%s %s: answer %d breaks the contract: %v\n%s", req.Method, req.URL.Path, code, err, body)
	}
	return checkParamPaths(op, body)
}

// commonHeaders are on every answer of the API, success or error (tokens and personal data must
// not be cached, and no browser may sniff another type).
var commonHeaders = map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

func checkHeaders(header http.Header) error {
	for name, want := range commonHeaders {
		if got := header.Get(name); got != want {
			return fmt.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	return nil
}

// checkParamPaths fails an answer whose errors name a parameter the operation does not have:
// handlers write paths like "client.email" by hand, and the contract must keep them true.
func checkParamPaths(op *spec.Operation, body []byte) error {
	var answer struct{ Errors []gen.ParamError }
	_ = json.Unmarshal(body, &answer)
	for _, e := range answer.Errors {
		if e.Message != params.UnknownParamMessage && !knownParam(op, e.Param) {
			return fmt.Errorf("%s: errors name %q, which is no parameter of the operation", op.ID, e.Param)
		}
	}
	return nil
}

func knownParam(op *spec.Operation, path string) bool {
	switch path {
	case "body", "Content-Type", "token":
		return true
	}
	for _, p := range op.Operation.Parameters {
		if p.Value.Name == path {
			return true
		}
	}
	schema := op.Sensitive
	if schema == nil && op.Operation.RequestBody != nil {
		if media := op.Operation.RequestBody.Value.Content.Get("application/json"); media != nil {
			schema = media.Schema.Value
		}
	}
	return schemaHasPath(schema, strings.Split(path, "."))
}

// schemaHasPath follows properties (through allOf) and array items along a dotted path.
func schemaHasPath(schema *openapi3.Schema, path []string) bool {
	if schema == nil {
		return false
	}
	if len(path) == 0 {
		return true
	}
	if prop, ok := schema.Properties[path[0]]; ok && schemaHasPath(prop.Value, path[1:]) {
		return true
	}
	if schema.Items != nil && isIndex(path[0]) && schemaHasPath(schema.Items.Value, path[1:]) {
		return true
	}
	for _, part := range schema.AllOf {
		if schemaHasPath(part.Value, path) {
			return true
		}
	}
	return false
}

func isIndex(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// HTTPServer serves the Env over real loopback HTTP, for SDK clients, and checks every answer
// against the contract like Do (a breach fails the test). It is closed when the test ends.
func (e *Env) HTTPServer() *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		e.Handler.ServeHTTP(rec, r)
		if err := e.check(r, body, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			e.T.Error(err)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	e.T.Cleanup(srv.Close)
	return srv
}

// lookup finds the documented operation of a request by method and exact path.
func (e *Env) lookup(req *http.Request) *spec.Operation {
	return e.Spec.Lookup(req.Method, req.URL.Path)
}

// Request builds a request; token, when not empty, goes in the Authorization header.
func Request(method, path, contentType string, body []byte, token string) *http.Request {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

// Sensitive encodes params as a sensitive body: base64 of their JSON.
func Sensitive(tb testing.TB, params any) []byte {
	tb.Helper()
	b, err := json.Marshal(params)
	if err != nil {
		tb.Fatalf("encode params: %v", err)
	}
	return []byte(base64.StdEncoding.EncodeToString(b))
}

// PostSensitive posts params to a sensitive route.
func (e *Env) PostSensitive(path string, params any, token string) *Response {
	e.T.Helper()
	return e.Do(Request(http.MethodPost, path, "text/plain", Sensitive(e.T, params), token))
}

// PostJSON posts params as JSON.
func (e *Env) PostJSON(path string, params any, token string) *Response {
	e.T.Helper()
	b, err := json.Marshal(params)
	if err != nil {
		e.T.Fatalf("encode params: %v", err)
	}
	return e.Do(Request(http.MethodPost, path, "application/json", b, token))
}

// Get sends a GET with the token in the Authorization header.
func (e *Env) Get(path, token string) *Response {
	e.T.Helper()
	return e.Do(Request(http.MethodGet, path, "", nil, token))
}

// Expect fails the test unless the answer has the given HTTP code and status slug.
func (r *Response) Expect(tb testing.TB, code int, status gen.Status) *Response {
	tb.Helper()
	if r.Code != code || r.Status() != status {
		tb.Fatalf("got %d %s, want %d %s\n%s", r.Code, r.Status(), code, status, r.Raw)
	}
	return r
}

// Schema returns a component schema of the contract, for tests that validate a fragment.
func (e *Env) Schema(name string) *openapi3.Schema {
	ref := e.Spec.Doc.Components.Schemas[name]
	if ref == nil {
		e.T.Fatalf("no schema %s", name)
	}
	return ref.Value
}
