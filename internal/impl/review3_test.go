package impl_test

// A hostile review of issue 16 (second factors) and of the codes in every link email, on main:
// each test is an attack from the HTTP API that should be refused, and FAILS while the hole is
// open. The comment above each test says what the attacker does and why the answer is wrong; the
// review report ranks them and proposes fixes.

import (
	"net/http"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/mfa"
)

// thief is the address the attacker works from.
var thief = addr(66)

// aal2Session signs ada in from address with her password and the app's code of step steps, and
// returns the complete (aal2) session's token.
func aal2Session(t *testing.T, env *apitest.Env, address, email, secret string, steps int64) string {
	t.Helper()
	limited := limitedSignIn(t, env, address, email, gen.StatusMfaRequired)
	mfaPost(env, address, totpVerify, map[string]any{"code": totpCode(t, env, secret, steps)}, *limited.Token).
		Expect(t, 200, gen.StatusActionSuccessful)
	return *limited.Token
}

// Finding 1a. A stolen aal2 token of any age plants a passkey, which signs in alone, for good.
//
// Attack: the thief copies the token of one of ada's complete sessions (password and app), long
// after its sign-in: nobody re-proved anything for two hours. RecentSignIn stops an old token
// from adding a user's FIRST factor, but once she has one, "adding another takes aal2 instead,
// however old the session" (TestFirstFactorNeedsARecentSignIn). So the token registers the
// thief's passkey. A passkey is a whole sign-in by itself (aal2, methods [webauthn]), so the
// thief needs neither the password nor the app from then on: ada's password reset (which revokes
// every session and forgets every device), and anything else she does short of finding and
// removing the passkey, leave the thief able to sign in whenever it likes. The token's theft is
// turned into a permanent credential without any proof of a factor.
func TestReview3StaleAAL2TokenPlantsAPasskeyThatOutlivesAReset(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	secret, _ := enrolTOTP(t, env, env.Login("ada@example.com", password, "planoorder"))
	stolen := aal2Session(t, env, addr(2), "ada@example.com", secret, 1)
	env.Clock.Advance(4 * impl.RecentProof)

	authenticator := apitest.NewAuthenticator(passkeyOrigin) // the thief's
	begin := mfaPost(env, thief, passkeyRegisterBegin, map[string]any{}, stolen)
	if begin.Code != http.StatusOK {
		begin.Expect(t, 403, gen.StatusPermissionDenied) // refused: what a stale token should get
		return
	}
	finish := mfaPost(env, thief, passkeyRegisterEnd, map[string]any{"credential": authenticator.Register(t, options(t, begin)), "name": "Laptop"}, stolen)
	if finish.Code != http.StatusOK {
		t.Fatalf("the registration was begun for a token %s old, then refused: %s", 4*impl.RecentProof, finish.Raw)
	}
	// Ada notices something and resets her password from her mailbox: every session and device
	// of hers is gone; she finishes with her app.
	requestReset(env, addr(2), "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful)
	res := resetWith(env, map[string]any{"reset_token": lastReset(t, env, "ada@example.com").token}).Expect(t, 401, gen.StatusMfaRequired)
	var s gen.Session
	res.Data(t, &s)
	mfaPost(env, addr(2), totpVerify, map[string]any{"code": totpCode(t, env, secret, 0)}, *s.Token).Expect(t, 200, gen.StatusActionSuccessful)
	env.Get(sessionsRead, stolen).Expect(t, 401, gen.StatusInvalidToken)

	if in := passkeySignIn(t, env, authenticator, thief); in.Code == http.StatusOK {
		var got gen.Session
		in.Data(t, &got)
		aal, methods := levelOf(got)
		t.Errorf("a token stolen %s after its sign-in registered the thief's passkey, which still signs in (%s %v) "+
			"after ada reset her password: adding a factor to a user who has one takes no recent proof", 4*impl.RecentProof, aal, methods)
	}
}

// Finding 1b. A stolen aal2 token of any age replaces the recovery codes.
//
// Attack: the same stale token calls mfa/recovery_codes_create. The thief gets ten fresh codes,
// each a second factor (with the password, a complete sign-in whenever the app and passkeys are
// out of reach: it needs neither), and the codes ada keeps on paper stop working, so her way
// back when she loses her phone is gone, without her learning it until she needs it. Turning
// the app off asks for a code or the password again; replacing what stands in for it asks for
// nothing.
func TestReview3StaleAAL2TokenReplacesTheRecoveryCodes(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	secret, owners := enrolTOTP(t, env, env.Login("ada@example.com", password, "planoorder"))
	stolen := aal2Session(t, env, addr(2), "ada@example.com", secret, 1)
	env.Clock.Advance(4 * impl.RecentProof)

	res := mfaPost(env, thief, recoveryCodesCreate, map[string]any{}, stolen)
	if res.Code != http.StatusOK {
		res.Expect(t, 403, gen.StatusPermissionDenied) // refused: what a stale token should get
		return
	}
	var set gen.RecoveryCodes
	res.Data(t, &set)
	// Ada lost her phone: her codes from paper no longer work, the thief's do.
	limited := *limitedSignIn(t, env, addr(2), "ada@example.com", gen.StatusMfaRequired).Token
	mine := mfaPost(env, addr(2), recoveryCodeVerify, map[string]any{"code": owners[0]}, limited)
	theirs := *limitedSignIn(t, env, thief, "ada@example.com", gen.StatusMfaRequired).Token
	got := mfaPost(env, thief, recoveryCodeVerify, map[string]any{"code": set.Codes[0]}, theirs)
	t.Errorf("a token %s past its sign-in replaced ada's recovery codes with no new proof: hers answer %d %s, the thief's %d %s",
		4*impl.RecentProof, mine.Code, mine.Status(), got.Code, got.Status())
}

// Finding 2. A password alone buys an allowance of second-factor guesses per device and address.
//
// Attack: the thief has ada's password before she turns on an authenticator app (the usual
// reason to turn one on). It signs in with it a few times from one address, keeping each device
// token, and once from each of a few addresses. Then ada enrols an app. Adding a factor forgets
// none of the callers the account knew, so each of the thief's device tokens, and each of its
// addresses, is a "known caller" with 5 code guesses an hour of its own, instead of the 5 that
// strangers share: "a password alone buys no allowance of its own for guessing codes" (README,
// Second factors) does not hold. A device token's allowance is not even bounded per address, so
// one address with 20 tokens (MaxDevicesPerUser) guesses 100 codes an hour, and each IPv6 prefix
// adds 5 more: about 1 chance in 3,000 per hour per 100 guesses, for as long as ada keeps the
// password.
func TestReview3PasswordBoughtSecondFactorGuessesBeforeTheFactor(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	var devices []string
	for range 4 {
		var s gen.Session
		signIn(env, thief, "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
		devices = append(devices, *s.DeviceToken)
	}
	for i := range 4 {
		signIn(env, addr(80+i), "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful)
	}
	secret, _ := enrolTOTP(t, env, env.Login("ada@example.com", password, "planoorder"))

	limited := *limitedSignIn(t, env, thief, "ada@example.com", gen.StatusMfaRequired).Token
	wrong := totpCode(t, env, secret, 9)
	evaluated := 0
	try := func(address, device string) {
		params := map[string]any{"code": wrong}
		if device != "" {
			params["device_token"] = device
		}
		if res := mfaPost(env, address, totpVerify, params, limited); res.Code == http.StatusBadRequest && res.Status() == gen.StatusInvalidCode {
			evaluated++
		}
	}
	for _, device := range devices {
		for range 6 {
			try(thief, device)
		}
	}
	for i := range 4 {
		for range 6 {
			try(addr(80+i), "")
		}
	}
	if evaluated > 5 {
		t.Errorf("a thief who only ever had the password got %d codes evaluated in an hour, want at most the 5 strangers share: "+
			"the devices and addresses it signed in from before the app was enrolled kept an allowance each", evaluated)
	}
}

// Finding 3. The password alone logs the owner out everywhere, again and again.
//
// Attack: the thief has ada's password but not her app. Its sign-in answers mfa-required with a
// session limited to completing the factor... and to sessions/delete, which it may call with
// `others: true` or `all: true`: every complete (aal2) session ada has, on every device, is
// revoked by someone who proved one factor of two. Repeated every few minutes it keeps her out
// of every application, and nothing about it needs the second factor the account demands. A
// limited session should be able to end itself, not its user's other sessions.
func TestReview3LimitedSessionLogsTheOwnerOutEverywhere(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	secret, _ := enrolTOTP(t, env, env.Login("ada@example.com", password, "planoorder"))
	for i, body := range []map[string]any{{"others": true}, {"all": true}} {
		env.Clock.Advance(mfa.TOTPPeriod)
		owner := aal2Session(t, env, addr(2), "ada@example.com", secret, 0)
		limited := *limitedSignIn(t, env, thief, "ada@example.com", gen.StatusMfaRequired).Token
		res := mfaPost(env, thief, sessionsDelete, body, limited)
		if got := env.Get(sessionsRead, owner); got.Code != http.StatusOK {
			var revoked gen.Revoked
			res.Data(t, &revoked)
			t.Errorf("case %d: a session limited to completing a second factor revoked %d sessions with %v, ada's complete one among them (it now answers %d %s)",
				i, revoked.Revoked, body, got.Code, got.Status())
		}
		res.Expect(t, 403, gen.StatusPermissionDenied)
	}
	// The owner's session, by its id, neither; the limited session still ends itself.
	owner := aal2Session(t, env, addr(2), "ada@example.com", secret, 1)
	limited := *limitedSignIn(t, env, thief, "ada@example.com", gen.StatusMfaRequired).Token
	ownerID := readSession(t, env, owner).Id
	mfaPost(env, thief, sessionsDelete, map[string]any{"id": ownerID}, limited).Expect(t, 403, gen.StatusPermissionDenied)
	env.Get(sessionsRead, owner).Expect(t, 200, gen.StatusActionSuccessful)
	var revoked gen.Revoked
	mfaPost(env, thief, sessionsDelete, map[string]any{}, limited).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &revoked)
	if revoked.Revoked != 1 {
		t.Errorf("the limited session logging out revoked %d sessions, want 1", revoked.Revoked)
	}
	env.Get(sessionsRead, owner).Expect(t, 200, gen.StatusActionSuccessful)
}

// Finding 4. The pending app is the user's, not the enrolling session's: any other session
// confirms it, unthrottled, and takes its recovery codes.
//
// Attack: the thief has ada's password while she has no second factor, and is signed in (a
// full aal1 session: that is what turning on an app should cut off). Ada starts setting up an
// app: mfa/totp_enroll keeps one pending secret per USER. The thief's session posts codes to
// mfa/totp_confirm, which counts nothing ("the enrolling session holds the secret it would be
// guessing": but any session of the user may confirm). With three good codes among 10^6 and 15
// minutes, a few hundred requests a second find one. The code confirms ada's app on the THIEF's
// session: its session becomes aal2, so it keeps working once ada has the app, and the answer
// gives the thief the ten recovery codes. Ada never sees them: her own session, aal1, is the one
// the new app limits (mfa-required), so her confirmation fails.
// With the password and those codes the thief completes sign-ins for as long as ada keeps it.
func TestReview3AnotherSessionConfirmsTheOwnersPendingApp(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	owner := env.Login("ada@example.com", password, "planoorder")
	var thiefs gen.Session
	signIn(env, thief, "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful).Data(t, &thiefs)
	stolen := *thiefs.Token
	var enrolment gen.TOTPEnrolment
	mfaPost(env, addr(2), totpEnroll, map[string]any{}, owner).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &enrolment)

	t.Run("guesses from another session are not counted", func(t *testing.T) {
		got := concurrently(30, func(i int) *apitest.Response {
			return mfaPost(env, addr(100+i), totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, 40+int64(i))}, stolen)
		})
		if got.counts["400 invalid-code"] > 5 {
			t.Errorf("another session's guesses at ada's pending secret: %v, all evaluated", got.counts)
		}
	})
	t.Run("another session confirms it", func(t *testing.T) {
		// The right code stands for the guess that lands.
		res := mfaPost(env, thief, totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, 0)}, stolen)
		if res.Code != http.StatusOK {
			res.Expect(t, 400, gen.StatusInvalidParam) // as if nothing were pending: the app is not this session's
			return
		}
		var change gen.MFAChange
		res.Data(t, &change)
		ownerAnswer := mfaPost(env, addr(2), totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, 1)}, owner)
		t.Errorf("the thief's session confirmed ada's pending app: it is now %s and got %d recovery codes; "+
			"ada's own session, which began the set-up, is the one cut off: its confirmation answers %d %s",
			deref(change.Session.Aal), len(deref(change.RecoveryCodes)), ownerAnswer.Code, ownerAnswer.Status())
		env.Get(scopesLiaisonRegister, stolen).Expect(t, 200, gen.StatusActionSuccessful) // the thief's is not limited
	})
}

// Finding 5. A stolen aal2 token alone removes the last passkey (and the recovery codes).
//
// Attack: the thief copies the token of a session ada signed in with her passkey (her only
// second factor), and has her password from elsewhere. mfa/passkey_delete takes the token alone:
// no passkey assertion, no password, no code. The passkey goes, and with it her recovery codes
// and the second factor itself: the password alone signs in again, on every application, from
// anywhere. Turning an app off asks for a current code or the password precisely so that "a
// stolen aal2 token alone cannot remove it"; the passkey, the stronger factor, has no such
// guard.
func TestReview3StolenAAL2TokenRemovesTheLastPasskey(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	a := apitest.NewAuthenticator(passkeyOrigin)
	registerPasskey(t, env, a, env.Login("ada@example.com", password, "planoorder"))
	var s gen.Session
	passkeySignIn(t, env, a, addr(2)).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
	stolen := *s.Token
	id := factorsOf(t, env, stolen).Passkeys[0].Id

	if res := mfaPost(env, thief, passkeyDelete, map[string]any{"id": id}, stolen); res.Code == http.StatusOK {
		in := signIn(env, thief, "ada@example.com")
		t.Errorf("a stolen token alone removed ada's only passkey (and her recovery codes); her password alone now answers %d %s",
			in.Code, in.Status())
	} else {
		res.Expect(t, 400, gen.StatusMissingParam) // the last second factor goes only with the password
	}
}

// Finding 6. An old token of a user without a password launders itself into a fresh sign-in,
// and then locks the owner out with the thief's app.
//
// Attack: ada signs in with emailed links (or Google) and has no password. The thief copies one
// of her session tokens; two hours later RecentSignIn rightly refuses it a first factor. But
// users/password_update lets "a user without one set a first password with its session alone",
// with no recency and no proof: the stale token sets a password, the thief signs in with it (a
// fresh sign-in), and that session enrols the thief's authenticator app, the first factor. Ada's
// next sign-in by link answers mfa-required: her own mailbox no longer gets her in, and no
// route lets her remove the thief's app. RecentSignIn is bypassed in two requests.
func TestReview3StaleTokenSetsAFirstPasswordToPlantAFactor(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", "", "client")
	requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	var s gen.Session
	useLink(env, lastLinkToken(t, env, "ada@example.com"), "planoorder").Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
	stolen := *s.Token
	env.Clock.Advance(4 * impl.RecentProof)
	mfaPost(env, thief, totpEnroll, map[string]any{}, stolen).Expect(t, 403, gen.StatusPermissionDenied) // as designed

	if res := updatePassword(env, stolen, map[string]any{"password": newPassword}); res.Code != http.StatusOK {
		res.Expect(t, 403, gen.StatusPermissionDenied) // refused: what a stale token should get
		return
	}
	fresh := env.Login("ada@example.com", newPassword, "planoorder")
	enrolTOTP(t, env, fresh) // the thief's app
	requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	res := useLink(env, lastLinkToken(t, env, "ada@example.com"), "planoorder")
	t.Errorf("a token %s past its sign-in set ada's first password; the thief signed in with it and enrolled its app: "+
		"ada's own link now answers %d %s", 4*impl.RecentProof, res.Code, res.Status())
}

// Finding 7. Introspection calls a client-required session active.
//
// Attack: anyone signs in at an application that lets users register as clients (with Google,
// any Google account will do) and gets a session limited to users/client_register, role none.
// Its token, handed to the application's backend, introspects as `active: true`, with the user.
// The second-factor work made limited sessions inactive precisely "so that an application that
// checks `active` alone never takes" one; the client-required limitation is the same kind of
// session and is taken.
func TestReview3ClientRequiredSessionIntrospectsActive(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("newcomer@example.com", password) // no role anywhere
	res := signIn(env, thief, "newcomer@example.com").Expect(t, 401, gen.StatusClientRequired)
	var s gen.Session
	res.Data(t, &s)
	if _, data := introspect(t, env, env.AppTokens["planoorder"], *s.Token, nil); data.Active {
		t.Errorf("a session limited to users/client_register introspects as active (role %v, user %v)",
			deref(data.Role), data.User != nil)
	}
}

// Finding 8. The password alone changes the account: remember_me.
//
// Attack: the thief has ada's password but not her app, and signs in with remember_me: true.
// The answer is mfa-required, yet startSession saved the preference on ada's account before the
// second factor: from then on every session ada opens herself has no idle timeout (it lasts
// until logout), and the thief's limited session with it. Nothing one factor proves should
// change what the account does.
func TestReview3PasswordAloneSetsRememberMe(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	secret, _ := enrolTOTP(t, env, env.Login("ada@example.com", password, "planoorder"))
	mfaPost(env, thief, sessionsCreate, map[string]any{"email": "ada@example.com", "password": password,
		"application": "planoorder", "remember_me": true}, "").Expect(t, 401, gen.StatusMfaRequired)

	owner := aal2Session(t, env, addr(2), "ada@example.com", secret, 1)
	if s := readSession(t, env, owner); s.User != nil && deref(s.User.RememberMe) {
		t.Errorf("a sign-in that proved only the password turned on remember_me for ada: her own session now expires %v", s.ExpiresAt)
	}
}
