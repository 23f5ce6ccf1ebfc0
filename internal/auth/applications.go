package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/gen/db"
)

// Applications keeps every application in memory, so that a token-checked request joins no
// applications table and an application token costs no query. It is safe for the same reason as
// the session cache: a trigger notifies planoauth_applications on every change and Watch reloads
// them all at once; while Watch is not subscribed (starting, or its connection lost) every
// lookup reads the database.
type Applications struct {
	q *db.Queries

	mu      sync.RWMutex
	enabled bool
	// epoch changes whenever the cache stops being subscribed, so that a Reload begun before
	// cannot turn it back on.
	epoch     uint64
	byID      map[int64]db.Application
	bySlug    map[string]db.Application
	byToken   map[[sha256.Size]byte]db.Application
	ready     chan struct{}
	readyOnce sync.Once
}

// NewApplications returns a cache that reads the database until Watch has loaded it.
func NewApplications(q *db.Queries) *Applications {
	return &Applications{q: q, ready: make(chan struct{})}
}

// Ready is closed once Watch first subscribed and loaded the applications.
func (a *Applications) Ready() <-chan struct{} { return a.ready }

// Reload reads the applications again at once, for the process that just changed one (the
// others hear of it through NOTIFY). It does nothing while the cache is not subscribed.
func (a *Applications) Reload(ctx context.Context) error {
	a.mu.RLock()
	enabled, epoch := a.enabled, a.epoch
	a.mu.RUnlock()
	if !enabled {
		return nil
	}
	return a.load(ctx, a.q, epoch)
}

// ByID returns the application with the given id.
func (a *Applications) ByID(ctx context.Context, id int64) (db.Application, error) {
	return a.find(func() (db.Application, bool) { app, ok := a.byID[id]; return app, ok },
		func() (db.Application, error) { return a.q.GetApplication(ctx, id) })
}

// BySlug returns the application with the given slug.
func (a *Applications) BySlug(ctx context.Context, slug string) (db.Application, error) {
	return a.find(func() (db.Application, bool) { app, ok := a.bySlug[slug]; return app, ok },
		func() (db.Application, error) { return a.q.GetApplicationBySlug(ctx, slug) })
}

// ByTokenHash returns the application whose token has the given hash; pgx.ErrNoRows for none.
func (a *Applications) ByTokenHash(ctx context.Context, hash []byte) (db.Application, error) {
	return a.find(func() (db.Application, bool) { app, ok := a.byToken[key(hash)]; return app, ok },
		func() (db.Application, error) { return a.q.GetApplicationByTokenHash(ctx, hash) })
}

// find looks an application up in memory while subscribed (pgx.ErrNoRows when it is not
// there), and in the database otherwise.
func (a *Applications) find(inMemory func() (db.Application, bool), query func() (db.Application, error)) (db.Application, error) {
	a.mu.RLock()
	app, ok := inMemory()
	enabled := a.enabled
	a.mu.RUnlock()
	switch {
	case enabled && ok:
		return app, nil
	case enabled:
		return db.Application{}, pgx.ErrNoRows
	}
	return query()
}

// load reads every application and serves them, unless the cache stopped being subscribed since
// epoch was read.
func (a *Applications) load(ctx context.Context, q *db.Queries, epoch uint64) error {
	apps, err := q.ListApplications(ctx)
	if err != nil {
		return fmt.Errorf("list applications: %w", err)
	}
	byID := make(map[int64]db.Application, len(apps))
	bySlug := make(map[string]db.Application, len(apps))
	byToken := make(map[[sha256.Size]byte]db.Application, len(apps))
	for _, app := range apps {
		byID[app.ID], bySlug[app.Slug] = app, app
		if app.TokenHash != nil {
			byToken[key(app.TokenHash)] = app
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.epoch != epoch {
		return nil
	}
	a.byID, a.bySlug, a.byToken, a.enabled = byID, bySlug, byToken, true
	a.readyOnce.Do(func() { close(a.ready) })
	return nil
}

func (a *Applications) disable() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.enabled, a.byID, a.bySlug, a.byToken = false, nil, nil, nil
	a.epoch++
}

func (a *Applications) currentEpoch() uint64 {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.epoch
}

// Watch subscribes to application changes and reloads on each, until ctx ends, reconnecting
// after a lost connection; the cache serves only while subscribed.
func (a *Applications) Watch(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) {
	for ctx.Err() == nil {
		err := a.listen(ctx, pool)
		a.disable()
		if ctx.Err() != nil {
			return
		}
		log.Warn("applications listener stopped; reading applications from the database until it reconnects", slog.Any("error", err))
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (a *Applications) listen(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire listener connection: %w", err)
	}
	// Taken out of the pool for good: it must never serve queries while subscribed.
	listener := conn.Hijack()
	defer listener.Close(context.Background())
	q := db.New(listener)
	epoch := a.currentEpoch()
	if err := q.ListenApplications(ctx); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Loaded after subscribing, so that a change made meanwhile is not missed.
	if err := a.load(ctx, q, epoch); err != nil {
		return err
	}
	for {
		if _, err := listener.WaitForNotification(ctx); err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return fmt.Errorf("wait for notification: %w", err)
		}
		if err := a.load(ctx, q, epoch); err != nil {
			return err
		}
	}
}
