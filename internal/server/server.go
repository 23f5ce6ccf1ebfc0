// Package server builds the service in one place (Build): route registry, session cache,
// envelope writer, authenticator, handlers and router. The middleware order is stated here once:
//
//	request state -> request id -> trace span (when tracing is on) -> recover + log + metrics ->
//	peer (client address) -> body limit -> routing -> identify (registry, records the
//	operation) -> params (decode, validate) -> token -> generated strict handler
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/plano/planoauth/api"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/docs"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/observe"
	"github.com/plano/planoauth/internal/pages"
	"github.com/plano/planoauth/internal/params"
	"github.com/plano/planoauth/internal/peer"
	"github.com/plano/planoauth/internal/registry"
	"github.com/plano/planoauth/internal/reqstate"
	"github.com/plano/planoauth/internal/requestid"
	"github.com/plano/planoauth/internal/spec"
	"github.com/plano/planoauth/internal/telemetry"
)

// MaxBodyBytes bounds every request body; larger ones answer request-too-large.
const MaxBodyBytes = 64 << 10

// Config is everything the service is built from. `planoauth serve` and the test harness both
// fill it and call Build, so nothing set in production can be missing in tests.
type Config struct {
	Pool    *pgxpool.Pool
	Spec    *spec.Spec
	Logger  *slog.Logger
	Metrics *prometheus.Registry
	// Now is the clock of the handlers and the authenticator; nil means time.Now.
	Now func() time.Time
	// Handlers are the handlers' dependencies; Build fills in the pool, writer, logger, clock and
	// session cache.
	Handlers impl.Deps
	// SessionCacheTTL is how long resolved session tokens are kept (0: none, though users
	// still are); SessionCacheEntries bounds the sessions and the users kept.
	SessionCacheTTL     time.Duration
	SessionCacheEntries int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the client.
	TrustedProxies []netip.Prefix
	// RegistryFallback is how often the route registry is reloaded without a notification.
	RegistryFallback time.Duration
	// MetricsElsewhere keeps /metrics off Handler: Service.Metrics serves it on a listener of
	// its own (PLANOAUTH_METRICS_ADDR), so the public port does not show it.
	MetricsElsewhere bool
	// Tracer makes a span of every request (telemetry.Middleware); nil when tracing is off. The
	// pool's queries are traced by the pool's own configuration (telemetry.PoolConfig).
	Tracer trace.TracerProvider
	// For tests: WrapHandlers replaces the handlers (a misbehaving one), and LeaveRegistryUnloaded
	// serves as if the registry had never been read.
	WrapHandlers          func(*impl.Server) gen.StrictServerInterface
	LeaveRegistryUnloaded bool
}

// Service is the built service: its HTTP handler and the parts tests and operators look at.
type Service struct {
	Handler http.Handler
	// Metrics serves the Prometheus metrics (also on Handler at /metrics unless MetricsElsewhere).
	Metrics  http.Handler
	Handlers *impl.Server
	Registry *registry.Registry
	// Cache is the session token and user cache; it caches once Ready is closed.
	Cache *auth.SessionCache
	// Applications are kept in memory once their Ready is closed.
	Applications *auth.Applications
	done         sync.WaitGroup
}

// Wait returns when the watchers Build started have stopped (after its context ended), and the
// work the handlers left running after their answers is done.
func (s *Service) Wait() {
	s.done.Wait()
	s.Handlers.Wait()
}

// Build syncs and loads the route registry and returns the whole service, with the registry and
// the session cache watching for changes until ctx ends.
func Build(ctx context.Context, cfg Config) (*Service, error) {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	svc := &Service{Registry: registry.New(cfg.Pool, cfg.Spec, cfg.Logger)}
	if err := svc.Registry.Sync(ctx); err != nil {
		return nil, err
	}
	if !cfg.LeaveRegistryUnloaded {
		if err := svc.Registry.Refresh(ctx); err != nil {
			return nil, err
		}
		svc.start(func() { svc.Registry.Watch(ctx, cfg.RegistryFallback) })
	}
	svc.Applications = auth.NewApplications(db.New(cfg.Pool))
	svc.start(func() { svc.Applications.Watch(ctx, cfg.Pool, cfg.Logger) })
	// Always made: with a ttl of 0 it keeps no session but still keeps users.
	svc.Cache = auth.NewSessionCache(cfg.SessionCacheTTL, cfg.SessionCacheEntries, now)
	svc.start(func() { svc.Cache.Watch(ctx, cfg.Pool, cfg.Logger) })
	writer := envelope.NewWriter(cfg.Spec, cfg.Logger)
	authenticator := auth.NewAuthenticator(auth.Config{Queries: db.New(cfg.Pool), Now: now, Writer: writer,
		Cache: svc.Cache, Applications: svc.Applications, Render: impl.CallerSession})
	deps := cfg.Handlers
	deps.Pool, deps.Writer, deps.Logger, deps.Now, deps.SessionCache, deps.Applications = cfg.Pool, writer, cfg.Logger, now, svc.Cache, svc.Applications
	deps.Inspector = authenticator
	handlersImpl, err := impl.New(deps)
	if err != nil {
		return nil, err
	}
	svc.Handlers = handlersImpl
	if err := registerAll(cfg.Metrics, svc.Handlers.Collectors()); err != nil {
		return nil, err
	}
	var handlers gen.StrictServerInterface = svc.Handlers
	if cfg.WrapHandlers != nil {
		handlers = cfg.WrapHandlers(svc.Handlers)
	}
	security := pages.Security{DefaultApplication: gen.Planoauth, PasskeyOrigins: svc.Handlers.PasskeyOrigins()}
	handler, err := newHandler(cfg, svc.Registry, writer, authenticator, handlers, svc.Handlers, security)
	if err != nil {
		return nil, err
	}
	svc.Handler = handler
	svc.Metrics = promhttp.HandlerFor(cfg.Metrics, promhttp.HandlerOpts{})
	return svc, nil
}

func registerAll(r *prometheus.Registry, collectors []prometheus.Collector) error {
	for _, c := range collectors {
		if err := r.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	return nil
}

func (s *Service) start(watch func()) {
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		watch()
	}()
}

// routes is what the API router is made of.
type routes struct {
	registry      *registry.Registry
	writer        *envelope.Writer
	authenticator *auth.Authenticator
	handlers      gen.StrictServerInterface
}

// newHandler returns the service's whole HTTP handler.
func newHandler(cfg Config, reg *registry.Registry, writer *envelope.Writer, authenticator *auth.Authenticator, handlers gen.StrictServerInterface, links pages.Links, security pages.Security) (http.Handler, error) {
	reference, err := docs.Handler(api.Spec, "PlanoAuth API")
	if err != nil {
		return nil, err
	}
	root := http.NewServeMux()
	if !cfg.MetricsElsewhere {
		root.Handle("GET /metrics", promhttp.HandlerFor(cfg.Metrics, promhttp.HandlerOpts{}))
	}
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_ = envelope.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	root.HandleFunc("GET /readyz", readiness(cfg.Pool, reg))
	// Browsers reading /docs ask for an icon; there is none, and that is no error.
	root.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, path := range []string{docs.SpecYAMLPath, docs.SpecJSONPath, docs.DocsPath, docs.DocsPath + "/"} {
		root.Handle(path, reference)
	}
	linkPages := pages.Handler(links, cfg.Logger)
	for _, kind := range []pages.Kind{pages.SignIn, pages.Reset, pages.Verification, pages.Invitation} {
		root.Handle(pages.Path(kind), linkPages)
	}
	securityPage := pages.SecurityHandler(security)
	root.Handle(pages.SecurityPath, securityPage)
	root.Handle(pages.SecurityScriptPath, securityPage)
	root.Handle("/", apiRouter(routes{registry: reg, writer: writer, authenticator: authenticator, handlers: handlers}))

	var h http.Handler = root
	h = limitBody(h)
	h = peer.Middleware(cfg.TrustedProxies)(h)
	h = observe.Middleware(cfg.Logger, observe.NewMetrics(cfg.Metrics), writer)(h)
	h = telemetry.Middleware(cfg.Tracer)(h)
	h = requestid.Middleware(cfg.TrustedProxies)(h)
	h = reqstate.Middleware(h)
	return h, nil
}

func apiRouter(cfg routes) http.Handler {
	// A path the ServeMux let through unclean (its dots or slashes percent-encoded: clean as
	// escaped, not once decoded; or a CONNECT's) is no operation's: route-non-existent in the
	// envelope, not gorilla's own 301 (cached for good, a POST turned into a GET, without the
	// headers of every answer, to a Location outside the API).
	router := mux.NewRouter().SkipClean(true)
	nonExistent := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cfg.writer.Status(w, r, gen.StatusRouteNonExistent)
	})
	router.NotFoundHandler = nonExistent
	router.MethodNotAllowedHandler = nonExistent
	router.Use(
		mux.MiddlewareFunc(cfg.registry.Identify(cfg.writer)),
		params.Middleware(cfg.writer),
		cfg.authenticator.Middleware,
	)
	strict := gen.NewStrictHandlerWithOptions(cfg.handlers, []gen.StrictMiddlewareFunc{cfg.writer.Success}, gen.StrictHTTPServerOptions{
		RequestErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			cfg.writer.Error(w, r, &envelope.Error{Status: gen.StatusInvalidEncodedParams, Cause: err})
		},
		ResponseErrorHandlerFunc: cfg.writer.Error,
	})
	return gen.HandlerWithOptions(strict, gen.GorillaServerOptions{
		BaseRouter: router,
		// Parameters were validated already; a binding failure still gets the documented slug.
		ErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			cfg.writer.Error(w, r, &envelope.Error{Status: gen.StatusInvalidParam, Cause: err})
		},
	})
}

func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != http.NoBody { // nothing to bound: params then knows there is no body to read
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// readiness answers 200 when the database answers and the route registry is loaded.
func readiness(pool *pgxpool.Pool, reg *registry.Registry) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := pool.Ping(ctx); err != nil || !reg.Loaded() {
			_ = envelope.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
		_ = envelope.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

const readyTimeout = 2 * time.Second
