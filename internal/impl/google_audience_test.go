package impl_test

import (
	"context"
	"strings"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/google"
	"github.com/plano/planoauth/internal/impl"
)

// TestGoogleAudienceBoundToApplication is the attack test of OIDC audience confusion: an ID
// token Google issued to planox2's OAuth client (clientB), obtained by whoever sees planox2's
// sign-ins (its backend, its logs), is sent to sessions/google for planoorder and planoauth,
// at once from several addresses. It must be refused as another application's token
// (invalid-param on id_token), open no session, create no user, record no sign-in and not be
// logged; the same token still signs in to planox2, the application it was issued for.
func TestGoogleAudienceBoundToApplication(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	var logs apitest.LogBuffer
	env := apitest.New(t, apitest.WithLog(&logs), apitest.WithDeps(func(d *impl.Deps) { d.Google = iss.config() }))
	ada := env.User("ada@example.com", password, "employee") // planoorder, planoauth and planox2 accept employees

	forX2 := func(email string) string {
		c := claims(email, env.Clock.Now())
		c["aud"] = clientB
		return iss.sign(t, c)
	}
	adas, strangers := forX2("ada@example.com"), forX2("newcomer@example.com")
	trail := len(wholeTrail(t, env))
	got := concurrently(12, func(i int) *apitest.Response {
		token := []string{adas, strangers}[i%2]
		app := []string{"planoorder", "planoauth"}[i/2%2]
		res := from(env, addr(10+i%4), sessionsGoogle, map[string]any{"id_token": token, "application": app}, "")
		if res.Code == 400 && (len(res.Envelope.Errors) != 1 || res.Envelope.Errors[0].Param != "id_token" ||
			res.Envelope.Errors[0].Message != google.ErrAudience.Error()) {
			t.Errorf("errors = %+v, want id_token: %s", res.Envelope.Errors, google.ErrAudience)
		}
		return res
	})
	if got.counts["400 invalid-param"] != 12 {
		t.Errorf("planox2's ID tokens sent to planoorder and planoauth answered %v, want 12 invalid-param", got)
	}
	if n := sessionsOf(t, env, ada); n != 0 {
		t.Errorf("another application's ID token opened %d sessions for ada", n)
	}
	if n := countUsers(t, env, "newcomer@example.com"); n != 0 {
		t.Errorf("another application's ID token created %d users", n)
	}
	if events := wholeTrail(t, env)[trail:]; len(events) != 0 {
		t.Errorf("another application's ID tokens recorded %v", kindsOf(events))
	}
	for _, token := range []string{adas, strangers} {
		if strings.Contains(logs.String(), token) || strings.Contains(logs.String(), strings.Split(token, ".")[1]) {
			t.Error("a refused ID token was logged")
		}
	}

	// The token still signs in to the application it was issued for.
	res := from(env, addr(20), sessionsGoogle, map[string]any{"id_token": adas, "application": "planox2"}, "").
		Expect(t, 200, gen.StatusActionSuccessful)
	var s gen.Session
	res.Data(t, &s)
	if s.User.Email != "ada@example.com" || s.Role == nil || *s.Role != gen.RoleEmployee || s.Application == nil || s.Application.Slug != gen.Planox2 {
		t.Errorf("session = %s, want ada's employee session at planox2", res.Envelope.Data)
	}
	if n := sessionsOf(t, env, ada); n != 1 {
		t.Errorf("ada has %d sessions, want the one at planox2", n)
	}
}

// sessionsOf counts a user's sessions, whatever their state.
func sessionsOf(t *testing.T, env *apitest.Env, userID int64) int {
	t.Helper()
	var n int
	if err := env.Pool.QueryRow(context.Background(), "SELECT count(*) FROM sessions WHERE user_id = $1", userID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
