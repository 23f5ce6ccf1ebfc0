package impl_test

// A code uses up a time step of the app it was checked against, never of another (UseTOTPStep):
// a code of ada's app, in flight while she turns that app off and sets up a new one, must not
// take a step of the new app, or whoever sends old codes (phished, or the thief's copy of the old
// secret) refuses the owner's next code of her new app for up to a step (30 s), on every route
// that checks a code. Each test is an attack from the HTTP API and FAILED before the step was
// bound to the app: the code in flight answered invalid-param (nothing was upgraded or removed),
// but it had marked the new app used and taken its step, so the owner's code for that step was
// refused (invalid-code, an mfa.failed against her allowance).

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

// holdAllowance holds the limit_counters row of key (made first, unused) until release runs: a
// code's check that pays from that allowance waits there, after it read the user's app and
// before it checks the code.
func holdAllowance(t *testing.T, env *apitest.Env, key string) (release func()) {
	t.Helper()
	now := env.Clock.Now()
	if _, err := env.Pool.Exec(context.Background(),
		"INSERT INTO limit_counters (key, window_start, expires_at, count) VALUES ($1, $2, $3, 0)", key, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	return holdRows(t, env, "SELECT 1 FROM limit_counters WHERE key = $1 FOR UPDATE", key)
}

// sessionAllowance is the key of the second-factor allowance that a code of the app sent on the
// complete session of token pays from (limits.Client.Session): the session's own when it proved
// a code itself, else the one its user's sessions that proved none share (impl.ownAllowance).
func sessionAllowance(t *testing.T, env *apitest.Env, token string) string {
	t.Helper()
	id := sessionIDOf(t, env, token)
	var user int64
	var proved bool
	if err := env.Pool.QueryRow(context.Background(), "SELECT user_id, 'otp' = ANY (methods) FROM sessions WHERE id = $1", id).Scan(&user, &proved); err != nil {
		t.Fatal(err)
	}
	if proved {
		return "mfa:session:" + id
	}
	return fmt.Sprintf("mfa:session:user:%d:otp", user)
}

// replacedInFlight sends req, a proof with ada's code of her app for the next time step, held at
// the allowance key after it read the app, while ada turns that app off with her password (from
// her passkey session) and sets up a new one, confirmed at the current step; then the clock moves
// to the next step and req goes on. It returns req's answer and the new app's secret.
func replacedInFlight(t *testing.T, env *apitest.Env, ada appAndKey, req *http.Request, key string) (*apitest.Response, string) {
	t.Helper()
	var secret string
	res := turnedOffInFlight(t, env, ada, req, key, func() { secret, _ = enrolTOTP(t, env, ada.own) })
	return res, secret
}

// turnedOffInFlight is replacedInFlight with meanwhile, what ada does once the app is off, in
// place of setting up a new one.
func turnedOffInFlight(t *testing.T, env *apitest.Env, ada appAndKey, req *http.Request, key string, meanwhile func()) *apitest.Response {
	t.Helper()
	release := holdAllowance(t, env, key)
	inFlight := env.Start(req)
	until(t, func() bool { return lockWaiters(t, env) >= 1 }, inFlight, release, "the code never waited at its allowance")
	mfaPost(env, addr(2), totpDisable, map[string]any{"password": password}, ada.own).Expect(t, 200, gen.StatusActionSuccessful)
	meanwhile()
	env.Clock.Advance(30 * time.Second)
	release()
	return inFlight.Wait()
}

// oldCode is a request to path with ada's code of her app (secret) for the next time step, on
// token's session, from address.
func oldCode(t *testing.T, env *apitest.Env, path, secret, token, address string) *http.Request {
	t.Helper()
	req := apitest.Request(http.MethodPost, path, "text/plain", apitest.Sensitive(t, map[string]any{"code": totpCode(t, env, secret, 1)}), token)
	req.RemoteAddr = address + ":1234"
	return req
}

// wantNothingUsed checks that the code of the app turned off (res) answered as a code after the
// removal does (invalid-param on code) and wrote nothing: no event of it in the trail, the new app
// not used since it was confirmed, and ada's code of the new app for the step the old code was of
// accepted, on her passkey session, from her address.
func wantNothingUsed(t *testing.T, env *apitest.Env, ada appAndKey, res *apitest.Response, secret string) {
	t.Helper()
	if res.Code == http.StatusOK {
		t.Errorf("a code of the app turned off succeeded after its successor was set up: %s", res.Raw)
	} else {
		res.Expect(t, 400, gen.StatusInvalidParam)
	}
	if events := ofRequest(wholeTrail(t, env), res); len(events) > 0 {
		t.Errorf("the code of the app turned off recorded %v", kindsOf(events))
	}
	app := factorsOf(t, env, ada.own).Totp
	if !app.Enabled || app.ConfirmedAt == nil || app.LastUsedAt == nil || !app.LastUsedAt.Equal(*app.ConfirmedAt) {
		t.Errorf("the new app was used by a code of the app turned off: %s", describeApp(app))
	}
	mfaPost(env, addr(2), totpVerify, map[string]any{"code": totpCode(t, env, secret, 0)}, ada.own).Expect(t, 200, gen.StatusActionSuccessful)
}

func describeApp(app gen.TOTPState) string {
	return fmt.Sprintf("enabled %v, confirmed at %v, last used at %v", app.Enabled, app.ConfirmedAt, app.LastUsedAt)
}

// Sign-in completion: the thief, with ada's password, completes its sign-in from its own address
// with a code of ada's app, held before its check while ada replaces the app. Its session stays
// limited, and ada's next code of her new app works.
func TestTOTPStepOfASignInInFlightAtAReplacement(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newAppAndKey(t, env)
	thief := *limitedSignIn(t, env, totpThiefAddress, "ada@example.com", gen.StatusMfaRequired).Token
	strangers := fmt.Sprintf("mfa:account:%d", userIDOf(t, env, "ada@example.com")) // the thief is one of them
	res, secret := replacedInFlight(t, env, ada, oldCode(t, env, totpVerify, ada.secret, thief, totpThiefAddress), strangers)
	wantNothingUsed(t, env, ada, res, secret)
	env.Get(scopesLiaisonRegister, thief).Expect(t, 401, gen.StatusMfaRequired)
}

// Session upgrade: ada steps up her passkey session with a code of her old app, held before its
// check while she replaces the app from that session. The session is not upgraded on it (no otp
// in its methods), and her next code of the new app works.
func TestTOTPStepOfAnUpgradeInFlightAtAReplacement(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newAppAndKey(t, env)
	res, secret := replacedInFlight(t, env, ada, oldCode(t, env, totpVerify, ada.secret, ada.own, addr(2)), sessionAllowance(t, env, ada.own))
	var s gen.Session
	env.Get(sessionsRead, ada.own).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
	wantLevel(t, s, gen.AAL2, gen.MethodWebauthn)
	wantNothingUsed(t, env, ada, res, secret)
}

// Turning the app off: a disable with a code of ada's old app, held before its check while she
// replaces the app, turns nothing off (review 13) and takes no step of the new app.
func TestTOTPStepOfADisableInFlightAtAReplacement(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newAppAndKey(t, env)
	res, secret := replacedInFlight(t, env, ada, oldCode(t, env, totpDisable, ada.secret, ada.own, addr(2)), sessionAllowance(t, env, ada.own))
	wantNothingUsed(t, env, ada, res, secret)
}

// The app turned off and none set up since: the thief's code in flight answers as the contract
// says of a code checked while the app was turned off (invalid-param on code, not invalid-code),
// and is no failed guess of the account's (no mfa.failed). It answered invalid-code on main.
func TestTOTPStepOfASignInInFlightAtATurnOff(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newAppAndKey(t, env)
	thief := *limitedSignIn(t, env, totpThiefAddress, "ada@example.com", gen.StatusMfaRequired).Token
	strangers := fmt.Sprintf("mfa:account:%d", userIDOf(t, env, "ada@example.com"))
	res := turnedOffInFlight(t, env, ada, oldCode(t, env, totpVerify, ada.secret, thief, totpThiefAddress), strangers, func() {})
	res.Expect(t, 400, gen.StatusInvalidParam)
	if events := ofRequest(wholeTrail(t, env), res); len(events) > 0 {
		t.Errorf("the code of the app turned off recorded %v", kindsOf(events))
	}
	env.Get(scopesLiaisonRegister, thief).Expect(t, 401, gen.StatusMfaRequired)
}
