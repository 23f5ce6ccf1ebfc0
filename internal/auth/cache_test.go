package auth

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/plano/planoauth/internal/gen/db"
)

// cachedSessions fills an enabled cache with n sessions, two per user, and returns their
// token hashes and sessions.
func cachedSessions(tb testing.TB, n int) (*SessionCache, [][]byte, []db.Session) {
	tb.Helper()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	c := NewSessionCache(time.Minute, n, func() time.Time { return now })
	c.setEnabled(true)
	hashes := make([][]byte, n)
	rows := make([]db.Session, n)
	for i := range n {
		sum := sha256.Sum256([]byte(strconv.Itoa(i)))
		hashes[i] = sum[:]
		rows[i] = db.Session{ID: uuid.New(), UserID: int64(i / 2), CreatedAt: now, LastUsedAt: now}
		c.put(hashes[i], rows[i], db.User{ID: rows[i].UserID}, c.generationNow())
	}
	if got := c.len(); got != n {
		tb.Fatalf("cached %d sessions, want %d", got, n)
	}
	return c, hashes, rows
}

func TestSessionCacheEvicts(t *testing.T) {
	t.Parallel()
	c, hashes, rows := cachedSessions(t, 6)
	c.invalidate("session:" + rows[0].ID.String())
	if _, _, ok := c.get(hashes[0]); ok {
		t.Error("the evicted session is still cached")
	}
	if _, _, ok := c.get(hashes[1]); !ok {
		t.Error("the other session of the same user was evicted")
	}
	c.invalidate("user:" + strconv.FormatInt(rows[2].UserID, 10))
	for i, want := range []bool{false, true, false, false, true, true} {
		if _, _, ok := c.get(hashes[i]); ok != want {
			t.Errorf("session %d cached = %t, want %t", i, ok, want)
		}
	}
	c.invalidate("*")
	if c.len() != 0 {
		t.Errorf("%d sessions cached after *, want none", c.len())
	}
	// A full cache makes room, and its indexes follow.
	c, hashes, rows = cachedSessions(t, 2)
	extra := db.Session{ID: uuid.New(), UserID: 99}
	c.put([]byte("another token hash, 32 bytes...."), extra, db.User{ID: 99}, c.generationNow())
	if c.len() != 2 {
		t.Errorf("%d sessions cached, want the bound of 2", c.len())
	}
	c.invalidate("user:99")
	c.invalidate("user:0")
	if c.len() != 0 || len(c.byUser) != 0 || len(c.bySession) != 0 {
		t.Errorf("left %d entries, %d users, %d sessions indexed, want none", c.len(), len(c.byUser), len(c.bySession))
	}
	_, _ = hashes, rows
}

// With a ttl of 0 the cache keeps users, not sessions; a user goes with a notification naming
// them (not one naming a session), with UserTTL, with a load that raced an invalidation, and
// when the cache stops being subscribed; a load is given only a user stored before it began.
func TestSessionCacheKeepsUsers(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	c := NewSessionCache(0, 2, func() time.Time { return now })
	c.setEnabled(true)
	ada := db.User{ID: 1, Email: "ada@example.com"}
	c.put([]byte("a token hash, 32 bytes.........."), db.Session{ID: uuid.New(), UserID: 1}, ada, c.generationNow())
	c.putUser(ada, c.generationNow())
	if c.len() != 0 {
		t.Errorf("%d sessions kept with a ttl of 0, want none", c.len())
	}
	if got, ok := c.user(1, c.begin()); !ok || got.Email != ada.Email {
		t.Fatalf("user(1) = %+v, %t; want ada", got, ok)
	}
	c.invalidate("session:" + uuid.New().String())
	if _, ok := c.user(1, c.begin()); !ok {
		t.Error("a notification naming a session evicted a user")
	}
	c.invalidate("user:1")
	if _, ok := c.user(1, c.begin()); ok {
		t.Error("user:1 left the user cached")
	}
	// A user stored after a load began is not that load's: it was read after the load's
	// session, and may be newer than it.
	load := c.begin()
	c.putUser(ada, c.generationNow())
	if _, ok := c.user(1, load); ok {
		t.Error("a load was given a user stored after it began")
	}
	if _, ok := c.user(1, c.begin()); !ok {
		t.Error("a load begun after a user was stored was not given it")
	}
	stale := c.generationNow()
	c.invalidate("user:1")
	c.putUser(ada, stale)
	if _, ok := c.user(1, c.begin()); ok {
		t.Error("a load begun before an invalidation was kept")
	}
	c.putUser(ada, c.generationNow())
	now = now.Add(UserTTL)
	if _, ok := c.user(1, c.begin()); ok {
		t.Error("a user was served UserTTL after it was read")
	}
	// A session cached with a user kept for a while is served no longer than that user would be.
	withSessions := NewSessionCache(5*time.Second, 2, func() time.Time { return now })
	withSessions.setEnabled(true)
	withSessions.putUser(ada, withSessions.generationNow())
	now = now.Add(UserTTL - time.Second)
	hash := []byte("a token hash, 32 bytes.........!")
	withSessions.put(hash, db.Session{ID: uuid.New(), UserID: 1}, ada, withSessions.generationNow())
	if _, _, ok := withSessions.get(hash); !ok {
		t.Error("a session just cached was not served")
	}
	now = now.Add(time.Second)
	if _, _, ok := withSessions.get(hash); ok {
		t.Error("a session was served with a user read UserTTL before")
	}
	for id := range int64(3) {
		c.putUser(db.User{ID: id + 10}, c.generationNow())
	}
	if len(c.users) != 2 {
		t.Errorf("%d users kept, want the bound of 2", len(c.users))
	}
	c.setEnabled(false)
	c.setEnabled(true)
	if len(c.users) != 0 {
		t.Errorf("%d users kept across a lost subscription, want none", len(c.users))
	}
}

// BenchmarkSessionCacheEviction is the cost of one notification's eviction with 50,000 sessions
// cached (the serve default's bound), and of putting the evicted sessions back.
func BenchmarkSessionCacheEviction(b *testing.B) {
	const n = 50_000
	for _, kind := range []string{"session", "user", "absent"} {
		b.Run(kind, func(b *testing.B) {
			c, hashes, rows := cachedSessions(b, n)
			i := 0
			for b.Loop() {
				i = (i + 2) % n
				switch kind {
				case "session":
					c.invalidate("session:" + rows[i].ID.String())
					c.put(hashes[i], rows[i], db.User{ID: rows[i].UserID}, c.generationNow())
				case "user":
					c.invalidate(fmt.Sprintf("user:%d", rows[i].UserID))
					c.put(hashes[i], rows[i], db.User{ID: rows[i].UserID}, c.generationNow())
					c.put(hashes[i+1], rows[i+1], db.User{ID: rows[i+1].UserID}, c.generationNow())
				case "absent":
					c.invalidate("session:" + uuid.Nil.String())
				}
			}
		})
	}
}
