package impl_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/limits"
)

// What strangers make one mailbox receive is bounded per mailbox, as a sign-in link's is
// (TestReview19StrangersCannotFloodAMailboxThroughSubaddresses): reset links and welcome
// emails too, whichever subaddresses of it have accounts.

// sentTo counts the emails of kind recorded for the mailbox ada@example.com, all its
// subaddresses together.
func sentTo(t *testing.T, env *apitest.Env, kind string) int {
	t.Helper()
	env.Server.Wait()
	var n int
	if err := env.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM sent_emails WHERE kind = $1 AND recipient LIKE 'ada%@example.com'", kind).Scan(&n); err != nil {
		t.Fatalf("count %s emails: %v", kind, err)
	}
	return n
}

// Strangers ask for reset links to ada@, ada+1@ and ada+2@example.com from fifteen addresses:
// each account's strangers' share (5 per 15 minutes) made the mailbox three. At most one share
// is sent, and every answer is the same.
func TestStrangersCannotFloodAMailboxWithResetsThroughSubaddresses(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	emails := []string{"ada@example.com", "ada+1@example.com", "ada+2@example.com"}
	for _, email := range emails {
		env.User(email, password, "client")
	}
	for i := range 5 {
		for j, email := range emails {
			jsonFrom(env, addr(80+3*i+j), resetRequest, map[string]any{"email": email, "application": "planoorder"}).
				Expect(t, 200, gen.StatusActionSuccessful)
		}
	}
	if n := sentTo(t, env, "password_reset"); n > limits.Defaults.Resets.PerAccount || n == 0 {
		t.Errorf("strangers made ada's mailbox receive %d reset links in one window, want 1 to %d", n, limits.Defaults.Resets.PerAccount)
	}
}

// Strangers register ada+1@, ada+2@, ... from many addresses (30 registrations per address per
// hour): each account's welcome, with its verification link, went to the one mailbox. At most
// PLANOAUTH_REGISTER_LIMIT_RECIPIENT welcomes are sent per window; the registrations past it
// succeed all the same (the answer does not tell), without one.
func TestStrangersCannotFloodAMailboxWithWelcomes(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	registered := 0
	for i := range limits.Defaults.WelcomeRecipients.PerRecipient + 3 {
		postFrom(env, addr(100+i), clientsRegister, registration(fmt.Sprintf("ada+%d@example.com", i)), "").
			Expect(t, 200, gen.StatusActionSuccessful)
		registered++
	}
	env.DeliverEmails()
	if n := sentTo(t, env, "welcome"); n != limits.Defaults.WelcomeRecipients.PerRecipient {
		t.Errorf("%d registrations of ada's subaddresses sent %d welcomes, want %d", registered, n, limits.Defaults.WelcomeRecipients.PerRecipient)
	}
	if n := countRows(t, env, "users"); n < registered {
		t.Errorf("%d users, want the %d registered", n, registered)
	}
}
