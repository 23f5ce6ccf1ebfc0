package impl_test

// Review 14 of UseTOTPStep bound to the sealed secret (stepNotUsed gives a code's use back when
// the app it was checked against is gone). Each test attacks the give-back from the HTTP API.

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

// The thief, with ada's password, guesses codes while ada turns her app off and sets up a new
// one: a wrong code held before its check meets the replacement. It is not given back (only a
// code right for the app it was checked against ever is: stepNotUsed runs after the match), and
// it is a failed guess in the trail (mfa.failed), so racing the owner's own changes buys the
// thief no guess.
func TestReview14WrongCodeInFlightAtAReplacementStaysCounted(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newAppAndKey(t, env)
	thief := *limitedSignIn(t, env, totpThiefAddress, "ada@example.com", gen.StatusMfaRequired).Token
	strangers := fmt.Sprintf("mfa:account:%d", userIDOf(t, env, "ada@example.com"))
	req := apitest.Request(http.MethodPost, totpVerify, "text/plain", apitest.Sensitive(t, map[string]any{"code": wrongTOTP(t, env, ada.secret)}), thief)
	req.RemoteAddr = totpThiefAddress + ":1234"
	res, _ := replacedInFlight(t, env, ada, req, strangers)
	res.Expect(t, 400, gen.StatusInvalidCode)
	if kinds := kindsOfRequest(t, env, res); len(kinds) != 1 || kinds[0] != gen.AuditMfaFailed {
		t.Errorf("the thief's code recorded %v, want one mfa.failed", kinds)
	}
	if n := counted(t, env, strangers); n != 1 {
		t.Errorf("the strangers' allowance counts %d uses after the thief's code, want 1 (not given back)", n)
	}
	env.Get(scopesLiaisonRegister, thief).Expect(t, 401, gen.StatusMfaRequired)
}

// wrongTOTP is a code of no step the app accepts now.
func wrongTOTP(t *testing.T, env *apitest.Env, secret string) string {
	t.Helper()
	near := map[string]bool{}
	for step := int64(-1); step <= 2; step++ { // the window now, and after the clock moves a step
		near[totpCode(t, env, secret, step)] = true
	}
	for _, c := range []string{"000000", "111111", "222222"} {
		if !near[c] {
			return c
		}
	}
	t.Fatal("no wrong code")
	return ""
}

// counted is the count of the allowance key in its current window.
func counted(t *testing.T, env *apitest.Env, key string) int {
	t.Helper()
	var n int
	if err := env.Pool.QueryRow(context.Background(), "SELECT count FROM limit_counters WHERE key = $1", key).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
