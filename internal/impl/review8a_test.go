package impl_test

// Review 8, part a: who may do what, attacked from the HTTP API. Each test is an attack that
// should be refused, and FAILS while the hole is open. The comment above each test says what
// the attacker does and why the answer is wrong.

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

// holdRoleScopes locks the role_scopes table until the returned release runs: a sign-in that
// reads its role's scopes to create its session waits there, after everything it checked.
func holdRoleScopes(t *testing.T, env *apitest.Env) (release func()) {
	t.Helper()
	tx, err := env.Pool.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(context.Background(), "LOCK TABLE role_scopes IN ACCESS EXCLUSIVE MODE"); err != nil {
		_ = tx.Rollback(context.Background())
		t.Fatal(err)
	}
	return func() { _ = tx.Rollback(context.Background()) }
}

// emailVerified reads whether the user of email has proven it, as committed.
func emailVerified(t *testing.T, env *apitest.Env, email string) bool {
	t.Helper()
	var verified bool
	err := env.Pool.QueryRow(context.Background(),
		"SELECT email_verified_at IS NOT NULL FROM users WHERE email = $1", email).Scan(&verified)
	if err != nil {
		t.Fatal(err)
	}
	return verified
}

// waitingOnALock reports whether a statement of the test's database waits for a lock.
func waitingOnALock(t *testing.T, env *apitest.Env) bool {
	t.Helper()
	return lockWaiters(t, env) > 0
}

// lockWaiters counts the statements of the test's database that wait for a lock.
func lockWaiters(t *testing.T, env *apitest.Env) int {
	t.Helper()
	var n int
	err := env.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'").Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Finding 1. A squatter's passkey sign-in in flight outlives the owner's first proof, and opens
// a session on the account the owner just proved: an account takeover.
//
// The squatter registers the owner's email (clients/register: unverified, its own password) and
// adds a passkey with its registration session (allowed: the first proof takes factors back).
// The owner later proves the mailbox (the welcome email's link). "The first proof takes back
// what came before it... its second factors, its sessions... A password log-in in flight at
// that moment creates no session (sessions are created only while the credential checked is
// still the user's)" (openapi, Who is who; DESIGN §5a "A credential change wins over a login in
// flight"). A passkey is a credential too, and the first proof deletes it; but
// sessions/passkey_finish creates its session without fromPassword (CreateSession's
// check_credential is off), so an assertion verified just before the proof commits opens a
// session just after it: an aal2 session of the squatter on the owner's proven account, which
// the proof's revocation never saw. The squatter can keep such sign-ins going while it waits.
//
// The window is made wide here by locking role_scopes, which the sign-in reads after verifying
// the passkey and before inserting its session (the proof does not read it).
func TestReview8aPasskeySignInInFlightOutlivesTheFirstProof(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	params := registration("ada@example.com")
	params["application"] = "planoauth"
	squatter := register(t, env, params)
	a := apitest.NewAuthenticator(passkeyOrigin)
	registerPasskey(t, env, a, *squatter.Session.Token)
	// Nothing of the squatter is live when the owner proves the email: only its passkey.
	env.PostJSON(sessionsDelete, map[string]any{"all": true}, *squatter.Session.Token).Expect(t, 200, gen.StatusActionSuccessful)

	opts := options(t, mfaPost(env, addr(7), passkeySignInBegin, map[string]any{"application": "planoorder"}, "").
		Expect(t, 200, gen.StatusActionSuccessful))
	finish := apitest.Request(http.MethodPost, passkeySignInEnd, "text/plain",
		apitest.Sensitive(t, map[string]any{"credential": a.Assert(t, opts), "application": "planoorder"}), "")
	finish.RemoteAddr = addr(7) + ":1234"

	release := holdRoleScopes(t, env)
	answer := env.Start(finish)
	until(t, func() bool { return waitingOnALock(t, env) }, answer, release, "the passkey sign-in never waited to create its session")

	// The owner proves the mailbox meanwhile (the welcome email's link): the proof commits, taking
	// the squatter's password, passkey and sessions (its own session then waits as well).
	env.DeliverEmails()
	link := apitest.Request(http.MethodPost, magicLinkCreate, "text/plain", apitest.Sensitive(t,
		map[string]any{"magic_token": lastLinkToken(t, env, "ada@example.com"), "application": "planoauth"}), "")
	owner := env.Start(link)
	until(t, func() bool { return emailVerified(t, env, "ada@example.com") }, owner, release, "the owner's proof never committed")
	release()
	owner.Wait().Expect(t, 200, gen.StatusActionSuccessful)
	res := answer.Wait()
	if res.Code != http.StatusOK {
		res.Expect(t, 400, gen.StatusInvalidPasskey) // refused: the proof won
		return
	}
	var session gen.Session
	if res.Data(t, &session); session.Token == nil {
		t.Fatalf("a 200 without a session: %s", res.Raw)
	}
	if code := readStatus(env, env.Handler, *session.Token); code == http.StatusOK {
		s := readSession(t, env, *session.Token)
		t.Errorf("the squatter's passkey sign-in in flight at the owner's first proof holds a live session on the "+
			"proven account: %s, %s, user %s (email_verified %v)", s.Application.Slug, *s.Aal, s.User.Email, *s.User.EmailVerified)
	}
}

// until polls cond (a state of the database, which only polling can see) until it holds; it
// fails the test (releasing what release holds) when the request in flight answered first, or
// after 5 seconds.
func until(t *testing.T, cond func() bool, answer *apitest.InFlight, release func(), what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		select {
		case <-answer.Done():
			release()
			res := answer.Wait()
			t.Fatalf("%s: it answered %d %s", what, res.Code, res.Raw)
		default:
		}
		if time.Now().After(deadline) {
			release()
			t.Fatal(what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Finding 2 (low). A client makes its own mailbox its liaison by writing its domain the other
// way round: an internationalised domain in its ASCII form (IDNA, xn--), which is the same
// domain and reaches the same mailbox, is not recognised as the caller's own address.
//
// "An email that reaches the caller's own mailbox, or a granted client's, cannot be the liaison
// (invalid-param on liaison.email): the same address, or one that differs only by a +tag..."
// (openapi liaisons/register). emailaddr.Mailbox compares the Unicode spelling of the domain
// with the ASCII one as different strings, so ada@bücher.example registers
// ada@xn--bcher-kva.example, accepts the invitation from her own inbox and signs in to planox2
// as her own liaison, which the rule (review 1, finding 8) exists to prevent.
func TestReview8aPunycodeSelfLiaisonReachesPlanox2(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	params := registration("ada@bücher.example")
	me := register(t, env, params)
	mine := verify(t, env, "ada@bücher.example")
	res := env.PostSensitive(liaisonsRegister, map[string]any{"liaison": map[string]any{"email": "ada@xn--bcher-kva.example"},
		"client_ids": []int64{me.Client.Id}}, mine)
	if res.Code == http.StatusOK {
		t.Errorf("a self-registered client made its own address, with the domain in its ASCII form, its liaison; " +
			"want invalid-param on liaison.email")
		return
	}
	res.Expect(t, 400, gen.StatusInvalidParam)
}

// Review 8a, observation made a finding: an employee whose email is not proven (possibly a
// squatter of the employee's address) may not look users up (users/lookup answers
// permission-denied), but clients/create for the email of an existing user without a client
// answered that user's names and phone. Since review 19a such a caller may not act on an
// existing user at all (permission-denied, nothing made: nobody is given a role or a membership
// request in someone else's name), so it learns none of them either.
func TestReview8aUnprovenEmployeeLearnsNoExistingUsersDetails(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	squatter := env.Session(env.UnverifiedUser("staff@example.com", password, "employee"), "planoorder", "employee")
	ada := env.User("ada@example.com", password) // no role yet: a client can be made for her
	if _, err := env.Pool.Exec(context.Background(), "UPDATE users SET first_name = 'Ada', last_name = 'Lovelace', phone = '+44 20 7946 0000' WHERE id = $1", ada); err != nil {
		t.Fatal(err)
	}
	res := env.PostSensitive(clientsCreate, map[string]any{"view": "client_read", "client": map[string]any{"email": "ada@example.com"}}, squatter).
		Expect(t, 403, gen.StatusPermissionDenied)
	if roleOf(t, env, ada, "clients") {
		t.Error("an unproven employee made an existing user a client")
	}
	for _, secret := range []string{"Ada", "Lovelace", "7946"} {
		if strings.Contains(string(res.Envelope.Data), secret) {
			t.Errorf("an unproven employee learned %q of an existing user: %s", secret, res.Envelope.Data)
		}
	}
	// A verified employee, who may look users up, is answered them.
	staff := env.Session(env.User("boss@example.com", password, "employee"), "planoorder", "employee")
	env.User("bob@example.com", password)
	res = env.PostSensitive(clientsCreate, map[string]any{"view": "client_read", "client": map[string]any{"email": "bob@example.com"}}, staff).
		Expect(t, 200, gen.StatusClientCreatedForExistingEmail)
	var c gen.ClientProfile
	if res.Data(t, &c); c.FirstName == nil || *c.FirstName != "Test" {
		t.Errorf("a verified employee was not answered the user's names: %s", res.Envelope.Data)
	}
}

// roleOf reports whether userID has a row in table (clients, employees, liaisons).
func roleOf(t *testing.T, env *apitest.Env, userID int64, table string) bool {
	t.Helper()
	var has bool
	if err := env.Pool.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM "+table+" WHERE user_id = $1)", userID).Scan(&has); err != nil {
		t.Fatal(err)
	}
	return has
}
