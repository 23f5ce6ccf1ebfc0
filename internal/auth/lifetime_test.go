package auth

import (
	"testing"
	"time"

	"github.com/plano/planoauth/internal/gen/db"
)

// TestExpiryIsTheEarliestBound checks each bound of a session's lifetime on its own and
// together: the bound it was created with, its application's current lifetime and idle
// timeout, and none for a remember_me session of an application without a cap.
func TestExpiryIsTheEarliestBound(t *testing.T) {
	created := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	used := created.Add(30 * time.Minute)
	int64p := func(n int64) *int64 { return &n }
	timep := func(t time.Time) *time.Time { return &t }
	app := db.Application{SessionMaxAgeSeconds: 8 * 3600, SessionIdleTimeoutSeconds: 3600}
	for name, tc := range map[string]struct {
		session db.Session
		app     db.Application
		want    *time.Time
	}{
		"idle timeout of the policy":  {db.Session{}, app, timep(used.Add(time.Hour))},
		"shorter idle of the session": {db.Session{IdleTimeoutSeconds: int64p(600)}, app, timep(used.Add(10 * time.Minute))},
		"created bound first":         {db.Session{MaxExpiresAt: timep(created.Add(45 * time.Minute))}, app, timep(created.Add(45 * time.Minute))},
		"policy's lifetime first":     {db.Session{}, db.Application{SessionMaxAgeSeconds: 1200, SessionIdleTimeoutSeconds: 3600}, timep(created.Add(20 * time.Minute))},
		"remember_me without a cap":   {db.Session{RememberMe: true}, app, nil},
		"remember_me with a cap":      {db.Session{RememberMe: true}, db.Application{RememberMeMaxAgeSeconds: int64p(86400)}, timep(created.Add(24 * time.Hour))},
	} {
		t.Run(name, func(t *testing.T) {
			tc.session.CreatedAt, tc.session.LastUsedAt = created, used
			got := ExpiresAt(tc.session, tc.app)
			if (got == nil) != (tc.want == nil) || (got != nil && !got.Equal(*tc.want)) {
				t.Fatalf("ExpiresAt = %v, want %v", got, tc.want)
			}
			if tc.want == nil {
				if Expired(tc.session, tc.app, created.Add(100*365*24*time.Hour)) {
					t.Error("a session without a bound expired")
				}
				return
			}
			if Expired(tc.session, tc.app, tc.want.Add(-time.Nanosecond)) || !Expired(tc.session, tc.app, *tc.want) {
				t.Errorf("Expired does not turn true exactly at %v", *tc.want)
			}
		})
	}
}

// TestJudgingExpiryAllocatesNothing: every token-checked request judges its session's expiry
// once or twice, so doing it in values is worth keeping.
func TestJudgingExpiryAllocatesNothing(t *testing.T) {
	now := time.Now()
	s := db.Session{CreatedAt: now, LastUsedAt: now, MaxExpiresAt: &now}
	app := db.Application{SessionMaxAgeSeconds: 7200, SessionIdleTimeoutSeconds: 1800}
	if n := testing.AllocsPerRun(100, func() { _ = Expired(s, app, now) }); n != 0 {
		t.Errorf("Expired allocates %v times", n)
	}
}
