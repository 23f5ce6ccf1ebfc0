package impl_test

// Review 19, part b (abuse, recovery, second factors): attacks from the HTTP API that FAILED on
// main (855ed3c).

import (
	"net/http"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
)

// A stranger replays one passkey sign-in's answer at sessions/passkey_finish, or sends answers to
// ceremonies that never began: each is refused as invalid-passkey and recorded as login.failed,
// but nothing counts the finish itself (only a begin takes a use of the address's allowance),
// so one address grows the audit trail (and every webhook it feeds) without bound. The
// contract's LoginFailureReason: "a flood of requests cannot grow the trail faster than the
// limits allow". With an allowance of 5 per address, at most 5 refused finishes are recorded,
// and the rest are rate-limited.
func TestReview19PasskeyFinishRefusalsAreCounted(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SignIn = limits.Throttle{PerAccount: 10, PerKnown: 10, PerAddress: 5, Window: 15 * time.Minute}
	}))
	ada := newStolenPasskey(t, env)
	begin := mfaPost(env, addr(40), passkeySignInBegin, map[string]any{"application": "planoorder"}, "").Expect(t, 200, gen.StatusActionSuccessful)
	answer := ada.a.Assert(t, options(t, begin))
	mfaPost(env, addr(40), passkeySignInEnd, map[string]any{"credential": answer, "application": "planoorder"}, "").
		Expect(t, 200, gen.StatusActionSuccessful)
	before := len(wholeTrail(t, env))
	answers := map[gen.Status]int{}
	for range 20 {
		res := mfaPost(env, addr(40), passkeySignInEnd, map[string]any{"credential": answer, "application": "planoorder"}, "")
		switch {
		case res.Code == http.StatusBadRequest && res.Status() == gen.StatusInvalidPasskey,
			res.Code == http.StatusTooManyRequests && res.Status() == gen.StatusRateLimited:
			answers[res.Status()]++
		default:
			t.Fatalf("a replayed passkey answer got %d %s, want invalid-passkey or rate-limited", res.Code, res.Status())
		}
	}
	grown := len(wholeTrail(t, env)) - before
	if grown > 5 || answers[gen.StatusInvalidPasskey] > 5 {
		t.Errorf("20 replays of one passkey answer from one address: %v, the trail grew by %d; want at most 5 refusals recorded (the address's allowance)",
			answers, grown)
	}
}

// A thief holding only a copy of ada's synced passkey wants her password (passkey_delete takes it,
// to strip her of her own key; and passwords are reused). Review 17 made the sessions that did not
// prove the password share one allowance for guessing it; but each passkey sign-in also answers a
// device token, and makes its address known, and at sessions/create each device token and each
// known address has an allowance of its own (10 per 15 minutes). Ten passkey sign-ins from ten
// addresses buy 200 guesses per window (and 30 sign-ins per window, known for 30 days, buy more
// every window). What a passkey's sign-ins made known must not multiply the guesses at a password
// it never proved: here at most the strangers' 10 and one shared 10 are evaluated.
func TestReview19PasskeyDevicesDoNotMultiplyPasswordGuesses(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	type foothold struct{ address, device string }
	var footholds []foothold
	for i := range 10 {
		at := addr(60 + i)
		res := passkeySignIn(t, env, ada.a, at).Expect(t, 200, gen.StatusActionSuccessful)
		footholds = append(footholds, foothold{at, deviceToken(t, res)})
	}
	evaluated := 0
	guess := func(at, device string) {
		params := map[string]any{"email": "ada@example.com", "password": "a guess", "application": "planoorder"}
		if device != "" {
			params["device_token"] = device
		}
		res := postFrom(env, at, sessionsCreate, params, "")
		switch {
		case res.Code == http.StatusBadRequest && res.Status() == gen.StatusInvalidPassword:
			evaluated++
		case res.Code != http.StatusTooManyRequests || res.Status() != gen.StatusRateLimited:
			t.Fatalf("a guess answered %d %s, want invalid-password or rate-limited", res.Code, res.Status())
		}
	}
	for _, f := range footholds {
		for range 10 {
			guess(f.address, f.device)
			guess(f.address, "")
		}
	}
	if evaluated > 20 {
		t.Errorf("%d guesses at ada's password were evaluated from what ten sign-ins with a copy of her passkey made known, want at most 20",
			evaluated)
	}
}

// A thief holding a copy of ada's synced passkey signs in with it until the allowance of passkey
// sign-ins is spent (30 per 15 minutes): her own security key, another credential that the thief
// does not hold, is then refused as well, though a sign-in with it proves what the copy cannot.
// Each passkey's successful sign-ins are counted on their own, as each Google token's are.
func TestReview19ACopiedPasskeyDoesNotLockOutTheOwnersOtherKey(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	for i := range limits.Defaults.SignedIn.PerAccount {
		passkeySignIn(t, env, ada.a, addr(70+i%5)).Expect(t, 200, gen.StatusActionSuccessful)
	}
	passkeySignIn(t, env, ada.a, addr(70)).Expect(t, 429, gen.StatusRateLimited)
	passkeySignIn(t, env, ada.b, addr(2)).Expect(t, 200, gen.StatusActionSuccessful)
}

// Strangers flood one mailbox with sign-in links through its subaddresses: ada@, ada+1@ and
// ada+2@example.com are three accounts, but one mailbox (emailaddr.Mailbox, which bounds the
// invitations a recipient gets from all callers together). Each account's strangers' share (5
// links per 15 minutes) is spent from other addresses, so the mailbox gets three shares, and as
// many more as accounts registered with new tags (clients/register, 30 per address per hour).
// What strangers make one mailbox receive is bounded per mailbox: at most one share here.
func TestReview19StrangersCannotFloodAMailboxThroughSubaddresses(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	emails := []string{"ada@example.com", "ada+1@example.com", "ada+2@example.com"}
	for _, email := range emails {
		env.User(email, "", "client")
	}
	for i := range 5 {
		for j, email := range emails {
			res := postFrom(env, addr(80+3*i+j), magicLinkRequest, map[string]any{"email": email, "application": "planoorder"}, "")
			if res.Status() != gen.StatusActionSuccessful && res.Status() != gen.StatusRateLimited {
				t.Fatalf("a link request answered %d %s", res.Code, res.Status())
			}
		}
	}
	if n := countRows(t, env, "sent_emails"); n > limits.Defaults.Links.PerAccount {
		t.Errorf("strangers made ada's mailbox receive %d sign-in links in one window, want at most %d", n, limits.Defaults.Links.PerAccount)
	}
}
