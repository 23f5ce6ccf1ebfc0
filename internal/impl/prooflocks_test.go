package impl_test

// The lock order of an email's first proof against the other requests of the same user in
// flight, attacked from the HTTP API.

import (
	"net/http"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

// linkFrom is magic_link_create with token, from a client address.
func linkFrom(t *testing.T, token, address string) *http.Request {
	t.Helper()
	req := apitest.Request(http.MethodPost, magicLinkCreate, "text/plain", apitest.Sensitive(t,
		map[string]any{"magic_token": token, "application": "planoorder"}), "")
	req.RemoteAddr = address + ":1234"
	return req
}

// behindTheUser holds the row of the user of email, starts first and, once it waits, second,
// then lets the row go, so that first takes it first; neither may crash (a deadlock answers
// application-crash).
func behindTheUser(t *testing.T, env *apitest.Env, email string, first, second *http.Request) (*apitest.Response, *apitest.Response) {
	t.Helper()
	release := holdUser(t, env, email)
	a := env.Start(first)
	until(t, func() bool { return lockWaiters(t, env) >= 1 }, a, release, "the first request never waited for the user's row")
	b := env.Start(second)
	until(t, func() bool { return lockWaiters(t, env) >= 2 }, b, release, "the second request never waited")
	release()
	ra, rb := a.Wait(), b.Wait()
	for what, res := range map[string]*apitest.Response{"the first request": ra, "the second request": rb} {
		if res.Code >= 500 {
			t.Errorf("%s answered %d %s", what, res.Code, res.Raw)
		}
	}
	return ra, rb
}

// Hedy registered herself (not yet proven) and uses, at once, in two tabs, a sign-in link she
// asked for and the welcome email's verification link. Each holds its own link when it comes to
// her row; the sign-in link takes the row first, and its first proof ends her live verification
// links, the one the other request holds among them, which waits for her row: each waited for
// the other (a deadlock: application-crash). Neither may crash; her email is proven, she is
// signed in, and the verification link is used or ended, never both.
func TestFirstProofTwoLinksOfTheUserAtOnce(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	const owner = "hedy@example.com"
	register(t, env, registration(owner))
	env.DeliverEmails()
	verification := lastLinkToken(t, env, owner)
	requestLink(env, owner, "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	env.DeliverEmails()
	signIn := lastLinkToken(t, env, owner)
	if signIn == verification {
		t.Fatal("the sign-in link's email was not delivered")
	}

	signedIn, verified := behindTheUser(t, env, owner, linkFrom(t, signIn, addr(3)), linkFrom(t, verification, addr(4)))
	signedIn.Expect(t, 200, gen.StatusActionSuccessful)
	if verified.Code != http.StatusOK {
		verified.Expect(t, 401, gen.StatusLinkExpired) // ended by the sign-in link's proof
	}
	if !emailVerified(t, env, owner) {
		t.Error("hedy's email is not proven")
	}
}

// The same two orders with a proven user: ada changes her password (users/password_update, which
// holds her row and then ends her emailed links) while a sign-in link of hers is being used (it
// held its link, then waited for her row): each waited for the other. Neither may crash; the
// password is changed and the link, ended by the change, signs nobody in.
func TestPasswordChangeAtALinkInFlight(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	const owner = "ada@example.com"
	env.User(owner, password, "client")
	session := tokenOf(t, signIn(env, addr(2), owner).Expect(t, 200, gen.StatusActionSuccessful))
	requestLink(env, owner, "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	env.DeliverEmails()
	link := lastLinkToken(t, env, owner)
	change := apitest.Request(http.MethodPost, passwordUpdate, "text/plain",
		apitest.Sensitive(t, map[string]any{"current_password": password, "password": newPassword}), session)
	change.RemoteAddr = addr(2) + ":1234"

	changed, used := behindTheUser(t, env, owner, change, linkFrom(t, link, addr(5)))
	changed.Expect(t, 200, gen.StatusActionSuccessful)
	used.Expect(t, 401, gen.StatusLinkExpired)
}
