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
// token hashes and rows.
func cachedSessions(tb testing.TB, n int) (*SessionCache, [][]byte, []db.GetSessionByTokenHashRow) {
	tb.Helper()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	c := NewSessionCache(time.Minute, n, func() time.Time { return now })
	c.setEnabled(true)
	hashes := make([][]byte, n)
	rows := make([]db.GetSessionByTokenHashRow, n)
	for i := range n {
		sum := sha256.Sum256([]byte(strconv.Itoa(i)))
		hashes[i] = sum[:]
		rows[i] = db.GetSessionByTokenHashRow{
			Session: db.Session{ID: uuid.New(), UserID: int64(i / 2), CreatedAt: now, LastUsedAt: now},
			User:    db.User{ID: int64(i / 2)},
		}
		c.put(hashes[i], rows[i], c.generationNow())
	}
	if got := c.len(); got != n {
		tb.Fatalf("cached %d sessions, want %d", got, n)
	}
	return c, hashes, rows
}

func TestSessionCacheEvicts(t *testing.T) {
	t.Parallel()
	c, hashes, rows := cachedSessions(t, 6)
	c.invalidate("session:" + rows[0].Session.ID.String())
	if _, ok := c.get(hashes[0]); ok {
		t.Error("the evicted session is still cached")
	}
	if _, ok := c.get(hashes[1]); !ok {
		t.Error("the other session of the same user was evicted")
	}
	c.invalidate("user:" + strconv.FormatInt(rows[2].Session.UserID, 10))
	for i, want := range []bool{false, true, false, false, true, true} {
		if _, ok := c.get(hashes[i]); ok != want {
			t.Errorf("session %d cached = %t, want %t", i, ok, want)
		}
	}
	c.invalidate("*")
	if c.len() != 0 {
		t.Errorf("%d sessions cached after *, want none", c.len())
	}
	// A full cache makes room, and its indexes follow.
	c, hashes, rows = cachedSessions(t, 2)
	extra := db.GetSessionByTokenHashRow{Session: db.Session{ID: uuid.New(), UserID: 99}}
	c.put([]byte("another token hash, 32 bytes...."), extra, c.generationNow())
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
					c.invalidate("session:" + rows[i].Session.ID.String())
					c.put(hashes[i], rows[i], c.generationNow())
				case "user":
					c.invalidate(fmt.Sprintf("user:%d", rows[i].Session.UserID))
					c.put(hashes[i], rows[i], c.generationNow())
					c.put(hashes[i+1], rows[i+1], c.generationNow())
				case "absent":
					c.invalidate("session:" + uuid.Nil.String())
				}
			}
		})
	}
}
