package impl_test

// A hostile review of review 5's fixes (successful sign-ins per caller and for all password
// callers together, Google's and passkeys' allowances of their own, a session's own allowance
// for its password proofs, password changes taking a recent proof, links ended at the first
// proof and at a password change, invitations that set no password of an existing account):
// each test is an attack from the HTTP API that should be refused, and FAILS while the hole is
// open. The comment above each test says what the attacker does and why the answer is wrong.

import (
	"net/http"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
)

// Finding 1. Whoever holds the password of an account without a second factor keeps its owner
// from changing it, from her own complete and fresh session: the bound for all callers together
// (PerAll) is spent by the thief's sign-ins, and users/password_update pays from it too.
//
// Review 5's fix made a password change pay "from the session's own allowance, which strangers
// cannot spend" (openapi users/password_update; README: "strangers who spent theirs cannot keep
// the owner from changing it"), and added PerAll "for every caller together" against a caller
// that presents each new device token it is given. But limits.SignedIn takes both rules for a
// session caller (tryPassword with Client.Session), so the session's own allowance is no
// allowance of its own: the thief signs in with the password, chaining the device tokens it is
// answered (each sign-in a success, each a fresh device), until PerAll is used up; then ada,
// who just signed in and wants to change the password she suspects leaked (the one thing that
// revokes the thief's sessions and forgets its devices), is answered rate-limited, window after
// window, for as long as the thief keeps signing in (PerAll / window: 120 per 15 minutes by
// default, 1 every 7.5 seconds). Her password sign-ins are refused the same way. A change from a
// complete session that proved its user recently should pay from that session's allowance
// alone (not from PerAll), as its documentation says.
func TestReview6PasswordHolderSpendsTheBoundOfAllAndBlocksTheOwnersChange(t *testing.T) {
	t.Parallel()
	const allowance = 3
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SignedIn = limits.SuccessQuota{PerAccount: allowance, PerAll: 3 * allowance, Window: 15 * time.Minute}
	}))
	env.User("ada@example.com", password, "client")
	var own gen.Session
	signIn(env, addr(2), "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful).Data(t, &own)

	device, spent := "", 0
	for range 4 * allowance {
		params := map[string]any{"email": "ada@example.com", "password": password, "application": "planoorder"}
		if device != "" {
			params["device_token"] = device
		}
		res := postFrom(env, thief, sessionsCreate, params, "")
		if res.Code != http.StatusOK {
			break
		}
		spent++
		device = deviceToken(t, res)
	}
	res := mfaPost(env, addr(2), passwordUpdate, map[string]any{"current_password": password, "password": newPassword}, *own.Token)
	if res.Code == http.StatusTooManyRequests {
		t.Errorf("%d sign-ins of whoever holds the password spent the bound of all callers together: ada's own fresh "+
			"session (from her own address) cannot change the password: %d %s", spent, res.Code, res.Status())
	}
	res.Expect(t, 200, gen.StatusActionSuccessful)
}

// Finding 2. Any holder of one of the owner's Google ID tokens keeps her Google sign-ins out
// for the token's whole life (an hour), though it can complete none of them.
//
// Review 5's fix gave Google sign-ins "an allowance of their own per account", so that "strangers
// who spent theirs ... never stand between the owner's passkey or Google account and the
// account" (limits.SignedInWith). But that allowance is one per account, spent by whoever
// presents any valid ID token of hers, and an ID token is "reusable until it expires"
// (SessionsGoogle). Who holds one: every application of the suite she signs in to with Google
// (its front end receives the token and posts it; PlanoAuth accepts every trusted client id's
// audience, for every application), its servers' logs, a proxy. Ada has an app (TOTP): each
// replay answers mfa-required with a limited session, which spends one of the account's Google
// successes (settle keeps it: the answer carries a session). Replayed PerAccount times per
// window from any addresses, her own fresh token, from her own device, answers rate-limited,
// for every window until the leaked token expires (and again with the next one leaked). A
// Google success should be counted per token (a token opens one session at most, or pays from
// an allowance of its own), so that a replayed token spends nothing of the owner's new ones.
func TestReview6ReplayedGoogleTokenKeepsTheOwnersGoogleSignInOut(t *testing.T) {
	t.Parallel()
	const allowance = 3
	iss := newTestIssuer(t)
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SignedIn = limits.SuccessQuota{PerAccount: allowance, PerAll: 4 * allowance, Window: 15 * time.Minute}
		d.Google = iss.config()
	}))
	env.User("ada@example.com", password, "client")
	enrolTOTP(t, env, env.Login("ada@example.com", password, "planoorder"))
	google := func(address, token string) *apitest.Response {
		return mfaPost(env, address, sessionsGoogle, map[string]any{"id_token": token, "application": "planoorder"}, "")
	}
	leaked := iss.sign(t, claims("ada@example.com", env.Clock.Now())) // one of her sign-ins, seen by another application
	for i := range allowance {
		google(addr(10+i), leaked).Expect(t, 401, gen.StatusMfaRequired)
	}
	env.Clock.Advance(time.Second)
	res := google(addr(2), iss.sign(t, claims("ada@example.com", env.Clock.Now()))) // her own, new token
	if res.Code == http.StatusTooManyRequests {
		t.Errorf("%d replays of one leaked Google ID token (none completed) keep ada's own new token out: %d %s",
			allowance, res.Code, res.Status())
	}
	res.Expect(t, 401, gen.StatusMfaRequired)
}
