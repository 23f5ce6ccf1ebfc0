package impl_test

// Review 20 (this session's merges, 855ed3c..9bd1b6b): attacks from the HTTP API that FAIL on
// main (9bd1b6b).

import (
	"net/http"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

// fix19b made the device tokens and known addresses of sign-ins that did not prove the password
// share ONE password-guessing allowance per user (limits.callerKey's unprovenKey). But an address
// is "known" to anyone who calls from it: a stranger holding nothing, behind the address (a café,
// an office NAT, a carrier's CGNAT, one IPv6 /64) where the owner once signed in by an emailed
// link, now spends that one per-user allowance, and with it the owner's own device token from
// that link sign-in is refused at home, with her right password. Before fix19b the stranger
// spent only that address's allowance (known:user:address) and her device token kept its own.
func TestReview20StrangerAtALinkKnownAddressLocksTheOwnersDevices(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	env.DeliverEmails()
	token := lastLinkToken(t, env, "ada@example.com")
	cafe, home := addr(70), addr(71)
	res := postFrom(env, cafe, magicLinkCreate, map[string]any{"magic_token": token, "application": "planoorder", "remember_me": true}, "").
		Expect(t, 200, gen.StatusActionSuccessful)
	device := deviceToken(t, res)
	if device == "" {
		t.Fatal("the link sign-in got no device token")
	}
	// A stranger at the café, with no token, guesses ten times (the default PerKnown).
	for range 10 {
		res := postFrom(env, cafe, sessionsCreate, map[string]any{"email": "ada@example.com", "password": "a guess", "application": "planoorder"}, "")
		if res.Code != http.StatusBadRequest || res.Status() != gen.StatusInvalidPassword {
			t.Fatalf("a stranger's guess got %d %s, want invalid-password", res.Code, res.Status())
		}
	}
	// Ada, at home, on the device her link sign-in remembered, with her right password.
	postFrom(env, home, sessionsCreate, map[string]any{"email": "ada@example.com", "password": password,
		"application": "planoorder", "device_token": device}, "").Expect(t, 200, gen.StatusActionSuccessful)
}

// The same hole for the emails a password's holder could ask for (links, resets: proofKind
// "pwd"): for an owner who signs in by her links (never typing her password), every address she
// signed in from is known by a link sign-in, so all of them share one link allowance per user;
// a stranger holding nothing, at one of them (the café), spends it in five requests, and then
// her home address, known to the account, gets no sign-in link either (429). Before fix19b her
// home address had an allowance of its own, which no one elsewhere could spend.
func TestReview20StrangerAtALinkKnownAddressKeepsTheOwnerFromHerLinks(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	cafe, home := addr(80), addr(81)
	for _, at := range []string{cafe, home} {
		requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		env.DeliverEmails()
		token := lastLinkToken(t, env, "ada@example.com")
		postFrom(env, at, magicLinkCreate, map[string]any{"magic_token": token, "application": "planoorder"}, "").
			Expect(t, 200, gen.StatusActionSuccessful)
	}
	link := map[string]any{"email": "ada@example.com", "application": "planoorder"}
	for range 5 { // a stranger at the café: the default PerKnown of links
		postFrom(env, cafe, magicLinkRequest, link, "").Expect(t, 200, gen.StatusActionSuccessful)
	}
	postFrom(env, home, magicLinkRequest, link, "").Expect(t, 200, gen.StatusActionSuccessful)
}
