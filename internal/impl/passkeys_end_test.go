package impl_test

// Removing a passkey ends what it opened (README, Second factors): an owner who removes a
// passkey because it was stolen (a synced passkey on a lost device, whose copy signs in
// anywhere) expects the sessions it signed in or completed a second factor to end, as a
// password change ends the sessions made from the password; and a sign-in or second factor in
// flight with it opens nothing once the removal committed. Each test is an attack from the HTTP
// API and FAILS while removing a passkey leaves its sessions alive.

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

// stolenPasskey is ada's account: her password, her session that set up her passkeys (own,
// which used neither to sign in, and stands on the key, her first second factor: it ends with
// the key, not with the synced passkey), a passkey synced to a device the thief has (synced: a's
// copy signs in as hers) and her security key (key, b).
type stolenPasskey struct {
	own         string
	synced, key int64
	a, b        *apitest.Authenticator
}

func newStolenPasskey(t *testing.T, env *apitest.Env) stolenPasskey {
	t.Helper()
	env.User("ada@example.com", password, "client")
	s := stolenPasskey{own: env.Login("ada@example.com", password, "planoorder"),
		a: apitest.NewAuthenticator(passkeyOrigin), b: apitest.NewAuthenticator(passkeyOrigin)}
	s.key = registerPasskey(t, env, s.b, s.own).Factors.Passkeys[0].Id
	s.synced = registerPasskey(t, env, s.a, s.own).Factors.Passkeys[1].Id
	return s
}

// tokenOf is the token of the session a sign-in answered.
func tokenOf(t *testing.T, res *apitest.Response) string {
	t.Helper()
	var s gen.Session
	if res.Data(t, &s); s.Token == nil {
		t.Fatalf("no session token in %s", res.Raw)
	}
	return *s.Token
}

// steppedUp signs in as ada with her password from address and completes the second factor
// with a passkey of authenticator a; it returns the session's token.
func steppedUp(t *testing.T, env *apitest.Env, address string, a *apitest.Authenticator) string {
	t.Helper()
	limited := *limitedSignIn(t, env, address, "ada@example.com", gen.StatusMfaRequired).Token
	opts := options(t, mfaPost(env, address, passkeyVerifyBegin, map[string]any{}, limited).Expect(t, 200, gen.StatusActionSuccessful))
	mfaPost(env, address, passkeyVerifyEnd, map[string]any{"credential": a.Assert(t, opts)}, limited).Expect(t, 200, gen.StatusActionSuccessful)
	return limited
}

// sessionEnded reads data.session_ended of a removal's answer.
func sessionEnded(t *testing.T, res *apitest.Response) bool {
	t.Helper()
	var data struct {
		SessionEnded bool `json:"session_ended"`
	}
	if err := json.Unmarshal(res.Envelope.Data, &data); err != nil {
		t.Fatal(err)
	}
	return data.SessionEnded
}

// liveSessions counts ada's sessions that are not revoked, as committed.
func liveSessions(t *testing.T, env *apitest.Env) int {
	t.Helper()
	var n int
	err := env.Pool.QueryRow(context.Background(), "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id "+
		"WHERE u.email = 'ada@example.com' AND s.revoked_at IS NULL").Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// (a), (d) The thief signs in with its copy of ada's synced passkey, from two addresses; ada
// removes the passkey from her own session. The thief's sessions answer as revoked sessions do
// (invalid-token), on every instance; ada's session, her sessions with the security key and
// her password session stay; the removal and the revocation are in the audit trail and ada is
// emailed.
func TestPasskeyDeleteEndsTheSessionsItSignedIn(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	other := env.SecondInstance()
	ada := newStolenPasskey(t, env)
	thieves := []string{tokenOf(t, passkeySignIn(t, env, ada.a, addr(9)).Expect(t, 200, gen.StatusActionSuccessful)),
		tokenOf(t, passkeySignIn(t, env, ada.a, addr(10)).Expect(t, 200, gen.StatusActionSuccessful))}
	withKey := tokenOf(t, passkeySignIn(t, env, ada.b, addr(2)).Expect(t, 200, gen.StatusActionSuccessful))
	stayed := map[string]string{"ada's own": ada.own, "signed in with the key": withKey, "stepped up with the key": steppedUp(t, env, addr(3), ada.b),
		"password": *limitedSignIn(t, env, addr(4), "ada@example.com", gen.StatusMfaRequired).Token}
	before := statuses(env, stayed)
	if code := readStatus(env, other, thieves[0]); code != http.StatusOK { // cached on the other instance
		t.Fatalf("the other instance answered %d", code)
	}
	seen := len(noticesTo(t, env, "ada@example.com"))

	res := mfaPost(env, addr(2), passkeyDelete, map[string]any{"id": ada.synced, "password": password}, ada.own).Expect(t, 200, gen.StatusActionSuccessful)
	if sessionEnded(t, res) {
		t.Errorf("ada's session, which did not use the passkey, was said to end: %s", res.Raw)
	}
	wantEndedWithTheFactor(t, env, other, res, gen.AuditMfaPasskeyRemoved, thieves, stayed, before)
	// The key still signs in; the synced passkey no longer does.
	passkeySignIn(t, env, ada.b, addr(2)).Expect(t, 200, gen.StatusActionSuccessful)
	passkeySignIn(t, env, ada.a, addr(9)).Expect(t, 400, gen.StatusInvalidPasskey)
	wantOneNotice(t, env, "ada@example.com", seen, noticeRemoved, addr(2))
}

// statuses is how each session of tokens (by name) answers sessions/read now.
func statuses(env *apitest.Env, tokens map[string]string) map[string]int {
	out := make(map[string]int, len(tokens))
	for name, token := range tokens {
		out[name] = readStatus(env, env.Handler, token)
	}
	return out
}

// wantEndedWithTheFactor checks what removing one of ada's second factors (res, recorded as
// removed) did to her sessions: each of ended, which stood on the factor, answers as a revoked
// session does (invalid-token), here and on other (an instance that had cached ended[0]), and
// the trail has the removal, then the revocation of them all, by ada; each of stayed (by name)
// answers as it did before (statuses).
func wantEndedWithTheFactor(t *testing.T, env *apitest.Env, other http.Handler, res *apitest.Response, removed gen.AuditKind,
	ended []string, stayed map[string]string, before map[string]int) {
	t.Helper()
	for _, token := range ended {
		env.Get(sessionsRead, token).Expect(t, 401, gen.StatusInvalidToken)
	}
	eventually(t, time.Second, "the other instance refuses an ended session", func() bool {
		return readStatus(env, other, ended[0]) == http.StatusUnauthorized
	})
	for name, code := range statuses(env, stayed) {
		if code != before[name] {
			t.Errorf("the %s session answered %d after the removal, %d before", name, code, before[name])
		}
	}
	events := ofRequest(wholeTrail(t, env), res)
	if got := kindsOf(events); !slices.Equal(got, []gen.AuditKind{removed, gen.AuditSessionsRevoked}) {
		t.Fatalf("recorded %v, want %s and the revocation", got, removed)
	}
	if d := events[1].Details; d.Revoked == nil || *d.Revoked != len(ended) || events[1].Actor.Type != gen.ActorUser {
		t.Errorf("sessions.revoked %+v by %+v, want the %d sessions that stood on the factor, by ada", d, events[1].Actor, len(ended))
	}
}

// (b) The thief knows ada's password too: it completes the second factor of a password sign-in
// with its copy of the synced passkey. Removing the passkey ends that session as well.
func TestPasskeyDeleteEndsTheSessionsItSteppedUp(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	thief := steppedUp(t, env, thiefAddress, ada.a)
	env.Get(scopesLiaisonRegister, thief).Expect(t, 200, gen.StatusActionSuccessful)
	mfaPost(env, addr(2), passkeyDelete, map[string]any{"id": ada.synced, "password": password}, ada.own).Expect(t, 200, gen.StatusActionSuccessful)
	env.Get(sessionsRead, thief).Expect(t, 401, gen.StatusInvalidToken)
	env.Get(sessionsRead, ada.own).Expect(t, 200, gen.StatusActionSuccessful)
}

// (d) A session may not saw off the proof it stands on and go on: ada, signed in with the
// synced passkey on her phone, removes it from there. Her phone's session ends with the thief's
// (the answer says so), and her other sessions stay.
func TestPasskeyDeleteFromASessionItSignedIn(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	thief := tokenOf(t, passkeySignIn(t, env, ada.a, addr(9)).Expect(t, 200, gen.StatusActionSuccessful))
	phone := tokenOf(t, passkeySignIn(t, env, ada.a, addr(2)).Expect(t, 200, gen.StatusActionSuccessful))
	res := mfaPost(env, addr(2), passkeyDelete, map[string]any{"id": ada.synced, "password": password}, phone).Expect(t, 200, gen.StatusActionSuccessful)
	if !sessionEnded(t, res) {
		t.Errorf("the answer does not say the caller's session ended: %s", res.Raw)
	}
	env.Get(sessionsRead, phone).Expect(t, 401, gen.StatusInvalidToken)
	env.Get(sessionsRead, thief).Expect(t, 401, gen.StatusInvalidToken)
	env.Get(sessionsRead, ada.own).Expect(t, 200, gen.StatusActionSuccessful)
	if f := factorsOf(t, env, ada.own); len(f.Passkeys) != 1 || f.Passkeys[0].Id != ada.key {
		t.Errorf("factors after the removal: %+v", f.Passkeys)
	}
}

// (c) The thief's passkey sign-in is past its assertion check when ada's removal commits: it
// opens no session. The window is made wide by locking role_scopes, which the sign-in reads
// after verifying the passkey and before inserting its session (holdRoleScopes, review 8a).
func TestPasskeySignInInFlightAtItsRemovalOpensNoSession(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	before := liveSessions(t, env)
	opts := options(t, mfaPost(env, addr(9), passkeySignInBegin, map[string]any{"application": "planoorder"}, "").
		Expect(t, 200, gen.StatusActionSuccessful))
	finish := apitest.Request(http.MethodPost, passkeySignInEnd, "text/plain",
		apitest.Sensitive(t, map[string]any{"credential": ada.a.Assert(t, opts), "application": "planoorder"}), "")
	finish.RemoteAddr = addr(9) + ":1234"

	release := holdRoleScopes(t, env)
	answer := env.Start(finish)
	until(t, func() bool { return waitingOnALock(t, env) }, answer, release, "the passkey sign-in never waited to create its session")
	removal := apitest.Request(http.MethodPost, passkeyDelete, "text/plain", apitest.Sensitive(t, map[string]any{"id": ada.synced, "password": password}), ada.own)
	removal.RemoteAddr = addr(2) + ":1234"
	removed := env.Start(removal)
	select {
	case <-removed.Done():
	case <-time.After(10 * time.Second):
		release()
		t.Fatal("the removal never answered")
	}
	release()
	removed.Wait().Expect(t, 200, gen.StatusActionSuccessful)
	res := answer.Wait()
	if res.Code == http.StatusOK {
		t.Errorf("a passkey sign-in in flight at the passkey's removal opened a session (%s): live sessions %d, %d before",
			res.Status(), liveSessions(t, env), before)
		if code := readStatus(env, env.Handler, tokenOf(t, res)); code == http.StatusOK {
			t.Error("and the session is live")
		}
		return
	}
	res.Expect(t, 400, gen.StatusInvalidPasskey)
	if n := liveSessions(t, env); n != before {
		t.Errorf("ada has %d live sessions, %d before", n, before)
	}
}

// holdPasskey locks a passkey's row until the returned release runs: a check of that passkey
// waits where it records its use (RecordPasskeyUse), after the assertion was verified, and a
// removal of it waits too, holding the user's row.
func holdPasskey(t *testing.T, env *apitest.Env, id int64) (release func()) {
	t.Helper()
	return holdRows(t, env, "SELECT 1 FROM passkeys WHERE id = $1 FOR UPDATE", id)
}

// holdRows runs query (which locks rows) in a transaction kept open until the returned release
// runs.
func holdRows(t *testing.T, env *apitest.Env, query string, args ...any) (release func()) {
	t.Helper()
	tx, err := env.Pool.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(context.Background(), query, args...); err != nil {
		_ = tx.Rollback(context.Background())
		t.Fatal(err)
	}
	return func() { _ = tx.Rollback(context.Background()) }
}

// checkInFlightAtRemoval starts check (a proof with a factor) while release holds the rows
// where it records the factor's use, waits until it waits there, then starts removal (of that
// factor, which waits for those rows too, holding the user's row), releases, expects the
// removal to succeed and returns the check's answer: the check went past its proof before the
// removal began, and finishes after the removal took the user's row.
func checkInFlightAtRemoval(t *testing.T, env *apitest.Env, check, removal *http.Request, release func()) *apitest.Response {
	t.Helper()
	answer := env.Start(check)
	until(t, func() bool { return lockWaiters(t, env) >= 1 }, answer, release, "the check never waited to record the factor's use")
	removed := env.Start(removal)
	until(t, func() bool { return lockWaiters(t, env) >= 2 }, removed, release, "the removal never waited for the factor")
	release()
	removed.Wait().Expect(t, 200, gen.StatusActionSuccessful)
	return answer.Wait()
}

// (c) The thief, with ada's password, completes a second factor with its copy of the synced
// passkey, past the assertion check when ada removes the passkey: its session is not upgraded.
func TestPasskeyVerifyInFlightAtItsRemovalUpgradesNothing(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	thief := *limitedSignIn(t, env, thiefAddress, "ada@example.com", gen.StatusMfaRequired).Token
	opts := options(t, mfaPost(env, thiefAddress, passkeyVerifyBegin, map[string]any{}, thief).Expect(t, 200, gen.StatusActionSuccessful))
	verify := apitest.Request(http.MethodPost, passkeyVerifyEnd, "text/plain",
		apitest.Sensitive(t, map[string]any{"credential": ada.a.Assert(t, opts)}), thief)
	verify.RemoteAddr = thiefAddress + ":1234"

	removal := apitest.Request(http.MethodPost, passkeyDelete, "text/plain", apitest.Sensitive(t, map[string]any{"id": ada.synced, "password": password}), ada.own)
	removal.RemoteAddr = addr(2) + ":1234"
	res := checkInFlightAtRemoval(t, env, verify, removal, holdPasskey(t, env, ada.synced))
	if res.Code == http.StatusOK {
		t.Errorf("a second factor in flight with the passkey at its removal was completed: %s", res.Raw)
	} else {
		res.Expect(t, 400, gen.StatusInvalidPasskey)
	}
	if code := env.Get(scopesLiaisonRegister, thief).Code; code == http.StatusOK {
		t.Error("the thief's session is complete, on a passkey removed before")
	}
}
