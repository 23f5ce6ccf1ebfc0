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
// database round trip, and the users of token-checked requests, so that the token query reads
// sessions alone. It is safe only because it is told at once when a cached session or user stops
// being what it was: triggers NOTIFY planoauth_sessions on revocation, on every change a
// session shows and on every change of a user row, and Watch evicts on each notification. While
// Watch is not subscribed (before it starts, or after its connection dropped) the cache holds
// nothing and every lookup misses, so a notification can never be lost while something is
// cached. Expiry is still judged on every request, from the cached creation and last-use times.
//
// Entries are indexed by session id and by user, so that a notification evicts what it names in
// time proportional to that (one session, or one user's sessions), however many are cached.
// With a ttl of 0 it keeps no session, only users: every request then reads its session from
// the database.
type SessionCache struct {
	ttl time.Duration // of sessions; 0 keeps none
	max int           // entries of each kind
	now func() time.Time

	mu      sync.Mutex
	enabled bool
	// generation changes on every invalidation; a load that began in an older generation may
	// have read what was just invalidated, so it is not stored.
	generation uint64
	// ticks counts loads begun and users stored, in the order they happen: a load may pair its
	// session only with a user stored before it began (read before its session, so no newer).
	ticks     uint64
	entries   map[tokenKey]cachedSession
	bySession map[uuid.UUID]tokenKey
	byUser    map[int64]map[tokenKey]struct{}
	users     map[int64]cachedUser
	ready     chan struct{}
	readyOnce sync.Once
}

// tokenKey is a token's SHA-256, the key of its cached session.
type tokenKey [sha256.Size]byte

type cachedSession struct {
	session  db.Session
	user     db.User
	storedAt time.Time
	userAt   time.Time // when user was read: it is served for at most UserTTL, or the ttl when longer
}

type cachedUser struct {
	user     db.User
	storedAt time.Time
	tick     uint64 // when it was stored (see ticks)
}

// loadStart is where a load of a token began: the generation for put and putUser, and the tick
// for user.
type loadStart struct{ generation, tick uint64 }

// UserTTL bounds how long a user is kept, as the session ttl bounds a session: should the
// listening connection die without a sign, no user is served staler than this.
const UserTTL = 10 * time.Second

// NewSessionCache returns a disabled cache keeping sessions for ttl (0: none) and users for
// UserTTL, at most max of each.
func NewSessionCache(ttl time.Duration, max int, now func() time.Time) *SessionCache {
	c := &SessionCache{ttl: ttl, max: max, now: now, ready: make(chan struct{})}
	c.clearLocked()
	return c
}

// Ready is closed once the cache first subscribed to invalidations and began caching.
func (c *SessionCache) Ready() <-chan struct{} { return c.ready }

// generationNow returns the generation to pass to put for a load starting now.
func (c *SessionCache) generationNow() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.generation
}

func key(hash []byte) (k tokenKey) {
	copy(k[:], hash)
	return k
}

// begin marks the start of a load.
func (c *SessionCache) begin() loadStart {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ticks++
	return loadStart{generation: c.generation, tick: c.ticks}
}

// get returns the cached session of a token hash and its user, if fresh.
func (c *SessionCache) get(hash []byte) (db.Session, db.User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key(hash)]
	if !ok || !c.enabled || c.now().Sub(e.storedAt) >= c.ttl || c.now().Sub(e.userAt) >= max(c.ttl, UserTTL) {
		return db.Session{}, db.User{}, false
	}
	return e.session, e.user, true
}

// user returns a cached user, if fresh and stored before the load that asks began: a user stored
// since was read after that load's session, and may be newer than it (the user of a change that
// also revoked the session, read as live before the change committed). That load then reads both
// in one statement.
func (c *SessionCache) user(id int64, load loadStart) (db.User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.users[id]
	if !ok || !c.enabled || e.tick >= load.tick || c.now().Sub(e.storedAt) >= UserTTL {
		return db.User{}, false
	}
	return e.user, true
}

// putUser caches a user loaded during generation.
func (c *SessionCache) putUser(user db.User, generation uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.enabled || generation != c.generation {
		return
	}
	if kept, ok := c.users[user.ID]; ok && c.now().Sub(kept.storedAt) < UserTTL {
		// Kept already, and no notification evicted it since: it is as new as this read (but for
		// a change whose notification is on its way, and will evict it), and older in ticks. Replacing it would make it newer than every load in flight, and loads
		// of one user overlapping each other would never be given it (each reads it again).
		return
	}
	if len(c.users) >= c.max {
		for old := range c.users { // map order is random: drop an arbitrary user
			delete(c.users, old)
			break
		}
	}
	c.ticks++
	c.users[user.ID] = cachedUser{user: user, storedAt: c.now(), tick: c.ticks}
}

// put caches a session and its user, loaded during generation.
func (c *SessionCache) put(hash []byte, session db.Session, user db.User, generation uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ttl == 0 || !c.enabled || generation != c.generation || session.RevokedAt != nil {
		return
	}
	k := key(hash)
	c.removeLocked(k) // a token's entry is replaced with its indexes
	if len(c.entries) >= c.max {
		for old := range c.entries { // map order is random: drop an arbitrary entry
			c.removeLocked(old)
			break
		}
	}
	userAt := c.now() // the user was read with the session, or is the one kept (since)
	if kept, ok := c.users[session.UserID]; ok {
		userAt = kept.storedAt
	}
	c.entries[k] = cachedSession{session: session, user: user, storedAt: c.now(), userAt: userAt}
	c.bySession[session.ID] = k
	tokens := c.byUser[session.UserID]
	if tokens == nil {
		tokens = map[tokenKey]struct{}{}
		c.byUser[session.UserID] = tokens
	}
	tokens[k] = struct{}{}
}

// removeLocked drops one entry and its index entries; c.mu must be held.
func (c *SessionCache) removeLocked(k tokenKey) {
	e, ok := c.entries[k]
	if !ok {
		return
	}
	delete(c.entries, k)
	delete(c.bySession, e.session.ID)
	if tokens := c.byUser[e.session.UserID]; tokens != nil {
		delete(tokens, k)
		if len(tokens) == 0 {
			delete(c.byUser, e.session.UserID)
		}
	}
}

// clearLocked drops every entry; c.mu must be held (or c not yet shared).
func (c *SessionCache) clearLocked() {
	c.entries = map[tokenKey]cachedSession{}
	c.bySession = map[uuid.UUID]tokenKey{}
	c.byUser = map[int64]map[tokenKey]struct{}{}
	c.users = map[int64]cachedUser{}
}

// touched records a use written to the database, so that this instance does not write it again.
func (c *SessionCache) touched(hash []byte, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key(hash)]; ok {
		e.session.LastUsedAt = at
		c.entries[key(hash)] = e
	}
}

// forget drops one token's entry (an expired-looking session is re-read from the database).
func (c *SessionCache) forget(hash []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(key(hash))
}

// invalidate applies one notification payload: "session:<uuid>", "user:<id>", or anything else
// (such as "*"), which empties the cache. It looks up what the payload names in the indexes.
func (c *SessionCache) invalidate(payload string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.generation++
	kind, id, _ := strings.Cut(payload, ":")
	switch kind {
	case "session":
		if sessionID, err := uuid.Parse(id); err == nil {
			if k, ok := c.bySession[sessionID]; ok {
				c.removeLocked(k)
			}
			return
		}
	case "user":
		if userID, err := strconv.ParseInt(id, 10, 64); err == nil {
			for k := range c.byUser[userID] {
				c.removeLocked(k)
			}
			delete(c.users, userID)
			return
		}
	}
	c.clearLocked() // "*", or a payload this version cannot read: forget everything
}

// ForgetSession evicts one session at once on this instance, for the instance that changed it
// (the others hear of it through NOTIFY). A nil cache does nothing.
func (c *SessionCache) ForgetSession(id uuid.UUID) {
	if c != nil {
		c.invalidate("session:" + id.String())
	}
}

// ForgetUser evicts a user and every session of theirs at once on this instance. A nil cache does nothing.
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
	c.clearLocked()
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

// len is how many sessions are cached (users aside).
func (c *SessionCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
