package impl_test

// Review 13 of "turning the authenticator app off ends what it completed".

import (
	"net/http"
	"testing"

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
	// A code of the old app for the next time step (the clock is moved there before it is checked).
	stale := oldCode(t, env, totpDisable, ada.secret, ada.own, addr(2))
	res, _ := replacedInFlight(t, env, ada, stale, sessionAllowance(t, env, ada.own))
	if res.Code == http.StatusOK {
		t.Errorf("a code of the app turned off turned off its successor: %s", res.Raw)
	} else {
		res.Expect(t, 400, gen.StatusInvalidParam)
	}
	if f := factorsOf(t, env, ada.own); !f.Totp.Enabled {
		t.Errorf("the new app is gone: %+v", f)
	} else if f.Totp.ConfirmedAt == nil || !f.Totp.ConfirmedAt.Before(env.Clock.Now()) { // set up before the clock moved
		t.Errorf("the new app was replaced: %+v", f.Totp)
	}
}
