package impl_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/google"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
)

// unvouchedEnv is a harness trusting the test issuer, whose addresses may each have 3 Google
// tokens in flight (so that a refusal whose use was not given back shows as rate-limited).
func unvouchedEnv(t *testing.T) (*testIssuer, *apitest.Env, *apitest.LogBuffer) {
	t.Helper()
	iss := newTestIssuer(t)
	var logs apitest.LogBuffer
	env := apitest.New(t, apitest.WithLog(&logs), apitest.WithDeps(func(d *impl.Deps) {
		d.Google = iss.config()
		d.Limits.SignIn = limits.Throttle{PerAccount: 10, PerKnown: 10, PerAddress: 3, Window: time.Minute}
	}))
	return iss, env, &logs
}

// withHD signs a valid ID token for email (email_verified true) whose hosted domain is hd, or
// that has none when hd is "".
func withHD(t *testing.T, iss *testIssuer, env *apitest.Env, email, hd string) string {
	t.Helper()
	c := claims(email, env.Clock.Now())
	delete(c, "hd")
	if hd != "" {
		c["hd"] = hd
	}
	return iss.sign(t, c)
}

// expectUnvouched checks the answer to an ID token Google does not vouch for: invalid-param on
// id_token with google.ErrUnvouched's message.
func expectUnvouched(t *testing.T, res *apitest.Response) {
	t.Helper()
	if res.Code != 400 || res.Status() != gen.StatusInvalidParam {
		t.Errorf("an ID token Google does not vouch for answered %d %s, want 400 invalid-param: %s", res.Code, res.Status(), res.Raw)
		return
	}
	if len(res.Envelope.Errors) != 1 || res.Envelope.Errors[0].Param != "id_token" ||
		res.Envelope.Errors[0].Message != google.ErrUnvouched.Error() {
		t.Errorf("errors = %+v, want id_token: %s", res.Envelope.Errors, google.ErrUnvouched)
	}
}

// userState is what a takeover through an email's proof would change.
type userState struct {
	Verified          bool
	PasswordHash      string // its MD5, not to show the hash
	CredentialVersion int64
	Sessions          int
}

func stateOf(t *testing.T, env *apitest.Env, userID int64) userState {
	t.Helper()
	var s userState
	err := env.Pool.QueryRow(context.Background(), `SELECT email_verified_at IS NOT NULL, md5(coalesce(password_hash, '')), credential_version,
		(SELECT count(*) FROM sessions WHERE user_id = $1) FROM users WHERE id = $1`, userID).
		Scan(&s.Verified, &s.PasswordHash, &s.CredentialVersion, &s.Sessions)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGoogleUnvouchedAddressTakesNoAccount is the attack test of an account takeover through a
// Google account Google is not authoritative for: alice@company.example is a verified user with
// a password; whoever made a personal Google account with that address long ago (a former
// employee, the address's previous owner) sends ID tokens saying email alice@company.example,
// email_verified true, with no hd or with the hosted domain of another organisation, at once
// from several addresses. They must answer invalid-param on id_token (Google does not vouch for
// the address), open no session, leave alice's password, sessions and verification as they
// were, create no user, record nothing (no user.email_verified, no login.succeeded), not be
// logged, and give the address's use back. A Google Workspace token of company.example itself
// (hd company.example) still signs alice in.
func TestGoogleUnvouchedAddressTakesNoAccount(t *testing.T) {
	t.Parallel()
	iss, env, logs := unvouchedEnv(t)
	alice := env.User("alice@company.example", password, "client")
	own := env.Login("alice@company.example", password, "planoorder")
	before := stateOf(t, env, alice)

	tokens := []string{
		withHD(t, iss, env, "alice@company.example", ""),             // a personal Google account made with her address
		withHD(t, iss, env, "alice@company.example", "evil.example"), // another organisation's Workspace
		withHD(t, iss, env, "Alice@Company.Example", "gmail.com"),    // Gmail is no hosted domain of hers
		withHD(t, iss, env, "alice@company.example", "company.example.evil.example"),
		withHD(t, iss, env, "newcomer@gmail.com.evil.example", ""), // not Gmail, however it ends
		withHD(t, iss, env, "newcomer@notgmail.com", ""),
	}
	trail := len(wholeTrail(t, env))
	got := concurrently(12, func(i int) *apitest.Response {
		res := from(env, addr(10+i%4), sessionsGoogle, map[string]any{"id_token": tokens[i%len(tokens)], "application": "planoorder"}, "")
		expectUnvouched(t, res)
		return res
	})
	if got.counts["400 invalid-param"] != 12 {
		t.Errorf("ID tokens Google does not vouch for answered %v, want 12 invalid-param", got)
	}
	// Each refusal gives the address's use back: one address sends more than its 3.
	for i := range 4 {
		expectUnvouched(t, from(env, addr(10), sessionsGoogle, map[string]any{"id_token": tokens[i%len(tokens)], "application": "planoorder"}, ""))
	}

	if after := stateOf(t, env, alice); after != before {
		t.Errorf("alice's account went from %+v to %+v", before, after)
	}
	env.Get(sessionsRead, own).Expect(t, 200, gen.StatusActionSuccessful)
	for _, email := range []string{"newcomer@gmail.com.evil.example", "newcomer@notgmail.com"} {
		if n := countUsers(t, env, email); n != 0 {
			t.Errorf("an ID token Google does not vouch for created %d users %s", n, email)
		}
	}
	if events := wholeTrail(t, env)[trail:]; len(events) != 0 {
		t.Errorf("ID tokens Google does not vouch for recorded %v", kindsOf(events))
	}
	for _, token := range tokens {
		if strings.Contains(logs.String(), token) || strings.Contains(logs.String(), strings.Split(token, ".")[1]) {
			t.Error("a refused ID token was logged")
		}
	}
	login(env, map[string]any{"email": "alice@company.example", "password": password, "application": "planoorder"}).
		Expect(t, 200, gen.StatusActionSuccessful)

	// Her organisation's own Google Workspace account of the address (hd company.example, in
	// any case) is Google's to vouch for.
	res := from(env, addr(10), sessionsGoogle, map[string]any{"id_token": withHD(t, iss, env, "Alice@Company.Example", "COMPANY.example"), "application": "planoorder"}, "").
		Expect(t, 200, gen.StatusActionSuccessful)
	var s gen.Session
	res.Data(t, &s)
	if s.User.Email != "alice@company.example" || s.Role == nil || *s.Role != gen.RoleClient {
		t.Errorf("session = %s, want alice's client session", res.Envelope.Data)
	}
}

// TestGoogleUnvouchedAddressTakesNothingBack: an unproven account (bob registered
// bob@company.example with a password, never proved it) is not proven by an ID token Google
// does not vouch for, so the proof takes nothing back: bob's password and session stay, his
// email stays unproven, nothing is recorded.
func TestGoogleUnvouchedAddressTakesNothingBack(t *testing.T) {
	t.Parallel()
	iss, env, _ := unvouchedEnv(t)
	bob := env.UnverifiedUser("bob@company.example", password, "client")
	own := env.Login("bob@company.example", password, "planoorder")
	before := stateOf(t, env, bob)
	trail := len(wholeTrail(t, env))
	got := concurrently(6, func(i int) *apitest.Response {
		hd := []string{"", "other.example"}[i%2]
		res := from(env, addr(30+i%3), sessionsGoogle, map[string]any{"id_token": withHD(t, iss, env, "bob@company.example", hd), "application": "planoorder"}, "")
		expectUnvouched(t, res)
		return res
	})
	if got.counts["400 invalid-param"] != 6 {
		t.Errorf("ID tokens Google does not vouch for answered %v, want 6 invalid-param", got)
	}
	if after := stateOf(t, env, bob); after != before || after.Verified {
		t.Errorf("bob's unproven account went from %+v to %+v", before, after)
	}
	env.Get(sessionsRead, own).Expect(t, 200, gen.StatusActionSuccessful)
	if events := wholeTrail(t, env)[trail:]; len(events) != 0 {
		t.Errorf("ID tokens Google does not vouch for recorded %v", kindsOf(events))
	}
}

// TestGoogleAuthoritativeAddressesSignIn: Gmail addresses need no hd; a Workspace account's
// address signs in when hd is its domain, compared in the ASCII (IDNA) form of the domain.
func TestGoogleAuthoritativeAddressesSignIn(t *testing.T) {
	t.Parallel()
	iss, env, _ := unvouchedEnv(t)
	for i, c := range []struct{ email, hd string }{
		{"grace.hopper@gmail.com", ""},
		{"Grace@GoogleMail.com", ""},
		{"ada@bücher.example", "xn--bcher-kva.example"},
		{"kit@xn--bcher-kva.example", "bücher.example"},
		{"lin@company.example", "company.example"},
	} {
		res := from(env, addr(40+i), sessionsGoogle, map[string]any{"id_token": withHD(t, iss, env, c.email, c.hd), "application": "planoorder"}, "")
		res.Expect(t, 401, gen.StatusClientRequired) // a new user, without a role yet
		if n := countUsers(t, env, c.email); n != 1 {
			t.Errorf("%s (hd %q): %d users, want 1", c.email, c.hd, n)
		}
	}
}
