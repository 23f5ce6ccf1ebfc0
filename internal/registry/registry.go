// Package registry keeps the route registry: one service per domain and one route per operation,
// synced from the contract into PostgreSQL, where operators undeploy them. Every instance holds a
// snapshot of the deployed flags, refreshed on LISTEN/NOTIFY at once and periodically as a fallback.
package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/observe"
	"github.com/plano/planoauth/internal/reqstate"
	"github.com/plano/planoauth/internal/spec"
	"github.com/plano/planoauth/internal/telemetry"
)

// Registry is the deployed state of every route and service.
type Registry struct {
	pool  *pgxpool.Pool
	spec  *spec.Spec
	log   *slog.Logger
	state atomic.Pointer[snapshot]
	// ready is closed once Watch first subscribed and refreshed.
	ready     chan struct{}
	readyOnce sync.Once
}

type snapshot struct {
	services map[string]bool // service name -> deployed
	routes   map[string]bool // operation id -> deployed
}

// New returns a registry with no snapshot yet: until Refresh succeeds, requests answer
// identify-request-error.
func New(pool *pgxpool.Pool, s *spec.Spec, log *slog.Logger) *Registry {
	return &Registry{pool: pool, spec: s, log: log, ready: make(chan struct{})}
}

// Ready is closed once Watch first subscribed to changes and refreshed after subscribing.
func (r *Registry) Ready() <-chan struct{} { return r.ready }

// Sync writes the contract's services and routes into the database in one transaction, keeping
// the deployed flags of existing rows and removing what the contract no longer has.
func (r *Registry) Sync(ctx context.Context) error {
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		var services, operations []string
		seen := map[string]bool{}
		for _, op := range r.spec.Operations() {
			if !seen[op.Service] {
				seen[op.Service] = true
				services = append(services, op.Service)
				if err := q.UpsertService(ctx, op.Service); err != nil {
					return fmt.Errorf("sync service %s: %w", op.Service, err)
				}
			}
			operations = append(operations, op.ID)
			err := q.UpsertRoute(ctx, db.UpsertRouteParams{OperationID: op.ID, Service: op.Service, Method: op.Method, Path: op.Path})
			if err != nil {
				return fmt.Errorf("sync route %s: %w", op.ID, err)
			}
		}
		if err := q.DeleteRoutesExcept(ctx, operations); err != nil {
			return fmt.Errorf("delete stale routes: %w", err)
		}
		if err := q.DeleteServicesExcept(ctx, services); err != nil {
			return fmt.Errorf("delete stale services: %w", err)
		}
		return nil
	})
}

// Refresh reloads the snapshot from the database.
func (r *Registry) Refresh(ctx context.Context) error {
	q := db.New(r.pool)
	services, err := q.ListServices(ctx)
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	routes, err := q.ListRoutes(ctx)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	next := &snapshot{services: map[string]bool{}, routes: map[string]bool{}}
	for _, s := range services {
		next.services[s.Name] = s.Deployed
	}
	for _, rt := range routes {
		next.routes[rt.OperationID] = rt.Deployed
	}
	r.state.Store(next)
	return nil
}

// Watch keeps the snapshot current until ctx ends: it refreshes on every notification and every
// fallback interval, and reconnects after a lost connection.
func (r *Registry) Watch(ctx context.Context, fallback time.Duration) {
	for ctx.Err() == nil {
		err := r.listen(ctx, fallback)
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("registry listener stopped; reconnecting", slog.Any("error", err))
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (r *Registry) listen(ctx context.Context, fallback time.Duration) error {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire listener connection: %w", err)
	}
	// Taken out of the pool for good, as the other listeners' are: held by the listener, it
	// would be one query connection fewer for as long as the service runs, and back in the
	// pool after an error it would still be subscribed.
	listener := conn.Hijack()
	defer listener.Close(context.Background())
	if err := db.New(listener).ListenRegistry(ctx); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Refresh after subscribing, so a change made before LISTEN is not missed.
	if err := r.Refresh(ctx); err != nil {
		return err
	}
	r.readyOnce.Do(func() { close(r.ready) })
	for {
		waitCtx, cancel := context.WithTimeout(ctx, fallback)
		_, err := listener.WaitForNotification(waitCtx)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("wait for notification: %w", err)
		}
		if err := r.Refresh(ctx); err != nil {
			return err
		}
	}
}

// Identify is the first middleware after routing: it finds the operation gorilla matched, checks
// that its service and route are deployed, and puts the operation in the request's context.
func (r *Registry) Identify(writer *envelope.Writer) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			status, op := r.identify(req)
			if status != "" {
				writer.Status(w, req, status)
				return
			}
			observe.SetOperation(req.Context(), op.ID)
			telemetry.SetRoute(req.Context(), op)
			next.ServeHTTP(w, reqstate.Record(req, reqstate.Operation, op))
		})
	}
}

func (r *Registry) identify(req *http.Request) (gen.Status, *spec.Operation) {
	route := mux.CurrentRoute(req)
	if route == nil {
		return gen.StatusIdentifyRequestError, nil
	}
	path, err := route.GetPathTemplate()
	if err != nil {
		return gen.StatusIdentifyRequestError, nil
	}
	op := r.spec.Lookup(req.Method, path)
	state := r.state.Load()
	switch {
	case op == nil || state == nil:
		return gen.StatusIdentifyRequestError, nil
	case !state.services[op.Service]:
		return gen.StatusServiceNotFound, nil
	case !state.routes[op.ID]:
		return gen.StatusRouteNotFound, nil
	}
	return "", op
}

// Loaded reports whether a snapshot has been loaded, so the instance can serve.
func (r *Registry) Loaded() bool { return r.state.Load() != nil }
