package impl_test

import (
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
)

// TestGoogleTokenOfAnotherApplicationUnderAnyApplicationSpelling: planox2's ID token sent to
// sessions/google with planoorder's slug spelt otherwise (case, spaces, a NUL, a list), or with
// no application at all, from several addresses at once, is refused by the contract before any
// key is fetched: no spelling reaches another application's client ids or opens a session.
func TestGoogleTokenOfAnotherApplicationUnderAnyApplicationSpelling(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) { d.Google = iss.config() }))
	ada := env.User("ada@example.com", password, "employee")
	c := claims("ada@example.com", env.Clock.Now())
	c["aud"] = clientB // planox2's
	token := iss.sign(t, c)
	trail := len(wholeTrail(t, env))
	spellings := []any{"PlanoOrder", "PLANOORDER", " planoorder", "planoorder ", "planoorder\x00", "planoorder,planox2",
		[]string{"planoorder"}, []string{"planox2", "planoorder"}, map[string]any{"slug": "planoorder"}, "", nil}
	got := concurrently(2*len(spellings), func(i int) *apitest.Response {
		body := map[string]any{"id_token": token}
		if app := spellings[i%len(spellings)]; app != nil {
			body["application"] = app
		}
		res := from(env, addr(30+i%5), sessionsGoogle, body, "")
		if res.Code != 400 || (res.Envelope.Status != gen.StatusInvalidParam && res.Envelope.Status != gen.StatusMissingParam) ||
			len(res.Envelope.Errors) != 1 || res.Envelope.Errors[0].Param != "application" {
			t.Errorf("application %q: answered %d %s %+v, want 400 on application", spellings[i%len(spellings)],
				res.Code, res.Envelope.Status, res.Envelope.Errors)
		}
		return res
	})
	if n := sessionsOf(t, env, ada); n != 0 {
		t.Errorf("planox2's token opened %d sessions under another spelling (%v)", n, got)
	}
	if n := iss.fetches.Load(); n != 0 {
		t.Errorf("the keys were fetched %d times for requests the contract refuses", n)
	}
	if events := wholeTrail(t, env)[trail:]; len(events) != 0 {
		t.Errorf("refused requests recorded %v", kindsOf(events))
	}
}
