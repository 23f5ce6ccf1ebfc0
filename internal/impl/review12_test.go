package impl_test

// Review 12: hostile review of "removing a passkey ends what it opened" (mfa/passkey_delete ends
// the sessions that signed in or completed a second factor with the passkey). Each test is an
// attack from the HTTP API.

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

// holdUser locks a user's row FOR UPDATE until the returned release runs: every change of the
// user's second factors (LockUserMFA) waits for it, in the order they came.
func holdUser(t *testing.T, env *apitest.Env, email string) (release func()) {
	t.Helper()
	return holdRows(t, env, "SELECT 1 FROM users WHERE email = $1 FOR UPDATE", email)
}

// Finding 3 (low). The thief, signed in with its copy of the synced passkey, registers a passkey
// of its own; its request was admitted (the session was live) and waits for ada's row, which
// ada's removal of the synced passkey holds. The removal ends the thief's session, answers ada
// the factors without the thief's passkey, and commits; then the thief's registration, on the
// session just ended, stores its passkey, and the thief signs in with it. The change of factors
// does not check, after the user's row is locked, that the caller's session is still live (as
// IsSessionLive after LockUserForGrant does for grants).
func TestReview12RegistrationBehindTheRemovalAddsNothing(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	thief := tokenOf(t, passkeySignIn(t, env, ada.a, thiefAddress).Expect(t, 200, gen.StatusActionSuccessful))
	own := apitest.NewAuthenticator(passkeyOrigin)
	opts := options(t, mfaPost(env, thiefAddress, passkeyRegisterBegin, map[string]any{}, thief).Expect(t, 200, gen.StatusActionSuccessful))
	register := apitest.Request(http.MethodPost, passkeyRegisterEnd, "text/plain",
		apitest.Sensitive(t, map[string]any{"credential": own.Register(t, opts), "name": "Mine"}), thief)
	register.RemoteAddr = thiefAddress + ":1234"
	removal := apitest.Request(http.MethodPost, passkeyDelete, "text/plain", apitest.Sensitive(t, map[string]any{"id": ada.synced, "password": password}), ada.own)
	removal.RemoteAddr = addr(2) + ":1234"

	release := holdUser(t, env, "ada@example.com")
	removed := env.Start(removal)
	until(t, func() bool { return lockWaiters(t, env) >= 1 }, removed, release, "the removal never waited for ada's row")
	registered := env.Start(register)
	until(t, func() bool { return lockWaiters(t, env) >= 2 }, registered, release, "the registration never waited for ada's row")
	release()

	var change gen.MFAChange
	removed.Wait().Expect(t, 200, gen.StatusActionSuccessful).Data(t, &change)
	if n := len(change.Factors.Passkeys); n != 1 {
		t.Fatalf("the removal answered %d passkeys, want ada's key alone", n)
	}
	env.Get(sessionsRead, thief).Expect(t, 401, gen.StatusInvalidToken)
	res := registered.Wait()
	if res.Code == http.StatusOK {
		t.Errorf("a registration by a session the removal had ended stored its passkey: %s", res.Raw)
	}
	if f := factorsOf(t, env, ada.own); len(f.Passkeys) != 1 {
		t.Errorf("ada has %d passkeys after the removal, want her key alone", len(f.Passkeys))
	}
	if res := passkeySignIn(t, env, own, addr(9)); res.Code == http.StatusOK {
		t.Error("the thief signs in with the passkey its ended session registered")
	}
}

// The locks of the removal against sign-ins and second factors in flight, at once: passkey
// sign-ins with remember_me (which write the user's row before holding it) and second factors
// of password sign-ins with a remember_me wish (applied on the user's row after holding it)
// with the synced passkey, from several addresses, while ada removes it. Nothing deadlocks
// (no server error), each answer is a success or invalid-passkey, and no session the removal
// should end is live afterwards.
func TestReview12RemovalAmidSignInsAndVerifies(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	const signIns, verifies = 6, 4
	var reqs []*http.Request
	for i := range signIns {
		opts := options(t, mfaPost(env, addr(10+i), passkeySignInBegin, map[string]any{"application": "planoorder"}, "").
			Expect(t, 200, gen.StatusActionSuccessful))
		req := apitest.Request(http.MethodPost, passkeySignInEnd, "text/plain", apitest.Sensitive(t, map[string]any{
			"credential": ada.a.Assert(t, opts), "application": "planoorder", "remember_me": i%2 == 0}), "")
		req.RemoteAddr = addr(10+i) + ":1234"
		reqs = append(reqs, req)
	}
	limited := make([]string, verifies)
	for i := range verifies {
		res := mfaPost(env, addr(20+i), sessionsCreate, map[string]any{"email": "ada@example.com", "password": password,
			"application": "planoorder", "remember_me": true}, "").Expect(t, 401, gen.StatusMfaRequired)
		limited[i] = tokenOf(t, res)
		opts := options(t, mfaPost(env, addr(20+i), passkeyVerifyBegin, map[string]any{}, limited[i]).Expect(t, 200, gen.StatusActionSuccessful))
		req := apitest.Request(http.MethodPost, passkeyVerifyEnd, "text/plain",
			apitest.Sensitive(t, map[string]any{"credential": ada.a.Assert(t, opts)}), limited[i])
		req.RemoteAddr = addr(20+i) + ":1234"
		reqs = append(reqs, req)
	}
	removal := apitest.Request(http.MethodPost, passkeyDelete, "text/plain", apitest.Sensitive(t, map[string]any{"id": ada.synced, "password": password}), ada.own)
	removal.RemoteAddr = addr(2) + ":1234"
	reqs = append(reqs[:signIns], append([]*http.Request{removal}, reqs[signIns:]...)...)

	results := make([]*apitest.Response, len(reqs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Go(func() {
			<-start
			results[i] = env.Do(req)
		})
	}
	close(start)
	wg.Wait()

	if res := results[signIns]; res.Code != http.StatusOK {
		t.Fatalf("the removal answered %d %s: %s", res.Code, res.Status(), res.Raw)
	}
	for i, res := range results {
		if i != signIns && res.Code != http.StatusOK && (res.Code != http.StatusBadRequest || res.Status() != gen.StatusInvalidPasskey) {
			t.Errorf("request %d answered %d %s: %s", i, res.Code, res.Status(), res.Raw)
		}
	}
	var live int
	if err := env.Pool.QueryRow(context.Background(), "SELECT count(*) FROM sessions WHERE $1::bigint = ANY (passkey_ids) AND revoked_at IS NULL",
		ada.synced).Scan(&live); err != nil {
		t.Fatal(err)
	}
	if live != 0 {
		t.Errorf("%d sessions that used the removed passkey are live", live)
	}
	for i, token := range limited {
		if code := env.Get(scopesLiaisonRegister, token).Code; code == http.StatusOK {
			t.Errorf("the session of verify %d is complete on the removed passkey", i)
		}
	}
}

// Finding 3, recovery codes: the thief's mfa/recovery_codes_create, admitted on its session
// signed in with the synced passkey, waits behind ada's removal of the passkey, which ends the
// session; it must not then replace ada's recovery codes with a set handed to the thief (which,
// with her password, completes a second factor).
func TestReview12RecoveryCodesBehindTheRemovalAreNotMade(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	thief := tokenOf(t, passkeySignIn(t, env, ada.a, thiefAddress).Expect(t, 200, gen.StatusActionSuccessful))
	codes := apitest.Request(http.MethodPost, recoveryCodesCreate, "application/json", []byte(`{}`), thief)
	codes.RemoteAddr = thiefAddress + ":1234"
	removal := apitest.Request(http.MethodPost, passkeyDelete, "text/plain", apitest.Sensitive(t, map[string]any{"id": ada.synced, "password": password}), ada.own)
	removal.RemoteAddr = addr(2) + ":1234"

	release := holdUser(t, env, "ada@example.com")
	removed := env.Start(removal)
	until(t, func() bool { return lockWaiters(t, env) >= 1 }, removed, release, "the removal never waited for ada's row")
	made := env.Start(codes)
	until(t, func() bool { return lockWaiters(t, env) >= 2 }, made, release, "the recovery codes never waited for ada's row")
	release()
	removed.Wait().Expect(t, 200, gen.StatusActionSuccessful)
	if res := made.Wait(); res.Code == http.StatusOK {
		t.Errorf("a session the removal had ended made new recovery codes: %s", res.Raw)
	} else {
		res.Expect(t, 401, gen.StatusInvalidToken)
	}
}

// Finding 3, a password change: the thief knows ada's password and signed in with its copy of
// the synced passkey; its users/password_update, admitted on that session, waits for ada's row
// behind her removal of the passkey, which ends the session. It must not then set a password
// the thief chose and end ada's other sessions, the one that just removed the passkey among
// them (RevokeOtherUserSessions keeps only the caller's, which is already ended).
func TestReview12PasswordChangeBehindTheRemovalChangesNothing(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	thief := tokenOf(t, passkeySignIn(t, env, ada.a, thiefAddress).Expect(t, 200, gen.StatusActionSuccessful))
	change := apitest.Request(http.MethodPost, passwordUpdate, "text/plain",
		apitest.Sensitive(t, map[string]any{"current_password": password, "password": newPassword}), thief)
	change.RemoteAddr = thiefAddress + ":1234"
	removal := apitest.Request(http.MethodPost, passkeyDelete, "text/plain", apitest.Sensitive(t, map[string]any{"id": ada.synced, "password": password}), ada.own)
	removal.RemoteAddr = addr(2) + ":1234"

	release := holdUser(t, env, "ada@example.com")
	removed := env.Start(removal)
	until(t, func() bool { return lockWaiters(t, env) >= 1 }, removed, release, "the removal never waited for ada's row")
	changed := env.Start(change)
	until(t, func() bool { return lockWaiters(t, env) >= 2 }, changed, release, "the password change never waited for ada's row")
	release()
	removed.Wait().Expect(t, 200, gen.StatusActionSuccessful)
	if res := changed.Wait(); res.Code == http.StatusOK {
		t.Errorf("a session the removal had ended changed the password: %s", res.Raw)
	} else {
		res.Expect(t, 401, gen.StatusInvalidToken)
	}
	if code := readStatus(env, env.Handler, ada.own); code != http.StatusOK {
		t.Errorf("ada's session, which removed the passkey, answers %d", code)
	}
	signIn(env, addr(3), "ada@example.com").Expect(t, 401, gen.StatusMfaRequired) // her password still works
}

// holdSession locks a session's row until the returned release runs: a second factor on it
// waits where it upgrades the session (UpgradeSession), after it held the user's row.
func holdSession(t *testing.T, env *apitest.Env, token string) (release func()) {
	t.Helper()
	return holdRows(t, env, "SELECT 1 FROM sessions WHERE token_hash = sha256($1::text::bytea) FOR UPDATE", token)
}

// The interleaving the locks must survive without a deadlock: a second factor with the synced
// passkey holds ada's row (key share) and waits to upgrade its session; ada's removal then waits
// for the row (for update); the second factor goes on and writes the row (the remember_me its
// sign-in asked for). It completes, and the removal, after it, ends the session it upgraded.
func TestReview12VerifyWritesTheUserRowWhileTheRemovalWaits(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	res := mfaPost(env, thiefAddress, sessionsCreate, map[string]any{"email": "ada@example.com", "password": password,
		"application": "planoorder", "remember_me": true}, "").Expect(t, 401, gen.StatusMfaRequired)
	thief := tokenOf(t, res)
	opts := options(t, mfaPost(env, thiefAddress, passkeyVerifyBegin, map[string]any{}, thief).Expect(t, 200, gen.StatusActionSuccessful))
	verify := apitest.Request(http.MethodPost, passkeyVerifyEnd, "text/plain",
		apitest.Sensitive(t, map[string]any{"credential": ada.a.Assert(t, opts)}), thief)
	verify.RemoteAddr = thiefAddress + ":1234"
	removal := apitest.Request(http.MethodPost, passkeyDelete, "text/plain", apitest.Sensitive(t, map[string]any{"id": ada.synced, "password": password}), ada.own)
	removal.RemoteAddr = addr(2) + ":1234"

	release := holdSession(t, env, thief)
	verified := env.Start(verify)
	until(t, func() bool { return lockWaiters(t, env) >= 1 }, verified, release, "the second factor never waited to upgrade its session")
	removed := env.Start(removal)
	until(t, func() bool { return lockWaiters(t, env) >= 2 }, removed, release, "the removal never waited for ada's row")
	release()
	verified.Wait().Expect(t, 200, gen.StatusActionSuccessful)
	removed.Wait().Expect(t, 200, gen.StatusActionSuccessful)
	env.Get(sessionsRead, thief).Expect(t, 401, gen.StatusInvalidToken)
}
