// Package server wires the HTTP handler: the middleware order is stated here once.
//
//	request id -> recover + log + metrics -> body limit -> routing ->
//	identify (registry) -> params (decode, validate) -> token -> generated strict handler
package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/plano/planoauth/api"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/docs"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/observe"
	"github.com/plano/planoauth/internal/params"
	"github.com/plano/planoauth/internal/registry"
	"github.com/plano/planoauth/internal/requestid"
)

// MaxBodyBytes bounds every request body; larger ones answer request-too-large.
const MaxBodyBytes = 64 << 10

// Config is what the handler is built from.
type Config struct {
	Pool     *pgxpool.Pool
	Registry *registry.Registry
	// Authenticator resolves tokens; it shares the handlers' clock.
	Authenticator *auth.Authenticator
	Writer        *envelope.Writer
	Handlers      gen.StrictServerInterface
	Logger        *slog.Logger
	Metrics       *prometheus.Registry
}

// New returns the service's whole HTTP handler.
func New(cfg Config) (http.Handler, error) {
	reference, err := docs.Handler(api.Spec, "PlanoAuth API")
	if err != nil {
		return nil, err
	}
	root := http.NewServeMux()
	root.Handle("GET /metrics", promhttp.HandlerFor(cfg.Metrics, promhttp.HandlerOpts{}))
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		envelope.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	root.HandleFunc("GET /readyz", readiness(cfg))
	// Browsers reading /docs ask for an icon; there is none, and that is no error.
	root.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, path := range []string{docs.SpecYAMLPath, docs.SpecJSONPath, docs.DocsPath, docs.DocsPath + "/"} {
		root.Handle(path, reference)
	}
	root.Handle("/", apiRouter(cfg))

	var h http.Handler = root
	h = limitBody(h)
	h = observe.Middleware(cfg.Logger, observe.NewMetrics(cfg.Metrics), cfg.Writer)(h)
	h = requestid.Middleware(h)
	return h, nil
}

func apiRouter(cfg Config) http.Handler {
	router := mux.NewRouter()
	nonExistent := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cfg.Writer.Status(w, r, gen.StatusRouteNonExistent)
	})
	router.NotFoundHandler = nonExistent
	router.MethodNotAllowedHandler = nonExistent
	router.Use(
		mux.MiddlewareFunc(cfg.Registry.Identify(cfg.Writer)),
		params.Middleware(cfg.Writer),
		cfg.Authenticator.Middleware,
	)
	strict := gen.NewStrictHandlerWithOptions(cfg.Handlers, nil, gen.StrictHTTPServerOptions{
		RequestErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			cfg.Writer.Error(w, r, &envelope.Error{Status: gen.StatusInvalidEncodedParams, Cause: err})
		},
		ResponseErrorHandlerFunc: cfg.Writer.Error,
	})
	return gen.HandlerWithOptions(strict, gen.GorillaServerOptions{
		BaseRouter: router,
		// Parameters were validated already; a binding failure still gets the documented slug.
		ErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			cfg.Writer.Error(w, r, &envelope.Error{Status: gen.StatusInvalidParam, Cause: err})
		},
	})
}

func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// readiness answers 200 when the database answers and the route registry is loaded.
func readiness(cfg Config) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := cfg.Pool.Ping(ctx); err != nil || !cfg.Registry.Loaded() {
			envelope.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
		envelope.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

const readyTimeout = 2 * time.Second
