package impl_test

// Review 8, part b: abuse, recovery and second factors, attacked from the HTTP API. Each test
// is an attack that should be refused, and FAILS while the hole is open. The comment above
// each test says what the attacker does and why the answer is wrong.

import (
	"net/http"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
)

// Finding 1. Whoever registered someone else's email (the account is not proven yet) floods
// that mailbox with sign-in emails from one address, far beyond every bound of links.
//
// sessions/magic_link_request pays for each email with limits.Attempt(Link): the allowance of
// the caller as the account knows it. Until the email is proven, the callers the account knows
// are whoever signed in with the password chosen at registration (the squatter), not the
// mailbox's owner; takeCode knows it (codeAttempt: "until the email is proven, every try is a
// stranger's"), but the links themselves do not. The squatter signs in a few times from one
// address (each sign-in answers a fresh device token; MaxDevicesPerUser keeps 20 of them), and
// each token is an allowance of its own (PerKnown), which is not even counted against the
// address (a device holder never pays PerAddress). With the defaults that is 20 × 5 = 100
// emails every 15 minutes, from one address, into a mailbox the squatter does not own,
// against 5 for all strangers together and 20 for one address. For an unproven account every
// caller should pay for link emails as a stranger does (as the code's tries do).
func TestReview8SquatterFloodsAnUnprovenMailboxWithLinks(t *testing.T) {
	t.Parallel()
	const perAccount, perAddress = 2, 4
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.Links = limits.Throttle{PerAccount: perAccount, PerKnown: perAccount, PerAddress: perAddress, Window: 15 * time.Minute}
	}))
	// The squatter registered victim's email with a password of its own; victim never proved it.
	env.UnverifiedUser("victim@example.com", password, "client")
	var devices []string
	for range 3 {
		res := signIn(env, thief, "victim@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		devices = append(devices, deviceToken(t, res))
	}
	sent := 0
	for _, device := range append(devices, "") {
		for range perAccount + 1 {
			res := postFrom(env, thief, magicLinkRequest, map[string]any{
				"email": "victim@example.com", "application": "planoorder", "device_token": device}, "")
			if res.Code != http.StatusOK {
				res.Expect(t, 429, gen.StatusRateLimited)
				break
			}
			sent++
		}
	}
	if emails := countRows(t, env, "sent_emails"); sent > perAccount {
		t.Errorf("the squatter of an unproven account, from one address, had %d sign-in emails (%d recorded) sent to a mailbox "+
			"it does not own in one window: strangers together may send %d, one address %d", sent, emails, perAccount, perAddress)
	}
}

// Finding 1, for resets. The same squatter floods the mailbox with password reset emails: the
// request answers alike whatever happens, and sendReset pays with limits.AccountAllows, the
// allowance of the caller as the unproven account knows it (each device token its own).
func TestReview8SquatterFloodsAnUnprovenMailboxWithResets(t *testing.T) {
	t.Parallel()
	const perAccount, perAddress = 2, 20
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.Resets = limits.Throttle{PerAccount: perAccount, PerKnown: perAccount, PerAddress: perAddress, Window: 15 * time.Minute}
	}))
	env.UnverifiedUser("victim@example.com", password, "client")
	var devices []string
	for range 3 {
		res := signIn(env, thief, "victim@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		devices = append(devices, deviceToken(t, res))
	}
	for _, device := range append(devices, "") {
		for range perAccount + 1 {
			mfaPost(env, thief, resetRequest, map[string]any{"email": "victim@example.com", "application": "planoorder",
				"device_token": device}, "").Expect(t, 200, gen.StatusActionSuccessful)
		}
	}
	env.Server.Wait()
	if sent := countRows(t, env, "sent_emails"); sent > perAccount {
		t.Errorf("the squatter of an unproven account, from one address, had %d password reset emails sent to a mailbox it "+
			"does not own in one window: strangers together may have %d", sent, perAccount)
	}
}
