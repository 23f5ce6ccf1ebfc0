package impl_test

// A sign-out ends what it signs out (README, Sessions): a change of what signs in to the account
// (a passkey, an authenticator app, recovery codes, a password) made by a session that the owner
// signs out, in flight when she does, either commits before she is answered (and the session
// ends after it: she sees the change in mfa/index and was told by email) or is refused
// (invalid-token) and writes nothing. Never does it commit after the answer that said the
// session was ended: the thief would keep a factor on the account the owner believes she
// cleaned. The same holds for sessions/revoke (an application, or an employee, on the owner's
// behalf). Each test is an attack from the HTTP API, from distinct client addresses; the first
// ones FAILED while a sign-out did not take the user's row (the change, past its check that
// its session is live, committed after the owner's answer).

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/limits"
)

// holdNotice holds the notice window of kind (a security notice to email: its limit_counters
// row, made first when there is none) until release runs: a change that tells the owner waits
// there, past its checks and its writes, before it commits (tellOwner, the last statement but
// the audit trail's).
func holdNotice(t *testing.T, env *apitest.Env, kind, email string) (release func()) {
	t.Helper()
	key, now := "notice:"+kind+":"+limits.EmailKey(email), env.Clock.Now()
	if _, err := env.Pool.Exec(context.Background(), "INSERT INTO limit_counters (key, window_start, expires_at, count) "+
		"VALUES ($1, $2, $3, 0) ON CONFLICT (key) DO NOTHING", key, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	return holdRows(t, env, "SELECT 1 FROM limit_counters WHERE key = $1 FOR UPDATE", key)
}

// credentialsOf is what signs in to the account of email, as committed: its password, its
// passkeys, its authenticator app and its recovery codes.
func credentialsOf(t *testing.T, env *apitest.Env, email string) string {
	t.Helper()
	var out string
	err := env.Pool.QueryRow(context.Background(), `SELECT concat_ws(' | ', u.password_hash, u.credential_version, u.mfa_enabled,
		(SELECT string_agg(p.id::text, ',' ORDER BY p.id) FROM passkeys p WHERE p.user_id = u.id),
		(SELECT encode(s.sealed_secret, 'hex') FROM totp_secrets s WHERE s.user_id = u.id AND s.confirmed_at IS NOT NULL),
		(SELECT string_agg(encode(r.code_hash, 'hex'), ',' ORDER BY r.code_hash) FROM recovery_codes r WHERE r.user_id = u.id))
		FROM users u WHERE u.email = $1`, email).Scan(&out)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// amid is a thief's change on its session (thief), held in flight past its checks by hold, and
// the revocation of that session by or for the owner of email (the owner's session: owner).
type amid struct {
	email, thief, owner string
	change              *http.Request
	hold                func() (release func())
	revoke              *http.Request
}

// wantNothingAfterTheAnswer starts the change, waits until it is held, starts the revocation,
// waits until that answered or waits too, releases, and checks the order the answers tell:
// the revocation answered (revoked the thief's session) and the change was refused
// (invalid-token) having written nothing; or the change committed before the revocation was
// answered, and the session ended after it. A change committed after the revocation answered
// fails the test. A change that ended the owner's own session (a password change ends the
// others) may answer her revocation invalid-token, having committed first.
func wantNothingAfterTheAnswer(t *testing.T, env *apitest.Env, a amid) {
	t.Helper()
	before := credentialsOf(t, env, a.email)
	release := a.hold()
	changing := env.Start(a.change)
	until(t, func() bool { return lockWaiters(t, env) >= 1 }, changing, release, "the change never waited at its notice")
	revoking := env.Start(a.revoke)
	answeredFirst := false
	until(t, func() bool {
		select {
		case <-revoking.Done():
			answeredFirst = true
			return true
		default:
			return lockWaiters(t, env) >= 2
		}
	}, changing, release, "the revocation neither answered nor waited")
	release()
	revoked, changed := revoking.Wait(), changing.Wait()

	if changed.Code == http.StatusOK {
		if answeredFirst {
			t.Errorf("%s by the session just revoked committed after the revocation answered %d %s",
				a.change.URL.Path, revoked.Code, revoked.Status())
		}
		if revoked.Code == http.StatusUnauthorized && readStatus(env, env.Handler, a.owner) == http.StatusUnauthorized {
			revoked.Expect(t, 401, gen.StatusInvalidToken) // the change, first, ended the owner's session too
			return
		}
		revoked.Expect(t, 200, gen.StatusActionSuccessful)
		if n := revokedCount(t, revoked); n < 1 {
			t.Errorf("the revocation after the change revoked %d sessions", n)
		}
		env.Get(sessionsRead, a.thief).Expect(t, 401, gen.StatusInvalidToken)
		return
	}
	revoked.Expect(t, 200, gen.StatusActionSuccessful)
	changed.Expect(t, 401, gen.StatusInvalidToken)
	if after := credentialsOf(t, env, a.email); after != before {
		t.Error("a refused change wrote credentials") // the hashes are no test output
	}
	if events := ofRequest(wholeTrail(t, env), changed); len(events) != 0 {
		t.Errorf("a refused change recorded %v", kindsOf(events))
	}
	env.Get(sessionsRead, a.thief).Expect(t, 401, gen.StatusInvalidToken)
}

// signOuts are the two ways the owner signs the thief's session out from her own: every other
// session, or the thief's by its id.
func signOuts(t *testing.T, env *apitest.Env, owner, thief string) map[string]*http.Request {
	t.Helper()
	return map[string]*http.Request{
		"others": mfaRequest(env, addr(2), sessionsDelete, map[string]any{"others": true}, owner),
		"id":     mfaRequest(env, addr(2), sessionsDelete, map[string]any{"id": idOf(t, env, thief)}, owner),
	}
}

// queued starts first, waits until it waits for a lock (what release holds), starts second,
// waits until it waits too (for first, or what release holds), releases, and returns both
// answers: first took its locks before second asked for them.
func queued(t *testing.T, env *apitest.Env, release func(), first, second *http.Request) (*apitest.Response, *apitest.Response) {
	t.Helper()
	a := env.Start(first)
	until(t, func() bool { return lockWaiters(t, env) >= 1 }, a, release, first.URL.Path+" never waited")
	b := env.Start(second)
	until(t, func() bool { return lockWaiters(t, env) >= 2 }, b, release, second.URL.Path+" never waited behind "+first.URL.Path)
	release()
	return a.Wait(), b.Wait()
}

// The thief signed in with its copy of ada's synced passkey (aal2, a recent proof: it may
// change her factors); ada signs it out while its change of her factors is in flight.
func TestSignoutRaceFactorChanges(t *testing.T) {
	t.Parallel()
	changes := map[string]func(t *testing.T, env *apitest.Env, thief string) (*http.Request, string){
		"PasskeyRegistration": func(t *testing.T, env *apitest.Env, thief string) (*http.Request, string) {
			own := apitest.NewAuthenticator(passkeyOrigin)
			opts := options(t, mfaPost(env, thiefAddress, passkeyRegisterBegin, map[string]any{}, thief).Expect(t, 200, gen.StatusActionSuccessful))
			return mfaRequest(env, thiefAddress, passkeyRegisterEnd, map[string]any{"credential": own.Register(t, opts), "name": "Mine"}, thief), noticeAdded
		},
		"TOTPConfirmation": func(t *testing.T, env *apitest.Env, thief string) (*http.Request, string) {
			var enrolment gen.TOTPEnrolment
			mfaPost(env, thiefAddress, totpEnroll, map[string]any{}, thief).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &enrolment)
			return mfaRequest(env, thiefAddress, totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, 0)}, thief), noticeAdded
		},
		"RecoveryCodes": func(t *testing.T, env *apitest.Env, thief string) (*http.Request, string) {
			return mfaRequest(env, thiefAddress, recoveryCodesCreate, map[string]any{}, thief), noticeCodes
		},
		"PasswordChange": func(t *testing.T, env *apitest.Env, thief string) (*http.Request, string) {
			return mfaRequest(env, thiefAddress, passwordUpdate, map[string]any{"current_password": password, "password": newPassword}, thief), noticePassword
		},
	}
	for name, change := range changes {
		for _, how := range []string{"others", "id"} {
			t.Run(name+"/"+how, func(t *testing.T) {
				t.Parallel()
				env := apitest.New(t)
				ada := newStolenPasskey(t, env)
				thief := tokenOf(t, passkeySignIn(t, env, ada.a, thiefAddress).Expect(t, 200, gen.StatusActionSuccessful))
				req, notice := change(t, env, thief)
				wantNothingAfterTheAnswer(t, env, amid{email: "ada@example.com", thief: thief, owner: ada.own, change: req,
					hold:   func() func() { return holdNotice(t, env, notice, "ada@example.com") },
					revoke: signOuts(t, env, ada.own, thief)[how]})
			})
		}
	}
}

// Dan signs in with emailed links and has no password; the thief holds a copy of one of his
// sessions (recent) and sets a first password with it while dan signs that session out.
func TestSignoutRaceFirstPassword(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"others", "id"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			env := apitest.New(t)
			env.User("dan@example.com", "", "client")
			byLink := func() string {
				requestLink(env, "dan@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
				return tokenOf(t, useLink(env, lastLinkToken(t, env, "dan@example.com"), "planoorder").Expect(t, 200, gen.StatusActionSuccessful))
			}
			own, thief := byLink(), byLink()
			wantNothingAfterTheAnswer(t, env, amid{email: "dan@example.com", thief: thief, owner: own,
				change: mfaRequest(env, thiefAddress, passwordUpdate, map[string]any{"password": newPassword}, thief),
				hold:   func() func() { return holdNotice(t, env, noticePassword, "dan@example.com") },
				revoke: signOuts(t, env, own, thief)[how]})
		})
	}
}

// sessions/revoke on the owner's behalf (her application, told she was robbed; or an employee)
// ends the thief's session while its passkey registration is in flight.
func TestSignoutRaceSessionsRevoke(t *testing.T) {
	t.Parallel()
	for _, by := range []string{"application", "employee"} {
		t.Run(by, func(t *testing.T) {
			t.Parallel()
			env := apitest.New(t)
			ada := newStolenPasskey(t, env)
			thief := tokenOf(t, passkeySignIn(t, env, ada.a, thiefAddress).Expect(t, 200, gen.StatusActionSuccessful))
			caller := env.AppTokens["planoorder"]
			if by == "employee" {
				caller = env.Session(env.User("eve@example.com", password, "employee"), "planoorder", "employee")
			}
			own := apitest.NewAuthenticator(passkeyOrigin)
			opts := options(t, mfaPost(env, thiefAddress, passkeyRegisterBegin, map[string]any{}, thief).Expect(t, 200, gen.StatusActionSuccessful))
			wantNothingAfterTheAnswer(t, env, amid{email: "ada@example.com", thief: thief, owner: ada.own,
				change: mfaRequest(env, thiefAddress, passkeyRegisterEnd, map[string]any{"credential": own.Register(t, opts), "name": "Mine"}, thief),
				hold:   func() func() { return holdNotice(t, env, noticeAdded, "ada@example.com") },
				revoke: mfaRequest(env, addr(3), sessionsRevoke, map[string]any{"user_id": userIDOf(t, env, "ada@example.com")}, caller)})
		})
	}
}

// The other order: ada's sign-out took her row first and waits to revoke the thief's session
// (its row held); the thief's registration, admitted while the session was live, waits for the
// row behind it, and is refused once the sign-out committed: no passkey, no event.
func TestSignoutRaceChangeBehindTheSignOutIsRefused(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	thief := tokenOf(t, passkeySignIn(t, env, ada.a, thiefAddress).Expect(t, 200, gen.StatusActionSuccessful))
	own := apitest.NewAuthenticator(passkeyOrigin)
	opts := options(t, mfaPost(env, thiefAddress, passkeyRegisterBegin, map[string]any{}, thief).Expect(t, 200, gen.StatusActionSuccessful))
	register := mfaRequest(env, thiefAddress, passkeyRegisterEnd, map[string]any{"credential": own.Register(t, opts), "name": "Mine"}, thief)
	before := credentialsOf(t, env, "ada@example.com")

	signedOut, res := queued(t, env, holdSession(t, env, thief),
		mfaRequest(env, addr(2), sessionsDelete, map[string]any{"others": true}, ada.own), register)
	if n := revokedCount(t, signedOut.Expect(t, 200, gen.StatusActionSuccessful)); n != 1 {
		t.Errorf("the sign-out revoked %d sessions, want the thief's", n)
	}
	res.Expect(t, 401, gen.StatusInvalidToken)
	if after := credentialsOf(t, env, "ada@example.com"); after != before {
		t.Error("the refused registration wrote credentials")
	}
	if events := ofRequest(wholeTrail(t, env), res); len(events) != 0 {
		t.Errorf("the refused registration recorded %v", kindsOf(events))
	}
	if res := passkeySignIn(t, env, own, addr(9)); res.Code == http.StatusOK {
		t.Error("the thief signs in with the passkey of its signed-out session")
	}
}

// The reverse: the thief's sign-out of ada's sessions, admitted on its session, waits for her
// row behind her password change, which ends the thief's session; it then ends nothing (ada's
// session, which changed the password, stays).
func TestSignoutRaceSignOutBehindThePasswordChangeEndsNothing(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	thief := tokenOf(t, passkeySignIn(t, env, ada.a, thiefAddress).Expect(t, 200, gen.StatusActionSuccessful))
	change := mfaRequest(env, addr(2), passwordUpdate, map[string]any{"current_password": password, "password": newPassword}, ada.own)
	signOut := mfaRequest(env, thiefAddress, sessionsDelete, map[string]any{"others": true}, thief)

	changed, signedOut := queued(t, env, holdUser(t, env, "ada@example.com"), change, signOut)
	if n := revokedCount(t, changed.Expect(t, 200, gen.StatusActionSuccessful)); n != 1 {
		t.Errorf("the password change revoked %d sessions, want the thief's", n)
	}
	signedOut.Expect(t, 401, gen.StatusInvalidToken)
	env.Get(sessionsRead, ada.own).Expect(t, 200, gen.StatusActionSuccessful)
}

// Lock order: a second factor on a limited session whose sign-in asked for remember_me writes
// ada's row after upgrading its session (the wish, and a device token); ada's sign-out, or her
// password change, takes her row and then revokes that session. The second factor waits to
// upgrade its session (its row held) when the revocation comes: neither deadlocks (no server
// error), the second factor completes first, and the revocation then ends its session. With a
// passkey and with a recovery code (which has no factor of its own to hold the user's row for).
func TestSignoutRaceSecondFactorInFlightDoesNotDeadlock(t *testing.T) {
	t.Parallel()
	revocations := map[string]func(env *apitest.Env, own string) *http.Request{
		"sign-out": func(env *apitest.Env, own string) *http.Request {
			return mfaRequest(env, addr(2), sessionsDelete, map[string]any{"others": true}, own)
		},
		"password change": func(env *apitest.Env, own string) *http.Request {
			return mfaRequest(env, addr(2), passwordUpdate, map[string]any{"current_password": password, "password": newPassword}, own)
		},
	}
	for _, factor := range []string{"passkey", "recovery code"} {
		for by, revocation := range revocations {
			t.Run(factor+"/"+by, func(t *testing.T) {
				t.Parallel()
				env := apitest.New(t)
				ada := newStolenPasskey(t, env)
				var codes gen.RecoveryCodes
				mfaPost(env, addr(2), recoveryCodesCreate, map[string]any{}, ada.own).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &codes)
				limited := tokenOf(t, mfaPost(env, addr(4), sessionsCreate, map[string]any{"email": "ada@example.com", "password": password,
					"application": "planoorder", "remember_me": true}, "").Expect(t, 401, gen.StatusMfaRequired))
				verify := mfaRequest(env, addr(4), recoveryCodeVerify, map[string]any{"code": codes.Codes[0]}, limited)
				if factor == "passkey" {
					opts := options(t, mfaPost(env, addr(4), passkeyVerifyBegin, map[string]any{}, limited).Expect(t, 200, gen.StatusActionSuccessful))
					verify = mfaRequest(env, addr(4), passkeyVerifyEnd, map[string]any{"credential": ada.b.Assert(t, opts)}, limited)
				}

				verified, revoked := queued(t, env, holdSession(t, env, limited), verify, revocation(env, ada.own))
				verified.Expect(t, 200, gen.StatusActionSuccessful)
				if n := revokedCount(t, revoked.Expect(t, 200, gen.StatusActionSuccessful)); n != 1 {
					t.Errorf("the %s revoked %d sessions, want the one just completed", by, n)
				}
				env.Get(sessionsRead, limited).Expect(t, 401, gen.StatusInvalidToken)
			})
		}
	}
}

// Everything at once: sign-ins with remember_me, second factors (passkeys, recovery codes) on
// limited sessions that asked for it, the thief's registration and recovery codes on its
// session, and ada's sign-out of the others, from distinct addresses. Nothing deadlocks (no
// server error), every answer is one its request may get, and the thief's session ends.
func TestSignoutRaceAmidSignInsAndChanges(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	var codes gen.RecoveryCodes
	mfaPost(env, addr(2), recoveryCodesCreate, map[string]any{}, ada.own).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &codes)
	thief := tokenOf(t, passkeySignIn(t, env, ada.a, thiefAddress).Expect(t, 200, gen.StatusActionSuccessful))
	own := apitest.NewAuthenticator(passkeyOrigin)
	opts := options(t, mfaPost(env, thiefAddress, passkeyRegisterBegin, map[string]any{}, thief).Expect(t, 200, gen.StatusActionSuccessful))

	type request struct {
		req     *http.Request
		allowed map[string]bool // code and status
	}
	changed := map[string]bool{"200 action-successful": true, "401 invalid-token": true}
	reqs := []request{
		{mfaRequest(env, addr(2), sessionsDelete, map[string]any{"others": true}, ada.own), map[string]bool{"200 action-successful": true}},
		{mfaRequest(env, thiefAddress, passkeyRegisterEnd, map[string]any{"credential": own.Register(t, opts), "name": "Mine"}, thief), changed},
		{mfaRequest(env, thiefAddress, recoveryCodesCreate, map[string]any{}, thief), changed},
	}
	for i := range 4 {
		reqs = append(reqs, request{mfaRequest(env, addr(10+i), sessionsCreate, map[string]any{"email": "ada@example.com", "password": password,
			"application": "planoorder", "remember_me": true}, ""), map[string]bool{"401 mfa-required": true}})
		limited := tokenOf(t, mfaPost(env, addr(20+i), sessionsCreate, map[string]any{"email": "ada@example.com", "password": password,
			"application": "planoorder", "remember_me": true}, "").Expect(t, 401, gen.StatusMfaRequired))
		if i%2 == 0 {
			// The thief's new codes may replace these first.
			reqs = append(reqs, request{mfaRequest(env, addr(20+i), recoveryCodeVerify, map[string]any{"code": codes.Codes[i]}, limited),
				map[string]bool{"200 action-successful": true, "401 invalid-token": true, "400 invalid-code": true}})
			continue
		}
		// One assertion per passkey in flight: two at once of one authenticator may arrive out of
		// the order of their sign counts, which reads as a cloned passkey (invalid-passkey).
		key := map[int]*apitest.Authenticator{1: ada.a, 3: ada.b}[i]
		o := options(t, mfaPost(env, addr(20+i), passkeyVerifyBegin, map[string]any{}, limited).Expect(t, 200, gen.StatusActionSuccessful))
		reqs = append(reqs, request{mfaRequest(env, addr(20+i), passkeyVerifyEnd, map[string]any{"credential": key.Assert(t, o)}, limited), changed})
	}

	results := make([]*apitest.Response, len(reqs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() {
			<-start
			results[i] = env.Do(r.req)
		})
	}
	close(start)
	wg.Wait()
	for i, res := range results {
		if got := fmt.Sprintf("%d %s", res.Code, res.Status()); !reqs[i].allowed[got] {
			t.Errorf("%s answered %s: %s", reqs[i].req.URL.Path, got, res.Raw)
		}
	}
	env.Get(sessionsRead, thief).Expect(t, 401, gen.StatusInvalidToken)
	env.Get(sessionsRead, ada.own).Expect(t, 200, gen.StatusActionSuccessful)
}
