package impl_test

// A hostile review of what changed since review 3 (fixes2, review 3's fixes, the lead's incomplete
// sessions and remember_me wish, the speed branch): each test is an attack from the HTTP API that
// should be refused, and FAILS while the hole is open. The comment above each test says what the
// attacker does and why the answer is wrong; the review report ranks them and proposes fixes.

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
)

// Finding 1. An invitation to an existing account is a 7-day password reset and sign-in link
// that a password change does not end.
//
// fixes2 made a password change end the user's reset and sign-in links, "so that whoever saw such
// an email (a shared or forwarded mailbox) must not use it to set a password of its own or to
// sign in" (endPasswordLinks). But two more kinds of link sign in (signInKinds: verification and
// invitation), and the invitation page sets a password (UseLink: newPassword for linkInvitation),
// for any user, one with a password included.
//
// Attack: bob has an account with a password. Ada invites him as a liaison (liaisons/register
// invites existing users alike), so his mailbox holds an invitation link valid 7 days. Bob
// learns that someone reads his mail and changes his password, as the README tells him to. The
// reader opens the leaked invitation: /invite, with a password of its choosing, sets bob's
// password (revoking every session he has) and signs the reader in; the same link at
// sessions/magic_link_create signs in as bob. (A verification link survives too, but only an
// unverified account has one, whose mailbox is its owner by design: not a finding.)
func TestReview4PasswordChangeLeavesInvitationLinks(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	ada := env.Login("ada@example.com", password, "planoorder")
	adaClient := clientIDOf(t, env, "ada@example.com")

	t.Run("InvitationPageSetsAPassword", func(t *testing.T) {
		env.User("bob@example.com", password, "client")
		env.PostSensitive(liaisonsRegister, map[string]any{"liaison": map[string]any{"email": "bob@example.com"},
			"client_ids": []int64{adaClient}}, ada).Expect(t, 200, gen.StatusActionSuccessful)
		env.DeliverEmails()
		leaked := lastLinkToken(t, env, "bob@example.com")
		bob := env.Login("bob@example.com", password, "planoorder")
		updatePassword(env, bob, map[string]any{"current_password": password, "password": newPassword}).
			Expect(t, 200, gen.StatusActionSuccessful)

		chosen := "the reader's own choice of words"
		rec := openPage(env, http.MethodPost, "/invite", url.Values{"token": {leaked}, "password": {chosen},
			"password_repeat": {chosen}}, sameOrigin)
		if res := login(env, map[string]any{"email": "bob@example.com", "password": chosen, "application": "planoorder"}); res.Code == http.StatusOK {
			t.Errorf("after bob changed his password, his leaked invitation (page answered %d) set a password of the reader's choosing: "+
				"it signs in as bob, and bob's own sessions were revoked (his session now answers %d)",
				rec.Code, env.Get(sessionsRead, bob).Code)
		}
	})
	t.Run("InvitationSignsIn", func(t *testing.T) {
		env.User("cy@example.com", password, "client")
		env.PostSensitive(liaisonsRegister, map[string]any{"liaison": map[string]any{"email": "cy@example.com"},
			"client_ids": []int64{adaClient}}, ada).Expect(t, 200, gen.StatusActionSuccessful)
		env.DeliverEmails()
		leaked := lastLinkToken(t, env, "cy@example.com")
		updatePassword(env, env.Login("cy@example.com", password, "planoorder"), map[string]any{"current_password": password, "password": newPassword}).
			Expect(t, 200, gen.StatusActionSuccessful)
		useLink(env, leaked, "planoorder").Expect(t, 401, gen.StatusLinkExpired)
	})
}

// Finding 2. A stale aal2 token and the password turn the app off; the password then plants the
// thief's app: the recent proof is bypassed for the one removal that needs none.
//
// Review 3's fix made every change of the factors take a recent proof "whatever the user has",
// and the removal of the last passkey the recent proof AND the password. mfa/totp_disable was
// left out ("it takes a current code or the password itself"): with the password, a token of
// any age turns the user's last factor off.
//
// Attack: the thief phished ada's password and copied the token of one of her complete (aal2)
// sessions hours ago. Neither is enough alone: the password answers mfa-required, the token is
// too old to change factors. Together: totp_disable with the password from the old token turns
// her app off (and deletes her recovery codes); the password now signs in completely, with a
// fresh proof, and that session enrols the thief's app as the first factor (the thief gets the
// recovery codes, every device ada had is forgotten). Ada's own sign-in now answers
// mfa-required for an app she does not have; a password reset does not remove it. The same
// token and password cannot remove her last passkey (permission-denied): the app, the
// commoner factor, is the weaker guard. With the password, the removal should take the recent
// proof too (a current code is a proof of its own).
func TestReview4StaleTokenAndPasswordTurnTheAppOff(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	secret, _ := enrolTOTP(t, env, env.Login("ada@example.com", password, "planoorder"))
	stolen := aal2Session(t, env, addr(2), "ada@example.com", secret, 1)
	env.Clock.Advance(4 * impl.RecentProof)

	res := mfaPost(env, thief, totpDisable, map[string]any{"password": password}, stolen)
	if res.Code != http.StatusOK {
		res.Expect(t, 403, gen.StatusPermissionDenied)
		return
	}
	var fresh gen.Session
	signIn(env, thief, "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful).Data(t, &fresh)
	_, codes := enrolTOTP(t, env, *fresh.Token) // the thief's app
	owner := signIn(env, addr(2), "ada@example.com")
	t.Errorf("a token %s past its last proof and the password turned ada's app off; the password then signed in completely "+
		"and enrolled the thief's app (%d recovery codes to the thief): ada's own sign-in answers %d %s",
		4*impl.RecentProof, len(codes), owner.Code, owner.Status())
	res.Expect(t, 403, gen.StatusPermissionDenied)
}

// Finding 3. The password alone keeps the owner from signing in, again and again, despite the
// second factor.
//
// fixes2 caps successful sign-ins per account (limits.SignedIn, 30 per 15 minutes, "whoever signs
// in from wherever"), and a sign-in answered mfa-required counts as a success (settle: an answer
// that carries the session it opened). The README promises that "nobody can lock an owner out"
// (Attempts at an account: strangers share one allowance, the owner's device and addresses have
// their own), and the second-factor work that "whoever has the password alone" cannot keep the
// owner out (endsOnlyItself).
//
// Attack: the thief has ada's password but not her app. It signs in with the password, from its
// own address, as many times as the allowance holds: every one answers mfa-required (it never
// completes one), and every right password gives its guess back, so the strangers' allowance
// never stops it. Then ada signs in from her own device, with her device token and her known
// address: rate-limited, for the rest of the window, and again in the next one; her passkey,
// which needs no password at all, is refused too. The one allowance of successes is shared by
// strangers and the owner alike.
func TestReview4PasswordAloneSpendsTheOwnersSignIns(t *testing.T) {
	t.Parallel()
	const allowance = 5
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SignedIn = limits.SuccessQuota{PerAccount: allowance, Window: 15 * time.Minute}
	}))
	env.User("ada@example.com", password, "client")
	first := env.Login("ada@example.com", password, "planoorder")
	secret, _ := enrolTOTP(t, env, first)
	key := apitest.NewAuthenticator(passkeyOrigin)
	registerPasskey(t, env, key, first) // her passkey signs in alone
	limited := limitedSignIn(t, env, addr(2), "ada@example.com", gen.StatusMfaRequired)
	var complete gen.Session
	mfaPost(env, addr(2), totpVerify, map[string]any{"code": totpCode(t, env, secret, 1)}, *limited.Token).
		Expect(t, 200, gen.StatusActionSuccessful).Data(t, &complete)
	device := deref(complete.DeviceToken)
	if device == "" {
		t.Fatal("ada's completed sign-in answered no device token")
	}
	env.Clock.Advance(15 * time.Minute) // a new window

	for range allowance {
		limitedSignIn(t, env, thief, "ada@example.com", gen.StatusMfaRequired)
	}
	if res := passkeySignIn(t, env, key, addr(2)); res.Code != http.StatusOK {
		t.Errorf("%d sign-ins with the password alone, none completed, refuse ada's passkey, a whole sign-in by itself: %d %s",
			allowance, res.Code, res.Status())
	}
	res := mfaPost(env, addr(2), sessionsCreate, map[string]any{"email": "ada@example.com", "password": password,
		"application": "planoorder", "device_token": device}, "")
	if res.Code == http.StatusTooManyRequests {
		t.Errorf("%d sign-ins with the password alone, none completed, left ada's own sign-in (her device token, her address) rate-limited", allowance)
	}
	res.Expect(t, 401, gen.StatusMfaRequired)
}

// Finding 4. The remember_me of a sign-in answered mfa-enrolment-required is lost when its
// sign-in completes by enrolling the first factor.
//
// The lead's change: "the remember_me of a sign-in answered mfa-required or
// mfa-enrolment-required waits on its session (sessions.remember_me_wish) and is saved on the
// user, and applied to the session's bounds, only when its second factor completes it". An
// enrolment-only session completes through addFactor (totp_confirm, passkey_register_finish),
// which records the factor on the session (recordFactor) but never calls applyRememberWish
// (only upgradeSession, the verify routes, does). The wish stays on the row, the user's
// preference is never saved, and the session keeps the bounds of a session not remembered.
//
// Attack (a user's, no thief needed): planoorder requires a second factor; grace signs in with
// remember_me true, is asked to enrol, enrols her app on that session: her session and her
// account are as if she had never asked.
func TestReview4EnrolmentForgetsTheRememberMeWish(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("grace@example.com", password, "client")
	requireMFA(t, env, "planoorder", true)
	res := mfaPost(env, addr(2), sessionsCreate, map[string]any{"email": "grace@example.com", "password": password,
		"application": "planoorder", "remember_me": true}, "").Expect(t, 401, gen.StatusMfaEnrolmentRequired)
	var limited gen.Session
	res.Data(t, &limited)
	enrolTOTP(t, env, *limited.Token) // completes the sign-in
	s := readSession(t, env, *limited.Token)
	wantLevel(t, s, gen.AAL2, gen.MethodPwd, gen.MethodOtp)
	if s.User == nil || !deref(s.User.RememberMe) {
		t.Errorf("grace asked for remember_me at a sign-in that her enrolment completed; her account's remember_me is still off (session expires %v)",
			deref(s.ExpiresAt))
	}
}

// Finding 5. A session that the owner's first factor limits adds a factor all the same, when
// its request was admitted just before: "a user with a second factor changes its factors only
// from an aal2 session (the limitation sees to it)" is judged by the authenticator, before the
// user's row is locked, and addFactor never judges it again.
//
// Attack: the thief has ada's password while she has none of the second kind, and a complete
// aal1 session of its own (fresh). It begins a passkey registration. Ada turns on her app: her
// mfa/totp_confirm locks her row (LockUserMFA) and is still committing when the thief's
// mfa/passkey_register_finish is admitted (ada had no factor yet) and waits on her row. Ada's
// confirmation commits: her first factor, every caller the account knew forgotten, her session
// aal2, and the thief's session now limited to mfa-required. Then the thief's finish takes the
// row, finds a factor there (had: no first-factor handling) and stores the thief's passkey, a
// whole sign-in by itself, from a session that the account's second factor limits. Ada's answer
// said her app was the first and only factor. Judged again in the transaction, the thief's finish
// would answer mfa-required.
func TestReview4LimitedSessionAddsAFactorAfterTheFirst(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	owner := env.Login("ada@example.com", password, "planoorder")
	var thiefs gen.Session
	signIn(env, thief, "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful).Data(t, &thiefs)
	stolen := *thiefs.Token
	var enrolment gen.TOTPEnrolment
	mfaPost(env, addr(2), totpEnroll, map[string]any{}, owner).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &enrolment)
	key := apitest.NewAuthenticator(passkeyOrigin) // the thief's
	opts := options(t, mfaPost(env, thief, passkeyRegisterBegin, map[string]any{}, stolen).Expect(t, 200, gen.StatusActionSuccessful))
	credential := key.Register(t, opts)

	waiting, release := holdStatement(t, env, "totp_secrets", "UPDATE", "ConfirmTOTP", 4141)
	ownerDone := make(chan *apitest.Response, 1)
	go func() {
		ownerDone <- mfaPost(env, addr(2), totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, 0)}, owner)
	}()
	eventually(t, 10*time.Second, "ada's confirmation holds her row", func() bool { return waiting() == 1 })
	thiefDone := make(chan *apitest.Response, 1)
	go func() {
		thiefDone <- mfaPost(env, thief, passkeyRegisterEnd, map[string]any{"credential": credential, "name": "Mine"}, stolen)
	}()
	eventually(t, 10*time.Second, "the thief's finish waits on ada's row", func() bool {
		var n int
		if err := env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%name: LockUserMFA %'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	})
	release()
	(<-ownerDone).Expect(t, 200, gen.StatusActionSuccessful)
	res := <-thiefDone
	if f := factorsOf(t, env, owner); len(f.Passkeys) > 0 {
		t.Errorf("a session limited by ada's new app (its finish answered %d %s) stored the thief's passkey after it: ada has %d passkeys",
			res.Code, res.Status(), len(f.Passkeys))
	}
	res.Expect(t, 401, gen.StatusMfaRequired)
}
