package impl_test

// Derived trust (README, Second factors): what the sessions on a removed factor made goes with
// it, transitively, and the sessions that stood on that end too, their devices strangers. Each
// test is an attack from the HTTP API by a thief holding a copy of ada's synced passkey, from
// its own addresses, and FAILED while a factor's removal left what its sessions made.

import (
	"net/http"
	"slices"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

// From its session on the copy (aal2, a recent proof) the thief registers a passkey of its own
// and signs in with that from another address: a session that stands on no passkey of ada's. Ada
// removes the synced passkey: the thief's passkey goes with it (mfa.passkey_removed, naming the
// session that registered it), its session on it ends, and its device there is a stranger's;
// her security key and her laptop's allowance stay.
func TestDerivedPasskeyGoesWithThePasskeyItWasRegisteredOn(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	laptop := deviceToken(t, passkeySignIn(t, env, ada.b, addr(2)).Expect(t, 200, gen.StatusActionSuccessful))
	const thiefAt, thiefElsewhere = "127.0.0.9", "127.0.0.10"
	var onCopy gen.Session
	passkeySignIn(t, env, ada.a, thiefAt).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &onCopy)
	own := apitest.NewAuthenticator(passkeyOrigin)
	registered := registerPasskey(t, env, own, *onCopy.Token)
	if len(registered.Factors.Passkeys) != 3 {
		t.Fatalf("the thief's passkey was not registered: %+v", registered.Factors)
	}
	ownID := registered.Factors.Passkeys[2].Id
	var onOwn gen.Session
	passkeySignIn(t, env, own, thiefElsewhere).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &onOwn)
	env.Get(sessionsRead, *onCopy.Token).Expect(t, 200, gen.StatusActionSuccessful)
	mfaPost(env, thiefAt, sessionsDelete, map[string]any{}, *onCopy.Token).Expect(t, 200, gen.StatusActionSuccessful) // it hides

	res := mfaPost(env, addr(2), passkeyDelete, map[string]any{"id": ada.synced, "password": password}, ada.own).
		Expect(t, 200, gen.StatusActionSuccessful)
	env.Get(sessionsRead, *onOwn.Token).Expect(t, 401, gen.StatusInvalidToken)
	if f := factorsOf(t, env, ada.own); len(f.Passkeys) != 1 || f.Passkeys[0].Id != ada.key {
		t.Errorf("after the removal ada has passkeys %+v, want only her security key %d", f.Passkeys, ada.key)
	}
	passkeySignIn(t, env, own, thiefElsewhere).Expect(t, 400, gen.StatusInvalidPasskey)
	var removed []int64
	for _, e := range ofRequest(wholeTrail(t, env), res) {
		if e.Kind == gen.AuditMfaPasskeyRemoved {
			removed = append(removed, *e.Details.PasskeyId)
			if *e.Details.PasskeyId == ownID && (e.Details.SessionId == nil || *e.Details.SessionId != onCopy.Id) {
				t.Errorf("the thief's passkey's removal names session %v, want the one that registered it, %s", e.Details.SessionId, onCopy.Id)
			}
		}
	}
	if slices.Sort(removed); !slices.Equal(removed, []int64{ada.synced, ownID}) {
		t.Errorf("the removal recorded mfa.passkey_removed of %v, want %v", removed, []int64{ada.synced, ownID})
	}
	spendStrangers(t, env)
	wantStranger(t, env, "the thief, on the passkey it registered", thiefElsewhere, *onOwn.DeviceToken)
	wantKnown(t, env, "ada's laptop", laptop)
}

// One step further: on its own passkey (registered from the copy's session) the thief signs in
// again and mints recovery codes, then signs in with ada's password and one of them. Ada removes
// the synced passkey: everything down the chain goes (the passkey, the codes), every session on
// it ends, and each of its devices is a stranger's.
func TestDerivedTrustFollowsTheChain(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	const thiefAt, second, third = "127.0.0.9", "127.0.0.10", "127.0.0.11"
	onCopy := tokenOf(t, passkeySignIn(t, env, ada.a, thiefAt).Expect(t, 200, gen.StatusActionSuccessful))
	own := apitest.NewAuthenticator(passkeyOrigin)
	registerPasskey(t, env, own, onCopy)
	var onOwn gen.Session
	passkeySignIn(t, env, own, second).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &onOwn)
	var minted gen.RecoveryCodes
	mfaPost(env, second, recoveryCodesCreate, map[string]any{}, *onOwn.Token).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &minted)
	limited := *limitedSignIn(t, env, third, "ada@example.com", gen.StatusMfaRequired).Token
	onCode := deviceToken(t, mfaPost(env, third, recoveryCodeVerify, map[string]any{"code": minted.Codes[0]}, limited).
		Expect(t, 200, gen.StatusActionSuccessful))

	mfaPost(env, addr(2), passkeyDelete, map[string]any{"id": ada.synced, "password": password}, ada.own).Expect(t, 200, gen.StatusActionSuccessful)
	for _, token := range []string{onCopy, *onOwn.Token, limited} {
		env.Get(sessionsRead, token).Expect(t, 401, gen.StatusInvalidToken)
	}
	if f := factorsOf(t, env, ada.own); len(f.Passkeys) != 1 || f.RecoveryCodes.Remaining != 0 {
		t.Errorf("after the removal ada has %d passkeys and %d recovery codes, want 1 and 0", len(f.Passkeys), f.RecoveryCodes.Remaining)
	}
	spendStrangers(t, env)
	wantStranger(t, env, "the thief, on its own passkey", second, *onOwn.DeviceToken)
	wantStranger(t, env, "the thief, on a code of its own passkey's session", third, onCode)
}

// What ada's own sessions made stays when she removes a factor they did not stand on: her codes,
// minted from her security key's session, survive the removal of the synced passkey.
func TestDerivedTrustLeavesWhatOtherFactorsMade(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	onKey := tokenOf(t, passkeySignIn(t, env, ada.b, addr(2)).Expect(t, 200, gen.StatusActionSuccessful))
	mfaPost(env, addr(2), recoveryCodesCreate, map[string]any{}, onKey).Expect(t, 200, gen.StatusActionSuccessful)
	passkeySignIn(t, env, ada.a, "127.0.0.9").Expect(t, 200, gen.StatusActionSuccessful)

	mfaPost(env, addr(2), passkeyDelete, map[string]any{"id": ada.synced, "password": password}, onKey).Expect(t, 200, gen.StatusActionSuccessful)
	if f := factorsOf(t, env, onKey); len(f.Passkeys) != 1 || f.RecoveryCodes.Remaining != 10 {
		t.Errorf("after the removal ada has %d passkeys and %d recovery codes, want 1 and 10", len(f.Passkeys), f.RecoveryCodes.Remaining)
	}
}

// The thief's sign-in with a recovery code minted on the copy's session is past its code, its
// session upgraded and its device token being issued (held at known_addresses, which Trust
// writes), when ada removes the synced passkey from her own address: the removal waits for it
// (the user's row), then finds the session it upgraded (derived_from), ends it and forgets the
// device token it committed.
func TestDerivedRecoveryCodeSignInInFlightAtTheRemovalKeepsNoDevice(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	const thiefAt = "127.0.0.9"
	onCopy := tokenOf(t, passkeySignIn(t, env, ada.a, thiefAt).Expect(t, 200, gen.StatusActionSuccessful))
	var minted gen.RecoveryCodes
	mfaPost(env, thiefAt, recoveryCodesCreate, map[string]any{}, onCopy).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &minted)
	limited := *limitedSignIn(t, env, "127.0.0.10", "ada@example.com", gen.StatusMfaRequired).Token
	verify := sentFrom("127.0.0.10", apitest.Request(http.MethodPost, recoveryCodeVerify, "text/plain",
		apitest.Sensitive(t, map[string]any{"code": minted.Codes[0]}), limited))
	removal := sentFrom(addr(2), apitest.Request(http.MethodPost, passkeyDelete, "text/plain",
		apitest.Sensitive(t, map[string]any{"id": ada.synced, "password": password}), ada.own))

	res := checkInFlightAtRemoval(t, env, verify, removal, holdRows(t, env, "LOCK TABLE known_addresses IN SHARE MODE"))
	device := deviceToken(t, res.Expect(t, 200, gen.StatusActionSuccessful))
	env.Get(sessionsRead, limited).Expect(t, 401, gen.StatusInvalidToken)
	spendStrangers(t, env)
	wantStranger(t, env, "the thief, on a code in flight", "127.0.0.10", device)
}

// From its session on the copy the thief sets up an authenticator app of its own (ada had none),
// then signs in with her password and a code of it. Ada removes the synced passkey: the app goes
// with it (mfa.totp_disabled, naming the session that set it up), the code's session ends and
// its device is a stranger's.
func TestDerivedAppGoesWithThePasskeyItWasSetUpOn(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	const thiefAt, second = "127.0.0.9", "127.0.0.10"
	var onCopy gen.Session
	passkeySignIn(t, env, ada.a, thiefAt).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &onCopy)
	secret, _ := enrolTOTP(t, env, *onCopy.Token)
	limited := *limitedSignIn(t, env, second, "ada@example.com", gen.StatusMfaRequired).Token
	onApp := deviceToken(t, mfaPost(env, second, totpVerify, map[string]any{"code": nextCode(t, env, secret)}, limited).
		Expect(t, 200, gen.StatusActionSuccessful))

	res := mfaPost(env, addr(2), passkeyDelete, map[string]any{"id": ada.synced, "password": password}, ada.own).
		Expect(t, 200, gen.StatusActionSuccessful)
	env.Get(sessionsRead, limited).Expect(t, 401, gen.StatusInvalidToken)
	if f := factorsOf(t, env, ada.own); f.Totp.Enabled || len(f.Passkeys) != 1 {
		t.Errorf("after the removal ada's app is on (%t) and she has %d passkeys, want off and 1", f.Totp.Enabled, len(f.Passkeys))
	}
	disabled := false
	for _, e := range ofRequest(wholeTrail(t, env), res) {
		disabled = disabled || e.Kind == gen.AuditMfaTotpDisabled && e.Details.SessionId != nil && *e.Details.SessionId == onCopy.Id
	}
	if !disabled {
		t.Error("the removal recorded no mfa.totp_disabled naming the session that set the app up")
	}
	spendStrangers(t, env)
	wantStranger(t, env, "the thief, on a code of its own app", second, onApp)
}

// The thief has ada's password and a phished code of her app: from that session it registers a
// passkey of its own and signs in with it elsewhere. Ada turns the app off: the thief's passkey
// goes with it, its session on it ends, its device is a stranger's. What she set up from the
// session that enrolled the app (her security key, her recovery codes) stays: that session made
// the app rather than stood on it.
func TestDerivedPasskeyGoesWithTheAppItWasRegisteredOn(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newAppAndKey(t, env)
	const elsewhere = "127.0.0.10"
	onCode := withCode(t, env, totpThiefAddress, ada.secret)
	own := apitest.NewAuthenticator(passkeyOrigin)
	registerPasskey(t, env, own, onCode)
	var onOwn gen.Session
	passkeySignIn(t, env, own, elsewhere).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &onOwn)

	mfaPost(env, addr(2), totpDisable, map[string]any{"password": password}, ada.own).Expect(t, 200, gen.StatusActionSuccessful)
	env.Get(sessionsRead, *onOwn.Token).Expect(t, 401, gen.StatusInvalidToken)
	if f := factorsOf(t, env, ada.own); len(f.Passkeys) != 1 || f.RecoveryCodes.Remaining != 10 {
		t.Errorf("after turning the app off ada has %d passkeys and %d recovery codes, want 1 and 10", len(f.Passkeys), f.RecoveryCodes.Remaining)
	}
	spendStrangers(t, env)
	wantStranger(t, env, "the thief, on the passkey it registered with a phished code", elsewhere, *onOwn.DeviceToken)
}
