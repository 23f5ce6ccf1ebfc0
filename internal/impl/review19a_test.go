package impl_test

// Review 19, part a: who may do what, attacked from the HTTP API as a stranger, a client, a
// liaison, an employee or another application would.

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

// An employee whose employee record is gone (deleted by an operator or by the coexisting
// system, whose feed names employees delete) keeps her session, whose role says employee, and
// introspection tells applications so. What writes rests on the employee record is refused
// (lockEmployee: users/lookup, sessions/revoke, clients/create, companies/approve_member); what
// only reads must be refused too: the whole audit trail (every user's addresses and sign-ins),
// every client's profile (scopes/liaison_register lists what an employee may grant: all), and
// any company's members.
func TestReview19FormerEmployeeReadsNothingOfEveryone(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	grace := env.User("grace@example.com", password, "employee")
	env.User("ada@example.com", password, "client")
	acme := newCompany(t, env, "Acme")
	token := env.Login("grace@example.com", password, "planoauth")
	// The deletion revokes her sessions (00095_role_records_revoke); what follows is deleted
	// past that trigger, as for a session an instance loaded before it was told, so that the
	// read paths' own check of the record (holdsRole) is what answers.
	deleteUntriggered(t, env, "DELETE FROM employees WHERE user_id = $1", grace)

	// What rests on the record is refused (these hold on main).
	env.PostJSON(usersLookup, map[string]any{"email": "ada@example.com"}, token).Expect(t, 403, gen.StatusPermissionDenied)

	if res := env.Get(auditIndex, token); res.Code != 403 {
		t.Errorf("a former employee read the audit trail: %d %s", res.Code, res.Status())
	}
	var grants gen.LiaisonGrants
	env.Get(scopesLiaisonRegister, token).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &grants)
	if len(grants.Clients)+len(grants.Companies) > 0 {
		t.Errorf("a former employee may grant (and read) %d clients and %d companies, want none", len(grants.Clients), len(grants.Companies))
	}
	if res := env.Get(companiesMembers+"?company_id="+strconv.FormatInt(acme, 10), token); res.Code != 403 {
		t.Errorf("a former employee read a company's members: %d %s", res.Code, res.Status())
	}
	// And every application that checks the token is told she is an employee.
	if _, data := introspect(t, env, env.AppTokens["planoauth"], token, nil); data.Active && data.Role != nil && *data.Role == gen.RoleEmployee {
		t.Error("introspection calls a former employee's session an active employee's")
	}
}

// An employee whose email is not proven yet (newstaff: whoever registered the address before an
// operator made it an employee may not be its owner) is refused what only the entitled may do,
// and clients/create treats it as any other caller: its company_id is a request, its new users
// are invited. But for an email that has a user already it gives that existing user, who asked
// nothing, a client role and a request to join the company in the user's name: the company's
// owner is shown lia's profile among those asking to join, and may make her a member. A role
// takes effect only when someone entitled granted it (§5a), and nobody asks for someone else.
// (lia, a liaison, also stops acting as one in planoorder: a client's role goes first there.)
func TestReview19UnprovenEmployeeMakesSomeoneElseAskToJoin(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	f := newCompanyFixture(t, env)
	env.User("lia@example.com", password, "liaison")
	res := env.PostSensitive(clientsCreate, map[string]any{"client": map[string]any{"email": "lia@example.com", "company_id": f.company}}, f.staffUnproof)
	if res.Code == 200 {
		t.Errorf("an unproven employee made lia a client: %s", res.Status())
	}
	if got := requestIDs(membership(t, env, f.owner, f.company)); len(got) > 0 {
		t.Errorf("the owner sees requests %v to join, made in lia's name by someone else", got)
		if res := f.change(env, companiesApproveMember, got[0], f.owner); res.Code == 200 {
			t.Errorf("the owner made lia a member on that request")
		}
	}
	s := acceptedSession(t, env, "lia@example.com", "planoorder")
	if s.Role == nil || *s.Role != gen.RoleLiaison {
		t.Errorf("lia signs in to planoorder as %s, want liaison", deref(s.Role))
	}
}

// acceptedSession signs email in with its password to application and returns the session.
func acceptedSession(t *testing.T, env *apitest.Env, email, application string) gen.Session {
	t.Helper()
	var s gen.Session
	login(env, map[string]any{"email": email, "password": password, "application": application}).
		Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
	return s
}

// Every email is stored and compared in one normalised form, so that one mailbox has one
// account. An internationalised domain has two spellings that DNS and every mail server take
// for one (exämple.com is xn--exmple-cua.com): emailaddr.Mailbox knows it (a liaison of one's
// own address in the other spelling is refused), but users.email does not, so the mailbox of
// ada@exämple.com gets a second account, registered by anyone, that her look-ups, her proofs
// and her limits do not see.
func TestReview19OneMailboxTwoAccounts(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@exämple.com", password, "client")
	if res := env.PostSensitive(clientsRegister, registration("ada@xn--exmple-cua.com"), ""); res.Code == 200 {
		t.Errorf("ada's mailbox got a second account in the ASCII spelling of its domain")
	}
}

// A password sign-in decides whether it is complete (and so whether its caller gets a device
// token and becomes known to the account) from the user it read before hashing the password.
// The owner's first second factor, added while a thief's sign-in with her password is in
// flight, forgets every caller the account knew (limits.Forget) and commits; the thief's
// sign-in then goes on as if she had none: 200, a device token, its address known, though its
// session is limited from its first use. The thief's device then has an allowance of its own
// for guessing her codes, which a password alone must never buy.
func TestReview19PasswordSignInInFlightAtTheFirstFactor(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	own := env.Login("ada@example.com", password, "planoorder")

	release := holdRows(t, env, "LOCK TABLE role_scopes IN ACCESS EXCLUSIVE MODE")
	req := apitest.Request(http.MethodPost, sessionsCreate, "text/plain", apitest.Sensitive(t,
		map[string]any{"email": "ada@example.com", "password": password, "application": "planoorder"}), "")
	req.RemoteAddr = addr(9) + ":1234"
	thief := env.Start(req)
	until(t, func() bool { return lockWaiters(t, env) >= 1 }, thief, release, "the thief's sign-in never waited")
	enrolTOTP(t, env, own)
	release()
	res := thief.Wait()
	if res.Code == 200 {
		var s gen.Session
		res.Data(t, &s)
		t.Errorf("the thief's password sign-in answered 200 (device token %v) after ada's first factor, want mfa-required", s.DeviceToken != nil)
	}
	var known int
	if err := env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM known_addresses WHERE user_id = $1 AND address = $2`,
		userIDOf(t, env, "ada@example.com"), addr(9)).Scan(&known); err != nil {
		t.Fatal(err)
	}
	if known > 0 {
		t.Error("the thief's address is known to ada's account after her first factor: an allowance of its own for guessing codes")
	}
}

// The coexisting system deletes role records (coexistence/touch names employees, liaisons and
// clients delete): a liaison whose record is gone keeps her planox2 session, which planox2
// accepts only for employees and liaisons, and planox2's backend is told by introspection that
// it is an active liaison's. A role taken back in PlanoAuth revokes the sessions acting with it
// (RevokeRoleSessions); one deleted beside it revokes nothing.
func TestReview19DeletedLiaisonStaysOneInPlanox2(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	lia := env.User("lia@example.com", password, "liaison")
	token := env.Login("lia@example.com", password, "planox2")
	exec(t, env, "DELETE FROM liaisons WHERE user_id = $1", lia)
	if _, data := introspect(t, env, env.AppTokens["planox2"], token, nil); data.Active {
		t.Errorf("planox2 is told lia's session is an active %s's, her liaison record deleted", deref(data.Role))
	}
	login(env, map[string]any{"email": "lia@example.com", "password": password, "application": "planox2"}).
		Expect(t, 400, gen.StatusUserRequiresRole) // a new sign-in is refused, as it should be
}

// PlanoAuth refuses an employee whose email is not proven every right of an employee (it may be
// whoever registered the address before an operator made it an employee: lockEmployeeOrApplication,
// refuseUnverified, auditScope), but introspection tells the application's backend that its
// session is an active employee's, with the employee role's scopes: an application that trusts
// `active` and `role`, as introspection invites it to, hands the squatter what PlanoAuth itself
// withholds.
func TestReview19IntrospectionVouchesForAnUnprovenEmployee(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.UnverifiedUser("newstaff@example.com", password, "employee")
	token := env.Login("newstaff@example.com", password, "planox2")
	env.Get(auditIndex, token).Expect(t, 403, gen.StatusPermissionDenied) // PlanoAuth's own refusal
	if _, data := introspect(t, env, env.AppTokens["planox2"], token, nil); data.Active && data.Role != nil && *data.Role == gen.RoleEmployee {
		t.Errorf("planox2 is told an unproven employee's session is an active employee's (scopes %v)", deref(data.Scopes))
	}
}

// deleteUntriggered runs sql with the triggers off (session_replication_role = replica, in one
// transaction): a role record gone while its sessions are not revoked.
func deleteUntriggered(t *testing.T, env *apitest.Env, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	tx, err := env.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}
