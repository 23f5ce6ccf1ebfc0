package impl_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

const (
	companiesMembers       = "/api/v1/companies/members"
	companiesApproveMember = "/api/v1/companies/approve_member"
	companiesRemoveMember  = "/api/v1/companies/remove_member"
	companiesRequestMember = "/api/v1/companies/request_member"
)

// membership reads companies/members of a company as token.
func membership(t *testing.T, env *apitest.Env, token string, company int64) gen.CompanyMembers {
	t.Helper()
	var m gen.CompanyMembers
	env.Get(companiesMembers+"?company_id="+strconv.FormatInt(company, 10), token).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &m)
	if m.Members == nil || m.Requests == nil {
		t.Fatalf("membership = %+v, want two lists, never null", m)
	}
	return m
}

func memberIDs(m gen.CompanyMembers) []int64 {
	ids := []int64{}
	for _, c := range m.Members {
		ids = append(ids, c.Client.Id)
	}
	return ids
}

func requestIDs(m gen.CompanyMembers) []int64 {
	ids := []int64{}
	for _, c := range m.Requests {
		ids = append(ids, c.Client.Id)
	}
	return ids
}

// companyFixture is an enterprise company, its verified owner, and verified clients.
type companyFixture struct {
	company      int64
	owner        string // the owner's session
	ownerClient  int64
	ada, bob     string // sessions of two verified clients
	adaC, bobC   int64
	employee     string
	staffUnproof string // an employee whose email is not verified
}

func newCompanyFixture(t *testing.T, env *apitest.Env) companyFixture {
	t.Helper()
	params := registration("owner@example.com")
	params["enterprise"] = true
	params["client"].(map[string]any)["company_name"] = "Analytical Engines"
	registered := register(t, env, params)
	f := companyFixture{company: *registered.Client.CompanyId, ownerClient: registered.Client.Id, owner: verify(t, env, "owner@example.com")}
	env.User("ada@example.com", password, "client")
	env.User("bob@example.com", password, "client")
	env.User("staff@example.com", password, "employee")
	env.UnverifiedUser("newstaff@example.com", password, "employee")
	f.ada, f.bob = env.Login("ada@example.com", password, "planoorder"), env.Login("bob@example.com", password, "planoorder")
	f.adaC, f.bobC = clientIDOf(t, env, "ada@example.com"), clientIDOf(t, env, "bob@example.com")
	f.employee = env.Login("staff@example.com", password, "planoorder")
	f.staffUnproof = env.Login("newstaff@example.com", password, "planoorder")
	return f
}

func (f companyFixture) change(env *apitest.Env, path string, client int64, token string) *apitest.Response {
	env.T.Helper()
	return env.PostJSON(path, map[string]any{"company_id": f.company, "client_id": client}, token)
}

func TestCompaniesMembers(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	f := newCompanyFixture(t, env)
	env.PostJSON(companiesRequestMember, map[string]any{"company_id": f.company}, f.ada).Expect(t, 200, gen.StatusActionSuccessful)
	other := newCompany(t, env, "Other")

	t.Run("OK", func(t *testing.T) {
		for name, token := range map[string]string{"Owner": f.owner, "Employee": f.employee, "Application": env.AppTokens["planox2"]} {
			t.Run(name, func(t *testing.T) {
				m := membership(t, env, token, f.company)
				if m.Company.Id != f.company || m.Company.Name != "Analytical Engines" {
					t.Errorf("company = %+v", m.Company)
				}
				if got := memberIDs(m); !slices.Equal(got, []int64{f.ownerClient}) || !*m.Members[0].Owner || !m.Members[0].EmailVerified {
					t.Errorf("members = %+v, want the verified owner", m.Members)
				}
				if got := requestIDs(m); !slices.Equal(got, []int64{f.adaC}) || m.Requests[0].RequestedAt == nil {
					t.Errorf("requests = %+v, want ada's, with its time", m.Requests)
				}
			})
		}
	})
	t.Run("ErrPermissionDenied", func(t *testing.T) {
		for name, tc := range map[string]struct {
			token   string
			company int64
		}{
			"Requester":          {f.ada, f.company},
			"OtherClient":        {f.bob, f.company},
			"OwnerOtherCompany":  {f.owner, other},
			"OwnerUnknownId":     {f.owner, 987654}, // as for a company it does not own
			"UnverifiedEmployee": {f.staffUnproof, f.company},
		} {
			t.Run(name, func(t *testing.T) {
				env.Get(companiesMembers+"?company_id="+strconv.FormatInt(tc.company, 10), tc.token).Expect(t, 403, gen.StatusPermissionDenied)
			})
		}
	})
	t.Run("ErrInvalidParamUnknownCompany", func(t *testing.T) {
		res := env.Get(companiesMembers+"?company_id=987654", f.employee).Expect(t, 400, gen.StatusInvalidParam)
		if got := res.Params(); len(got) != 1 || got[0] != "company_id" {
			t.Errorf("errors = %v, want [company_id]", got)
		}
	})
	t.Run("ErrLiaison", func(t *testing.T) {
		env.User("lia@example.com", password, "liaison")
		env.Get(companiesMembers+"?company_id="+strconv.FormatInt(f.company, 10), env.Login("lia@example.com", password, "planox2")).
			Expect(t, 403, gen.StatusPermissionDenied)
	})
}

func TestCompaniesApproveAndRemove(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	f := newCompanyFixture(t, env)
	env.PostJSON(companiesRequestMember, map[string]any{"company_id": f.company}, f.ada).Expect(t, 200, gen.StatusActionSuccessful)

	t.Run("ErrOwnerWithoutRequest", func(t *testing.T) {
		for _, client := range []int64{f.bobC, 987654} { // an unknown client is answered alike
			res := f.change(env, companiesApproveMember, client, f.owner).Expect(t, 400, gen.StatusInvalidParam)
			if got := res.Params(); len(got) != 1 || got[0] != "client_id" {
				t.Errorf("errors = %v, want [client_id]", got)
			}
		}
	})
	t.Run("ErrNotTheOwner", func(t *testing.T) {
		f.change(env, companiesApproveMember, f.adaC, f.bob).Expect(t, 403, gen.StatusPermissionDenied)
		f.change(env, companiesApproveMember, f.adaC, f.staffUnproof).Expect(t, 403, gen.StatusPermissionDenied)
		f.change(env, companiesRemoveMember, f.ownerClient, f.ada).Expect(t, 403, gen.StatusPermissionDenied)
	})
	t.Run("OwnerApprovesOnce", func(t *testing.T) {
		// Concurrent approvals from several addresses: the request is taken once.
		const n = 10
		flights := make([]*apitest.InFlight, n)
		for i := range n {
			req := apitest.Request(http.MethodPost, companiesApproveMember, "application/json",
				[]byte(fmt.Sprintf(`{"company_id":%d,"client_id":%d}`, f.company, f.adaC)), f.owner)
			req.RemoteAddr = fmt.Sprintf("127.0.0.%d:1234", i+1)
			flights[i] = env.Start(req)
		}
		codes := make([]int, n)
		for i, f := range flights {
			codes[i] = f.Wait().Code
		}
		if ok := countCode(codes, 200); ok != 1 || countCode(codes, 400) != n-1 {
			t.Errorf("answers = %v, want one approval and %d invalid-param", codes, n-1)
		}
		m := membership(t, env, f.owner, f.company)
		if !slices.Equal(memberIDs(m), []int64{f.ownerClient, f.adaC}) || len(m.Requests) != 0 {
			t.Errorf("membership = %+v, want the owner and ada, no request", m)
		}
		if _, companies := grants(t, env, f.ada); !slices.Equal(companies, []int64{f.company}) {
			t.Errorf("ada may grant %v, want the company she joined", companies)
		}
	})
	t.Run("EmployeeAddsWithoutRequest", func(t *testing.T) {
		res := f.change(env, companiesApproveMember, f.bobC, f.employee).Expect(t, 200, gen.StatusActionSuccessful)
		var m gen.CompanyMembers
		res.Data(t, &m)
		if !slices.Contains(memberIDs(m), f.bobC) {
			t.Errorf("members = %v, want bob among them", memberIDs(m))
		}
	})
	t.Run("ErrUnverifiedClient", func(t *testing.T) {
		params := registration("fresh@example.com")
		params["client"].(map[string]any)["company_id"] = f.company
		fresh := register(t, env, params)
		res := f.change(env, companiesApproveMember, fresh.Client.Id, env.AppTokens["planoorder"]).Expect(t, 400, gen.StatusInvalidParam)
		if got := res.Params(); len(got) != 1 || got[0] != "client_id" {
			t.Errorf("errors = %v, want [client_id]", got)
		}
		if got := requestIDs(membership(t, env, f.owner, f.company)); !slices.Equal(got, []int64{fresh.Client.Id}) {
			t.Errorf("requests = %v, want the fresh client's kept", got)
		}
		res = f.change(env, companiesRemoveMember, fresh.Client.Id, f.owner).Expect(t, 200, gen.StatusActionSuccessful) // refused
		var m gen.CompanyMembers
		res.Data(t, &m)
		if len(m.Requests) != 0 {
			t.Errorf("requests = %v, want the refused one gone", requestIDs(m))
		}
	})
	t.Run("RemoveTakesBackTheMembersGrants", func(t *testing.T) {
		env.PostSensitive(liaisonsRegister, map[string]any{"liaison": map[string]any{"email": "lia@example.com"},
			"company_ids": []int64{f.company}}, f.ada).Expect(t, 200, gen.StatusActionSuccessful)
		acceptInvitation(t, env, "lia@example.com", "planoorder")
		lia := acceptedLiaisonSession(t, env, "lia@example.com")
		if _, companies := grants(t, env, lia); !slices.Equal(companies, []int64{f.company}) {
			t.Fatalf("lia acts for %v, want the company ada granted", companies)
		}
		f.change(env, companiesRemoveMember, f.adaC, f.owner).Expect(t, 200, gen.StatusActionSuccessful)
		if _, companies := grants(t, env, lia); len(companies) != 0 {
			t.Errorf("lia still acts for %v after ada left the company", companies)
		}
		if _, companies := grants(t, env, f.ada); len(companies) != 0 {
			t.Errorf("ada may still grant %v after leaving", companies)
		}
	})
	t.Run("ErrRemove", func(t *testing.T) {
		for name, client := range map[string]int64{"Owner": f.ownerClient, "NotAMember": f.adaC, "Unknown": 987654} {
			t.Run(name, func(t *testing.T) {
				f.change(env, companiesRemoveMember, client, f.employee).Expect(t, 400, gen.StatusInvalidParam)
			})
		}
	})
}

// A company id named at registration records a request whatever it names: the answer does not
// tell the caller whether the company exists.
func TestMembershipRequestRevealsNoIDs(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	existing := newCompany(t, env, "Existing")
	answers := map[string]string{}
	for name, id := range map[string]int64{"existing": existing, "missing": 987654} {
		params := registration(name + "@example.com")
		params["view"] = "client_read"
		params["client"].(map[string]any)["company_id"] = id
		c := register(t, env, params).Client
		c.Id, c.UserId, c.Email, c.CreatedAt = 0, nil, nil, nil // what differs between any two registrations
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		answers[name] = string(b)
	}
	if answers["existing"] != answers["missing"] {
		t.Errorf("answers differ: %s vs %s", answers["existing"], answers["missing"])
	}
	if n := countRows(t, env, "company_member_requests"); n != 1 {
		t.Errorf("%d requests recorded, want the one for the company that exists", n)
	}
	env.User("verified@example.com", password, "client")
	token := env.Login("verified@example.com", password, "planoorder")
	for _, id := range []int64{existing, 987654} {
		var r gen.MemberRequested
		env.PostJSON(companiesRequestMember, map[string]any{"company_id": id}, token).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &r)
		if !r.Requested {
			t.Errorf("request for %d answered %+v", id, r)
		}
	}
}

func countCode(codes []int, code int) int {
	n := 0
	for _, c := range codes {
		if c == code {
			n++
		}
	}
	return n
}
