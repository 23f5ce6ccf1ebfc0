package impl_test

import (
	"slices"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

const scopesLiaisonRegister = "/api/v1/scopes/liaison_register"

// grants reads what scopes/liaison_register answers token, as client and company ids.
func grants(t *testing.T, env *apitest.Env, token string) (clients, companies []int64) {
	t.Helper()
	res := env.Get(scopesLiaisonRegister, token).Expect(t, 200, gen.StatusActionSuccessful)
	var g gen.LiaisonGrants
	res.Data(t, &g)
	if g.Clients == nil || g.Companies == nil {
		t.Fatalf("data = %s, want two lists, never null", res.Envelope.Data)
	}
	clients, companies = []int64{}, []int64{}
	for _, c := range g.Clients {
		if c.Email == nil {
			t.Errorf("client %d is not in the default view", c.Id)
		}
		clients = append(clients, c.Id)
	}
	for _, c := range g.Companies {
		companies = append(companies, c.Id)
	}
	return clients, companies
}

func TestScopesLiaisonRegister(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	env.User("bob@example.com", password, "client")
	env.User("staff@example.com", password, "employee")
	env.User("norole@example.com", password)
	adaCompany, otherCompany := newCompany(t, env, "Analytical Engines"), newCompany(t, env, "Other")
	setCompany(t, env, "ada@example.com", adaCompany)
	adaClient, bobClient := clientIDOf(t, env, "ada@example.com"), clientIDOf(t, env, "bob@example.com")
	ada := env.Login("ada@example.com", password, "planoorder")

	check := func(t *testing.T, token string, wantClients, wantCompanies []int64) {
		t.Helper()
		clients, companies := grants(t, env, token)
		if !slices.Equal(clients, wantClients) || !slices.Equal(companies, wantCompanies) {
			t.Errorf("grants = %v %v, want %v %v", clients, companies, wantClients, wantCompanies)
		}
	}
	t.Run("Client", func(t *testing.T) {
		check(t, ada, []int64{adaClient}, []int64{adaCompany})
	})
	t.Run("ClientWithoutCompany", func(t *testing.T) {
		check(t, env.Login("bob@example.com", password, "planoorder"), []int64{bobClient}, []int64{})
	})
	t.Run("Employee", func(t *testing.T) {
		check(t, env.Login("staff@example.com", password, "planoorder"), []int64{adaClient, bobClient}, []int64{adaCompany, otherCompany})
	})
	t.Run("Application", func(t *testing.T) {
		check(t, env.AppTokens["planox2"], []int64{adaClient, bobClient}, []int64{adaCompany, otherCompany})
	})
	t.Run("Liaison", func(t *testing.T) {
		env.PostSensitive(liaisonsRegister, map[string]any{
			"liaison": map[string]any{"email": "lia@example.com"}, "company_ids": []int64{adaCompany},
		}, ada).Expect(t, 200, gen.StatusActionSuccessful)
		check(t, *acceptInvitation(t, env, "lia@example.com", "planoorder").Token, []int64{}, []int64{adaCompany})
	})
	t.Run("UnverifiedGrantsNothing", func(t *testing.T) {
		env.UnverifiedUser("fresh@example.com", password, "client")
		check(t, env.Login("fresh@example.com", password, "planoorder"), []int64{}, []int64{})
	})
	t.Run("RequestedCompanyIsNotListed", func(t *testing.T) {
		env.User("asks@example.com", password, "client")
		token := env.Login("asks@example.com", password, "planoorder")
		env.PostJSON(companiesRequestMember, map[string]any{"company_id": otherCompany}, token).Expect(t, 200, gen.StatusActionSuccessful)
		check(t, token, []int64{clientIDOf(t, env, "asks@example.com")}, []int64{})
	})
	t.Run("ErrClientRequired", func(t *testing.T) {
		env.Get(scopesLiaisonRegister, limitedSession(t, env, "norole@example.com")).Expect(t, 401, gen.StatusClientRequired)
	})
}

func TestScopesLiaisonRegisterCapped(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	exec(t, env, `WITH u AS (
		INSERT INTO users (email) SELECT 'client' || i || '@example.com' FROM generate_series(1, 501) AS i RETURNING id)
		INSERT INTO clients (user_id) SELECT id FROM u`)
	exec(t, env, "INSERT INTO companies (name) SELECT 'Company ' || i FROM generate_series(1, 501) AS i")
	clients, companies := grants(t, env, env.AppTokens["planoorder"])
	if len(clients) != 500 || len(companies) != 500 {
		t.Errorf("listed %d clients and %d companies, want 500 of each", len(clients), len(companies))
	}
	if !slices.IsSorted(clients) || !slices.IsSorted(companies) {
		t.Errorf("lists are not in id order")
	}
}
