package impl_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

// A sign-in decides whether its session is limited on the user's row as it holds it, not as it
// read it before checking the proof: a link sign-in (from an address the account never saw,
// asking to be remembered) in flight when the owner adds her first second factor is answered
// as a limited sign-in: mfa-required, no device token, its address not known to the account,
// and remember_me kept as the session's wish, the account's own preference unchanged.
func TestLinkSignInInFlightAtTheFirstFactorIsLimited(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := env.User("ada@example.com", password, "client")
	own := env.Login("ada@example.com", password, "planoorder")
	requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	env.DeliverEmails()
	token := lastLinkToken(t, env, "ada@example.com")

	release := holdRows(t, env, "LOCK TABLE role_scopes IN ACCESS EXCLUSIVE MODE")
	req := apitest.Request(http.MethodPost, magicLinkCreate, "text/plain", apitest.Sensitive(t,
		map[string]any{"magic_token": token, "application": "planoorder", "remember_me": true}), "")
	req.RemoteAddr = addr(9) + ":1234"
	inFlight := env.Start(req)
	until(t, func() bool { return lockWaiters(t, env) >= 1 }, inFlight, release, "the link sign-in never waited")
	firstFactorMeanwhile(t, env, own, release)
	res := inFlight.Wait().Expect(t, 401, gen.StatusMfaRequired)
	if deviceToken(t, res) != "" {
		t.Error("a sign-in limited to its second factor got a device token")
	}
	var known int
	var remember bool
	var wish *bool
	if err := env.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM known_addresses WHERE user_id = $1 AND address = $2),
		(SELECT remember_me FROM users WHERE id = $1), (SELECT remember_me_wish FROM sessions WHERE user_id = $1 AND client_address = $2)`,
		ada, addr(9)).Scan(&known, &remember, &wish); err != nil {
		t.Fatal(err)
	}
	if known > 0 {
		t.Error("the limited sign-in's address is known to the account")
	}
	if remember || wish == nil || !*wish {
		t.Errorf("remember_me saved on the account %v, kept as the session's wish %v; want false, true", remember, deref(wish))
	}
}

// firstFactorMeanwhile confirms an authenticator app, the first second factor of the session's
// user, while release holds a sign-in in flight, and then releases it. A sign-in that holds the
// user's row already (one that saved remember_me before it waited) makes the confirmation wait
// for it instead: the sign-in is released first then, and the factor comes after it.
func firstFactorMeanwhile(t *testing.T, env *apitest.Env, token string, release func()) {
	t.Helper()
	var enrolment gen.TOTPEnrolment
	mfaPost(env, "", totpEnroll, map[string]any{}, token).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &enrolment)
	confirm := env.Start(mfaRequest(env, "", totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, 0)}, token))
	deadline := time.Now().Add(5 * time.Second)
	for !confirmedOrWaiting(t, env, confirm) {
		if time.Now().After(deadline) {
			release()
			t.Fatal("the first factor was neither confirmed nor waiting")
		}
		time.Sleep(5 * time.Millisecond)
	}
	release()
	confirm.Wait().Expect(t, 200, gen.StatusActionSuccessful)
}

// confirmedOrWaiting reports whether confirm was answered, or waits for a lock (beside the
// sign-in held in flight).
func confirmedOrWaiting(t *testing.T, env *apitest.Env, confirm *apitest.InFlight) bool {
	select {
	case <-confirm.Done():
		return true
	default:
		return lockWaiters(t, env) >= 2
	}
}
