package impl_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
)

// readStatus serves sessions/read on h, which need not be the Env's own handler.
func readStatus(env *apitest.Env, h http.Handler, token string) int {
	return env.DoOn(h, apitest.Request(http.MethodGet, sessionsRead, "", nil, token)).Code
}

// eventually polls for up to within: a notification travels between processes asynchronously,
// and "at once" is measured here as within that bound.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSessionCacheRevocationReachesEveryInstance(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	other := env.SecondInstance()
	env.User("ada@example.com", password, "client")

	t.Run("Logout", func(t *testing.T) {
		token := env.Login("ada@example.com", password, "planoorder")
		if code := readStatus(env, other, token); code != http.StatusOK { // now cached there
			t.Fatalf("the other instance answered %d", code)
		}
		env.Do(apitest.Request(http.MethodPost, sessionsDelete, "", nil, token)).Expect(t, 200, gen.StatusActionSuccessful)
		env.Get(sessionsRead, token).Expect(t, 401, gen.StatusInvalidToken) // this instance: at once
		eventually(t, time.Second, "the other instance refuses the logged-out token", func() bool {
			return readStatus(env, other, token) == http.StatusUnauthorized
		})
	})
	t.Run("RevokedInTheDatabase", func(t *testing.T) {
		token := env.Login("ada@example.com", password, "planoorder")
		env.Get(sessionsRead, token).Expect(t, 200, gen.StatusActionSuccessful)
		readStatus(env, other, token)
		// As `planoauth sessions revoke` does, from outside either instance.
		if _, err := env.Pool.Exec(context.Background(), "UPDATE sessions SET revoked_at = now()"); err != nil {
			t.Fatal(err)
		}
		for name, h := range map[string]http.Handler{"this": env.Handler, "other": other} {
			eventually(t, time.Second, name+" instance refuses the revoked token", func() bool {
				return readStatus(env, h, token) == http.StatusUnauthorized
			})
		}
	})
}

func TestSessionCacheListenerLost(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	token := env.Login("ada@example.com", password, "planoorder")
	env.Get(sessionsRead, token).Expect(t, 200, gen.StatusActionSuccessful) // cached
	ctx := context.Background()
	// Cut the cache's LISTEN connection, then revoke while no notification can arrive.
	var cut int
	err := env.Pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE '%LISTEN planoauth_sessions%' AND pid <> pg_backend_pid()`).Scan(&cut)
	if err != nil || cut != 1 {
		t.Fatalf("cut %d listener connections (%v), want the cache's one", cut, err)
	}
	if _, err := env.Pool.Exec(ctx, "UPDATE sessions SET revoked_at = now()"); err != nil {
		t.Fatal(err)
	}
	// The lost connection empties and pauses the cache, so the revocation is read from the
	// database well before the listener reconnects (a second later).
	eventually(t, 300*time.Millisecond, "the revoked token is refused", func() bool {
		return readStatus(env, env.Handler, token) == http.StatusUnauthorized
	})
}

// indexStatus serves coexistence/index on h with an application token.
func indexStatus(env *apitest.Env, h http.Handler, token string) int {
	return env.DoOn(h, apitest.Request(http.MethodGet, coexistenceIndex, "", nil, token)).Code
}

// rotate gives an application a new token in the database, as `planoauth applications
// rotate-token` does from outside every instance, and returns it.
func rotate(t *testing.T, env *apitest.Env, slug string) string {
	t.Helper()
	token, hash := auth.NewToken(auth.ApplicationPrefix)
	if _, err := env.Q.RotateApplicationToken(context.Background(), db.RotateApplicationTokenParams{Slug: slug, TokenHash: hash}); err != nil {
		t.Fatal(err)
	}
	return token
}

func TestApplicationTokenRotationReachesEveryInstance(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	other := env.SecondInstance()
	old := env.AppTokens["planoorder"]
	for name, h := range map[string]http.Handler{"this": env.Handler, "other": other} {
		if code := indexStatus(env, h, old); code != http.StatusOK {
			t.Fatalf("%s instance answered %d to the application token", name, code)
		}
	}
	fresh := rotate(t, env, "planoorder")
	for name, h := range map[string]http.Handler{"this": env.Handler, "other": other} {
		eventually(t, time.Second, name+" instance refuses the old token and takes the new one", func() bool {
			return indexStatus(env, h, old) == http.StatusUnauthorized && indexStatus(env, h, fresh) == http.StatusOK
		})
	}
}

func TestApplicationsListenerLost(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	old := env.AppTokens["planox2"]
	if code := indexStatus(env, env.Handler, old); code != http.StatusOK {
		t.Fatalf("answered %d to the application token", code)
	}
	ctx := context.Background()
	var cut int
	err := env.Pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()
		  AND (query LIKE '%LISTEN planoauth_applications%' OR query LIKE '%FROM applications ORDER BY slug%')`).Scan(&cut)
	if err != nil || cut != 1 {
		t.Fatalf("cut %d listener connections (%v), want the applications' one", cut, err)
	}
	rotate(t, env, "planox2")
	// The lost connection turns the cache off, so the rotation is read from the database well
	// before the listener reconnects (a second later).
	eventually(t, 300*time.Millisecond, "the old token is refused", func() bool {
		return indexStatus(env, env.Handler, old) == http.StatusUnauthorized
	})
}

// notificationsOf returns the payloads of the session notifications that do() causes, in order.
// A sentinel sent after do() marks the end, so nothing is waited for by the clock.
func notificationsOf(t *testing.T, env *apitest.Env, do func()) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := env.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	listener := conn.Hijack()
	defer listener.Close(ctx)
	if err := db.New(listener).ListenSessions(ctx); err != nil {
		t.Fatal(err)
	}
	do()
	exec(t, env, "SELECT pg_notify('planoauth_sessions', 'sentinel')")
	var payloads []string
	for {
		waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := listener.WaitForNotification(waitCtx)
		cancel()
		if err != nil {
			t.Fatalf("wait for notifications (got %v): %v", payloads, err)
		}
		if n.Payload == "sentinel" {
			return payloads
		}
		payloads = append(payloads, n.Payload)
	}
}

// Logging out everywhere sends one notification for the user, not one per session: each
// instance then evicts the user's sessions through its index at once.
func TestLogoutEverywhereNotifiesOnce(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := env.User("ada@example.com", password, "client")
	tokens := make([]string, 5)
	for i := range tokens {
		tokens[i] = env.Login("ada@example.com", password, "planoorder")
	}
	got := notificationsOf(t, env, func() {
		env.PostJSON(sessionsDelete, map[string]any{"all": true}, tokens[0]).Expect(t, 200, gen.StatusActionSuccessful)
	})
	if want := fmt.Sprintf("[user:%d]", ada); fmt.Sprint(got) != want {
		t.Errorf("notifications = %v, want %s", got, want)
	}
	t.Run("OneSession", func(t *testing.T) {
		token := env.Login("ada@example.com", password, "planoorder")
		var session gen.Session
		env.Get(sessionsRead, token).Data(t, &session)
		got := notificationsOf(t, env, func() {
			env.Do(apitest.Request(http.MethodPost, sessionsDelete, "", nil, token)).Expect(t, 200, gen.StatusActionSuccessful)
		})
		if want := "[session:" + session.Id.String() + "]"; fmt.Sprint(got) != want {
			t.Errorf("notifications = %v, want %s", got, want)
		}
	})
	t.Run("UseIsSilent", func(t *testing.T) {
		token := env.Login("ada@example.com", password, "planoorder")
		env.Clock.Advance(auth.TouchInterval)
		if got := notificationsOf(t, env, func() { env.Get(sessionsRead, token).Expect(t, 200, gen.StatusActionSuccessful) }); len(got) != 0 {
			t.Errorf("recording a use notified %v, want nothing", got)
		}
	})
}

// indexOn serves sessions/index on h with a session token.
func indexOn(env *apitest.Env, h http.Handler, token string) *apitest.Response {
	return env.DoOn(h, apitest.Request(http.MethodGet, sessionsIndex, "", nil, token))
}

// Every instance keeps the users of the sessions it serves, with the session cache on or off,
// so a change of a user made elsewhere must reach it at once: here a second factor confirmed on
// another instance (its mfa_enabled, set in the database) limits the user's aal1 session on
// both. With the cache off, the user kept is what a notification must evict.
func TestUserChangesReachEveryInstance(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string][]apitest.Option{"CacheOn": nil, "CacheOff": {apitest.WithoutSessionCache()}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := apitest.New(t, opts...)
			other := env.SecondInstance()
			ada := env.User("ada@example.com", password, "client")
			token := env.Login("ada@example.com", password, "planoorder")
			for where, h := range map[string]http.Handler{"this": env.Handler, "other": other} {
				if code := indexOn(env, h, token).Code; code != http.StatusOK { // now kept there
					t.Fatalf("%s instance answered %d", where, code)
				}
			}
			exec(t, env, "UPDATE users SET mfa_enabled = true WHERE id = $1", ada)
			for where, h := range map[string]http.Handler{"this": env.Handler, "other": other} {
				eventually(t, time.Second, where+" instance asks ada's aal1 session for its second factor", func() bool {
					return indexOn(env, h, token).Envelope.Status == gen.StatusMfaRequired
				})
				indexOn(env, h, token).Expect(t, 401, gen.StatusMfaRequired)
			}
		})
	}
}
