package impl_test

import (
	"context"
	"slices"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

const liaisonsRegister = "/api/v1/liaisons/register"

func liaisonClientIDs(l gen.Liaison) []int64 {
	var ids []int64
	for _, c := range l.Clients {
		ids = append(ids, c.Id)
	}
	return ids
}

func liaisonCompanyIDs(l gen.Liaison) []int64 {
	var ids []int64
	for _, c := range l.Companies {
		ids = append(ids, c.Id)
	}
	return ids
}

func TestLiaisonsRegister(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	env.User("bob@example.com", password, "client")
	env.User("staff@example.com", password, "employee")
	adaCompany := newCompany(t, env, "Analytical Engines")
	setCompany(t, env, "ada@example.com", adaCompany)
	adaClient, bobClient := clientIDOf(t, env, "ada@example.com"), clientIDOf(t, env, "bob@example.com")
	ada := env.Login("ada@example.com", password, "planoorder")
	bob := env.Login("bob@example.com", password, "planoorder")
	staff := env.Login("staff@example.com", password, "planoorder")

	t.Run("OK", func(t *testing.T) {
		res := env.PostSensitive(liaisonsRegister, map[string]any{
			"liaison":    map[string]any{"email": "lia@example.com", "first_name": "Lia"},
			"client_ids": []int64{adaClient, adaClient}, "company_ids": []int64{adaCompany},
		}, ada).Expect(t, 200, gen.StatusActionSuccessful)
		var l gen.Liaison
		res.Data(t, &l)
		if l.User.Email != "lia@example.com" || *l.User.FirstName != "Lia" || *l.User.HasPassword || *l.User.EmailVerified || l.Accepted {
			t.Errorf("liaison = %s, want lia, without a password, unverified, not accepted yet", res.Envelope.Data)
		}
		if got := liaisonClientIDs(l); !slices.Equal(got, []int64{adaClient}) {
			t.Errorf("clients = %v, want [%d]", got, adaClient)
		}
		if got := liaisonCompanyIDs(l); !slices.Equal(got, []int64{adaCompany}) {
			t.Errorf("companies = %v, want [%d]", got, adaCompany)
		}
		if !slices.Contains(outbox(t, env), "invitation lia@example.com") {
			t.Errorf("outbox = %v, want an invitation to lia", outbox(t, env))
		}
		// Until lia accepts, she has no liaison role: planox2 refuses her even with a proven email.
		requestLink(env, "lia@example.com", "planox2").Expect(t, 200, gen.StatusActionSuccessful)
		useLink(env, lastLinkToken(t, env, "lia@example.com"), "planox2").Expect(t, 400, gen.StatusUserRequiresRole)
		s := acceptInvitation(t, env, "lia@example.com", "planoorder")
		if *s.Role != gen.RoleLiaison || !*s.User.EmailVerified {
			t.Errorf("session = %+v, want a verified liaison", s)
		}
	})
	t.Run("GrantsAccumulate", func(t *testing.T) {
		res := env.PostSensitive(liaisonsRegister, map[string]any{
			"liaison": map[string]any{"email": "LIA@example.com"}, "client_ids": []int64{bobClient},
		}, bob).Expect(t, 200, gen.StatusActionSuccessful)
		var l gen.Liaison
		res.Data(t, &l)
		// Bob sees what he granted, never what ada granted, nor more of lia than her email.
		if got := liaisonClientIDs(l); !slices.Equal(got, []int64{bobClient}) {
			t.Errorf("clients = %v, want only bob's (ada's grant is not bob's to see)", got)
		}
		if l.User.FirstName != nil || l.User.LastName != nil || l.User.HasPassword != nil || l.User.EmailVerified != nil {
			t.Errorf("user = %+v, want only the existing user's id and email", l.User)
		}
		if !l.Accepted {
			t.Errorf("liaison = %s, want lia's accepted role (her grants apply at once)", res.Envelope.Data)
		}
		if n := countRows(t, env, "liaisons"); n != 1 {
			t.Errorf("%d liaisons, want the one lia already had", n)
		}
		var grants int
		if err := env.Pool.QueryRow(context.Background(), "SELECT count(*) FROM liaison_clients").Scan(&grants); err != nil || grants != 2 {
			t.Errorf("%d client grants (%v), want ada's and bob's", grants, err)
		}
	})
	t.Run("ExistingUserKeepsPassword", func(t *testing.T) {
		env.User("someone@example.com", password)
		env.PostSensitive(liaisonsRegister, map[string]any{
			"liaison": map[string]any{"email": "someone@example.com"}, "client_ids": []int64{adaClient},
		}, ada).Expect(t, 200, gen.StatusActionSuccessful)
		login(env, map[string]any{"email": "someone@example.com", "password": password, "application": "planox2"}).
			Expect(t, 400, gen.StatusUserRequiresRole) // not a liaison until accepted
		acceptInvitation(t, env, "someone@example.com", "planoorder")
		env.Login("someone@example.com", password, "planox2") // now a liaison, with its own password
	})
	t.Run("LiaisonGrantsWhatItActsFor", func(t *testing.T) {
		lia := acceptedLiaisonSession(t, env, "lia@example.com")
		env.PostSensitive(liaisonsRegister, map[string]any{
			"liaison": map[string]any{"email": "sub@example.com"}, "client_ids": []int64{bobClient}, "company_ids": []int64{adaCompany},
		}, lia).Expect(t, 200, gen.StatusActionSuccessful)
		other := newCompany(t, env, "Not Lia's")
		env.PostSensitive(liaisonsRegister, map[string]any{
			"liaison": map[string]any{"email": "sub@example.com"}, "company_ids": []int64{other},
		}, lia).Expect(t, 403, gen.StatusPermissionDenied)
	})
	t.Run("EmployeeGrantsAnything", func(t *testing.T) {
		other := newCompany(t, env, "Anyone's")
		res := env.PostSensitive(liaisonsRegister, map[string]any{
			"liaison": map[string]any{"email": "staffs@example.com"}, "client_ids": []int64{adaClient, bobClient}, "company_ids": []int64{other},
		}, staff).Expect(t, 200, gen.StatusActionSuccessful)
		var l gen.Liaison
		res.Data(t, &l)
		if len(l.Clients) != 2 || len(l.Companies) != 1 {
			t.Errorf("liaison = %s, want 2 clients and 1 company", res.Envelope.Data)
		}
	})
	t.Run("ErrPermissionDenied", func(t *testing.T) {
		liaisons := countRows(t, env, "liaisons")
		for name, grant := range map[string]map[string]any{
			"OtherClient":    {"client_ids": []int64{bobClient}},
			"OtherCompany":   {"company_ids": []int64{newCompany(t, env, "Bob's")}},
			"UnknownClient":  {"client_ids": []int64{987654}}, // denied, not revealed as unknown
			"OwnAndAnother":  {"client_ids": []int64{adaClient, bobClient}},
			"CompanylessBob": {"company_ids": []int64{adaCompany}},
		} {
			t.Run(name, func(t *testing.T) {
				params := map[string]any{"liaison": map[string]any{"email": "nope@example.com"}}
				for k, v := range grant {
					params[k] = v
				}
				token := ada
				if name == "CompanylessBob" {
					token = bob
				}
				env.PostSensitive(liaisonsRegister, params, token).Expect(t, 403, gen.StatusPermissionDenied)
			})
		}
		if n := countRows(t, env, "liaisons"); n != liaisons {
			t.Errorf("liaisons went from %d to %d", liaisons, n)
		}
	})
	t.Run("ErrInvalidParamUnknownID", func(t *testing.T) {
		res := env.PostSensitive(liaisonsRegister, map[string]any{
			"liaison": map[string]any{"email": "nope@example.com"}, "client_ids": []int64{adaClient, 987654}, "company_ids": []int64{876543},
		}, staff).Expect(t, 400, gen.StatusInvalidParam)
		if got, want := res.Params(), []string{"client_ids", "company_ids"}; !slices.Equal(got, want) {
			t.Errorf("errors = %v, want %v", got, want)
		}
	})
	t.Run("ErrInvalidParamNothingGranted", func(t *testing.T) {
		res := env.PostSensitive(liaisonsRegister, map[string]any{"liaison": map[string]any{"email": "nope@example.com"}, "client_ids": []int64{}}, ada).
			Expect(t, 400, gen.StatusInvalidParam)
		if got := res.Params(); !slices.Equal(got, []string{"client_ids"}) {
			t.Errorf("errors = %v, want [client_ids]", got)
		}
	})
	t.Run("ErrClientValidationFailed", func(t *testing.T) {
		res := env.PostSensitive(liaisonsRegister, map[string]any{
			"liaison": map[string]any{"email": "not an email", "phone": "x"}, "client_ids": []int64{adaClient},
		}, ada).Expect(t, 400, gen.StatusClientValidationFailed)
		if got, want := res.Params(), []string{"liaison.email", "liaison.phone"}; !slices.Equal(got, want) {
			t.Errorf("errors = %v, want %v", got, want)
		}
	})
	t.Run("ErrApplicationToken", func(t *testing.T) {
		env.PostSensitive(liaisonsRegister, map[string]any{"liaison": map[string]any{"email": "nope@example.com"}, "client_ids": []int64{adaClient}},
			env.AppTokens["planoorder"]).Expect(t, 403, gen.StatusPermissionDenied)
	})
}
