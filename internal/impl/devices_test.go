package impl_test

// A device whose factor the owner removes stops being known (README, Limits and abuse): when
// she removes a stolen passkey or turns her authenticator app off, the device tokens issued with
// the sessions that stood on it go with them, and so do the addresses those sign-ins made known
// (but the one she acts from). Whoever signed in there (a thief with a copy of her passkey, or
// her password and a phished code) is a stranger again: its guesses share the strangers'
// allowance (10 passwords, 5 links per 15 minutes per account), which is spent here first, so
// that each of its guesses answers rate-limited; the owner's own device token keeps an allowance
// of its own. Each test is an attack from the HTTP API, from the callers' own addresses, and
// FAILED while a factor's removal left its devices known.
//
// Signing sessions out (sessions/delete) forgets no device: a session token alone may do it, and
// a thief holding a copy of one would otherwise make the owner's own devices strangers, and
// throttle her out of signing in (TestAStolenSessionTokenCannotMakeTheOwnersDeviceAStranger).

import (
	"net/http"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/limits"
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
	first := registerPasskey(t, env, key, own) // her first factor: her device is trusted afresh, and her session stands on the key
	if first.Session.DeviceToken == nil {
		t.Fatalf("the first factor answered no device token: %+v", first.Session)
	}
	second := registerPasskey(t, env, synced, own)
	thief := deviceToken(t, passkeySignIn(t, env, synced, addr(9)).Expect(t, 200, gen.StatusActionSuccessful))

	mfaPost(env, addr(2), passkeyDelete, map[string]any{"id": second.Factors.Passkeys[1].Id, "password": password}, own).Expect(t, 200, gen.StatusActionSuccessful)
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

// A thief holds a copy of the token of one of ada's sessions (her phone's), and nothing else: no
// password, no factor, no recent proof, which sessions/delete by id, with others or with all
// does not ask for. From its own address it signs out the session of her laptop, whose device
// token she keeps, and spends the strangers' allowance of wrong passwords and of links. Her
// laptop still has its own allowance at her address: her wrong password is evaluated, her link
// mailed, her right password signs her in. It FAILED while signing a session out forgot its
// device and its address: the thief made her a stranger and throttled her out.
func TestAStolenSessionTokenCannotMakeTheOwnersDeviceAStranger(t *testing.T) {
	t.Parallel()
	const thiefAt = "127.0.0.66"
	for name, c := range map[string]struct {
		body    func(laptop gen.Session) map[string]any
		revoked int
	}{
		"Others": {func(gen.Session) map[string]any { return map[string]any{"others": true} }, 1},
		"All":    {func(gen.Session) map[string]any { return map[string]any{"all": true} }, 2},
		"ById":   {func(laptop gen.Session) map[string]any { return map[string]any{"id": laptop.Id} }, 1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := apitest.New(t)
			env.User("ada@example.com", password, "client")
			stolen := signedIn(t, env, addr(3)) // her phone, whose token the thief copied
			laptop := signedIn(t, env, addr(2))

			var revoked struct{ Revoked int }
			mfaPost(env, thiefAt, sessionsDelete, c.body(laptop), *stolen.Token).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &revoked)
			if revoked.Revoked != c.revoked {
				t.Errorf("the thief's sign-out revoked %d sessions, want %d", revoked.Revoked, c.revoked)
			}
			env.Get(sessionsRead, *laptop.Token).Expect(t, 401, gen.StatusInvalidToken)
			spendStrangers(t, env)
			link := map[string]any{"email": "ada@example.com", "application": "planoorder"}
			for range 5 { // the strangers' links
				postFrom(env, addr(51), magicLinkRequest, link, "").Expect(t, 200, gen.StatusActionSuccessful)
			}
			postFrom(env, thiefAt, magicLinkRequest, link, "").Expect(t, 429, gen.StatusRateLimited)

			link["device_token"] = *laptop.DeviceToken
			postFrom(env, addr(2), magicLinkRequest, link, "").Expect(t, 200, gen.StatusActionSuccessful)
			guess(env, addr(2), *laptop.DeviceToken).Expect(t, 400, gen.StatusInvalidPassword)
			postFrom(env, addr(2), sessionsCreate, map[string]any{"email": "ada@example.com", "password": password,
				"application": "planoorder", "device_token": *laptop.DeviceToken}, "").Expect(t, 200, gen.StatusActionSuccessful)
		})
	}
}

// A thief that logs itself out at once, to leave ada no session of it to see in sessions/index,
// keeps no device known once she removes the passkey it copied: the removal reaches the
// sessions that used it and had ended before. Until then its plain logout kept its device known,
// as anyone's does.
func TestDevicesForgottenAfterTheirOwnLogout(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	own := deviceToken(t, passkeySignIn(t, env, ada.b, addr(1)).Expect(t, 200, gen.StatusActionSuccessful)) // her security key
	var thief gen.Session
	passkeySignIn(t, env, ada.a, addr(9)).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &thief)
	mfaPost(env, addr(9), sessionsDelete, map[string]any{}, *thief.Token).Expect(t, 200, gen.StatusActionSuccessful)
	spendStrangers(t, env)
	wantKnown(t, env, "the thief, logged out", *thief.DeviceToken) // nobody removed its factor yet

	mfaPost(env, addr(2), passkeyDelete, map[string]any{"id": ada.synced, "password": password}, ada.own).Expect(t, 200, gen.StatusActionSuccessful)
	wantStranger(t, env, "the thief", addr(9), *thief.DeviceToken)
	wantKnown(t, env, "ada", own)
}

// The address ada signed in from with her password stays known with its own allowance of
// password guesses, though the thief signed in there last with its copy: it is hers (the thief
// shares her network), and forgetting it would make her a stranger there. The thief's device
// token still goes. (An address known only from passkey sign-ins is a stranger's for password
// guesses since review 20.)
func TestDevicesForgottenButNotTheOwnersAddress(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	steppedUp(t, env, addr(2), ada.b)
	thief := deviceToken(t, passkeySignIn(t, env, ada.a, addr(2)).Expect(t, 200, gen.StatusActionSuccessful))
	mfaPost(env, addr(2), passkeyDelete, map[string]any{"id": ada.synced, "password": password}, ada.own).Expect(t, 200, gen.StatusActionSuccessful)
	spendStrangers(t, env)
	wantStranger(t, env, "the thief's device", addr(30), thief)
	guess(env, addr(2), "").Expect(t, 400, gen.StatusInvalidPassword) // the address's own allowance
}

// The thief's second factor (a phished code) is past its check, its session upgraded and its
// device token being issued, when ada turns the app off: the removal waits for it (the user's
// row), and the device token it committed goes with the session it completed. The window is
// held open by locking known_addresses, which the completion writes after upgrading the session.
func TestDeviceIssuedWhileItsFactorIsRemoved(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newAppAndKey(t, env)
	thief := limitedSignIn(t, env, totpThiefAddress, "ada@example.com", gen.StatusMfaRequired)
	verify := apitest.Request(http.MethodPost, totpVerify, "text/plain",
		apitest.Sensitive(t, map[string]any{"code": nextCode(t, env, ada.secret)}), *thief.Token)
	verify.RemoteAddr = totpThiefAddress + ":1234"
	removal := apitest.Request(http.MethodPost, totpDisable, "text/plain", apitest.Sensitive(t, map[string]any{"password": password}), ada.own)
	removal.RemoteAddr = addr(2) + ":1234"

	res := checkInFlightAtRemoval(t, env, verify, removal, holdRows(t, env, "LOCK TABLE known_addresses IN SHARE MODE"))
	device := deviceToken(t, res.Expect(t, 200, gen.StatusActionSuccessful))
	env.Get(sessionsRead, *thief.Token).Expect(t, 401, gen.StatusInvalidToken)
	spendStrangers(t, env)
	wantStranger(t, env, "the thief", totpThiefAddress, device)
}

// The cap on device tokens counts per credential (limits.MaxDevicesPerCredential): eleven
// sign-ins with the copy of ada's synced passkey, from four addresses, retire the copy's oldest
// token (a stranger's now, from an address of nobody's), and none of hers: her laptop signed in
// with her security key, her phone with her password and the key as its second factor.
func TestDeviceTokensCappedPerCredential(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	laptop := deviceToken(t, passkeySignIn(t, env, ada.b, addr(2)).Expect(t, 200, gen.StatusActionSuccessful))
	limited := *limitedSignIn(t, env, addr(3), "ada@example.com", gen.StatusMfaRequired).Token
	opts := options(t, mfaPost(env, addr(3), passkeyVerifyBegin, map[string]any{}, limited).Expect(t, 200, gen.StatusActionSuccessful))
	phone := deviceToken(t, mfaPost(env, addr(3), passkeyVerifyEnd, map[string]any{"credential": ada.b.Assert(t, opts)}, limited).
		Expect(t, 200, gen.StatusActionSuccessful))
	var copies []string
	for i := range limits.MaxDevicesPerCredential + 1 {
		copies = append(copies, deviceToken(t, passkeySignIn(t, env, ada.a, addr(9+i%4)).Expect(t, 200, gen.StatusActionSuccessful)))
	}
	spendStrangers(t, env)
	guess(env, addr(31), copies[0]).Expect(t, 429, gen.StatusRateLimited)
	wantKnown(t, env, "the copy's newest", copies[len(copies)-1])
	wantKnown(t, env, "ada's laptop", laptop)
	wantKnown(t, env, "ada's phone", phone)
}
