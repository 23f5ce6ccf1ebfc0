package impl_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
)

const liaisonsRegister = "/api/v1/liaisons/register"

func liaisonClientIDs(l gen.LiaisonInvitation) []int64 {
	var ids []int64
	for _, c := range l.Clients {
		ids = append(ids, c.Id)
	}
	return ids
}

func liaisonCompanyIDs(l gen.LiaisonInvitation) []int64 {
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
		var l gen.LiaisonInvitation
		res.Data(t, &l)
		if l.Email != "lia@example.com" {
			t.Errorf("invitation = %s, want one to lia", res.Envelope.Data)
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
		var l gen.LiaisonInvitation
		res.Data(t, &l)
		// Bob sees what he offered, never what ada granted, nor anything of lia but her email.
		if got := liaisonClientIDs(l); !slices.Equal(got, []int64{bobClient}) || l.Email != "lia@example.com" {
			t.Errorf("invitation = %s, want lia offered only bob's client (ada's grant is not bob's to see)", res.Envelope.Data)
		}
		if n := countRows(t, env, "liaisons"); n != 1 {
			t.Errorf("%d liaisons, want the one lia already had", n)
		}
		// Lia, an accepted liaison, acts for bob only once she accepts bob's invitation.
		lia := acceptedLiaisonSession(t, env, "lia@example.com")
		if clients, _ := grants(t, env, lia); !slices.Equal(clients, []int64{adaClient}) {
			t.Errorf("lia acts for %v before accepting bob's offer, want only ada's [%d]", clients, adaClient)
		}
		acceptInvitation(t, env, "lia@example.com", "planoorder")
		if clients, _ := grants(t, env, acceptedLiaisonSession(t, env, "lia@example.com")); !slices.Equal(clients, []int64{adaClient, bobClient}) {
			t.Errorf("lia acts for %v after accepting bob's offer, want ada's and bob's", clients)
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
		var l gen.LiaisonInvitation
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

// offerTo registers email as token's liaison for clients and companies; it returns the answer.
func offerTo(t *testing.T, env *apitest.Env, token, email string, clients, companies []int64) *apitest.Response {
	t.Helper()
	params := map[string]any{"liaison": map[string]any{"email": email}}
	if clients != nil {
		params["client_ids"] = clients
	}
	if companies != nil {
		params["company_ids"] = companies
	}
	return env.PostSensitive(liaisonsRegister, params, token)
}

// Attack: keep acting for a company through a chain of liaisons after the member at its root
// left. Every grant made through a grant goes with it, however long the chain, and the trail
// says so; a liaison passes on only what it accepted.
func TestLiaisonGrantsGoWithTheirSource(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	f := newCompanyFixture(t, env)
	memberOfOwnersCompany(t, env, f)
	company := []int64{f.company}

	env.User("lia@example.com", "", "liaison") // an accepted liaison role from elsewhere
	offerTo(t, env, f.bob, "lia@example.com", nil, company).Expect(t, 200, gen.StatusActionSuccessful)
	// Lia's offer is not accepted yet: she may pass on nothing (her grant is no source yet).
	liaEarly := acceptedLiaisonSession(t, env, "lia@example.com")
	offerTo(t, env, liaEarly, "mallory@example.com", nil, company).Expect(t, 403, gen.StatusPermissionDenied)

	acceptInvitation(t, env, "lia@example.com", "planoorder")
	lia := acceptedLiaisonSession(t, env, "lia@example.com")
	offerTo(t, env, lia, "mallory@example.com", nil, company).Expect(t, 200, gen.StatusActionSuccessful)
	acceptInvitation(t, env, "mallory@example.com", "planox2") // lia's session is in planox2
	mallory := acceptedLiaisonSession(t, env, "mallory@example.com")
	offerTo(t, env, mallory, "nina@example.com", nil, company).Expect(t, 200, gen.StatusActionSuccessful)
	acceptInvitation(t, env, "nina@example.com", "planox2")
	nina := acceptedLiaisonSession(t, env, "nina@example.com")
	offerTo(t, env, nina, "oscar@example.com", nil, company).Expect(t, 200, gen.StatusActionSuccessful) // an offer, not accepted
	for name, token := range map[string]string{"lia": lia, "mallory": mallory, "nina": nina} {
		if _, got := grants(t, env, token); !slices.Equal(got, company) {
			t.Fatalf("%s acts for %v before bob leaves, want the company", name, got)
		}
	}

	res := f.change(env, companiesRemoveMember, f.bobC, f.owner).Expect(t, 200, gen.StatusActionSuccessful)
	for name, token := range map[string]string{"lia": lia, "mallory": mallory, "nina": nina} {
		if _, got := grants(t, env, token); len(got) != 0 {
			t.Errorf("%s still acts for %v after bob, at the root of her grant, left the company", name, got)
		}
	}
	if n := countRows(t, env, "liaison_companies"); n != 0 {
		t.Errorf("%d company grants or offers left, want none: each rested on bob's", n)
	}
	var revoked []int64
	for _, e := range ofRequest(wholeTrail(t, env), res) {
		if e.Kind == gen.AuditGrantRevoked {
			revoked = append(revoked, *e.UserId)
		}
	}
	slices.Sort(revoked)
	want := []int64{userIDOf(t, env, "lia@example.com"), userIDOf(t, env, "mallory@example.com"),
		userIDOf(t, env, "nina@example.com"), userIDOf(t, env, "oscar@example.com")}
	slices.Sort(want)
	if !slices.Equal(revoked, want) {
		t.Errorf("grant.revoked for users %v, want every liaison of the chain %v", revoked, want)
	}
}

// Attack: learn from liaisons/register whether an email has an account, its id, or whether it
// is someone's liaison. Every answer is the same but for the email.
func TestLiaisonRegisterAnswersAlike(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	env.User("plain@example.com", password)              // a user without a role
	env.User("liaison@example.com", password, "liaison") // someone's accepted liaison
	env.UnverifiedUser("squatted@example.com", password) // registered, never proven
	env.User("client@example.com", password, "client")   // another client
	ada := env.Login("ada@example.com", password, "planoorder")
	adaClient := clientIDOf(t, env, "ada@example.com")
	offerTo(t, env, ada, "again@example.com", []int64{adaClient}, nil).Expect(t, 200, gen.StatusActionSuccessful)

	var first string
	for _, email := range []string{"new@example.com", "plain@example.com", "liaison@example.com", "squatted@example.com",
		"client@example.com", "again@example.com"} {
		res := offerTo(t, env, ada, email, []int64{adaClient}, nil).Expect(t, 200, gen.StatusActionSuccessful)
		data := strings.ReplaceAll(string(res.Envelope.Data), email, "EMAIL")
		if first == "" {
			first = data
		} else if data != first {
			t.Errorf("for %s: %s, want the answer every email gets: %s", email, data, first)
		}
		if strings.Contains(data, `"user"`) || strings.Contains(data, `"accepted"`) {
			t.Errorf("for %s the answer tells about the invitee: %s", email, data)
		}
	}
}

// Attack: send one person invitations from many accounts. Each email receives a bounded number
// of invitations per day from everyone together; past it the offer is recorded, answered alike,
// and nothing is sent.
func TestInvitationsPerRecipient(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.InvitationRecipients = limits.RecipientQuota{PerRecipient: 2, Window: 24 * time.Hour}
	}))
	var answers []string
	for i := range 4 {
		email := fmt.Sprintf("sender%d@example.com", i)
		env.User(email, password, "client")
		res := offerTo(t, env, env.Login(email, password, "planoorder"), "victim@example.com", []int64{clientIDOf(t, env, email)}, nil).
			Expect(t, 200, gen.StatusActionSuccessful)
		answers = append(answers, strings.ReplaceAll(string(res.Envelope.Data), email, "SENDER"))
	}
	if n := countInvitations(t, env, "victim@example.com"); n != 2 {
		t.Errorf("%d invitations to one recipient from 4 callers, want 2 (its allowance)", n)
	}
	if n := countRows(t, env, "liaison_clients"); n != 4 {
		t.Errorf("%d offers recorded, want all 4", n)
	}
	for i, a := range answers[1:] {
		if !strings.Contains(a, `"email":"victim@example.com"`) || len(a) != len(answers[0]) {
			t.Errorf("answer %d = %s, want one like %s", i+1, a, answers[0])
		}
	}
}

// Attack: reach planox2 by making a mailbox of one's own one's liaison, in its other spellings.
func TestOwnMailboxIsNoLiaison(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada.lovelace@gmail.com", password, "client")
	env.User("bob@example.com", password, "employee")
	env.User("grace@example.com", password, "client")
	ada := env.Login("ada.lovelace@gmail.com", password, "planoorder")
	staff := env.Login("bob@example.com", password, "planoorder")
	adaClient, graceClient := clientIDOf(t, env, "ada.lovelace@gmail.com"), clientIDOf(t, env, "grace@example.com")
	for _, email := range []string{"adalovelace@gmail.com", "Ada.Lovelace+x@googlemail.com", "a.da.lovelace+planox2@gmail.com"} {
		res := offerTo(t, env, ada, email, []int64{adaClient}, nil).Expect(t, 400, gen.StatusInvalidParam)
		if got := res.Params(); !slices.Equal(got, []string{"liaison.email"}) {
			t.Errorf("%s: errors %v, want [liaison.email]", email, got)
		}
	}
	// An employee may not make a granted client's own mailbox its liaison either.
	offerTo(t, env, staff, "grace+liaison@example.com", []int64{graceClient}, nil).Expect(t, 400, gen.StatusInvalidParam)
	offerTo(t, env, staff, "bob+me@example.com", []int64{graceClient}, nil).Expect(t, 400, gen.StatusInvalidParam)
	// Someone else is someone else, dots and all, outside Gmail.
	offerTo(t, env, ada, "ada.lovelace@example.com", []int64{adaClient}, nil).Expect(t, 200, gen.StatusActionSuccessful)
	if n := countRows(t, env, "liaisons"); n != 1 {
		t.Errorf("%d liaisons, want only the one that is someone else", n)
	}
}
