package impl_test

// Review 13 of "turning the authenticator app off ends what it completed".

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

// sessionIDOf is the id of the session a token names.
func sessionIDOf(t *testing.T, env *apitest.Env, token string) string {
	t.Helper()
	var s gen.Session
	env.Get(sessionsRead, token).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
	return s.Id.String()
}

// Finding 1 (low). mfa/totp_disable reads the app before its proof and its transaction, and
// DeleteTOTP then deletes whatever row the user has: a disable that proved a code of the OLD app,
// in flight while the owner turned that app off and set up a new one, answers action-successful
// and turns off the NEW app, which its proof never touched (and ends the sessions that proved
// the new app's codes). It should answer as a disable after the removal does (invalid-param on
// code) and leave the new app alone.
//
// The window: the disable's code waits at its allowance (limit_counters row held), after it
// read the old app; meanwhile ada turns that app off with her password and sets up another.
func TestReview13DisableInFlightTurnsOffTheNextApp(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newAppAndKey(t, env)
	key := "mfa:session:" + sessionIDOf(t, env, ada.own)
	now := env.Clock.Now()
	if _, err := env.Pool.Exec(context.Background(),
		"INSERT INTO limit_counters (key, window_start, expires_at, count) VALUES ($1, $2, $3, 0)", key, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	release := holdRows(t, env, "SELECT 1 FROM limit_counters WHERE key = $1 FOR UPDATE", key)

	// A code of the old app for the next time step (the clock is moved there before it is checked).
	stale := apitest.Request(http.MethodPost, totpDisable, "text/plain",
		apitest.Sensitive(t, map[string]any{"code": totpCode(t, env, ada.secret, 1)}), ada.own)
	stale.RemoteAddr = addr(2) + ":1234"
	inFlight := env.Start(stale)
	until(t, func() bool { return lockWaiters(t, env) >= 1 }, inFlight, release, "the disable never waited at its allowance")

	mfaPost(env, addr(2), totpDisable, map[string]any{"password": password}, ada.own).Expect(t, 200, gen.StatusActionSuccessful)
	enrolTOTP(t, env, ada.own) // the new app, confirmed at the current step
	next := sealedTOTP(t, env)
	env.Clock.Advance(30 * time.Second)
	release()

	res := inFlight.Wait()
	if res.Code == http.StatusOK {
		t.Errorf("a code of the app turned off turned off its successor: %s", res.Raw)
	} else {
		res.Expect(t, 400, gen.StatusInvalidParam)
	}
	if f := factorsOf(t, env, ada.own); !f.Totp.Enabled {
		t.Errorf("the new app is gone: %+v", f)
	} else if string(sealedTOTP(t, env)) != string(next) {
		t.Error("the new app was replaced")
	}
}
