package impl_test

// The fixes of review 2 beyond its own tests (review2_test.go): the paths its tests leave out,
// from the HTTP API, as a stranger, an account holder or an employee would.

import (
	"context"
	"crypto/sha1" //nolint:gosec // the range API is keyed by SHA-1
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
	pw "github.com/plano/planoauth/internal/password"
	"github.com/plano/planoauth/internal/requestid"
)

// Attack: an employee's session is revoked (here by a reset of its password, held open after it
// revoked the sessions) while the employee's sessions/revoke or users/lookup is in flight. The
// request was authenticated before the revocation committed; it must wait for it (the check is
// in its transaction, on the employee's share-locked row) and then be refused, not act on a
// session that no longer exists.
func TestSessionControlWaitsForARevocationInFlight(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := env.User("ada@example.com", password, "client")
	for i, path := range []string{sessionsRevoke, usersLookup} {
		t.Run(strings.TrimPrefix(path, "/api/v1/"), func(t *testing.T) {
			email := fmt.Sprintf("staff%d@example.com", i)
			env.User(email, password, "employee")
			staff := env.Login(email, password, "planoorder")
			adas := env.Session(ada, "planoorder", "client")
			requestReset(env, addr(90+i), email).Expect(t, 200, gen.StatusActionSuccessful)
			link := lastReset(t, env, email)

			waiting, release := holdStatement(t, env, "sessions", "UPDATE", "RevokeUserSessionsInApplications", int64(7070+i))
			reset := env.Start(apitest.Request(http.MethodPost, passwordReset, "text/plain",
				apitest.Sensitive(t, map[string]any{"reset_token": link.token, "password": newPassword, "application": "planoorder"}), ""))
			eventually(t, 10*time.Second, "the reset holds its revocation", func() bool { return waiting() == 1 })
			params := map[string]any{"email": "ada@example.com"}
			if path == sessionsRevoke {
				params = map[string]any{"user_id": ada}
			}
			body, _ := json.Marshal(params)
			control := env.Start(apitest.Request(http.MethodPost, path, "application/json", body, staff))
			conn, err := pgx.ConnectConfig(context.Background(), env.Pool.Config().ConnConfig.Copy())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			early := waitForLockWaiter(t, conn, "transactionid", control)
			release()
			reset.Wait().Expect(t, 200, gen.StatusActionSuccessful)
			res := early
			if res == nil {
				res = control.Wait()
			}
			if early != nil || res.Code != http.StatusUnauthorized || res.Status() != gen.StatusInvalidToken {
				t.Errorf("%s by an employee whose session was being revoked answered %d (before the revocation committed: %v) %s, "+
					"want it to wait and answer 401 invalid-token", path, res.Code, early != nil, res.Raw)
			}
			env.Get(sessionsRead, adas).Expect(t, 200, gen.StatusActionSuccessful)
		})
	}
}

// An application that revoked nothing (the user has no session in it) still reads, in its own
// trail, that it asked; another application reads nothing of it.
func TestSessionsRevokeOfNothingIsAudited(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := env.User("ada@example.com", password, "client")
	env.Session(ada, "planoorder", "client")
	res := env.PostJSON(sessionsRevoke, map[string]any{"user_id": ada}, env.AppTokens["planox2"]).Expect(t, 200, gen.StatusActionSuccessful)
	if n := revokedCount(t, res); n != 0 {
		t.Fatalf("planox2 revoked %d", n)
	}
	query := fmt.Sprintf("?kind=sessions.revoked&user_id=%d", ada)
	trail := readTrail(t, env, env.AppTokens["planox2"], query)
	if len(trail.Results) != 1 || trail.Results[0].Details.Revoked == nil || *trail.Results[0].Details.Revoked != 0 ||
		trail.Results[0].Actor.Type != gen.ActorApplication {
		t.Errorf("planox2's trail: %s, want its own sessions.revoked of none", jsonOf(trail.Results))
	}
	if other := readTrail(t, env, env.AppTokens["planoorder"], query); len(other.Results) != 0 {
		t.Errorf("planoorder reads planox2's revocation: %s", jsonOf(other.Results))
	}
}

// Attack: one account's own password keeps the hash queue busy and the trail growing: its
// holder signs in (or changes the password) again and again, from any addresses. Successful
// sign-ins and password changes are counted per account (limits.Limiter.SignedIn) before the
// hash: past the allowance they are refused at once, without hashing and without an event.
func TestSuccessfulSignInsPerAccount(t *testing.T) {
	t.Parallel()
	const allowance = 3
	iss := newTestIssuer(t)
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SignedIn = limits.SuccessQuota{PerAccount: allowance, Window: 15 * time.Minute}
		d.Google = iss.config()
	}))
	env.User("ada@example.com", password, "client")
	right := map[string]any{"email": "ada@example.com", "password": password, "application": "planoorder"}

	t.Run("Passwords", func(t *testing.T) {
		verifications := metric(t, env, "planoauth_password_verifications_total")
		trail := len(wholeTrail(t, env))
		got := concurrently(8, func(i int) *apitest.Response { return from(env, addr(20+i), sessionsCreate, right, "") })
		if got.counts["200 action-successful"] != allowance || got.counts["429 rate-limited"] != 8-allowance {
			t.Errorf("answers %v, want %d sessions and the rest rate-limited", got, allowance)
		}
		if n := metric(t, env, "planoauth_password_verifications_total") - verifications; n != allowance {
			t.Errorf("%v passwords verified, want %d: a refused sign-in must not hash", n, allowance)
		}
		if n := len(wholeTrail(t, env)) - trail; n != allowance {
			t.Errorf("%d events appended, want %d (one login.succeeded per session)", n, allowance)
		}
		// A wrong password is no success: it spends nothing of the allowance (it is a guess).
		env.Clock.Advance(15 * time.Minute)
		for range 2 {
			from(env, addr(30), sessionsCreate, map[string]any{"email": "ada@example.com", "password": "a wrong guess", "application": "planoorder"}, "").
				Expect(t, 400, gen.StatusInvalidPassword)
		}
		// Strangers share the allowance, whatever their addresses; a caller the account knows (an
		// address it signed in from) has one of its own, which strangers cannot spend.
		for i := range allowance {
			from(env, addr(31+i), sessionsCreate, right, "").Expect(t, 200, gen.StatusActionSuccessful)
		}
		from(env, addr(40), sessionsCreate, right, "").Expect(t, 429, gen.StatusRateLimited)
		from(env, addr(31), sessionsCreate, right, "").Expect(t, 200, gen.StatusActionSuccessful)
	})
	t.Run("PasswordChanges", func(t *testing.T) {
		env.Clock.Advance(15 * time.Minute)
		session := env.Session(userIDOf(t, env, "ada@example.com"), "planoorder", "client")
		passwords := []string{password, newPassword, "yet another set of words", "and still one more phrase"}
		for i := range allowance {
			updatePassword(env, session, map[string]any{"current_password": passwords[i%2], "password": passwords[(i+1)%2]}).
				Expect(t, 200, gen.StatusActionSuccessful)
		}
		updatePassword(env, session, map[string]any{"current_password": passwords[allowance%2], "password": passwords[2]}).
			Expect(t, 429, gen.StatusRateLimited)
	})
	t.Run("Google", func(t *testing.T) {
		env.Clock.Advance(15 * time.Minute)
		token := iss.sign(t, claims("grace@example.com", env.Clock.Now()))
		google := map[string]any{"id_token": token, "application": "planoorder"}
		from(env, addr(50), sessionsGoogle, google, "").Expect(t, 401, gen.StatusClientRequired) // her user is created
		for i := range allowance - 1 {
			from(env, addr(51+i), sessionsGoogle, google, "").Expect(t, 401, gen.StatusClientRequired)
		}
		from(env, addr(60), sessionsGoogle, google, "").Expect(t, 429, gen.StatusRateLimited)
	})
}

// Attack: a Google ID token is reusable until it expires. Its holder (any Google account) signs
// in to an application that refuses its role, over and over: every use that opens no session
// is a failed sign-in of the address, so the trail grows no faster than the address's allowance.
func TestReusedGoogleTokenRefusedRoleIsBounded(t *testing.T) {
	t.Parallel()
	const allowance = 3
	iss := newTestIssuer(t)
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Google = iss.config()
		d.Limits.SignIn = limits.Throttle{PerAccount: 10, PerKnown: 10, PerAddress: allowance, Window: 15 * time.Minute}
	}))
	bob := env.User("bob@example.com", password, "client")
	c := claims("bob@example.com", env.Clock.Now())
	c["aud"] = clientB // planox2's
	token := iss.sign(t, c)
	got := concurrently(10, func(int) *apitest.Response {
		return from(env, addr(40), sessionsGoogle, map[string]any{"id_token": token, "application": "planox2"}, "")
	})
	if got.counts["400 user-requires-role"] != allowance || got.counts["429 rate-limited"] != 10-allowance {
		t.Errorf("answers %v, want %d refusals of the role and the rest rate-limited", got, allowance)
	}
	failed := 0
	for _, e := range wholeTrail(t, env) {
		if e.Kind == gen.AuditLoginFailed && deref(e.UserId) == bob {
			failed++
		}
	}
	if failed != allowance {
		t.Errorf("%d login.failed recorded, want %d", failed, allowance)
	}
	// A use that opens a session gives the address's use back (with a token issued to
	// planoorder: planox2's is planox2's alone).
	forOrder := iss.sign(t, claims("bob@example.com", env.Clock.Now()))
	for range 5 {
		from(env, addr(41), sessionsGoogle, map[string]any{"id_token": forOrder, "application": "planoorder"}, "").
			Expect(t, 200, gen.StatusActionSuccessful)
	}
}

// Attack: the same with a passkey of one's own: a sign-in that opens no session keeps the use
// its begin took.
func TestPasskeyRefusedRoleIsBounded(t *testing.T) {
	t.Parallel()
	const allowance = 3
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) { d.Limits.SignIn.PerAddress = allowance }))
	bob := env.User("bob@example.com", password, "client")
	a := apitest.NewAuthenticator(passkeyOrigin)
	registerPasskey(t, env, a, env.Login("bob@example.com", password, "planoorder"))
	got := map[string]int{}
	for range allowance + 2 {
		begin := mfaPost(env, addr(50), passkeySignInBegin, map[string]any{"application": "planox2"}, "")
		if begin.Code != http.StatusOK {
			got[fmt.Sprintf("begin %d %s", begin.Code, begin.Status())]++
			continue
		}
		finish := mfaPost(env, addr(50), passkeySignInEnd, map[string]any{"credential": a.Assert(t, options(t, begin)), "application": "planox2"}, "")
		got[fmt.Sprintf("finish %d %s", finish.Code, finish.Status())]++
	}
	if got["finish 400 user-requires-role"] != allowance || got["begin 429 rate-limited"] != 2 {
		t.Errorf("answers %v, want %d refusals of the role, then the begins rate-limited", got, allowance)
	}
	failed := 0
	for _, e := range wholeTrail(t, env) {
		if e.Kind == gen.AuditLoginFailed && deref(e.UserId) == bob {
			failed++
		}
	}
	if failed != allowance {
		t.Errorf("%d login.failed recorded, want %d", failed, allowance)
	}
	for range 5 { // sessions opened give their use back
		passkeySignIn(t, env, a, addr(51)).Expect(t, 200, gen.StatusActionSuccessful)
	}
}

// A password changed ends the user's sign-in links too (and a reset ends them as a change does):
// whoever saw one of the owner's emails must not sign in with it after the change.
func TestPasswordChangeEndsSignInLinks(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)

	t.Run("Update", func(t *testing.T) {
		ada := env.User("ada@example.com", password, "client")
		requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		leaked := lastLinkToken(t, env, "ada@example.com")
		updatePassword(env, env.Session(ada, "planoorder", "client"), map[string]any{"current_password": password, "password": newPassword}).
			Expect(t, 200, gen.StatusActionSuccessful)
		useLink(env, leaked, "planoorder").Expect(t, 401, gen.StatusLinkExpired)
	})
	t.Run("ResetByCode", func(t *testing.T) {
		env.User("bob@example.com", password, "client")
		requestLink(env, "bob@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		leaked := lastLinkToken(t, env, "bob@example.com")
		requestReset(env, addr(1), "bob@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		reset := lastReset(t, env, "bob@example.com")
		resetWith(env, map[string]any{"email": "bob@example.com", "code": reset.code}).Expect(t, 200, gen.StatusActionSuccessful)
		useLink(env, leaked, "planoorder").Expect(t, 401, gen.StatusLinkExpired)
	})
	t.Run("ResetPage", func(t *testing.T) {
		env.User("cy@example.com", password, "client")
		requestLink(env, "cy@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		leaked := lastLinkToken(t, env, "cy@example.com")
		requestReset(env, addr(1), "cy@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		reset := lastReset(t, env, "cy@example.com")
		rec := openPage(env, http.MethodPost, "/reset", url.Values{"token": {reset.token}, "password": {newPassword},
			"password_repeat": {newPassword}}, sameOrigin)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("the reset page answered %d:\n%s", rec.Code, rec.Body)
		}
		useLink(env, leaked, "planoorder").Expect(t, 401, gen.StatusLinkExpired)
		// The page's own hand-over, made after the reset, works.
		next, err := url.Parse(rec.Header().Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		useLink(env, next.Query().Get("magic_token"), "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	})
}

// breachedPwned is a Have I Been Pwned range API that knows breached as breached, and counts the
// look-ups it was asked.
func breachedPwned(t *testing.T, breached string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	sum := sha1.Sum([]byte(breached)) //nolint:gosec // the API's key
	suffix := strings.ToUpper(hex.EncodeToString(sum[:]))[5:]
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		fmt.Fprintf(w, "%s:12\r\n", suffix)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// pageFrom posts a link page's form from a client address, as the page's own form.
func pageFrom(env *apitest.Env, address, path string, form url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range sameOrigin {
		req.Header.Set(k, v)
	}
	req.RemoteAddr = address + ":1234"
	rec := httptest.NewRecorder()
	env.Handler.ServeHTTP(rec, req)
	return rec
}

// Attack: the holder of a reset link (a forwarded or shared email) tries new passwords without
// end, by the API and by the page: each is scored and looked up at Have I Been Pwned, while the
// link stays usable (a refused password leaves it so). Each costs the address a use, given back
// only when the reset is made.
func TestResetLinkPasswordTriesAreCounted(t *testing.T) {
	t.Parallel()
	const allowance = 3
	const breached = "a breached but long passphrase"
	srv, lookups := breachedPwned(t, breached)
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Pwned = pw.PwnedConfig{URL: srv.URL}
		d.Limits.SignIn = limits.Throttle{PerAccount: 10, PerKnown: 10, PerAddress: allowance, Window: 15 * time.Minute}
	}))

	t.Run("API", func(t *testing.T) {
		env.User("ada@example.com", password, "client")
		requestReset(env, addr(1), "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		reset := lastReset(t, env, "ada@example.com")
		before := lookups.Load()
		got := concurrently(10, func(int) *apitest.Response {
			return from(env, addr(60), passwordReset, map[string]any{"reset_token": reset.token, "password": breached, "application": "planoorder"}, "")
		})
		if got.counts["400 invalid-param"] != allowance || got.counts["429 rate-limited"] != 10-allowance {
			t.Errorf("answers %v, want %d refused passwords and the rest rate-limited", got, allowance)
		}
		if n := lookups.Load() - before; n != allowance {
			t.Errorf("%d Have I Been Pwned look-ups, want %d", n, allowance)
		}
		// From another address the link still works, and the reset made gives its use back.
		from(env, addr(61), passwordReset, map[string]any{"reset_token": reset.token, "password": newPassword, "application": "planoorder"}, "").
			Expect(t, 200, gen.StatusActionSuccessful)
	})
	t.Run("Page", func(t *testing.T) {
		env.User("bob@example.com", password, "client")
		requestReset(env, addr(1), "bob@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		reset := lastReset(t, env, "bob@example.com")
		before := lookups.Load()
		codes := map[int]int{}
		for range 6 {
			rec := pageFrom(env, addr(62), "/reset", url.Values{"token": {reset.token}, "password": {breached}, "password_repeat": {breached}})
			codes[rec.Code]++
		}
		if codes[http.StatusUnprocessableEntity] != allowance || codes[http.StatusTooManyRequests] != 6-allowance {
			t.Errorf("page answers %v, want %d refused passwords and then too many attempts", codes, allowance)
		}
		if n := lookups.Load() - before; n != allowance {
			t.Errorf("%d Have I Been Pwned look-ups, want %d", n, allowance)
		}
		rec := pageFrom(env, addr(63), "/reset", url.Values{"token": {reset.token}, "password": {newPassword}, "password_repeat": {newPassword}})
		if rec.Code != http.StatusSeeOther {
			t.Errorf("the reset with a good password answered %d:\n%s", rec.Code, rec.Body)
		}
	})
}

// Attack: a caller writes a request id of its choosing (another request's) into the logs and
// the audit trail. Only a trusted proxy's X-Request-Id is kept.
func TestRequestIDFromTrustedProxiesOnly(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithTrustedProxies(netip.MustParsePrefix("127.0.0.9/32")))
	env.User("ada@example.com", password, "client")
	const chosen = "caller-chosen-request-id"
	attempt := func(remote, forwarded string) *apitest.Response {
		req := apitest.Request(http.MethodPost, sessionsCreate, "text/plain", apitest.Sensitive(t, map[string]any{
			"email": "ada@example.com", "password": "a wrong guess", "application": "planoorder"}), "")
		req.RemoteAddr = remote + ":1234"
		req.Header.Set(requestid.Header, chosen)
		if forwarded != "" {
			req.Header.Set("X-Forwarded-For", forwarded)
		}
		return env.Do(req).Expect(t, 400, gen.StatusInvalidPassword)
	}
	stranger := attempt("127.0.0.5", "")
	if id := stranger.Header.Get(requestid.Header); id == chosen || id == "" {
		t.Errorf("a caller's own X-Request-Id was kept: %q", id)
	}
	proxied := attempt("127.0.0.9", "127.0.0.6")
	if id := proxied.Header.Get(requestid.Header); id != chosen {
		t.Errorf("a trusted proxy's X-Request-Id was replaced by %q", id)
	}
	byAddress := map[string]string{}
	for _, e := range wholeTrail(t, env) {
		if e.Kind == gen.AuditLoginFailed {
			byAddress[e.ClientAddress] = e.RequestId
		}
	}
	if byAddress["127.0.0.5"] != stranger.Header.Get(requestid.Header) || byAddress["127.0.0.6"] != chosen {
		t.Errorf("request ids in the trail by address %v, want the service's own for 127.0.0.5 and the proxy's for 127.0.0.6", byAddress)
	}
}

// When the link page used the link and then failed to hand the browser over to the application,
// it says what was done (the password is changed), not that nothing was.
func TestLinkPageSaysWhatWasDoneWhenTheHandOverFails(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	requestReset(env, addr(1), "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful)
	reset := lastReset(t, env, "ada@example.com")
	// The hand-over's sign-in link cannot be stored.
	exec(t, env, `CREATE FUNCTION refuse_sign_in_links() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.kind = 'sign_in' THEN RAISE EXCEPTION 'no sign-in links today'; END IF; RETURN NEW; END $$`)
	exec(t, env, "CREATE TRIGGER refuse_sign_in_links BEFORE INSERT ON magic_links FOR EACH ROW EXECUTE FUNCTION refuse_sign_in_links()")
	rec := openPage(env, http.MethodPost, "/reset", url.Values{"token": {reset.token}, "password": {newPassword},
		"password_repeat": {newPassword}}, sameOrigin)
	expectPage(t, rec, http.StatusInternalServerError, "Your password is changed", "Sign in to PlanoOrder with the new password")
	if strings.Contains(rec.Body.String(), "Nothing was changed") {
		t.Errorf("the page says nothing was changed after the password was:\n%s", rec.Body)
	}
	login(env, map[string]any{"email": "ada@example.com", "password": newPassword, "application": "planoorder"}).
		Expect(t, 200, gen.StatusActionSuccessful)
}
