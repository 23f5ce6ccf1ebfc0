package auth

import (
	"time"

	"github.com/plano/planoauth/internal/gen/db"
)

// A session policy's durations are within these bounds (the applications table's CHECK
// constraints say the same, which a test ties): an idle timeout must outlast the minute between
// two recorded uses by far, and ten years is forever enough.
const (
	MinPolicyDuration = 5 * time.Minute
	MaxPolicyDuration = 3650 * 24 * time.Hour
)

// Lifetime bounds a session: it expires MaxAge after its creation or Idle after its last use,
// whichever comes first; a nil bound is no bound (a remember_me session has no Idle, and no
// MaxAge unless its application caps remember_me sessions).
type Lifetime struct {
	MaxAge *time.Duration
	Idle   *time.Duration
}

// PolicyLifetime is the lifetime an application's session policy gives a session now: its
// lifetime and idle timeout, or for a remember_me session its cap (none by default).
func PolicyLifetime(app db.Application, rememberMe bool) Lifetime {
	if rememberMe {
		return Lifetime{MaxAge: seconds(app.RememberMeMaxAgeSeconds)}
	}
	return Lifetime{MaxAge: seconds(&app.SessionMaxAgeSeconds), Idle: seconds(&app.SessionIdleTimeoutSeconds)}
}

// NewSessionBounds returns what a session created at now in app keeps of its policy (the
// sessions.max_expires_at and idle_timeout_seconds columns; nil is no bound).
func NewSessionBounds(app db.Application, rememberMe bool, now time.Time) (maxExpiresAt *time.Time, idleSeconds *int64) {
	l := PolicyLifetime(app, rememberMe)
	if l.MaxAge != nil {
		at := now.Add(*l.MaxAge)
		maxExpiresAt = &at
	}
	if !rememberMe {
		idleSeconds = &app.SessionIdleTimeoutSeconds
	}
	return maxExpiresAt, idleSeconds
}

// ExpiresAt returns when a session of app expires if unused from now on, or nil when nothing
// bounds it (a remember_me session of an application without a cap). The bounds a session was
// created with are shortened by its application's current policy: a shorter policy thus
// reaches live sessions at once, while a longer one applies to sessions created from then on
// (it never stretches a session beyond the policy it was created under).
func ExpiresAt(s db.Session, app db.Application) *time.Time {
	if at, bounded := expiry(s, app); bounded {
		return &at
	}
	return nil
}

// Expired reports whether a session of app has expired at now.
func Expired(s db.Session, app db.Application, now time.Time) bool {
	at, bounded := expiry(s, app)
	return bounded && !now.Before(at)
}

// expiry is ExpiresAt as a value (bounded false: no bound), which every request judges, in
// values so that judging allocates nothing.
func expiry(s db.Session, app db.Application) (at time.Time, bounded bool) {
	bound := func(t time.Time) {
		if !bounded || t.Before(at) {
			at, bounded = t, true
		}
	}
	policy := PolicyLifetime(app, s.RememberMe)
	if s.MaxExpiresAt != nil {
		bound(*s.MaxExpiresAt)
	}
	if policy.MaxAge != nil {
		bound(s.CreatedAt.Add(*policy.MaxAge))
	}
	if idle := shorter(seconds(s.IdleTimeoutSeconds), policy.Idle); idle != nil {
		bound(s.LastUsedAt.Add(*idle))
	}
	return at, bounded
}

func seconds(n *int64) *time.Duration {
	if n == nil {
		return nil
	}
	d := time.Duration(*n) * time.Second
	return &d
}

// shorter returns the shorter of two bounds, where nil is no bound.
func shorter(a, b *time.Duration) *time.Duration {
	switch {
	case a == nil:
		return b
	case b == nil || *a <= *b:
		return a
	}
	return b
}
