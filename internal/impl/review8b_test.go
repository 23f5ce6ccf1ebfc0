package impl_test

// Review 8, part b: abuse, recovery and second factors, attacked from the HTTP API. Each test
// is an attack that should be refused, and FAILS while the hole is open. The comment above
// each test says what the attacker does and why the answer is wrong.

import (
	"net/http"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
)

// Finding 1. Whoever registered someone else's email (the account is not proven yet) floods
// that mailbox with sign-in emails from one address, far beyond every bound of links.
//
// sessions/magic_link_request pays for each email with limits.Attempt(Link): the allowance of
// the caller as the account knows it. Until the email is proven, the callers the account knows
// are whoever signed in with the password chosen at registration (the squatter), not the
// mailbox's owner; takeCode knows it (codeAttempt: "until the email is proven, every try is a
// stranger's"), but the links themselves do not. The squatter signs in a few times from one
// address (each sign-in answers a fresh device token; MaxDevicesPerUser keeps 20 of them), and
// each token is an allowance of its own (PerKnown), which is not even counted against the
// address (a device holder never pays PerAddress). With the defaults that is 20 × 5 = 100
// emails every 15 minutes, from one address, into a mailbox the squatter does not own,
// against 5 for all strangers together and 20 for one address. For an unproven account every
// caller should pay for link emails as a stranger does (as the code's tries do).
func TestReview8SquatterFloodsAnUnprovenMailboxWithLinks(t *testing.T) {
	t.Parallel()
	const perAccount, perAddress = 2, 4
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.Links = limits.Throttle{PerAccount: perAccount, PerKnown: perAccount, PerAddress: perAddress, Window: 15 * time.Minute}
	}))
	// The squatter registered victim's email with a password of its own; victim never proved it.
	env.UnverifiedUser("victim@example.com", password, "client")
	var devices []string
	for range 3 {
		res := signIn(env, thief, "victim@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		devices = append(devices, deviceToken(t, res))
	}
	sent := 0
	for _, device := range append(devices, "") {
		for range perAccount + 1 {
			res := postFrom(env, thief, magicLinkRequest, map[string]any{
				"email": "victim@example.com", "application": "planoorder", "device_token": device}, "")
			if res.Code != http.StatusOK {
				res.Expect(t, 429, gen.StatusRateLimited)
				break
			}
			sent++
		}
	}
	if emails := countRows(t, env, "sent_emails"); sent > perAccount {
		t.Errorf("the squatter of an unproven account, from one address, had %d sign-in emails (%d recorded) sent to a mailbox "+
			"it does not own in one window: strangers together may send %d, one address %d", sent, emails, perAccount, perAddress)
	}
}

// Finding 1, for resets. The same squatter floods the mailbox with password reset emails: the
// request answers alike whatever happens, and sendReset pays with limits.AccountAllows, the
// allowance of the caller as the unproven account knows it (each device token its own).
func TestReview8SquatterFloodsAnUnprovenMailboxWithResets(t *testing.T) {
	t.Parallel()
	const perAccount, perAddress = 2, 20
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.Resets = limits.Throttle{PerAccount: perAccount, PerKnown: perAccount, PerAddress: perAddress, Window: 15 * time.Minute}
	}))
	env.UnverifiedUser("victim@example.com", password, "client")
	var devices []string
	for range 3 {
		res := signIn(env, thief, "victim@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		devices = append(devices, deviceToken(t, res))
	}
	for _, device := range append(devices, "") {
		for range perAccount + 1 {
			mfaPost(env, thief, resetRequest, map[string]any{"email": "victim@example.com", "application": "planoorder",
				"device_token": device}, "").Expect(t, 200, gen.StatusActionSuccessful)
		}
	}
	env.Server.Wait()
	if sent := countRows(t, env, "sent_emails"); sent > perAccount {
		t.Errorf("the squatter of an unproven account, from one address, had %d password reset emails sent to a mailbox it "+
			"does not own in one window: strangers together may have %d", sent, perAccount)
	}
}

// wrongTOTPCode is a six-digit code that is none of the app's codes around the harness's clock.
func wrongTOTPCode(t *testing.T, env *apitest.Env, secret string) string {
	t.Helper()
	taken := map[string]bool{}
	for s := int64(-2); s <= 2; s++ {
		taken[totpCode(t, env, secret, s)] = true
	}
	for _, c := range []string{"000000", "111111", "222222", "333333", "444444", "555555"} {
		if !taken[c] {
			return c
		}
	}
	t.Fatal("no wrong code")
	return ""
}

// Finding 2. Whoever holds the password (not the app) keeps the owner's own complete session
// from proving her again with her app, and so from changing the leaked password, from any
// network her account does not know yet.
//
// Review 5 (finding 2) made a session's own proofs of the password pay "from that session's
// allowance alone: strangers cannot spend it" (reprovePassword, users/password_update with
// limits.Client.Session). The same proof with a second factor was left out: mfa/totp_verify
// (and recovery_code_verify, passkey_verify_finish, totp_disable with a code) build their
// limits.Client from the address and device_token only, so a code from ada's complete (aal2)
// session on a new network is a stranger's guess. The thief signs in with the password (each
// answer mfa-required) and sends wrong codes: 5 an hour use up the strangers' share. Ada, on her
// aal2 session from a new address (the /security page never sends a device token), sees that her
// session's proof is stale (users/password_update answers permission-denied after 30 minutes),
// so she proves herself again with a current code, as the answer tells her to: rate-limited,
// hour after hour. Signing in again does not help (the new session is a stranger's too). A
// complete session of the account is a caller the account knows: its codes should pay from its
// own allowance, as its passwords do.
func TestReview8PasswordHolderKeepsTheOwnersSessionFromProvingItsApp(t *testing.T) {
	t.Parallel()
	const allowance = 3
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SecondFactors = limits.Throttle{PerAccount: allowance, PerKnown: allowance, PerAddress: 50, Window: time.Hour}
	}))
	env.User("ada@example.com", password, "client")
	secret, _ := enrolTOTP(t, env, env.Login("ada@example.com", password, "planoorder"))
	ada := aal2Session(t, env, addr(2), "ada@example.com", secret, 1)
	env.Clock.Advance(impl.RecentProof + time.Minute) // her session's proof is stale now

	// The thief has the password, not the app.
	limited := limitedSignIn(t, env, thief, "ada@example.com", gen.StatusMfaRequired)
	for range allowance {
		mfaPost(env, thief, totpVerify, map[string]any{"code": wrongTOTPCode(t, env, secret)}, *limited.Token).
			Expect(t, 400, gen.StatusInvalidCode)
	}
	// Ada, on her phone's new network, wants to change the password she fears leaked.
	mfaPost(env, addr(3), passwordUpdate, map[string]any{"current_password": password, "password": newPassword}, ada).
		Expect(t, 403, gen.StatusPermissionDenied)
	res := mfaPost(env, addr(3), totpVerify, map[string]any{"code": totpCode(t, env, secret, 0)}, ada)
	if res.Code == http.StatusTooManyRequests {
		t.Fatalf("%d wrong codes of whoever holds the password keep ada's own complete (aal2) session from proving her again "+
			"with her app from an address her account does not know: %d %s", allowance, res.Code, res.Status())
	}
	res.Expect(t, 200, gen.StatusActionSuccessful)
	mfaPost(env, addr(3), passwordUpdate, map[string]any{"current_password": password, "password": newPassword}, ada).
		Expect(t, 200, gen.StatusActionSuccessful)
}

// Finding 3. Whoever holds the password keeps the owner, who lost her phone, from using her
// recovery codes (and her passkey as a second factor) on any device or network her account does
// not know: its wrong TOTP guesses spend the one allowance that every second factor shares.
//
// limits.SecondFactor counts TOTP codes, recovery codes and passkey checks alike, and the
// strangers' share (5 an hour) is spent by the thief's wrong 6-digit codes from its
// mfa-required sessions. A recovery code has about 79 random bits and a passkey assertion cannot be
// guessed at all: neither needs the bound that makes guessing 10^6 codes hopeless, but each is
// refused once the thief's guesses used it up. Ada lost the phone with her app, signs in on a
// new one with her password and types one of her recovery codes: rate-limited, every hour the
// thief keeps guessing, so she cannot get in to change the password it holds. Review 5 gave
// the proofs the password does not give (passkeys, Google) sign-in allowances of their own for
// this reason; the proofs that cannot be guessed should not pay from the TOTP guesses' share.
func TestReview8PasswordHoldersTOTPGuessesLockTheOwnerOutOfHerRecoveryCodes(t *testing.T) {
	t.Parallel()
	const allowance = 3
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SecondFactors = limits.Throttle{PerAccount: allowance, PerKnown: allowance, PerAddress: 50, Window: time.Hour}
	}))
	env.User("ada@example.com", password, "client")
	secret, codes := enrolTOTP(t, env, env.Login("ada@example.com", password, "planoorder"))

	limited := limitedSignIn(t, env, thief, "ada@example.com", gen.StatusMfaRequired)
	for range allowance {
		mfaPost(env, thief, totpVerify, map[string]any{"code": wrongTOTPCode(t, env, secret)}, *limited.Token).
			Expect(t, 400, gen.StatusInvalidCode)
	}
	// Ada, on a new phone and network, with her password and a recovery code.
	own := limitedSignIn(t, env, addr(3), "ada@example.com", gen.StatusMfaRequired)
	res := mfaPost(env, addr(3), recoveryCodeVerify, map[string]any{"code": codes[0]}, *own.Token)
	if res.Code == http.StatusTooManyRequests {
		t.Fatalf("%d wrong TOTP codes of whoever holds the password keep ada's recovery code out: %d %s",
			allowance, res.Code, res.Status())
	}
	res.Expect(t, 200, gen.StatusActionSuccessful)
}

// Finding 3, again with the thief's wrong recovery codes: spending them from several addresses
// (with TOTP guesses besides) must not keep the owner's recovery code out either, since a
// stranger's unguessable proofs are paid from its address's allowance only. That allowance
// still bounds each address: past it, the thief's own address is refused.
func TestReview8WrongRecoveryCodesOfThePasswordHolderLeaveTheOwnersAlone(t *testing.T) {
	t.Parallel()
	const allowance, perAddress = 2, 4
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SecondFactors = limits.Throttle{PerAccount: allowance, PerKnown: allowance, PerAddress: perAddress, Window: time.Hour}
	}))
	env.User("ada@example.com", password, "client")
	secret, codes := enrolTOTP(t, env, env.Login("ada@example.com", password, "planoorder"))
	const wrongCode = "ABCDE-FGHJK-LMNPQ-RSTUV"
	guesser := limitedSignIn(t, env, thief, "ada@example.com", gen.StatusMfaRequired)
	for range allowance { // the strangers' share at the account, spent
		mfaPost(env, thief, totpVerify, map[string]any{"code": wrongTOTPCode(t, env, secret)}, *guesser.Token).
			Expect(t, 400, gen.StatusInvalidCode)
	}
	for n := 60; n < 63; n++ { // and wrong recovery codes from three addresses of the thief's
		limited := limitedSignIn(t, env, addr(n), "ada@example.com", gen.StatusMfaRequired)
		for range perAddress {
			mfaPost(env, addr(n), recoveryCodeVerify, map[string]any{"code": wrongCode}, *limited.Token).
				Expect(t, 400, gen.StatusInvalidCode)
		}
		mfaPost(env, addr(n), recoveryCodeVerify, map[string]any{"code": wrongCode}, *limited.Token).
			Expect(t, 429, gen.StatusRateLimited)
	}
	own := limitedSignIn(t, env, addr(3), "ada@example.com", gen.StatusMfaRequired)
	mfaPost(env, addr(3), recoveryCodeVerify, map[string]any{"code": codes[0]}, *own.Token).
		Expect(t, 200, gen.StatusActionSuccessful)
}
