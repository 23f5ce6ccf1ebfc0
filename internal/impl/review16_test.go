package impl_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

// Review 16: users kept in memory, the token query reading sessions alone.

// cacheModes are the two settings of PLANOAUTH_SESSION_CACHE_TTL that keep users: on (10s) and off.
var cacheModes = map[string][]apitest.Option{"CacheOn": nil, "CacheOff": {apitest.WithoutSessionCache()}}

// pauseNotifications stops the backend of the instance's LISTEN connection (SIGSTOP; the test's
// throwaway cluster runs as the test's own user) until the returned resume runs, so that no
// notification reaches the instance meanwhile: what it serves then is what it evicted itself.
// Commits still queue their notifications, and the instance gets them all once resumed.
func pauseNotifications(t *testing.T, env *apitest.Env) (resume func()) {
	t.Helper()
	var pid int
	var database string
	err := env.Pool.QueryRow(context.Background(), `SELECT pid, current_database() FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE '%LISTEN planoauth_sessions%' AND pid <> pg_backend_pid()`).Scan(&pid, &database)
	if err != nil {
		t.Fatalf("find the session cache's listener: %v", err)
	}
	// The pid is the server's: signal it only when it is a backend of this database on this
	// machine (the tests' own cluster), never a process that merely has its number.
	title, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.HasPrefix(string(title), "postgres: ") || !strings.Contains(string(title), " "+database+" ") {
		t.Skipf("the database's server is not on this machine (process %d: %q): notifications cannot be held back", pid, title)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("stop the listener's backend %d: %v", pid, err)
	}
	resumed := false
	resume = func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	return resume
}

// Finding: an email's first proof by a prover who showed the account's password
// (magic_link_create with password) keeps everything and so revoked nothing, and the instance
// evicted only the users whose sessions were revoked: the user it kept, unverified, was served
// to the caller's next requests, on the new session and the old, until the notification came.
func TestReview16ProofKeepingThePasswordIsReadAtOnce(t *testing.T) {
	t.Parallel()
	for name, opts := range cacheModes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := apitest.New(t, opts...)
			const grace = "grace@example.com"
			registered := register(t, env, registration(grace))
			if s := readSession(t, env, *registered.Session.Token); *s.User.EmailVerified { // grace is kept here
				t.Fatal("a registered user reads as verified")
			}
			env.DeliverEmails()
			link := lastLinkToken(t, env, grace)
			resume := pauseNotifications(t, env)
			res := env.PostSensitive(magicLinkCreate, map[string]any{"magic_token": link, "application": "planoorder", "password": password}, "").
				Expect(t, 200, gen.StatusActionSuccessful)
			var fresh gen.Session
			res.Data(t, &fresh)
			for what, token := range map[string]string{"the proof's new session": *fresh.Token, "her earlier session": *registered.Session.Token} {
				if s := readSession(t, env, token); !*s.User.EmailVerified {
					t.Errorf("%s reads grace unverified after the proof answered", what)
				}
			}
			resume()
		})
	}
}

// Finding: the token query reads the session, then (the user not kept) the user, in two
// statements: an email's first proof that committed between them, revoking the squatter's
// session and proving the email in one transaction, paired the session as it was (live) with the
// user as it became (verified). The squatter of an employee's address read the whole audit trail
// (every user's addresses and sign-ins) with a session revoked by the very proof that made it
// look verified. A lock on users, taken by the transaction that proves the email (as
// ProveUserEmail and RevokeUserSessionsInApplications do), keeps the request between its two
// statements until the proof commits; one statement (the join before usercache) waits for it
// and reads both after.
func TestReview16ProofInFlightPairsNoRevokedSessionWithTheProvenUser(t *testing.T) {
	t.Parallel()
	for name, opts := range cacheModes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := apitest.New(t, opts...)
			eve := env.UnverifiedUser("staff@example.com", password, "employee")
			squatter := env.Session(eve, "planoorder", "employee")
			env.User("ada@example.com", password, "client")
			env.Login("ada@example.com", password, "planoorder") // in the trail: her sign-in, with her address
			ctx := context.Background()
			proof, err := env.Pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			release := func() { _ = proof.Rollback(ctx) }
			defer release()
			if _, err := proof.Exec(ctx, "LOCK TABLE users IN ACCESS EXCLUSIVE MODE"); err != nil {
				t.Fatal(err)
			}
			for _, stmt := range []string{ // what the proof changes, in one transaction
				"UPDATE users SET email_verified_at = now(), credential_version = credential_version + 1 WHERE id = $1",
				"UPDATE sessions SET revoked_at = now() WHERE user_id = $1",
			} {
				if _, err := proof.Exec(ctx, stmt, eve); err != nil {
					t.Fatal(err)
				}
			}
			answer := env.Start(apitest.Request(http.MethodGet, auditIndex, "", nil, squatter))
			until(t, func() bool { return waitingOnALock(t, env) }, answer, release, "the squatter's audit/index waits for the proof")
			if err := proof.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			answer.Wait().Expect(t, 401, gen.StatusInvalidToken)
		})
	}
}

// Read-your-writes on one instance, the notifications held back: after each change of the
// caller's user row answered, the caller's next requests there (on that session and on another
// of the same user) see it, whatever that instance kept of the user.
func TestReview16UserChangesAreReadAtOnceWithoutNotifications(t *testing.T) {
	t.Parallel()
	for name, opts := range cacheModes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := apitest.New(t, opts...)
			// sessionsOf signs the user in twice and reads both sessions, so the user is kept here.
			sessionsOf := func(email string) (string, string) {
				a, b := env.Login(email, password, "planoorder"), env.Login(email, password, "planoorder")
				readSession(t, env, a)
				readSession(t, env, b)
				return a, b
			}
			t.Run("RememberMeAtLogin", func(t *testing.T) {
				env.User("remember@example.com", password, "client")
				earlier, _ := sessionsOf("remember@example.com")
				defer pauseNotifications(t, env)()
				env.PostSensitive(sessionsCreate, map[string]any{"email": "remember@example.com", "password": password,
					"application": "planoorder", "remember_me": true}, "").Expect(t, 200, gen.StatusActionSuccessful)
				if s := readSession(t, env, earlier); !*s.User.RememberMe {
					t.Error("an earlier session reads remember_me false after a login saved it")
				}
			})
			t.Run("SecondFactorAdded", func(t *testing.T) {
				env.User("totp@example.com", password, "client")
				enrolling, other := sessionsOf("totp@example.com")
				defer pauseNotifications(t, env)()
				enrolTOTP(t, env, enrolling)
				env.Get(sessionsIndex, other).Expect(t, 401, gen.StatusMfaRequired) // sessions/read admits a limited session
			})
			t.Run("SecondFactorCompletedWithRememberMe", func(t *testing.T) {
				env.User("wish@example.com", password, "client")
				enrolling, _ := sessionsOf("wish@example.com")
				secret, _ := enrolTOTP(t, env, enrolling)
				res := env.PostSensitive(sessionsCreate, map[string]any{"email": "wish@example.com", "password": password,
					"application": "planoorder", "remember_me": true}, "").Expect(t, 401, gen.StatusMfaRequired)
				var limited gen.Session
				res.Data(t, &limited)
				defer pauseNotifications(t, env)()
				env.Clock.Advance(30 * time.Second) // the enrolment used the current step's code
				mfaPost(env, "", totpVerify, map[string]any{"code": totpCode(t, env, secret, 0)}, *limited.Token).Expect(t, 200, gen.StatusActionSuccessful)
				if s := readSession(t, env, enrolling); !*s.User.RememberMe {
					t.Error("the user's other session reads remember_me false after the second factor applied the wish")
				}
			})
			t.Run("ClientRegister", func(t *testing.T) {
				env.User("norole@example.com", password)
				res := env.PostSensitive(sessionsCreate, map[string]any{"email": "norole@example.com", "password": password,
					"application": "planoorder"}, "")
				var limited gen.Session
				res.Data(t, &limited)
				readSession(t, env, *limited.Token)
				defer pauseNotifications(t, env)()
				env.PostJSON(usersClientRegister, map[string]any{"client": map[string]any{"first_name": "Grace"}}, *limited.Token).
					Expect(t, 200, gen.StatusActionSuccessful)
				if s := readSession(t, env, *limited.Token); s.User.FirstName == nil || *s.User.FirstName != "Grace" {
					t.Errorf("the session reads first_name %q after users/client_register set it", deref(s.User.FirstName))
				}
			})
		})
	}
}

// A user changed while the instance's listener is down is read from the database well before
// the listener is back (a second later): losing it empties the users kept, with the cache on or off.
func TestReview16UserChangedWhileTheListenerIsLost(t *testing.T) {
	t.Parallel()
	for name, opts := range cacheModes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := apitest.New(t, opts...)
			ada := env.User("ada@example.com", password, "client")
			token := env.Login("ada@example.com", password, "planoorder")
			env.Get(sessionsIndex, token).Expect(t, 200, gen.StatusActionSuccessful) // ada is kept
			var cut int
			err := env.Pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE datname = current_database() AND query LIKE '%LISTEN planoauth_sessions%' AND pid <> pg_backend_pid()`).Scan(&cut)
			if err != nil || cut != 1 {
				t.Fatalf("cut %d listener connections (%v), want the cache's one", cut, err)
			}
			exec(t, env, "UPDATE users SET mfa_enabled = true WHERE id = $1", ada)
			eventually(t, 300*time.Millisecond, "ada's aal1 session is asked for its second factor", func() bool {
				return env.Get(sessionsIndex, token).Envelope.Status == gen.StatusMfaRequired
			})
		})
	}
}
