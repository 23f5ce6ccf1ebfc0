package impl_test

// A device the owner disowns stops being known (README, Limits and abuse): when she removes a
// stolen passkey, turns her authenticator app off, or signs a session out by id, or every other
// one, the device tokens issued with the sessions ended go with them, and so do the addresses
// those sign-ins made known (but the one she acts from). Whoever signed in there (a thief with
// a copy of her passkey, or her password and a phished code) is a stranger again: its guesses
// share the strangers' allowance (10 passwords, 5 links per 15 minutes per account), which is
// spent here first, so that each of its guesses answers rate-limited; the owner's own device
// token keeps an allowance of its own. Each test is an attack from the HTTP API, from the
// callers' own addresses, and FAILED while ending a session left its device known.

import (
	"net/http"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

// guess sends a wrong password for ada from address, presenting device ("" for none).
func guess(env *apitest.Env, address, device string) *apitest.Response {
	env.T.Helper()
	params := map[string]any{"email": "ada@example.com", "password": "a guess", "application": "planoorder"}
	if device != "" {
		params["device_token"] = device
	}
	return postFrom(env, address, sessionsCreate, params, "")
}

// spendStrangers spends the allowance that every caller ada's account does not know shares,
// from an address of nobody's.
func spendStrangers(t *testing.T, env *apitest.Env) {
	t.Helper()
	exhaust(t, env, "ada@example.com", addr(50))
}

// wantStranger checks that the caller at address with device is a stranger to ada's account,
// whose strangers' allowance is spent: its guess is not evaluated, with its device token or
// without.
func wantStranger(t *testing.T, env *apitest.Env, who, address, device string) {
	t.Helper()
	for _, d := range []string{device, ""} {
		if res := guess(env, address, d); res.Code != http.StatusTooManyRequests || res.Status() != gen.StatusRateLimited {
			t.Errorf("%s's guess from %s (device token %t) answered %d %s, want 429 rate-limited: it is still known to the account",
				who, address, d != "", res.Code, res.Status())
		}
	}
}

// wantKnown checks that the caller presenting device (from an address the account does not
// know) still has an allowance of its own: its guess is evaluated.
func wantKnown(t *testing.T, env *apitest.Env, who, device string) {
	t.Helper()
	if res := guess(env, addr(30), device); res.Code != http.StatusBadRequest || res.Status() != gen.StatusInvalidPassword {
		t.Errorf("%s's guess with its device token answered %d %s, want 400 invalid-password: its allowance is gone", who, res.Code, res.Status())
	}
}

// signedIn signs in as ada with her password from address and returns the session (its token,
// id and device token).
func signedIn(t *testing.T, env *apitest.Env, address string) gen.Session {
	t.Helper()
	var s gen.Session
	postFrom(env, address, sessionsCreate, map[string]any{"email": "ada@example.com", "password": password, "application": "planoorder"}, "").
		Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
	if s.Token == nil || s.DeviceToken == nil {
		t.Fatalf("a sign-in answered no token or device token: %+v", s)
	}
	return s
}

// The thief signs in with its copy of ada's synced passkey from its own address; ada removes
// the passkey. The thief's device token and address are a stranger's; ada's device token, from
// the session that set her passkeys up, keeps its allowance.
func TestDevicesForgottenWithTheirPasskey(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	own := env.Login("ada@example.com", password, "planoorder")
	synced, key := apitest.NewAuthenticator(passkeyOrigin), apitest.NewAuthenticator(passkeyOrigin)
	first := registerPasskey(t, env, synced, own) // her first factor: her device is trusted afresh
	if first.Session.DeviceToken == nil {
		t.Fatalf("the first factor answered no device token: %+v", first.Session)
	}
	registerPasskey(t, env, key, own)
	thief := deviceToken(t, passkeySignIn(t, env, synced, addr(9)).Expect(t, 200, gen.StatusActionSuccessful))

	mfaPost(env, addr(2), passkeyDelete, map[string]any{"id": first.Factors.Passkeys[0].Id}, own).Expect(t, 200, gen.StatusActionSuccessful)
	spendStrangers(t, env)
	wantStranger(t, env, "the thief", addr(9), thief)
	wantKnown(t, env, "ada", *first.Session.DeviceToken)
}

// The thief has ada's password and a code phished from her, and completes its sign-in from its
// own address; ada turns the app off from her passkey session. The thief's device token and
// address are a stranger's; the device token of her passkey sign-in keeps its allowance.
func TestDevicesForgottenWithTheirTOTP(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newAppAndKey(t, env)
	var own gen.Session
	passkeySignIn(t, env, ada.key, addr(2)).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &own)
	limited := *limitedSignIn(t, env, totpThiefAddress, "ada@example.com", gen.StatusMfaRequired).Token
	thief := deviceToken(t, mfaPost(env, totpThiefAddress, totpVerify, map[string]any{"code": nextCode(t, env, ada.secret)}, limited).
		Expect(t, 200, gen.StatusActionSuccessful))

	mfaPost(env, addr(2), totpDisable, map[string]any{"password": password}, *own.Token).Expect(t, 200, gen.StatusActionSuccessful)
	spendStrangers(t, env)
	wantStranger(t, env, "the thief", totpThiefAddress, thief)
	wantKnown(t, env, "ada", *own.DeviceToken)
}

// Ada signs the thief's session out (by id, with the others, or with all of hers) from her own
// session at her own address. The thief's device token and address are a stranger's, for
// passwords and for links; hers keeps its allowance, her own session ended or not (a plain
// logout keeps one's device known).
func TestDevicesForgottenWhenSignedOut(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]func(thief gen.Session) map[string]any{
		"ById":   func(thief gen.Session) map[string]any { return map[string]any{"id": thief.Id} },
		"Others": func(gen.Session) map[string]any { return map[string]any{"others": true} },
		"All":    func(gen.Session) map[string]any { return map[string]any{"all": true} },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := apitest.New(t)
			env.User("ada@example.com", password, "client")
			own, thief := signedIn(t, env, addr(1)), signedIn(t, env, addr(9))

			mfaPost(env, addr(1), sessionsDelete, body(thief), *own.Token).Expect(t, 200, gen.StatusActionSuccessful)
			env.Get(sessionsRead, *thief.Token).Expect(t, 401, gen.StatusInvalidToken)
			spendStrangers(t, env)
			wantStranger(t, env, "the thief", addr(9), *thief.DeviceToken)
			wantKnown(t, env, "ada", *own.DeviceToken)

			link := func(device string) map[string]any {
				return map[string]any{"email": "ada@example.com", "application": "planoorder", "device_token": device}
			}
			for range 5 { // the strangers' links
				postFrom(env, addr(51), magicLinkRequest, map[string]any{"email": "ada@example.com", "application": "planoorder"}, "").
					Expect(t, 200, gen.StatusActionSuccessful)
			}
			postFrom(env, addr(9), magicLinkRequest, link(*thief.DeviceToken), "").Expect(t, 429, gen.StatusRateLimited)
			postFrom(env, addr(30), magicLinkRequest, link(*own.DeviceToken), "").Expect(t, 200, gen.StatusActionSuccessful)
		})
	}
}

// A thief that logs itself out first, to leave no session for ada to see and end, keeps no
// device known once she signs out the others; a plain logout keeps ada's own device known.
func TestDevicesForgottenAfterTheirOwnLogout(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	own, thief, laptop := signedIn(t, env, addr(1)), signedIn(t, env, addr(9)), signedIn(t, env, addr(1))
	mfaPost(env, addr(9), sessionsDelete, map[string]any{}, *thief.Token).Expect(t, 200, gen.StatusActionSuccessful)
	mfaPost(env, addr(1), sessionsDelete, map[string]any{}, *laptop.Token).Expect(t, 200, gen.StatusActionSuccessful)
	spendStrangers(t, env)
	wantKnown(t, env, "ada's laptop, logged out", *laptop.DeviceToken)
	wantKnown(t, env, "the thief, logged out", *thief.DeviceToken) // nobody disowned it yet

	mfaPost(env, addr(1), sessionsDelete, map[string]any{"others": true}, *own.Token).Expect(t, 200, gen.StatusActionSuccessful)
	wantStranger(t, env, "the thief", addr(9), *thief.DeviceToken)
	wantKnown(t, env, "ada", *own.DeviceToken)
}

// The address ada acts from stays known, though the session she ends signed in there too: it
// is hers (the thief shares her network), and forgetting it would make her a stranger there.
// The thief's device token still goes.
func TestSignedOutAtTheOwnersAddress(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	own, thief := signedIn(t, env, addr(1)), signedIn(t, env, addr(1))
	mfaPost(env, addr(1), sessionsDelete, map[string]any{"id": thief.Id}, *own.Token).Expect(t, 200, gen.StatusActionSuccessful)
	spendStrangers(t, env)
	wantStranger(t, env, "the thief's device", addr(30), *thief.DeviceToken)
	guess(env, addr(1), "").Expect(t, 400, gen.StatusInvalidPassword) // the address's own allowance
}

// The thief's second factor is past its check, its session upgraded and its device token being
// issued, when ada signs that session out by id: the revocation waits for it (the session's
// row), and the device token it committed goes with the session. The window is held open by
// locking known_addresses, which the completion writes after upgrading the session
// (checkInFlightAtRemoval: the sign-out is the removal).
func TestDeviceIssuedWhileItsSessionIsSignedOut(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newAppAndKey(t, env)
	thief := limitedSignIn(t, env, totpThiefAddress, "ada@example.com", gen.StatusMfaRequired)
	verify := apitest.Request(http.MethodPost, totpVerify, "text/plain",
		apitest.Sensitive(t, map[string]any{"code": nextCode(t, env, ada.secret)}), *thief.Token)
	verify.RemoteAddr = totpThiefAddress + ":1234"
	signOut := apitest.Request(http.MethodPost, sessionsDelete, "application/json", []byte(`{"id":"`+thief.Id.String()+`"}`), ada.own)
	signOut.RemoteAddr = addr(2) + ":1234"

	res := checkInFlightAtRemoval(t, env, verify, signOut, holdRows(t, env, "LOCK TABLE known_addresses IN SHARE MODE"))
	device := deviceToken(t, res.Expect(t, 200, gen.StatusActionSuccessful))
	env.Get(sessionsRead, *thief.Token).Expect(t, 401, gen.StatusInvalidToken)
	spendStrangers(t, env)
	wantStranger(t, env, "the thief", totpThiefAddress, device)
}
