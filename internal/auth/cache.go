package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/gen/db"
)

// SessionCache keeps resolved session tokens for a few seconds, so that a busy token costs no
// database round trip. It is safe only because it is told at once when a cached session stops
// being what it was: triggers NOTIFY planoauth_sessions on revocation and on every change a
// session shows, and Watch evicts on each notification. While Watch is not subscribed (before it
// starts, or after its connection dropped) the cache holds nothing and every lookup misses, so a
// notification can never be lost while something is cached. Expiry is still judged on every
// request, from the cached creation and last-use times.
type SessionCache struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.Mutex
	enabled bool
	// generation changes on every invalidation; a load that began in an older generation may
	// have read what was just invalidated, so it is not stored.
	generation uint64
	entries    map[[sha256.Size]byte]cachedSession
	ready      chan struct{}
	readyOnce  sync.Once
}

type cachedSession struct {
	row      db.GetSessionByTokenHashRow
	storedAt time.Time
}

// NewSessionCache returns a disabled cache keeping entries for ttl, at most max of them.
func NewSessionCache(ttl time.Duration, max int, now func() time.Time) *SessionCache {
	return &SessionCache{ttl: ttl, max: max, now: now, entries: map[[sha256.Size]byte]cachedSession{}, ready: make(chan struct{})}
}

// Ready is closed once the cache first subscribed to invalidations and began caching.
func (c *SessionCache) Ready() <-chan struct{} { return c.ready }

// generationNow returns the generation to pass to put for a load starting now.
func (c *SessionCache) generationNow() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.generation
}

func key(hash []byte) (k [sha256.Size]byte) {
	copy(k[:], hash)
	return k
}

// get returns the cached session of a token hash, if fresh.
func (c *SessionCache) get(hash []byte) (db.GetSessionByTokenHashRow, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key(hash)]
	if !ok || !c.enabled || c.now().Sub(e.storedAt) >= c.ttl {
		return db.GetSessionByTokenHashRow{}, false
	}
	return e.row, true
}

// put caches a session loaded during generation.
func (c *SessionCache) put(hash []byte, row db.GetSessionByTokenHashRow, generation uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.enabled || generation != c.generation || row.Session.RevokedAt != nil {
		return
	}
	if len(c.entries) >= c.max {
		for k := range c.entries { // map order is random: drop an arbitrary entry
			delete(c.entries, k)
			break
		}
	}
	c.entries[key(hash)] = cachedSession{row: row, storedAt: c.now()}
}

// touched records a use written to the database, so that this instance does not write it again.
func (c *SessionCache) touched(hash []byte, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key(hash)]; ok {
		e.row.Session.LastUsedAt = at
		c.entries[key(hash)] = e
	}
}

// forget drops one token's entry (an expired-looking session is re-read from the database).
func (c *SessionCache) forget(hash []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key(hash))
}

// invalidate applies one notification payload: "session:<uuid>", "user:<id>" or "*".
func (c *SessionCache) invalidate(payload string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.generation++
	kind, id, _ := strings.Cut(payload, ":")
	for k, e := range c.entries {
		switch {
		case kind == "session" && e.row.Session.ID.String() == id,
			kind == "user" && strconv.FormatInt(e.row.Session.UserID, 10) == id,
			kind != "session" && kind != "user":
			delete(c.entries, k)
		}
	}
}

// ForgetSession evicts one session at once on this instance, for the instance that changed it
// (the others hear of it through NOTIFY). A nil cache does nothing.
func (c *SessionCache) ForgetSession(id uuid.UUID) {
	if c != nil {
		c.invalidate("session:" + id.String())
	}
}

// ForgetUser evicts every session of a user at once on this instance. A nil cache does nothing.
func (c *SessionCache) ForgetUser(id int64) {
	if c != nil {
		c.invalidate("user:" + strconv.FormatInt(id, 10))
	}
}

func (c *SessionCache) setEnabled(enabled bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.enabled = enabled
	c.generation++
	clear(c.entries)
	if enabled {
		c.readyOnce.Do(func() { close(c.ready) })
	}
}

// Watch subscribes to invalidations and applies them until ctx ends, reconnecting after a lost
// connection; the cache is enabled only while subscribed.
func (c *SessionCache) Watch(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) {
	for ctx.Err() == nil {
		err := c.listen(ctx, pool)
		c.setEnabled(false)
		if ctx.Err() != nil {
			return
		}
		log.Warn("session cache listener stopped; caching paused until it reconnects", slog.Any("error", err))
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (c *SessionCache) listen(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire listener connection: %w", err)
	}
	// Taken out of the pool for good: it must never serve queries while subscribed.
	listener := conn.Hijack()
	defer listener.Close(context.Background())
	if err := db.New(listener).ListenSessions(ctx); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	c.setEnabled(true)
	for {
		n, err := listener.WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return fmt.Errorf("wait for notification: %w", err)
		}
		c.invalidate(n.Payload)
	}
}
