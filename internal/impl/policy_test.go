package impl_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
)

// setPolicy changes an application's session policy in the database, as `planoauth applications
// session-policy` does from outside every instance; nil leaves a part as it is, and
// rememberMe is set to the given cap (nil: none) when setRememberMe.
func setPolicy(t *testing.T, env *apitest.Env, slug string, lifetime, idle *time.Duration, setRememberMe bool, rememberMe *time.Duration) {
	t.Helper()
	seconds := func(d *time.Duration) *int64 {
		if d == nil {
			return nil
		}
		s := int64(*d / time.Second)
		return &s
	}
	_, err := env.Q.SetApplicationSessionPolicy(context.Background(), db.SetApplicationSessionPolicyParams{Slug: slug,
		MaxAgeSeconds: seconds(lifetime), IdleTimeoutSeconds: seconds(idle),
		SetRememberMeMaxAge: setRememberMe, RememberMeMaxAgeSeconds: seconds(rememberMe)})
	if err != nil {
		t.Fatal(err)
	}
}

func dur(d time.Duration) *time.Duration { return &d }

// readAnswer is the status slug of sessions/read on h.
func readAnswer(env *apitest.Env, h http.Handler, token string) gen.Status {
	return env.DoOn(h, apitest.Request(http.MethodGet, sessionsRead, "", nil, token)).Status()
}

// waitForPolicy waits until every handler shows the lifetime in the full view of the
// application of probe (a session token): the instances heard of the change.
func waitForPolicy(t *testing.T, env *apitest.Env, probe string, lifetime time.Duration, handlers ...http.Handler) {
	t.Helper()
	want := fmt.Sprintf(`"lifetime_seconds":%d`, int64(lifetime/time.Second))
	for i, h := range handlers {
		eventually(t, time.Second, fmt.Sprintf("instance %d has the new policy", i), func() bool {
			return strings.Contains(serveBody(env, h, apitest.Request(http.MethodGet, sessionsRead+"?application_view=full", "", nil, probe)), want)
		})
	}
}

// New sessions follow their application's policy: lifetime and idle timeout.
func TestSessionPolicyNewSessions(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := env.User("ada@example.com", password, "client")
	probe := env.Session(ada, "planoorder", "client")
	setPolicy(t, env, "planoorder", dur(3*time.Hour), dur(time.Hour), false, nil)
	waitForPolicy(t, env, probe, 3*time.Hour, env.Handler)

	t.Run("Idle", func(t *testing.T) {
		token := env.Login("ada@example.com", password, "planoorder")
		env.Clock.Advance(time.Hour - time.Second)
		env.Get(sessionsRead, token).Expect(t, 200, gen.StatusActionSuccessful)
		env.Clock.Advance(time.Hour)
		env.Get(sessionsRead, token).Expect(t, 401, gen.StatusSessionExpired)
	})
	t.Run("Lifetime", func(t *testing.T) {
		var s gen.Session
		login(env, map[string]any{"email": "ada@example.com", "password": password, "application": "planoorder"}).
			Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
		if want := env.Clock.Now().Add(time.Hour); !s.ExpiresAt.Equal(want) {
			t.Errorf("expires_at = %s, want %s (the one-hour idle timeout)", s.ExpiresAt, want)
		}
		created := env.Clock.Now()
		for range 5 {
			env.Clock.Advance(30 * time.Minute)
			if env.Clock.Now().Before(created.Add(3 * time.Hour)) {
				env.Get(sessionsRead, *s.Token).Expect(t, 200, gen.StatusActionSuccessful)
			}
		}
		env.Clock.Advance(created.Add(3 * time.Hour).Sub(env.Clock.Now()))
		env.Get(sessionsRead, *s.Token).Expect(t, 401, gen.StatusSessionExpired)
	})
	t.Run("OtherApplicationsKeepTheDefault", func(t *testing.T) {
		token := env.Login("ada@example.com", password, "planoauth")
		env.Clock.Advance(defaultIdleTimeout - time.Second)
		env.Get(sessionsRead, token).Expect(t, 200, gen.StatusActionSuccessful)
	})
}

// A shorter policy reaches live sessions on every instance at once; a longer one does not
// stretch the sessions created before it.
func TestSessionPolicyChangeReachesEveryInstance(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	other := env.SecondInstance()
	ada := env.User("ada@example.com", password, "client")

	t.Run("Shorter", func(t *testing.T) {
		token := env.Session(ada, "planoorder", "client")
		env.Clock.Advance(2 * time.Hour)
		for name, h := range map[string]http.Handler{"this": env.Handler, "other": other} {
			if got := readAnswer(env, h, token); got != gen.StatusActionSuccessful { // now cached there
				t.Fatalf("%s instance answered %s", name, got)
			}
		}
		setPolicy(t, env, "planoorder", dur(time.Hour), nil, false, nil)
		for name, h := range map[string]http.Handler{"this": env.Handler, "other": other} {
			eventually(t, time.Second, name+" instance expires the two-hour-old session", func() bool {
				return readAnswer(env, h, token) == gen.StatusSessionExpired
			})
		}
	})
	// A session expired by a shorter policy stays expired when the longer one comes back, on
	// every instance: the shorter policy lowered its stored bounds, and that reached the
	// caches (an instance that held the session since before, and never read it meanwhile).
	t.Run("RestoredStaysExpired", func(t *testing.T) {
		token := env.Session(ada, "planox2", "client")
		env.Clock.Advance(2 * time.Hour)
		for name, h := range map[string]http.Handler{"this": env.Handler, "other": other} {
			if got := readAnswer(env, h, token); got != gen.StatusActionSuccessful { // now cached there
				t.Fatalf("%s instance answered %s", name, got)
			}
		}
		setPolicy(t, env, "planox2", dur(time.Hour), nil, false, nil)
		eventually(t, time.Second, "this instance expires the two-hour-old session", func() bool {
			return readAnswer(env, env.Handler, token) == gen.StatusSessionExpired
		})
		probe := env.Session(ada, "planox2", "client") // live under either policy
		setPolicy(t, env, "planox2", dur(7*24*time.Hour), nil, false, nil)
		waitForPolicy(t, env, probe, 7*24*time.Hour, env.Handler, other)
		for name, h := range map[string]http.Handler{"this": env.Handler, "other": other} {
			eventually(t, time.Second, name+" instance keeps the session expired", func() bool {
				return readAnswer(env, h, token) == gen.StatusSessionExpired
			})
		}
	})
	t.Run("LongerOnlyForNewSessions", func(t *testing.T) {
		before := env.Session(ada, "planoauth", "client")
		setPolicy(t, env, "planoauth", dur(30*24*time.Hour), nil, false, nil)
		waitForPolicy(t, env, before, 30*24*time.Hour, env.Handler, other)
		after := env.Session(ada, "planoauth", "client")
		for range 4 { // used every 48 hours: only the lifetime ends them
			env.Clock.Advance(48 * time.Hour)
			for _, h := range []http.Handler{env.Handler, other} {
				readAnswer(env, h, before)
				readAnswer(env, h, after)
			}
		}
		for name, h := range map[string]http.Handler{"this": env.Handler, "other": other} {
			if got := readAnswer(env, h, before); got != gen.StatusSessionExpired {
				t.Errorf("%s instance: the session created under 7 days answers %s after 8 days", name, got)
			}
			if got := readAnswer(env, h, after); got != gen.StatusActionSuccessful {
				t.Errorf("%s instance: the session created under 30 days answers %s after 8 days", name, got)
			}
		}
	})
}

// remember_me sessions last until logout unless their application caps them; a cap set later
// reaches them at once.
func TestSessionPolicyRememberMeCap(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	var uncapped gen.Session
	login(env, map[string]any{"email": "ada@example.com", "password": password, "application": "planoorder", "remember_me": true}).
		Expect(t, 200, gen.StatusActionSuccessful).Data(t, &uncapped)
	if uncapped.ExpiresAt != nil {
		t.Errorf("an uncapped remember_me session expires at %s", uncapped.ExpiresAt)
	}
	env.Clock.Advance(40 * 24 * time.Hour)
	env.Get(sessionsRead, *uncapped.Token).Expect(t, 200, gen.StatusActionSuccessful)

	setPolicy(t, env, "planoorder", nil, nil, true, dur(30*24*time.Hour))
	eventually(t, time.Second, "the cap reaches the live remember_me session", func() bool {
		return readAnswer(env, env.Handler, *uncapped.Token) == gen.StatusSessionExpired
	})
	var capped gen.Session
	login(env, map[string]any{"email": "ada@example.com", "password": password, "application": "planoorder"}).
		Expect(t, 200, gen.StatusActionSuccessful).Data(t, &capped)
	if want := env.Clock.Now().Add(30 * 24 * time.Hour); capped.ExpiresAt == nil || !capped.ExpiresAt.Equal(want) {
		t.Fatalf("a capped remember_me session expires at %v, want %s", capped.ExpiresAt, want)
	}
	env.Clock.Advance(30*24*time.Hour - time.Second) // no idle timeout: unused all along
	env.Get(sessionsRead, *capped.Token).Expect(t, 200, gen.StatusActionSuccessful)
	env.Clock.Advance(time.Second)
	env.Get(sessionsRead, *capped.Token).Expect(t, 401, gen.StatusSessionExpired)

	// The cap taken off again: what it expired stays expired.
	setPolicy(t, env, "planoorder", nil, nil, true, nil)
	env.Get(sessionsRead, *uncapped.Token).Expect(t, 401, gen.StatusSessionExpired)
}

// A deleted session that a longer policy keeps usable past the default lifetime must still leave
// every instance's cache at once (the deletion notifies by the session's own bound).
func TestDeletedLongSessionLeavesEveryCache(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	other := env.SecondInstance()
	ada := env.User("ada@example.com", password, "client")
	token := env.Session(ada, "planoorder", "client")
	// Eight days old in the database's time, created under a 30-day lifetime.
	_, err := env.Pool.Exec(context.Background(), `UPDATE sessions SET created_at = now() - interval '8 days',
		max_expires_at = now() + interval '22 days'`)
	if err != nil {
		t.Fatal(err)
	}
	setPolicy(t, env, "planoorder", dur(30*24*time.Hour), nil, false, nil)
	waitForPolicy(t, env, token, 30*24*time.Hour, other)
	if got := readAnswer(env, other, token); got != gen.StatusActionSuccessful { // now cached there
		t.Fatalf("the other instance answered %s", got)
	}
	if _, err := env.Pool.Exec(context.Background(), "DELETE FROM sessions WHERE user_id = $1", ada); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "the other instance forgets the deleted session", func() bool {
		return readAnswer(env, other, token) == gen.StatusInvalidToken
	})
}
