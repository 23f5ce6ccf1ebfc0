package impl_test

// The rules that answer review 3's second-factor findings (README, Second factors): a change of
// the factors takes a recent proof (RecentProof, moved by every completed second factor), the
// last second factor goes only with the password, the first one forgets every caller the account
// knew, and a pending app belongs to the session that began it, for TOTPEnrolmentTries codes.

import (
	"net/http"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
)

// Attack: the thief holds a full aal1 session of ada's (it has her password) and the right code
// of the app she is setting up (shoulder-surfed, or the one guess that lands). Her pending app is
// her enrolling session's: the thief's confirmation answers as if nothing were pending, and hers
// still works, with the recovery codes, a new device token, and the thief's session limited.
func TestPendingAppBelongsToItsSession(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	owner := env.Login("ada@example.com", password, "planoorder")
	var thiefs gen.Session
	signIn(env, thief, "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful).Data(t, &thiefs)
	var enrolment gen.TOTPEnrolment
	mfaPost(env, addr(2), totpEnroll, map[string]any{}, owner).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &enrolment)

	res := mfaPost(env, thief, totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, 0)}, *thiefs.Token).
		Expect(t, 400, gen.StatusInvalidParam)
	if len(res.Envelope.Errors) != 1 || res.Envelope.Errors[0].Param != "code" {
		t.Errorf("another session's confirmation: %s, want invalid-param on code", res.Raw)
	}
	var change gen.MFAChange
	mfaPost(env, addr(2), totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, 0)}, owner).
		Expect(t, 200, gen.StatusActionSuccessful).Data(t, &change)
	if change.RecoveryCodes == nil || change.Session.DeviceToken == nil {
		t.Errorf("the owner's confirmation answered recovery codes %v and device token %v: want both", change.RecoveryCodes != nil, change.Session.DeviceToken != nil)
	}
	wantLevel(t, change.Session, gen.AAL2, gen.MethodPwd, gen.MethodOtp)
	env.Get(scopesLiaisonRegister, *thiefs.Token).Expect(t, 401, gen.StatusMfaRequired)
}

// Attack: guessing at a pending app from the enrolling session itself (a thief who stole that
// token within minutes), many codes at once from many addresses. Only TOTPEnrolmentTries wrong
// codes are evaluated, whatever the concurrency; then the enrolment is over, the right code
// included, until a new totp_enroll.
func TestPendingAppTriesCapped(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	owner := env.Login("ada@example.com", password, "planoorder")
	var enrolment gen.TOTPEnrolment
	mfaPost(env, addr(2), totpEnroll, map[string]any{}, owner).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &enrolment)

	got := concurrently(20, func(i int) *apitest.Response {
		return mfaPost(env, addr(100+i), totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, 40+int64(i))}, owner)
	})
	if got.counts["400 invalid-code"] != impl.TOTPEnrolmentTries || got.counts["400 invalid-param"] != 20-impl.TOTPEnrolmentTries {
		t.Errorf("20 wrong codes at once: %v, want %d invalid-code and the rest invalid-param", got, impl.TOTPEnrolmentTries)
	}
	mfaPost(env, addr(2), totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, 0)}, owner).Expect(t, 400, gen.StatusInvalidParam)
	if f := factorsOf(t, env, owner); f.Totp.Enabled {
		t.Error("the enrolment was confirmed after its tries were used up")
	}
	secret, codes := enrolTOTP(t, env, owner) // a new enrolment starts afresh
	if secret == enrolment.Secret || len(codes) == 0 {
		t.Errorf("a new enrolment after the cap: same secret %v, %d codes", secret == enrolment.Secret, len(codes))
	}
}

// Attack: a stale aal2 token (stolen hours after its sign-in) changes the factors; its owner,
// who has the app, re-proves on the same session with a code and may then, for RecentProof.
func TestStaleSessionReprovesWithASecondFactor(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	secret, _ := enrolTOTP(t, env, env.Login("ada@example.com", password, "planoorder"))
	session := aal2Session(t, env, addr(2), "ada@example.com", secret, 1)
	env.Clock.Advance(4 * impl.RecentProof)

	for _, path := range []string{recoveryCodesCreate, passkeyRegisterBegin, totpEnroll} {
		mfaPost(env, thief, path, map[string]any{}, session).Expect(t, 403, gen.StatusPermissionDenied)
	}
	mfaPost(env, addr(2), totpVerify, map[string]any{"code": totpCode(t, env, secret, 0)}, session).Expect(t, 200, gen.StatusActionSuccessful)
	mfaPost(env, addr(2), recoveryCodesCreate, map[string]any{}, session).Expect(t, 200, gen.StatusActionSuccessful)
	change := registerPasskey(t, env, apitest.NewAuthenticator(passkeyOrigin), session)
	if len(change.Factors.Passkeys) != 1 {
		t.Errorf("the re-proven session registered %d passkeys", len(change.Factors.Passkeys))
	}
	env.Clock.Advance(impl.RecentProof)
	mfaPost(env, addr(2), recoveryCodesCreate, map[string]any{}, session).Expect(t, 403, gen.StatusPermissionDenied)
}

// Removing a passkey takes a recent proof and, from a user who has one, the password, one of
// several too (a copy of one passkey alone cannot strip her of the others:
// TestReview15ACopiedPasskeyAloneCannotMakeTheOwnersDeviceAStranger); the last one takes the
// password from a user without one too (user-has-no-password).
func TestPasskeyDeleteNeedsAProofForTheLast(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	a := apitest.NewAuthenticator(passkeyOrigin)
	token := env.Login("ada@example.com", password, "planoorder")
	first := registerPasskey(t, env, a, token)
	second := registerPasskey(t, env, a, token)
	ids := []int64{first.Factors.Passkeys[0].Id, second.Factors.Passkeys[1].Id}
	env.Clock.Advance(impl.RecentProof)
	mfaPost(env, thief, passkeyDelete, map[string]any{"id": ids[0]}, token).Expect(t, 403, gen.StatusPermissionDenied)

	// A fresh sign-in with the first passkey removes the other (with the password), then the
	// first: the last one, which also ends the session that signed in with it.
	var s gen.Session
	passkeySignIn(t, env, a, addr(2)).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
	fresh := *s.Token
	res := mfaPost(env, addr(2), passkeyDelete, map[string]any{"id": ids[1]}, fresh).Expect(t, 400, gen.StatusMissingParam)
	if len(res.Envelope.Errors) != 1 || res.Envelope.Errors[0].Param != "password" {
		t.Errorf("one of two passkeys without a password: %s, want missing-param on password", res.Raw)
	}
	var change gen.MFAChange
	mfaPost(env, addr(2), passkeyDelete, map[string]any{"id": ids[1], "password": password}, fresh).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &change)
	if len(change.Factors.Passkeys) != 1 || change.Factors.RecoveryCodes.Remaining != 10 {
		t.Errorf("after removing one of two: %+v", change.Factors)
	}
	res = mfaPost(env, addr(2), passkeyDelete, map[string]any{"id": ids[0]}, fresh).Expect(t, 400, gen.StatusMissingParam)
	if len(res.Envelope.Errors) != 1 || res.Envelope.Errors[0].Param != "password" {
		t.Errorf("the last passkey without a password: %s, want missing-param on password", res.Raw)
	}
	mfaPost(env, addr(2), passkeyDelete, map[string]any{"id": ids[0], "password": "not her password"}, fresh).Expect(t, 400, gen.StatusInvalidPassword)
	res = mfaPost(env, addr(2), passkeyDelete, map[string]any{"id": ids[0], "password": password}, fresh).Expect(t, 200, gen.StatusActionSuccessful)
	if res.Data(t, &change); len(change.Factors.Passkeys) != 0 || change.Factors.RecoveryCodes.Remaining != 0 || !sessionEnded(t, res) {
		t.Errorf("after removing the last: %+v, session_ended %v", change.Factors, sessionEnded(t, res))
	}

	t.Run("ErrNoPassword", func(t *testing.T) {
		env.User("grace@example.com", "", "client")
		requestLink(env, "grace@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		var s gen.Session
		useLink(env, lastLinkToken(t, env, "grace@example.com"), "planoorder").Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
		change := registerPasskey(t, env, apitest.NewAuthenticator(passkeyOrigin), *s.Token)
		mfaPost(env, "", passkeyDelete, map[string]any{"id": change.Factors.Passkeys[0].Id}, *s.Token).Expect(t, 400, gen.StatusUserHasNoPassword)
	})
}

// Attack: a stolen aal2 token of grace's, who has no password (she signs in with links), removes
// both of her passkeys at once, each request "one of two": the last one's removal is judged in
// the transaction that removes it, so one of them is refused (it would take a password). A user
// with a password gives it for every removal (TestPasskeyDeleteNeedsAProofForTheLast). The token
// completed its second factor with a recovery code, so that it stands on neither passkey (the
// session that registered the first stands on it, and would end with it).
func TestLastPasskeyRaceNeedsThePassword(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("grace@example.com", "", "client")
	requestLink(env, "grace@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	var s gen.Session
	useLink(env, lastLinkToken(t, env, "grace@example.com"), "planoorder").Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
	own := *s.Token
	a := apitest.NewAuthenticator(passkeyOrigin)
	codes := *registerPasskey(t, env, a, own).RecoveryCodes
	change := registerPasskey(t, env, a, own)
	requestLink(env, "grace@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	useLink(env, lastLinkToken(t, env, "grace@example.com"), "planoorder").Expect(t, 401, gen.StatusMfaRequired).Data(t, &s)
	token := *s.Token
	mfaPost(env, thief, recoveryCodeVerify, map[string]any{"code": codes[0]}, token).Expect(t, 200, gen.StatusActionSuccessful)
	got := concurrently(2, func(i int) *apitest.Response {
		return mfaPost(env, thief, passkeyDelete, map[string]any{"id": change.Factors.Passkeys[i].Id}, token)
	})
	if got.counts["200 action-successful"] != 1 || got.counts["400 user-has-no-password"] != 1 {
		t.Errorf("both passkeys removed at once: %v, want one removed and one user-has-no-password", got)
	}
	if f := factorsOf(t, env, token); len(f.Passkeys) != 1 {
		t.Errorf("%d passkeys left, want 1", len(f.Passkeys))
	}
}

// A proof made on one instance reaches the others' session caches, though the session's level and
// methods stay the same (an aal2 session proving its user again): the sessions trigger notifies
// a new proved_at too.
func TestRecentProofReachesEveryInstance(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	other := env.SecondInstance()
	env.User("ada@example.com", password, "client")
	secret, _ := enrolTOTP(t, env, env.Login("ada@example.com", password, "planoorder"))
	session := aal2Session(t, env, addr(2), "ada@example.com", secret, 1)
	env.Clock.Advance(4 * impl.RecentProof)
	createCodes := func() int {
		return env.DoOn(other, apitest.Request(http.MethodPost, recoveryCodesCreate, "application/json", []byte("{}"), session)).Code
	}
	if code := createCodes(); code != http.StatusForbidden { // cached on the other instance, stale
		t.Fatalf("the other instance answered %d to a stale session, want 403", code)
	}
	mfaPost(env, addr(2), totpVerify, map[string]any{"code": totpCode(t, env, secret, 0)}, session).Expect(t, 200, gen.StatusActionSuccessful)
	eventually(t, time.Second, "the other instance sees the new proof", func() bool { return createCodes() == http.StatusOK })
}
