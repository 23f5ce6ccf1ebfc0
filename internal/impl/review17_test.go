package impl_test

// Review 17 (derived trust, the password for a passkey's removal): attacks from the HTTP API
// that FAILED on main (09b149f).

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
)

// A thief holding only a copy of ada's synced passkey cannot remove her security key without
// her password; so it guesses the password where a session proves it again (mfa/passkey_delete,
// users/password_update). Each session had an allowance of its own (10 per 15 minutes), and a
// passkey signs in 30 times per window: 300 guesses per window from one address, where strangers
// get 10 at the account. The sessions that never proved the password share one allowance: the
// thief's guesses, from three sessions and addresses, are evaluated at most 10 times; ada's
// session that proved her password keeps its own and removes the copy.
func TestReview17SessionsOnACopiedPasskeyShareOnePasswordAllowance(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	evaluated := 0
	for i := range 3 {
		at := addr(9 + i)
		thief := tokenOf(t, passkeySignIn(t, env, ada.a, at).Expect(t, 200, gen.StatusActionSuccessful))
		for range 6 {
			for _, res := range []*apitest.Response{
				mfaPost(env, at, passkeyDelete, map[string]any{"id": ada.key, "password": "a guess"}, thief),
				mfaPost(env, at, passwordUpdate, map[string]any{"current_password": "a guess", "password": "another long passphrase 42"}, thief),
			} {
				switch {
				case res.Code == http.StatusBadRequest && res.Status() == gen.StatusInvalidPassword:
					evaluated++
				case res.Code != http.StatusTooManyRequests || res.Status() != gen.StatusRateLimited:
					t.Fatalf("a guess answered %d %s, want invalid-password or rate-limited", res.Code, res.Status())
				}
			}
		}
	}
	if evaluated > 10 {
		t.Errorf("%d guesses at ada's password from sessions on a copy of her passkey were evaluated, want at most 10", evaluated)
	}
	if f := factorsOf(t, env, ada.own); len(f.Passkeys) != 2 {
		t.Fatalf("ada has %d passkeys, want 2", len(f.Passkeys))
	}
	mfaPost(env, addr(2), passkeyDelete, map[string]any{"id": ada.synced, "password": password}, ada.own).Expect(t, 200, gen.StatusActionSuccessful)
}

// The same for codes of the app: a thief holding only a copy of ada's passkey guesses codes where
// a complete session proves the app again (mfa/totp_disable, which turns her app off with one
// right code). Each of its sessions had 5 codes per hour of its own; the sessions that proved no
// code share 5, whatever their number and addresses.
func TestReview17SessionsOnACopiedPasskeyShareOneCodeAllowance(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newAppAndKey(t, env)
	evaluated := 0
	for i := range 3 {
		at := addr(9 + i)
		thief := tokenOf(t, passkeySignIn(t, env, ada.key, at).Expect(t, 200, gen.StatusActionSuccessful))
		for range 6 {
			res := mfaPost(env, at, totpDisable, map[string]any{"code": notACode(t, env, ada.secret)}, thief)
			switch {
			case res.Code == http.StatusBadRequest && res.Status() == gen.StatusInvalidCode:
				evaluated++
			case res.Code != http.StatusTooManyRequests || res.Status() != gen.StatusRateLimited:
				t.Fatalf("a guess answered %d %s, want invalid-code or rate-limited", res.Code, res.Status())
			}
		}
	}
	if evaluated > 5 {
		t.Errorf("%d guesses at ada's app from sessions on a copy of her passkey were evaluated, want at most 5", evaluated)
	}
	if f := factorsOf(t, env, ada.own); !f.Totp.Enabled {
		t.Fatal("ada's app is off")
	}
}

// notACode is a code that is not one of the app of secret around the harness's clock.
func notACode(t *testing.T, env *apitest.Env, secret string) string {
	t.Helper()
	near := map[string]bool{}
	for steps := int64(-2); steps <= 2; steps++ {
		near[totpCode(t, env, secret, steps)] = true
	}
	for _, c := range []string{"000000", "111111", "222222"} {
		if !near[c] {
			return c
		}
	}
	t.Fatal("no wrong code")
	return ""
}

// A thief holding only a copy of ada's synced passkey registers nine passkeys of its own from one
// session on it (one notice email), and signs in ten times with each and with the copy, 30 per
// window: a hundred device tokens in under an hour, ten per credential. The oldest beyond
// MaxDevicesPerUser went whatever their credential: her laptop's (her security key's sign-in)
// among them. Beyond the total, the oldest of the credential holding the most goes; the tokens
// from before 00083 (credential ”, fifteen of her devices that did not sign in since) are one
// device each, not one credential that holds the most.
func TestReview17ManyRegisteredPasskeysDoNotEvictTheOwnersDevice(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	legacy := legacyDevices(t, env, 15)
	laptop := deviceToken(t, passkeySignIn(t, env, ada.b, addr(2)).Expect(t, 200, gen.StatusActionSuccessful))
	onCopy := tokenOf(t, passkeySignIn(t, env, ada.a, addr(9)).Expect(t, 200, gen.StatusActionSuccessful))
	keys := []*apitest.Authenticator{ada.a}
	for range 9 {
		own := apitest.NewAuthenticator(passkeyOrigin)
		registerPasskey(t, env, own, onCopy)
		keys = append(keys, own)
	}
	signIns := 0
	for i, key := range keys {
		for range 10 {
			if signIns++; signIns%25 == 0 {
				env.Clock.Advance(15 * time.Minute) // the account's passkey sign-ins per window
			}
			passkeySignIn(t, env, key, addr(10+i)).Expect(t, 200, gen.StatusActionSuccessful)
		}
	}
	spendStrangers(t, env)
	wantKnown(t, env, "ada's laptop", laptop)
	wantKnown(t, env, "ada's old phone", legacy)
}

// The same thief spreads its sign-ins instead: it registers passkeys of its own from its session
// on the copy until refused, then signs in with each in turn, 100 sign-ins: with a passkey per
// sign-in every credential held one token, and the oldest of those (hers) went. A user holds
// at most MaxPasskeysPerUser passkeys (invalid-param beyond), so a hundred tokens fill the
// thief's buckets above her one per device.
func TestReview17PasskeysPerSignInDoNotEvictTheOwnersDevice(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	laptop := deviceToken(t, passkeySignIn(t, env, ada.b, addr(2)).Expect(t, 200, gen.StatusActionSuccessful))
	onCopy := tokenOf(t, passkeySignIn(t, env, ada.a, addr(9)).Expect(t, 200, gen.StatusActionSuccessful))
	keys := []*apitest.Authenticator{ada.a}
	for len(keys) < 100 {
		own := apitest.NewAuthenticator(passkeyOrigin)
		res := mfaPost(env, "", passkeyRegisterBegin, map[string]any{}, onCopy)
		if res.Code != http.StatusOK {
			res.Expect(t, 400, gen.StatusInvalidParam)
			break
		}
		res = mfaPost(env, "", passkeyRegisterEnd, map[string]any{"credential": own.Register(t, options(t, res))}, onCopy)
		if res.Code != http.StatusOK {
			res.Expect(t, 400, gen.StatusInvalidParam)
			break
		}
		keys = append(keys, own)
	}
	if f := factorsOf(t, env, ada.own); len(f.Passkeys) > impl.MaxPasskeysPerUser {
		t.Errorf("ada holds %d passkeys, want at most %d", len(f.Passkeys), impl.MaxPasskeysPerUser)
	}
	// From addresses other than those of spendStrangers and wantKnown: an address a passkey
	// sign-in made known shares one allowance for password guesses with every other such caller
	// (review 19), her laptop's among them, so spending the strangers' share from there would
	// spend hers too, whatever became of her device token.
	for i := range 100 {
		if (i+1)%25 == 0 {
			env.Clock.Advance(15 * time.Minute) // the account's passkey sign-ins per window
		}
		passkeySignIn(t, env, keys[i%len(keys)], addr(110+i%100)).Expect(t, 200, gen.StatusActionSuccessful)
	}
	spendStrangers(t, env)
	wantKnown(t, env, "ada's laptop", laptop)
}

// legacyDevices gives ada n device tokens from before migration 00083 (credential ”), as the
// devices she signed in on then hold them, and returns the oldest.
func legacyDevices(t *testing.T, env *apitest.Env, n int) string {
	t.Helper()
	var oldest string
	for i := range n {
		token, hash := auth.NewToken(auth.DevicePrefix)
		if i == 0 {
			oldest = token
		}
		if _, err := env.Pool.Exec(context.Background(), `INSERT INTO device_tokens (token_hash, user_id, created_at, expires_at)
			SELECT $1, id, $2, $3 FROM users WHERE email = 'ada@example.com'`, hash, env.Clock.Now(), env.Clock.Now().Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	return oldest
}
