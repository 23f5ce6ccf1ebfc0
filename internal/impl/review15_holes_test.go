package impl_test

// Review 15, the holes found (these FAIL on main; design questions for the lead, see the report):
// a copied passkey alone makes the owner's devices strangers by removing her other passkey (it
// passes on f84f17d, before 00082), as twenty sign-ins with it already did (fails on f84f17d
// too); recovery codes minted from a session on the copied passkey keep the thief a device
// after the passkey's removal (fails on f84f17d too).

import (
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

// A thief holding only a copy of ada's synced passkey (no password, no code) signs in with it
// (aal2, a recent proof) and removes her OTHER passkey, her security key (not her last factor,
// so no password was asked). Her laptop signed in with that key: before 00082 its device token
// kept its own allowance; then the thief made it a stranger's and could throttle her out. Now
// removing a passkey takes the password of a user who has one: the thief's removal is refused
// (missing-param on password), and her key and her laptop's allowance stay.
func TestReview15ACopiedPasskeyAloneCannotMakeTheOwnersDeviceAStranger(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	laptop := deviceToken(t, passkeySignIn(t, env, ada.b, addr(2)).Expect(t, 200, gen.StatusActionSuccessful))
	const thiefAt = "127.0.0.9"
	thief := tokenOf(t, passkeySignIn(t, env, ada.a, thiefAt).Expect(t, 200, gen.StatusActionSuccessful))
	res := mfaPost(env, thiefAt, passkeyDelete, map[string]any{"id": ada.key}, thief).Expect(t, 400, gen.StatusMissingParam)
	if len(res.Envelope.Errors) != 1 || res.Envelope.Errors[0].Param != "password" {
		t.Errorf("the thief's removal answered %s, want missing-param on password", res.Raw)
	}
	if f := factorsOf(t, env, ada.own); len(f.Passkeys) != 2 {
		t.Errorf("ada has %d passkeys left, want 2", len(f.Passkeys))
	}
	spendStrangers(t, env)
	wantKnown(t, env, "ada's laptop", laptop)
}

// Before 00082 too, the same thief made her laptop a stranger without removing anything: twenty
// sign-ins with the copy (passkey sign-ins have an allowance of their own, 30 per 15 minutes)
// issue twenty device tokens, and CreateDeviceToken retires the user's oldest beyond
// MaxDevicesPerUser, hers among them.
func TestReview15TwentySignInsOfACopiedPasskeyEvictTheOwnersDevice(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	laptop := deviceToken(t, passkeySignIn(t, env, ada.b, addr(2)).Expect(t, 200, gen.StatusActionSuccessful))
	for range 20 {
		passkeySignIn(t, env, ada.a, "127.0.0.9").Expect(t, 200, gen.StatusActionSuccessful)
	}
	spendStrangers(t, env)
	wantKnown(t, env, "ada's laptop", laptop)
}

// The thief holds ada's password and a copy of her synced passkey. From its passkey session
// (aal2, a recent proof) it makes itself recovery codes (ada is told, and her codes are
// replaced), then signs in with the password and one of them: a session that stands on no
// passkey, with a device token of its own. Ada removes the synced passkey, the factor all of
// this came from. The thief's device must be a stranger's, its recovery-code session ended, and
// the codes it minted gone (derived trust: they were made by a session on the passkey).
func TestReview15RecoveryCodesMintedOnARemovedPasskeyKeepNoDevice(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	const thiefAt = "127.0.0.9"
	onPasskey := tokenOf(t, passkeySignIn(t, env, ada.a, thiefAt).Expect(t, 200, gen.StatusActionSuccessful))
	var minted gen.RecoveryCodes
	mfaPost(env, thiefAt, recoveryCodesCreate, map[string]any{}, onPasskey).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &minted)
	limited := *limitedSignIn(t, env, thiefAt, "ada@example.com", gen.StatusMfaRequired).Token
	thief := deviceToken(t, mfaPost(env, thiefAt, recoveryCodeVerify, map[string]any{"code": minted.Codes[0]}, limited).
		Expect(t, 200, gen.StatusActionSuccessful))

	mfaPost(env, addr(2), passkeyDelete, map[string]any{"id": ada.synced, "password": password}, ada.own).Expect(t, 200, gen.StatusActionSuccessful)
	env.Get(sessionsRead, limited).Expect(t, 401, gen.StatusInvalidToken)
	if f := factorsOf(t, env, ada.own); f.RecoveryCodes.Remaining != 0 || len(f.Passkeys) != 1 {
		t.Errorf("after the removal ada has %d recovery codes and %d passkeys, want 0 and 1", f.RecoveryCodes.Remaining, len(f.Passkeys))
	}
	again := *limitedSignIn(t, env, thiefAt, "ada@example.com", gen.StatusMfaRequired).Token
	mfaPost(env, thiefAt, recoveryCodeVerify, map[string]any{"code": minted.Codes[1]}, again).Expect(t, 400, gen.StatusInvalidCode)
	spendStrangers(t, env)
	wantStranger(t, env, "the thief, on a recovery code it minted with the passkey", thiefAt, thief)
}
