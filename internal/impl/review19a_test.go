package impl_test

// Review 19, part a: who may do what, attacked from the HTTP API as a stranger, a client, a
// liaison, an employee or another application would.

import (
	"strconv"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

// An employee whose employee record is gone (an operator took the role back) keeps her
// session, whose role says employee. What writes rests on the employee record is refused
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
	exec(t, env, "DELETE FROM employees WHERE user_id = $1", grace)

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
}
