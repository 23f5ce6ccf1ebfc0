package impl_test

// Review 15: the devices and addresses forgotten at a factor's removal (migration 00082,
// limits.ForgetEnded), attacked from the HTTP API by a thief holding a copy of ada's synced
// passkey (and, where said, her password), from its own addresses.

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

// Two removals at once (the synced passkey and the app, from two of ada's sessions) while the
// thief, holding copies of both (the synced passkey; the password and a phished code), signs in
// from four addresses and completes a limited sign-in with the code: every answer is a
// documented one (no deadlock between the removals' and the sign-ins' locks of users, sessions,
// known_addresses and device_tokens, in any order), and whatever device token the thief got is a
// stranger's afterwards; ada's laptop, signed in with her security key, keeps its allowance.
func TestReview15RemovalsRacingSignInsLeaveTheThiefNoDevice(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	setup := env.Login("ada@example.com", password, "planoorder")
	secret, _ := enrolTOTP(t, env, setup)
	synced, key := apitest.NewAuthenticator(passkeyOrigin), apitest.NewAuthenticator(passkeyOrigin)
	syncedID := registerPasskey(t, env, synced, setup).Factors.Passkeys[0].Id
	registerPasskey(t, env, key, setup)
	laptop := deviceToken(t, passkeySignIn(t, env, key, addr(4)).Expect(t, 200, gen.StatusActionSuccessful))
	first := tokenOf(t, passkeySignIn(t, env, key, addr(2)).Expect(t, 200, gen.StatusActionSuccessful))
	second := tokenOf(t, passkeySignIn(t, env, key, addr(3)).Expect(t, 200, gen.StatusActionSuccessful))

	const thieves = 4
	var requests []*http.Request
	for i := range thieves {
		at := addr(9 + i)
		opts := options(t, mfaPost(env, at, passkeySignInBegin, map[string]any{"application": "planoorder"}, "").Expect(t, 200, gen.StatusActionSuccessful))
		requests = append(requests, sentFrom(at, apitest.Request(http.MethodPost, passkeySignInEnd, "text/plain",
			apitest.Sensitive(t, map[string]any{"credential": synced.Assert(t, opts), "application": "planoorder"}), "")))
	}
	limited := *limitedSignIn(t, env, addr(13), "ada@example.com", gen.StatusMfaRequired).Token
	requests = append(requests,
		sentFrom(addr(13), apitest.Request(http.MethodPost, totpVerify, "text/plain", apitest.Sensitive(t, map[string]any{"code": nextCode(t, env, secret)}), limited)),
		sentFrom(addr(2), apitest.Request(http.MethodPost, passkeyDelete, "text/plain", apitest.Sensitive(t, map[string]any{"id": syncedID, "password": password}), first)),
		sentFrom(addr(3), apitest.Request(http.MethodPost, totpDisable, "text/plain", apitest.Sensitive(t, map[string]any{"password": password}), second)))

	answered := make([]*apitest.Response, len(requests))
	got := concurrently(len(requests), func(i int) *apitest.Response {
		answered[i] = env.Do(requests[i])
		return answered[i]
	})
	if n := got.counts["500 internal-error"]; n > 0 || got.counts["200 action-successful"] < 2 {
		t.Fatalf("answers %s: want the two removals done and no internal error", got)
	}
	var devices []string
	for _, res := range answered[:thieves+1] { // the thief's sign-ins and its code
		if res.Code == http.StatusOK {
			devices = append(devices, deviceToken(t, res))
		}
	}
	t.Logf("answers %s; the thief got %d device tokens", got, len(devices))
	spendStrangers(t, env)
	for i, device := range devices {
		wantStranger(t, env, fmt.Sprintf("the thief's device %d", i), addr(30), device)
	}
	wantKnown(t, env, "ada's laptop", laptop)
}

// sentFrom sets the request's client address.
func sentFrom(address string, req *http.Request) *http.Request {
	req.RemoteAddr = address + ":1234"
	return req
}

// The thief's sign-in with its copy of the synced passkey has created its session and is
// issuing its device token (held at known_addresses, which Trust writes first) when ada removes
// the passkey: the removal waits for it (the user's row, which a passkey sign-in holds), then
// ends the session and forgets the device token it committed (a statement after the revocation).
func TestReview15PasskeySignInInFlightAtItsRemovalKeepsNoDevice(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	const thiefAt = "127.0.0.9"
	opts := options(t, mfaPost(env, thiefAt, passkeySignInBegin, map[string]any{"application": "planoorder"}, "").Expect(t, 200, gen.StatusActionSuccessful))
	signIn := sentFrom(thiefAt, apitest.Request(http.MethodPost, passkeySignInEnd, "text/plain",
		apitest.Sensitive(t, map[string]any{"credential": ada.a.Assert(t, opts), "application": "planoorder"}), ""))
	removal := sentFrom(addr(2), apitest.Request(http.MethodPost, passkeyDelete, "text/plain", apitest.Sensitive(t, map[string]any{"id": ada.synced, "password": password}), ada.own))

	res := checkInFlightAtRemoval(t, env, signIn, removal, holdRows(t, env, "LOCK TABLE known_addresses IN SHARE MODE"))
	var thief gen.Session
	res.Expect(t, 200, gen.StatusActionSuccessful).Data(t, &thief)
	if thief.Token == nil || thief.DeviceToken == nil {
		t.Fatalf("the sign-in answered no token or device token: %s", res.Raw)
	}
	env.Get(sessionsRead, *thief.Token).Expect(t, 401, gen.StatusInvalidToken)
	spendStrangers(t, env)
	wantStranger(t, env, "the thief", thiefAt, *thief.DeviceToken)
}
