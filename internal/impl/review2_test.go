package impl_test

// Review 2 (issues 12, 14, 15): attack tests of what is still wrong. Each test below FAILS on
// main because of the hole its comment describes; none of them is fixed here.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
	pw "github.com/plano/planoauth/internal/password"
)

// sessionsRevokedOf are the sessions.revoked events a request recorded.
func sessionsRevokedOf(t *testing.T, env *apitest.Env, res *apitest.Response) []gen.AuditEvent {
	t.Helper()
	var out []gen.AuditEvent
	for _, e := range ofRequest(wholeTrail(t, env), res) {
		if e.Kind == gen.AuditSessionsRevoked {
			out = append(out, e)
		}
	}
	return out
}

// Attack: an application's backend (or an employee) logs a user out with sessions/revoke, and
// the audit trail, which issue 15 says records "sessions revoked (and by whom)", records
// nothing: revokeUserSessions (control.go) runs one UPDATE outside any transaction and never
// calls audit.Append. So neither the user's application (audit/index, its webhook) nor the
// employees see that, or by whom, a user was thrown out; a stolen application token or a rogue
// employee can log anyone out without a trace. sessions/delete and the proofs record it.
func TestReview2SessionsRevokeIsAudited(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := env.User("ada@example.com", password, "client")
	eve := env.User("eve@example.com", password, "employee")
	employee := env.Session(eve, "planoorder", "employee")

	t.Run("ApplicationToken", func(t *testing.T) {
		env.Session(ada, "planoorder", "client")
		res := env.PostJSON(sessionsRevoke, map[string]any{"user_id": ada}, env.AppTokens["planoorder"]).
			Expect(t, 200, gen.StatusActionSuccessful)
		events := sessionsRevokedOf(t, env, res)
		if len(events) != 1 || events[0].Actor.Type != gen.ActorApplication || deref(events[0].UserId) != ada ||
			events[0].Application == nil || *events[0].Application != gen.Planoorder ||
			events[0].Details.Revoked == nil || *events[0].Details.Revoked != 1 {
			t.Errorf("sessions/revoke by planoorder's token recorded %s, want one sessions.revoked of ada in planoorder by the application", jsonOf(events))
		}
		// And the application reads it on audit/index, as its webhook would be sent it.
		trail := readTrail(t, env, env.AppTokens["planoorder"], fmt.Sprintf("?kind=sessions.revoked&user_id=%d", ada))
		if len(trail.Results) == 0 {
			t.Error("planoorder's audit/index shows no sessions.revoked for ada")
		}
	})
	t.Run("Employee", func(t *testing.T) {
		env.Session(ada, "planoorder", "client")
		env.Session(ada, "planoauth", "client")
		res := env.PostJSON(sessionsRevoke, map[string]any{"user_id": ada}, employee).Expect(t, 200, gen.StatusActionSuccessful)
		revoked := map[gen.ApplicationSlug]int{}
		for _, e := range sessionsRevokedOf(t, env, res) {
			if e.Actor.Type != gen.ActorUser || deref(e.Actor.UserId) != eve || deref(e.UserId) != ada {
				t.Errorf("event %s, want ada's sessions revoked by eve", jsonOf(e))
			}
			if e.Application != nil && e.Details.Revoked != nil {
				revoked[*e.Application] += *e.Details.Revoked
			}
		}
		if fmt.Sprint(revoked) != fmt.Sprint(map[gen.ApplicationSlug]int{gen.Planoauth: 1, gen.Planoorder: 1}) {
			t.Errorf("revoked per application = %v, want 1 in planoorder and 1 in planoauth, by eve", revoked)
		}
	})
}

// Attack: an employee whose email was never proven (whoever registered the email before its
// owner was made an employee: the very case for which audit/index, every grant and clients/create
// treat an unverified employee as any other caller, "An unverified employee is no exception")
// uses sessions/revoke to log any user out of every application, from several addresses at
// once, and users/lookup to read any user's email, names, verification and whether it has a
// password. Neither handler checks callerVerified; only auditScope does.
func TestReview2UnverifiedEmployeeSessionControl(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := env.User("ada@example.com", password, "client")
	squatter := env.Session(env.UnverifiedUser("eve@example.com", password, "employee"), "planoorder", "employee")
	adas := []string{env.Session(ada, "planoorder", "client"), env.Session(ada, "planoauth", "client")}

	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			path, body := sessionsRevoke, map[string]any{"user_id": ada}
			if i%2 == 1 {
				path, body = usersLookup, map[string]any{"email": "ada@example.com"}
			}
			res := jsonFromWithToken(env, addr(40+i), path, body, squatter)
			if res.Code != 403 || res.Status() != gen.StatusPermissionDenied {
				t.Errorf("%s by an unverified employee from %s: %d %s, want 403 permission-denied", path, addr(40+i), res.Code, res.Status())
			}
			if path == usersLookup && strings.Contains(string(res.Raw), "ada@example.com") {
				t.Errorf("an unverified employee read ada's user: %s", res.Raw)
			}
		})
	}
	wg.Wait()
	for _, token := range adas {
		env.Get(sessionsRead, token).Expect(t, 200, gen.StatusActionSuccessful)
	}
}

// jsonFromWithToken posts params as JSON with a token from a client address.
func jsonFromWithToken(env *apitest.Env, address, path string, params map[string]any, token string) *apitest.Response {
	env.T.Helper()
	req := apitest.Request(http.MethodPost, path, "application/json", []byte(jsonOf(params)), token)
	req.RemoteAddr = address + ":1234"
	return env.Do(req)
}

// countingPwned is a Have I Been Pwned range API that knows no breached password and counts the
// look-ups it was asked.
func countingPwned(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		fmt.Fprintf(w, "%s:0\r\n", strings.Repeat("0", 35))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// Attack: free work for strangers. sessions/password_reset with email and code scores the new
// password with zxcvbn and asks Have I Been Pwned BEFORE anything is counted (resetWithCode
// checks the password first, then takes the address's use): a stranger with no account, from
// one address whose allowance is long spent, makes PlanoAuth run zxcvbn and send an outbound
// HIBP request for every request it sends, without bound (the answer is rate-limited, after the
// work). Flooding HIBP through PlanoAuth's egress address can get that address throttled, and an
// unreachable HIBP turns the breach check off for everyone (it fails open). users/password_update
// does the same for a stolen session past its current_password allowance. The standard: limits
// are counted "before the expensive work".
func TestReview2NewPasswordChecksAreCountedFirst(t *testing.T) {
	t.Parallel()
	srv, lookups := countingPwned(t)
	const allowance = 3
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Pwned = pw.PwnedConfig{URL: srv.URL}
		d.Limits.SignIn = limits.Throttle{PerAccount: allowance, PerKnown: allowance, PerAddress: allowance, Window: 15 * time.Minute}
	}))

	t.Run("ResetCodeFromAStranger", func(t *testing.T) {
		before := lookups.Load()
		got := concurrently(12, func(int) *apitest.Response {
			return from(env, addr(9), passwordReset, map[string]any{"email": "nobody@example.com", "code": "12345678",
				"password": newPassword, "application": "planoorder"}, "")
		})
		if got.counts["401 invalid-token"] != allowance || got.counts["429 rate-limited"] != 12-allowance {
			t.Fatalf("answers %v, want %d invalid-token and the rest rate-limited", got, allowance)
		}
		if n := lookups.Load() - before; n > allowance {
			t.Errorf("12 requests from one address with an allowance of %d made %d Have I Been Pwned look-ups", allowance, n)
		}
	})
	t.Run("PasswordUpdateWithAStolenSession", func(t *testing.T) {
		stolen := env.Session(env.User("bob@example.com", password, "client"), "planoorder", "client")
		before := lookups.Load()
		got := concurrently(12, func(i int) *apitest.Response {
			return from(env, addr(60+i), passwordUpdate, map[string]any{"current_password": "a guess", "password": newPassword}, stolen)
		})
		if got.counts["400 invalid-password"] != allowance {
			t.Fatalf("answers %v, want %d guesses evaluated", got, allowance)
		}
		if n := lookups.Load() - before; n > allowance {
			t.Errorf("12 guesses with an allowance of %d made %d Have I Been Pwned look-ups", allowance, n)
		}
	})
}

// Attack: a reset link (or code) outlives the password change it should have been made
// pointless by. The owner, fearing that a reset email was seen by someone else (a shared
// mailbox, a forwarded or leaked email), changes the password with users/password_update, which
// revokes every other session; the reset link and code still work for the rest of their 15
// minutes, and whoever holds them sets a password of their own and takes the account. OWASP's
// forgot-password guidance and common frameworks end outstanding reset tokens when the password
// changes; changePassword ends none.
func TestReview2ResetLinkDiesWithPasswordChange(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	const attackers = "the attacker's own unrelated words"

	for _, by := range []string{"Token", "Code"} {
		t.Run(by, func(t *testing.T) {
			email := strings.ToLower(by) + "@example.com"
			mine := env.Session(env.User(email, password, "client"), "planoorder", "client")
			requestReset(env, addr(1), email).Expect(t, 200, gen.StatusActionSuccessful)
			leaked := lastReset(t, env, email)
			updatePassword(env, mine, map[string]any{"current_password": password, "password": newPassword}).
				Expect(t, 200, gen.StatusActionSuccessful)

			proof := map[string]any{"reset_token": leaked.token, "password": attackers}
			if by == "Code" {
				proof = map[string]any{"email": email, "code": leaked.code, "password": attackers}
			}
			res := resetWith(env, proof)
			if res.Code == http.StatusOK {
				t.Errorf("the reset %s emailed before the password change still reset it: %s", strings.ToLower(by), res.Raw)
			}
			// The owner's new password must still be the password.
			login(env, map[string]any{"email": email, "password": newPassword, "application": "planoorder"}).
				Expect(t, 200, gen.StatusActionSuccessful)
		})
	}
}

// Attack: an expired session comes back to life. An operator shortens an application's session
// lifetime to end the long-lived sessions at once (stolen tokens after an incident); the tokens
// answer session-expired. When the operator restores the usual policy, every one of them works
// again (ExpiresAt is recomputed from the current policy on every request, and an expired
// session is never marked), so the stolen tokens are live again. The README documents this ("a
// policy shortened and then restored brings back the sessions"), but a token once refused as
// expired must stay dead: a serious service never resurrects a session. Either mark sessions
// expired (revoked_at, or a shortened max_expires_at) when a policy shortens, or never let a
// longer policy apply to an already-expired session.
func TestReview2PolicyRestoreDoesNotResurrect(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := env.User("ada@example.com", password, "client")
	stolen := env.Session(ada, "planoorder", "client")
	env.Clock.Advance(2 * time.Hour)
	env.Get(sessionsRead, stolen).Expect(t, 200, gen.StatusActionSuccessful)

	probe := env.Session(ada, "planoorder", "client")
	setPolicy(t, env, "planoorder", dur(time.Hour), nil, false, nil)
	waitForPolicy(t, env, probe, time.Hour, env.Handler)
	env.Get(sessionsRead, stolen).Expect(t, 401, gen.StatusSessionExpired)

	setPolicy(t, env, "planoorder", dur(7*24*time.Hour), nil, false, nil)
	waitForPolicy(t, env, probe, 7*24*time.Hour, env.Handler)
	res := env.Get(sessionsRead, stolen)
	if res.Code == http.StatusOK {
		t.Errorf("a session refused as expired is live again after the policy was restored: %d %s", res.Code, res.Status())
	}
}

// holdStatement makes every statement whose text contains marker (an sqlc query's name) wait,
// before it touches a row, until the returned release is called: a statement-level BEFORE
// trigger on table waits for an advisory lock the test holds. It widens a race window so that
// a test of it is deterministic. waiting reports how many statements wait.
func holdStatement(t *testing.T, env *apitest.Env, table, event, marker string, key int64) (waiting func() int, release func()) {
	t.Helper()
	ctx := context.Background()
	fn := fmt.Sprintf("review2_hold_%d", key)
	if _, err := env.Pool.Exec(ctx, fmt.Sprintf(`
CREATE FUNCTION %[1]s() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_query() LIKE '%%name: %[2]s %%' THEN
        PERFORM pg_advisory_lock(%[3]d);
        PERFORM pg_advisory_unlock(%[3]d);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER %[1]s BEFORE %[4]s ON %[5]s FOR EACH STATEMENT EXECUTE FUNCTION %[1]s();`,
		fn, marker, key, event, table)); err != nil {
		t.Fatal(err)
	}
	// A connection of its own, outside the pool: the statements held keep theirs.
	conn, err := pgx.ConnectConfig(ctx, env.Pool.Config().ConnConfig.Copy())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	released := false
	release = func() {
		mu.Lock()
		defer mu.Unlock()
		if released {
			return
		}
		released = true
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() {
		release()
		_ = conn.Close(ctx)
	})
	waiting = func() int {
		mu.Lock()
		defer mu.Unlock()
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_locks
			WHERE locktype = 'advisory' AND NOT granted AND objid = $1::bigint::oid`, key).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	return waiting, release
}

// Attack: two reset requests at once leave two live reset links (and the README promises "a new
// request ends the user's earlier reset links and codes, so a user has one live code at most").
// sendReset ends the earlier links (ExpireUserLinks) and inserts the new one in a transaction
// that hashes the code in between; under READ COMMITTED, two concurrent ones each end what was
// committed before them and neither sees the other's new link. An attacker (or the owner
// pressing twice) makes every emailed token of the burst work, which defeats "the newer email
// replaces the older one". The fix: serialize a user's resets (lock the user row first).
func TestReview2ConcurrentResetRequestsLeaveOneLink(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	waiting, release := holdStatement(t, env, "magic_links", "INSERT", "CreateLink", 5151)

	for i := range 2 {
		requestReset(env, addr(70+i), "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful)
	}
	eventually(t, 10*time.Second, "both resets reach their insert", func() bool { return waiting() == 2 })
	release()
	env.Server.Wait()

	rows, err := env.Pool.Query(context.Background(),
		"SELECT body_text FROM sent_emails WHERE recipient = 'ada@example.com' AND kind = 'password_reset'")
	if err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, linkToken.FindString(body))
	}
	if rows.Err() != nil || len(tokens) != 2 {
		t.Fatalf("%d reset emails (%v), want 2", len(tokens), rows.Err())
	}
	live := 0
	for _, token := range tokens {
		if openPage(env, http.MethodGet, "/reset?token="+token, nil, nil).Code == http.StatusOK {
			live++
		}
	}
	if live != 1 {
		t.Errorf("%d of the two reset links emailed at once work, want only one", live)
	}
	// The control: one more request, alone, ends them all but its own.
	requestReset(env, addr(72), "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful)
	newest := lastReset(t, env, "ada@example.com")
	for _, token := range tokens {
		expectPage(t, openPage(env, http.MethodGet, "/reset?token="+token, nil, nil), http.StatusGone, "This link has expired")
	}
	expectPage(t, openPage(env, http.MethodGet, "/reset?token="+newest.token, nil, nil), http.StatusOK)
}

// Attack: the audit trail (and its global lock, and the application's webhook) flooded by a
// stranger with an account of its own. The contract says only refusals that count against the
// rate limits are recorded, "so a flood of requests cannot grow the trail faster than the
// limits allow". But user-requires-role follows a correct password, whose use checkPassword
// gives back: a client (anyone can register one at planoorder) logs in to planox2, which
// accepts no clients, with its right password, over and over, from any addresses; every
// request is one argon2id verification (the hash queue, shared with every log-in) and one
// login.failed appended under the trail's advisory lock (serializing every security event of
// the service) and queued to planox2's webhook, and none of them is ever rate-limited. The
// same holds for a Google ID token, reusable until it expires, with no hash at all.
func TestReview2RoleRefusalsAreBoundedByTheLimits(t *testing.T) {
	t.Parallel()
	const allowance = 3
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SignIn = limits.Throttle{PerAccount: allowance, PerKnown: allowance, PerAddress: allowance, Window: 15 * time.Minute}
	}))
	bob := env.User("bob@example.com", password, "client")
	// A few at a time (concurrent requests beyond the allowance are refused while the others'
	// uses are out), one wave after another.
	got := map[string]int{}
	for wave := range 4 {
		for answer, n := range concurrently(allowance, func(int) *apitest.Response {
			return from(env, addr(80+wave), sessionsCreate, map[string]any{"email": "bob@example.com", "password": password, "application": "planox2"}, "")
		}).counts {
			got[answer] += n
		}
	}
	recorded := 0
	for _, e := range wholeTrail(t, env) {
		if e.Kind == gen.AuditLoginFailed && deref(e.UserId) == bob {
			recorded++
		}
	}
	if recorded > allowance {
		t.Errorf("12 log-ins to an application that refuses the role (answers %v) appended %d login.failed, "+
			"with a sign-in allowance of %d per account and per address: nothing bounds them", got, recorded, allowance)
	}
}
