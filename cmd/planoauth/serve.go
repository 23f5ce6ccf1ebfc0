package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/trace"

	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/mail"
	"github.com/plano/planoauth/internal/observe"
	"github.com/plano/planoauth/internal/redirect"
	"github.com/plano/planoauth/internal/retention"
	"github.com/plano/planoauth/internal/server"
	"github.com/plano/planoauth/internal/spec"
	"github.com/plano/planoauth/internal/telemetry"
	"github.com/plano/planoauth/internal/webhooks"
)

// registryFallback is how often the route registry is reloaded even without a notification.
const registryFallback = 30 * time.Second

func serve(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	// The access log is buffered (one line per request, written out every 100 ms): a write to a
	// terminal or a pipe per request would cost more than the request.
	logs := observe.NewLogWriter(stderr)
	defer logs.Close()
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: cfg.logLevel}))
	// The collector's pacing: the soft memory limit caps the heap (the hasher also collects each
	// hash's 19 MiB as it ends, see password.Hasher), so a GC percent above the default 100 only
	// spaces collections while the heap is small, as it is between logins (10 MiB live, two
	// thirds of it zxcvbn's dictionaries, which every cycle marks again). See README "Benchmarks".
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(cfg.memoryLimit()) << 20)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(cfg.gcPercent)
	}
	contract, err := spec.Load()
	if err != nil {
		return err
	}
	tracer, stopTracing, err := telemetry.Start(ctx, cfg.tracing)
	if err != nil {
		return err
	}
	defer func() { // flush the spans still batched
		if err := stopTracing(context.WithoutCancel(ctx)); err != nil {
			log.Warn("flush traces", slog.Any("error", err))
		}
	}()
	var tp trace.TracerProvider
	if tracer != nil { // a nil *TracerProvider in the interface would not be nil
		tp = tracer
		log.Info("tracing: spans of requests and queries are exported over OTLP")
	}
	return withTracedDatabase(ctx, cfg, stderr, tp, func(ctx context.Context, d *database) error {
		if err := issueMissingTokens(ctx, d.q, stdout); err != nil {
			return err
		}
		// Listen first: the default public URL (where emailed links point, queued emails' too)
		// is the address actually listened on, which only the listener knows for port 0.
		listener, err := net.Listen("tcp", cfg.addr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.addr, err)
		}
		defer listener.Close()
		publicURL := cmp.Or(cfg.publicURL, defaultPublicURL(listener.Addr().String()))
		if _, err := redirect.Origin(publicURL); err != nil {
			log.Warn("the public URL is plain http to a host other than loopback, so it is no redirect target: "+
				"applications accept redirect URLs only to the origins on their allow-lists (planoauth applications redirects add); "+
				"set PLANOAUTH_PUBLIC_URL to the https URL browsers reach", slog.String("public_url", publicURL))
		}
		keys, err := mfaKeys(cfg, stdout)
		if err != nil {
			return err
		}
		mailer := newMailer(cfg, d, log)
		outbox := cfg.outbox
		outbox.PublicURL = publicURL
		stopOutbox := startWorker(ctx, mail.NewWorker(d.pool, mailer, log, time.Now, outbox).Run)
		defer stopOutbox()
		stopWebhooks, err := startWebhooks(ctx, cfg, d, log)
		if err != nil {
			return err
		}
		defer stopWebhooks()
		stopRetention := startWorker(ctx, retention.NewWorker(d.pool, cfg.retention, time.Now, log).Run)
		defer stopRetention()

		metrics := prometheus.NewRegistry()
		metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		watchCtx, stopWatching := context.WithCancel(ctx)
		defer stopWatching()
		svc, err := server.Build(watchCtx, server.Config{
			Pool: d.pool, Spec: contract, Logger: log, Metrics: metrics,
			SessionCacheTTL: cfg.sessionCacheTTL, SessionCacheEntries: sessionCacheEntries,
			TrustedProxies: cfg.trustedProxies, RegistryFallback: registryFallback, MetricsElsewhere: cfg.metricsAddr != "",
			Tracer: tp,
			Handlers: impl.Deps{Limits: cfg.limits, Hasher: cfg.hasher, PublicURL: publicURL,
				Mailer: mailer, MagicLinkURL: cfg.magicLinkURL, Google: cfg.google, Pwned: cfg.pwned, MFAKeys: keys, WebAuthn: cfg.webauthn},
		})
		if err != nil {
			return err
		}
		defer func() { // the watchers stop before the database does
			stopWatching()
			svc.Wait()
		}()
		if cfg.metricsAddr != "" {
			stopMetrics, err := serveMetrics(cfg.metricsAddr, svc.Metrics, log, stdout)
			if err != nil {
				return err
			}
			defer stopMetrics()
		}
		return listenAndServe(ctx, cfg, listener, svc.Handler, log, stdout)
	})
}

// serveMetrics serves /metrics alone on addr (PLANOAUTH_METRICS_ADDR), until stop.
func serveMetrics(addr string, metrics http.Handler, log *slog.Logger, stdout io.Writer) (stop func(), err error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (PLANOAUTH_METRICS_ADDR): %w", addr, err)
	}
	fmt.Fprintf(stdout, "PlanoAuth metrics on http://%s/metrics\n", listener.Addr())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(listener); !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", slog.Any("error", err))
		}
	}()
	return func() {
		_ = srv.Close()
		<-done
	}, nil
}

// newMailer is Mandrill when an API key is configured, and otherwise the local mailer, which
// only records emails (`planoauth emails list`).
func newMailer(cfg config, d *database, log *slog.Logger) mail.Mailer {
	if cfg.mandrill.APIKey != "" {
		return mail.NewMandrill(cfg.mandrill)
	}
	log.Warn("PLANOAUTH_MANDRILL_API_KEY is not set: emails are recorded in the database (planoauth emails list), not sent")
	return mail.NewLocal(d.q, time.Now)
}

// startWorker runs a background worker (the outbox, webhooks, retention) until ctx ends or the
// returned stop is called; stop waits for the work in flight (sends, a deletion round), so that
// the database outlives it.
func startWorker(ctx context.Context, run func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// startWebhooks starts the webhook delivery worker, which needs PLANOAUTH_WEBHOOK_KEY to open
// the signing secrets. Without the key no worker runs here (deliveries wait for an instance that
// has it), and a warning says so when an application has a webhook.
func startWebhooks(ctx context.Context, cfg config, d *database, log *slog.Logger) (stop func(), err error) {
	if cfg.webhookKeys == nil {
		hooks, err := d.q.ListWebhooks(ctx)
		if err != nil {
			return nil, fmt.Errorf("list webhooks: %w", err)
		}
		if len(hooks) > 0 {
			log.Warn("PLANOAUTH_WEBHOOK_KEY is not set: this instance delivers no webhooks, though applications have some")
		}
		return func() {}, nil
	}
	sealer, err := webhooks.NewSealer(cfg.webhookKeys...)
	if err != nil {
		return nil, err
	}
	return startWorker(ctx, webhooks.NewWorker(d.pool, sealer, log, time.Now, cfg.webhooks).Run), nil
}

// sessionCacheEntries bounds the token cache (a few hundred bytes an entry).
const sessionCacheEntries = 50_000

func listenAndServe(ctx context.Context, cfg config, listener net.Listener, handler http.Handler, log *slog.Logger, stdout io.Writer) error {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(stdout, "PlanoAuth listening on http://%s (docs at /docs)\n", listener.Addr())
	errs := make(chan error, 1)
	go func() { errs <- srv.Serve(listener) }()
	select {
	case err := <-errs:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errs; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
