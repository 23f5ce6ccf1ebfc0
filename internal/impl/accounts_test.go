package impl_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
)

// Trust comes from proof of an email and from grants by someone who holds them, never from what
// a caller claims: each attack of issue 10, from the HTTP API.

// useEmailedLink delivers the outbox and exchanges the link of the newest email to email.
func useEmailedLink(t *testing.T, env *apitest.Env, email, application string) *apitest.Response {
	t.Helper()
	env.DeliverEmails()
	return useLink(env, lastLinkToken(t, env, email), application)
}

// acceptInvitation accepts the invitation emailed to email (the newest email it got once the
// outbox is delivered) and returns the session it signs in with.
func acceptInvitation(t *testing.T, env *apitest.Env, email, application string) gen.Session {
	t.Helper()
	res := useEmailedLink(t, env, email, application).Expect(t, 200, gen.StatusActionSuccessful)
	var s gen.Session
	res.Data(t, &s)
	return s
}

// acceptedLiaisonSession signs a liaison without a password in with a sign-in link.
func acceptedLiaisonSession(t *testing.T, env *apitest.Env, email string) string {
	t.Helper()
	requestLink(env, email, "planox2").Expect(t, 200, gen.StatusActionSuccessful)
	res := useLink(env, lastLinkToken(t, env, email), "planox2").Expect(t, 200, gen.StatusActionSuccessful)
	var s gen.Session
	res.Data(t, &s)
	if *s.Role != gen.RoleLiaison {
		t.Fatalf("%s signed in to planox2 as %s, want liaison", email, *s.Role)
	}
	return *s.Token
}

// register registers email through clients/register and returns the client and its session.
func register(t *testing.T, env *apitest.Env, params map[string]any) gen.ClientSession {
	t.Helper()
	res := env.PostSensitive(clientsRegister, params, "").Expect(t, 200, gen.StatusActionSuccessful)
	var data gen.ClientSession
	res.Data(t, &data)
	return data
}

// readSession reads the session of token.
func readSession(t *testing.T, env *apitest.Env, token string) gen.Session {
	t.Helper()
	var s gen.Session
	env.Get(sessionsRead, token).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
	return s
}

// Attack: a password chosen for someone else. liaisons/register has no password any more; the
// invitee signs in with its invitation, which proves its email and accepts the role.
func TestNobodyChoosesAnotherPersonsPassword(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	ada := env.Login("ada@example.com", password, "planoorder")
	adaClient := clientIDOf(t, env, "ada@example.com")

	t.Run("ErrPasswordForALiaison", func(t *testing.T) {
		res := env.PostSensitive(liaisonsRegister, map[string]any{
			"liaison": map[string]any{"email": "victim@example.com", "password": "chosen by ada!"}, "client_ids": []int64{adaClient},
		}, ada).Expect(t, 400, gen.StatusInvalidParam)
		if got := res.Params(); len(got) != 1 || got[0] != "liaison.password" {
			t.Errorf("errors = %v, want [liaison.password]", got)
		}
		if n := countUsers(t, env, "victim@example.com"); n != 0 {
			t.Errorf("%d users for the victim, want none", n)
		}
	})
	t.Run("InvitationProvesAndAccepts", func(t *testing.T) {
		env.PostSensitive(liaisonsRegister, map[string]any{
			"liaison": map[string]any{"email": "lia@example.com"}, "client_ids": []int64{adaClient},
		}, ada).Expect(t, 200, gen.StatusActionSuccessful)
		// No password signs in as the new user, in any application.
		for _, app := range []string{"planoorder", "planox2"} {
			login(env, map[string]any{"email": "lia@example.com", "password": password, "application": app}).
				Expect(t, 400, gen.StatusUserHasNoPassword)
		}
		// The token of the invitation rests nowhere but in the email.
		var body string
		var hash []byte
		err := env.Pool.QueryRow(context.Background(), `SELECT o.body_text, m.token_hash FROM email_outbox o
			JOIN magic_links m ON m.id = o.magic_link_id WHERE o.recipient = 'lia@example.com'`).Scan(&body, &hash)
		if err != nil {
			t.Fatal(err)
		}
		if linkToken.MatchString(body) || hash != nil || !strings.Contains(body, "ada@example.com") {
			t.Errorf("queued invitation holds a token (%v) or its link has one before it is sent: %q", hash != nil, body)
		}
		s := acceptInvitation(t, env, "lia@example.com", "planoorder")
		if *s.Role != gen.RoleLiaison || !*s.User.EmailVerified || *s.User.HasPassword {
			t.Errorf("session = %+v, want lia's liaison session, email verified, no password", s)
		}
		acceptedLiaisonSession(t, env, "lia@example.com") // planox2 now lets her in
	})
	t.Run("ErrInvitationUsedTwice", func(t *testing.T) {
		env.PostSensitive(liaisonsRegister, map[string]any{
			"liaison": map[string]any{"email": "twice@example.com"}, "client_ids": []int64{adaClient},
		}, ada).Expect(t, 200, gen.StatusActionSuccessful)
		env.DeliverEmails()
		token := lastLinkToken(t, env, "twice@example.com")
		useLink(env, token, "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		useLink(env, token, "planoorder").Expect(t, 401, gen.StatusLinkUsed)
	})
	t.Run("ErrInvitationExpired", func(t *testing.T) {
		env.PostSensitive(liaisonsRegister, map[string]any{
			"liaison": map[string]any{"email": "late@example.com"}, "client_ids": []int64{adaClient},
		}, ada).Expect(t, 200, gen.StatusActionSuccessful)
		env.DeliverEmails()
		token := lastLinkToken(t, env, "late@example.com")
		env.Clock.Advance(7 * 24 * time.Hour)
		useLink(env, token, "planoorder").Expect(t, 401, gen.StatusLinkExpired)
		// Registering her again sends a new invitation, which works.
		env.PostSensitive(liaisonsRegister, map[string]any{
			"liaison": map[string]any{"email": "late@example.com"}, "client_ids": []int64{adaClient},
		}, env.Login("ada@example.com", password, "planoorder")).Expect(t, 200, gen.StatusActionSuccessful)
		acceptInvitation(t, env, "late@example.com", "planoorder")
	})
}

// An invitation names its inviter by the inviter's verified email, and quotes its first name only
// when that is a short plain name: the invitee chose neither.
func TestInvitationQuotesNoInvitersText(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	exec(t, env, "UPDATE users SET first_name = 'Win a prize at https://spam.example now' WHERE email = 'ada@example.com'")
	env.PostSensitive(liaisonsRegister, map[string]any{"liaison": map[string]any{"email": "lia@example.com"},
		"client_ids": []int64{clientIDOf(t, env, "ada@example.com")}}, env.Login("ada@example.com", password, "planoorder")).
		Expect(t, 200, gen.StatusActionSuccessful)
	var body string
	if err := env.Pool.QueryRow(context.Background(), "SELECT body_text FROM email_outbox WHERE kind = 'invitation'").Scan(&body); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(body, "spam.example") || !strings.Contains(body, "ada@example.com invites you") {
		t.Errorf("invitation:\n%s\nwant the inviter's email and none of its text", body)
	}
}

// Invitations are emails to addresses a caller chose: each takes a use of the invitation limit,
// given back when none is sent (the caller's invitation to that email is still waiting).
func TestInvitationsLimited(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.Invitations = limits.Quota{PerCaller: 2, PerAddress: 100, Window: time.Hour}
	}))
	env.User("ada@example.com", password, "client")
	env.User("accepted@example.com", password, "liaison")
	ada := env.Login("ada@example.com", password, "planoorder")
	adaClient := clientIDOf(t, env, "ada@example.com")
	register := func(email string) *apitest.Response {
		return env.PostSensitive(liaisonsRegister, map[string]any{"liaison": map[string]any{"email": email}, "client_ids": []int64{adaClient}}, ada)
	}
	register("one@example.com").Expect(t, 200, gen.StatusActionSuccessful)
	register("one@example.com").Expect(t, 200, gen.StatusActionSuccessful)      // ada's invitation waits: no email, no use
	register("accepted@example.com").Expect(t, 200, gen.StatusActionSuccessful) // a liaison already, invited all the same
	register("three@example.com").Expect(t, 429, gen.StatusRateLimited)
	if got := outbox(t, env); !slices.Equal(got, []string{"invitation one@example.com", "invitation accepted@example.com"}) {
		t.Errorf("outbox = %v, want the two invitations", got)
	}
}

// clients/create sets a password only for an application token or an employee; anyone else's
// new users are invited.
func TestClientsCreateWhoSetsThePassword(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	env.User("staff@example.com", password, "employee")
	// An operator gave clients the clients.create scope: the rule must hold for them too.
	exec(t, env, "UPDATE role_scopes SET scopes = scopes || '{clients.create}' WHERE role = 'client'")
	ada := env.Login("ada@example.com", password, "planoorder")
	company := newCompany(t, env, "Someone Else's")

	t.Run("ErrClientSetsAPassword", func(t *testing.T) {
		env.PostSensitive(clientsCreate, map[string]any{"client": map[string]any{"email": "victim@example.com", "password": password}}, ada).
			Expect(t, 403, gen.StatusPermissionDenied)
		if n := countUsers(t, env, "victim@example.com"); n != 0 {
			t.Errorf("%d users for the victim, want none", n)
		}
	})
	t.Run("ClientInvites", func(t *testing.T) {
		res := env.PostSensitive(clientsCreate, map[string]any{"view": "client_read",
			"client": map[string]any{"email": "grace@example.com", "company_id": company}}, ada).Expect(t, 200, gen.StatusActionSuccessful)
		var c gen.ClientProfile
		res.Data(t, &c)
		if c.CompanyId != nil {
			t.Errorf("client = %s, want no company: a company named by a client is a request", res.Envelope.Data)
		}
		if got := outbox(t, env); !slices.Contains(got, "invitation grace@example.com") {
			t.Errorf("outbox = %v, want an invitation to grace", got)
		}
		s := acceptInvitation(t, env, "grace@example.com", "planoorder")
		if *s.Role != gen.RoleClient || !*s.User.EmailVerified {
			t.Errorf("session = %+v, want grace's verified client session", s)
		}
	})
	for name, token := range map[string]func() string{
		"Application": func() string { return env.AppTokens["planoorder"] },
		"Employee":    func() string { return env.Login("staff@example.com", password, "planoorder") },
	} {
		t.Run(name+"SetsAPasswordUnverified", func(t *testing.T) {
			email := strings.ToLower(name) + "-made@example.com"
			res := env.PostSensitive(clientsCreate, map[string]any{"view": "client_read",
				"client": map[string]any{"email": email, "password": password, "company_id": company}}, token()).
				Expect(t, 200, gen.StatusActionSuccessful)
			var c gen.ClientProfile
			res.Data(t, &c)
			if c.CompanyId == nil || *c.CompanyId != company {
				t.Errorf("client = %s, want a member of %d: an application or an employee grants it", res.Envelope.Data, company)
			}
			s := readSession(t, env, env.Login(email, password, "planoorder"))
			if *s.User.EmailVerified {
				t.Errorf("user = %+v, want unverified: a password set by someone else proves nothing", s.User)
			}
			if got := outbox(t, env); !slices.Contains(got, "welcome "+email) {
				t.Errorf("outbox = %v, want a welcome (with its verification link)", got)
			}
		})
	}
}

// Attack: a company claimed at self-registration. The claimant is not a member, sees nothing of
// the company, and cannot grant it, until its owner approves.
func TestCompanyMembershipIsGranted(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	params := registration("owner@example.com")
	params["enterprise"] = true
	params["client"].(map[string]any)["company_name"] = "Secret Holdings"
	company := *register(t, env, params).Client.CompanyId
	ownerSession := verify(t, env, "owner@example.com")

	// The claimant proved its own email (Google, or a link), then names the company.
	env.User("claimant@example.com", "")
	requestLink(env, "claimant@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	res := useLink(env, lastLinkToken(t, env, "claimant@example.com"), "planoorder").Expect(t, 401, gen.StatusClientRequired)
	claimant := *res.Envelope.Session.Token
	res = env.PostJSON(usersClientRegister, map[string]any{"client": map[string]any{"company_id": company}, "view": "client_read"}, claimant).
		Expect(t, 200, gen.StatusActionSuccessful)
	var joined gen.ClientSession
	res.Data(t, &joined)
	if joined.Client.CompanyId != nil {
		t.Errorf("client = %s, want no company before approval", res.Envelope.Data)
	}
	body := env.Get(scopesLiaisonRegister, claimant).Expect(t, 200, gen.StatusActionSuccessful)
	if strings.Contains(string(body.Raw), "Secret Holdings") {
		t.Errorf("the claimant sees the company: %s", body.Raw)
	}
	env.PostSensitive(liaisonsRegister, map[string]any{"liaison": map[string]any{"email": "lia@example.com"}, "company_ids": []int64{company}}, claimant).
		Expect(t, 403, gen.StatusPermissionDenied)
	env.Get(companiesMembers+"?company_id="+strconv.FormatInt(company, 10), claimant).Expect(t, 403, gen.StatusPermissionDenied)

	// The owner sees the request and approves it; then the company is the claimant's to grant.
	members := membership(t, env, ownerSession, company)
	if got := requestIDs(members); !slices.Equal(got, []int64{joined.Client.Id}) || !members.Requests[0].EmailVerified {
		t.Fatalf("requests = %+v, want the claimant's, verified", members.Requests)
	}
	env.PostJSON(companiesApproveMember, map[string]any{"company_id": company, "client_id": joined.Client.Id}, ownerSession).
		Expect(t, 200, gen.StatusActionSuccessful)
	_, companies := grants(t, env, claimant)
	if !slices.Equal(companies, []int64{company}) {
		t.Errorf("after approval the member may grant %v, want [%d]", companies, company)
	}
}

// Attack: a client makes itself a liaison and reaches planox2, which lets nobody register.
func TestNobodyMakesItselfALiaison(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	env.User("bob@example.com", password, "client")
	ada := env.Login("ada@example.com", password, "planoorder")
	adaClient := clientIDOf(t, env, "ada@example.com")

	for name, email := range map[string]string{"OwnEmail": "ada@example.com", "OwnEmailOtherCase": "ADA@Example.com"} {
		t.Run("Err"+name, func(t *testing.T) {
			res := env.PostSensitive(liaisonsRegister, map[string]any{"liaison": map[string]any{"email": email}, "client_ids": []int64{adaClient}}, ada).
				Expect(t, 400, gen.StatusInvalidParam)
			if got := res.Params(); len(got) != 1 || got[0] != "liaison.email" {
				t.Errorf("errors = %v, want [liaison.email]", got)
			}
		})
	}
	t.Run("ErrGrantedClientAsItsOwnLiaison", func(t *testing.T) {
		// Lia acts for ada; lia may not make ada ada's liaison (ada would reach planox2 by a grant of her own making).
		env.PostSensitive(liaisonsRegister, map[string]any{"liaison": map[string]any{"email": "lia@example.com"}, "client_ids": []int64{adaClient}}, ada).
			Expect(t, 200, gen.StatusActionSuccessful)
		acceptInvitation(t, env, "lia@example.com", "planoorder")
		lia := acceptedLiaisonSession(t, env, "lia@example.com")
		env.PostSensitive(liaisonsRegister, map[string]any{"liaison": map[string]any{"email": "ada@example.com"}, "client_ids": []int64{adaClient}}, lia).
			Expect(t, 400, gen.StatusInvalidParam)
	})
	if n := countRows(t, env, "liaisons"); n != 1 {
		t.Errorf("%d liaisons, want lia's only", n)
	}
	login(env, map[string]any{"email": "ada@example.com", "password": password, "application": "planox2"}).
		Expect(t, 400, gen.StatusUserRequiresRole)
}

// The whole squatting story: an attacker registers someone else's email, tries to use it, and
// loses everything it set up when the owner proves the email.
func TestSquattedAccountGoesToTheOwner(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	companyOwner := registration("boss@example.com")
	companyOwner["enterprise"] = true
	company := *register(t, env, companyOwner).Client.CompanyId
	bossSession := verify(t, env, "boss@example.com")
	env.User("accomplice@example.com", password, "client")

	const victim = "grace@example.com"
	squat := registration(victim)
	squat["client"].(map[string]any)["password"] = "the attacker's password"
	squat["client"].(map[string]any)["company_id"] = company
	squatted := register(t, env, squat)
	attacker := *squatted.Session.Token
	if s := readSession(t, env, attacker); *s.User.EmailVerified {
		t.Fatalf("a registration counts as proof: %+v", s.User)
	}

	// Unverified, the account may grant nothing.
	env.PostSensitive(liaisonsRegister, map[string]any{"liaison": map[string]any{"email": "accomplice@example.com"},
		"client_ids": []int64{squatted.Client.Id}}, attacker).Expect(t, 403, gen.StatusPermissionDenied)
	if clients, companies := grants(t, env, attacker); len(clients)+len(companies) != 0 {
		t.Errorf("an unverified account may grant %v %v, want nothing", clients, companies)
	}
	env.PostJSON(companiesRequestMember, map[string]any{"company_id": company}, attacker).Expect(t, 403, gen.StatusPermissionDenied)
	// Its registration's request waits, and cannot be approved while the email is unproven.
	if got := requestIDs(membership(t, env, bossSession, company)); !slices.Equal(got, []int64{squatted.Client.Id}) {
		t.Fatalf("requests = %v, want the squatter's", got)
	}
	res := env.PostJSON(companiesApproveMember, map[string]any{"company_id": company, "client_id": squatted.Client.Id}, bossSession).
		Expect(t, 400, gen.StatusInvalidParam)
	if got := res.Params(); len(got) != 1 || got[0] != "client_id" {
		t.Errorf("errors = %v, want [client_id]", got)
	}
	// A grant recorded as the account's (as an older version let unverified accounts make).
	var liaisonID int64
	if err := env.Pool.QueryRow(context.Background(), `INSERT INTO liaisons (user_id, accepted_at, invited_by_user_id)
		VALUES ($1, now(), $2) RETURNING id`, userIDOf(t, env, "accomplice@example.com"), userIDOf(t, env, victim)).Scan(&liaisonID); err != nil {
		t.Fatal(err)
	}
	exec(t, env, "INSERT INTO liaison_clients (liaison_id, client_id, granted_by_user_id) VALUES ($1, $2, $3)",
		liaisonID, squatted.Client.Id, userIDOf(t, env, victim))
	accomplice := env.Login("accomplice@example.com", password, "planox2")

	// The owner proves the email with the welcome email's verification link.
	res = useEmailedLink(t, env, victim, "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	var owner gen.Session
	res.Data(t, &owner)
	if !*owner.User.EmailVerified || *owner.User.HasPassword {
		t.Errorf("owner = %+v, want verified, without the attacker's password", owner.User)
	}
	env.Get(sessionsRead, attacker).Expect(t, 401, gen.StatusInvalidToken)
	login(env, map[string]any{"email": victim, "password": "the attacker's password", "application": "planoorder"}).
		Expect(t, 400, gen.StatusUserHasNoPassword)
	if got := requestIDs(membership(t, env, bossSession, company)); len(got) != 0 {
		t.Errorf("requests = %v, want the squatter's gone", got)
	}
	for table, want := range map[string]int{"liaison_clients": 0, "liaisons": 0} {
		if n := countRows(t, env, table); n != want {
			t.Errorf("%d rows in %s, want %d: what the unverified account set up goes", n, table, want)
		}
	}
	env.Get(sessionsRead, accomplice).Expect(t, 401, gen.StatusInvalidToken)
	login(env, map[string]any{"email": "accomplice@example.com", "password": password, "application": "planox2"}).
		Expect(t, 400, gen.StatusUserRequiresRole)
	// The owner keeps the account, and may grant now.
	env.PostSensitive(liaisonsRegister, map[string]any{"liaison": map[string]any{"email": "helper@example.com"},
		"client_ids": []int64{squatted.Client.Id}}, *owner.Token).Expect(t, 200, gen.StatusActionSuccessful)
}

// Attack: a password log-in that read the user before the owner's proof committed must not
// create a session after it. The proof is held open after it revoked the user's sessions (a
// trigger waits on an advisory lock the test holds), while the log-in runs.
func TestCredentialChangeWinsOverLoginInFlight(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	const victim = "grace@example.com"
	register(t, env, registration(victim)) // someone registered the owner's email, with password
	env.DeliverEmails()
	link := lastLinkToken(t, env, victim)

	hold, err := pgx.Connect(ctx, env.Pool.Config().ConnString()) // outside the pool, which the requests need
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close(ctx)
	const lockKey = 1010
	if _, err := hold.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		t.Fatal(err)
	}
	exec(t, env, `CREATE FUNCTION hold_revocation() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN PERFORM pg_advisory_xact_lock(1010); RETURN NULL; END $$`)
	exec(t, env, "CREATE TRIGGER hold_revocation AFTER UPDATE ON sessions FOR EACH STATEMENT EXECUTE FUNCTION hold_revocation()")

	proof := env.Start(apitest.Request(http.MethodPost, magicLinkCreate, "text/plain",
		apitest.Sensitive(t, map[string]any{"magic_token": link, "application": "planoorder"}), ""))
	waitForLockWaiter(t, hold, "advisory", nil)
	loginDone := env.Start(apitest.Request(http.MethodPost, sessionsCreate, "text/plain",
		apitest.Sensitive(t, map[string]any{"email": victim, "password": password, "application": "planoorder"}), ""))
	// The log-in waits for the proof (it needs the user's row), or, without the re-check,
	// creates its session while the proof is held.
	loginRec := waitForLockWaiter(t, hold, "transactionid", loginDone)
	if _, err := hold.Exec(ctx, "SELECT pg_advisory_unlock($1)", lockKey); err != nil {
		t.Fatal(err)
	}
	proof.Wait().Expect(t, 200, gen.StatusActionSuccessful)
	if loginRec == nil {
		loginRec = loginDone.Wait()
	}
	if loginRec.Code == http.StatusOK {
		// Had it succeeded, its session must not have outlived the proof.
		var session gen.Session
		loginRec.Data(t, &session)
		env.Get(sessionsRead, *session.Token).Expect(t, 401, gen.StatusInvalidToken)
		t.Fatalf("a log-in with the dropped password answered a session")
	}
	if loginRec.Code != http.StatusBadRequest || loginRec.Status() != gen.StatusUserHasNoPassword {
		t.Errorf("the log-in in flight answered %d %s, want 400 user-has-no-password", loginRec.Code, loginRec.Status())
	}
	var live int
	if err := hold.QueryRow(ctx, `SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE u.email = $1 AND s.revoked_at IS NULL`, victim).Scan(&live); err != nil || live != 1 {
		t.Errorf("%d live sessions of the user (%v), want only the owner's", live, err)
	}
}

// waitForLockWaiter returns once a session of the test's database waits for a lock of locktype,
// or once the request in flight (if not nil) was answered: then its answer, validated.
func waitForLockWaiter(t *testing.T, conn *pgx.Conn, locktype string, inFlight *apitest.InFlight) *apitest.Response {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if inFlight != nil {
			select {
			case <-inFlight.Done():
				return inFlight.Wait()
			default:
			}
		}
		var waiting bool
		err := conn.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_locks l
			JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE l.locktype = $1 AND NOT l.granted AND a.datname = current_database())`, locktype).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting {
			return nil
		}
		time.Sleep(5 * time.Millisecond) // polling PostgreSQL's lock table, bounded by the deadline
	}
	t.Fatalf("nobody waited for a %s lock", locktype)
	return nil
}

// verify proves email with the verification link of its welcome email, and returns the session
// it signs in with (the registrant's password is gone: the first proof drops it).
func verify(t *testing.T, env *apitest.Env, email string) string {
	t.Helper()
	res := useEmailedLink(t, env, email, "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	var s gen.Session
	res.Data(t, &s)
	return *s.Token
}

// The first proof cannot tell the registrant from someone who registered another person's email,
// unless the prover shows the account's password: then it is both, and what the account set up
// stays. A wrong password is a guess at the account (counted, rate-limited) and leaves the link
// usable; no password takes everything back as before.
func TestFirstProofKeepsTheAccountWithItsPassword(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SignIn = limits.Throttle{PerAccount: 2, PerKnown: 10, PerAddress: 100, Window: 15 * time.Minute}
	}))
	const grace = "grace@example.com"
	registered := register(t, env, registration(grace))
	// Grace signs in from her usual address, addr(1), which the account then knows.
	remembered := postFrom(env, addr(1), sessionsCreate, map[string]any{"email": grace, "password": password,
		"application": "planoorder", "remember_me": true}, "").Expect(t, 200, gen.StatusActionSuccessful)
	var s gen.Session
	remembered.Data(t, &s)
	env.DeliverEmails()
	link := lastLinkToken(t, env, grace)
	withPassword := func(address, plain string) *apitest.Response {
		return postFrom(env, address, magicLinkCreate, map[string]any{"magic_token": link, "application": "planoorder", "password": plain}, "")
	}

	t.Run("ErrWrongPassword", func(t *testing.T) {
		// Strangers holding the link (a forwarded email) guess: two guesses, then rate-limited,
		// while grace keeps her own allowance at her usual address.
		withPassword(addr(2), "not the password at all").Expect(t, 400, gen.StatusInvalidPassword)
		withPassword(addr(3), "not the password either").Expect(t, 400, gen.StatusInvalidPassword)
		withPassword(addr(4), "a third guess of it").Expect(t, 429, gen.StatusRateLimited)
		if linkUsed(t, env, link) {
			t.Fatal("a wrong password used the link up")
		}
		failed := 0
		for _, e := range wholeTrail(t, env) {
			if e.Kind == gen.AuditLoginFailed && *e.Details.Reason == gen.ReasonInvalidPassword && *e.Details.Method == gen.LoginMagicLink &&
				e.UserId != nil && *e.UserId == registered.Session.User.Id {
				failed++
			}
		}
		if failed != 2 {
			t.Errorf("%d login.failed events of a wrong password with the link, want the 2 evaluated", failed)
		}
		if got := readSession(t, env, *s.Token); !*got.User.HasPassword || *got.User.EmailVerified {
			t.Errorf("user = %+v after wrong passwords, want it unchanged (unverified, with its password)", got.User)
		}
	})
	t.Run("OK", func(t *testing.T) {
		res := withPassword(addr(1), password).Expect(t, 200, gen.StatusActionSuccessful)
		var owner gen.Session
		res.Data(t, &owner)
		if !*owner.User.EmailVerified || !*owner.User.HasPassword || !*owner.User.RememberMe {
			t.Errorf("user = %+v, want the email proven and the password and remember_me kept", owner.User)
		}
		// Nothing was taken back: the earlier sessions live, the password signs in, the phone stays.
		readSession(t, env, *s.Token)
		readSession(t, env, *registered.Session.Token)
		postFrom(env, addr(1), sessionsCreate, map[string]any{"email": grace, "password": password, "application": "planoorder"}, "").
			Expect(t, 200, gen.StatusActionSuccessful)
		var phone string
		if err := env.Pool.QueryRow(context.Background(), "SELECT phone FROM users WHERE email = $1", grace).Scan(&phone); err != nil || phone == "" {
			t.Errorf("phone = %q (%v), want the registrant's kept", phone, err)
		}
		useLink(env, link, "planoorder").Expect(t, 401, gen.StatusLinkUsed)
	})
}

// Without the password, the first proof takes back what the registrant set up: the password,
// sessions, the remember_me preference and the phone (the names stay, they grant nothing). A
// password given for a user that has none keeps nothing and refuses nothing.
func TestFirstProofWithoutThePassword(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	const grace = "grace@example.com"
	registered := register(t, env, registration(grace))
	login(env, map[string]any{"email": grace, "password": password, "application": "planoorder", "remember_me": true}).
		Expect(t, 200, gen.StatusActionSuccessful)
	owner := readSession(t, env, verify(t, env, grace))
	if *owner.User.HasPassword || *owner.User.RememberMe || *owner.User.FirstName != "Ada" {
		t.Errorf("user = %+v, want no password, remember_me reset, the names kept", owner.User)
	}
	env.Get(sessionsRead, *registered.Session.Token).Expect(t, 401, gen.StatusInvalidToken)
	var phone string
	if err := env.Pool.QueryRow(context.Background(), "SELECT phone FROM users WHERE email = $1", grace).Scan(&phone); err != nil || phone != "" {
		t.Errorf("phone = %q (%v), want the registrant's dropped", phone, err)
	}

	// An invited liaison has no password: one given with its invitation is ignored.
	env.User("ada@example.com", password, "client")
	ada := env.Login("ada@example.com", password, "planoorder")
	offerTo(t, env, ada, "lia@example.com", []int64{clientIDOf(t, env, "ada@example.com")}, nil).Expect(t, 200, gen.StatusActionSuccessful)
	env.DeliverEmails()
	env.PostSensitive(magicLinkCreate, map[string]any{"magic_token": lastLinkToken(t, env, "lia@example.com"), "application": "planoorder",
		"password": "whatever she typed"}, "").Expect(t, 200, gen.StatusActionSuccessful)
}

// Attack: an unverified employee (or whoever registered its email first) creates clients. It
// chooses no password and grants no membership: its company_id is a request, its new user is
// invited, as for any caller who may not choose credentials.
func TestUnverifiedEmployeeCreatesClientsAsAnyone(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.UnverifiedUser("newstaff@example.com", password, "employee")
	staff := env.Login("newstaff@example.com", password, "planoorder")
	company := newCompany(t, env, "Someone Else's")
	res := env.PostSensitive(clientsCreate, map[string]any{"view": "client_read",
		"client": map[string]any{"email": "made@example.com", "company_id": company}}, staff).Expect(t, 200, gen.StatusActionSuccessful)
	var c gen.ClientProfile
	res.Data(t, &c)
	if c.CompanyId != nil {
		t.Errorf("client = %s, want no company: an unverified employee's company_id is a request", res.Envelope.Data)
	}
	if got := outbox(t, env); !slices.Equal(got, []string{"invitation made@example.com"}) {
		t.Errorf("outbox = %v, want an invitation (nobody chose the new user's password)", got)
	}
	env.PostSensitive(liaisonsRegister, map[string]any{"liaison": map[string]any{"email": "lia@example.com"},
		"company_ids": []int64{company}}, staff).Expect(t, 403, gen.StatusPermissionDenied)
}

// Emails must be mail domains, and an address quoted in an email shows its domain in ASCII, so
// that a look-alike inviter (exаmple.com with a Cyrillic а) shows as what it is.
func TestEmailDomains(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	res := env.PostSensitive(clientsRegister, registration("ada@[127.0.0.1]"), "").Expect(t, 400, gen.StatusClientValidationFailed)
	if got := res.Params(); !slices.Equal(got, []string{"client.email"}) {
		t.Errorf("errors = %v, want [client.email]", got)
	}
	env.User("ada@exаmple.com", password, "client")
	ada := env.Login("ada@exаmple.com", password, "planoorder")
	adaClient := clientIDOf(t, env, "ada@exаmple.com")
	res = offerTo(t, env, ada, "lia@[10.0.0.1]", []int64{adaClient}, nil).Expect(t, 400, gen.StatusClientValidationFailed)
	if got := res.Params(); !slices.Equal(got, []string{"liaison.email"}) {
		t.Errorf("errors = %v, want [liaison.email]", got)
	}
	offerTo(t, env, ada, "lia@example.com", []int64{adaClient}, nil).Expect(t, 200, gen.StatusActionSuccessful)
	var body string
	if err := env.Pool.QueryRow(context.Background(), "SELECT body_text FROM email_outbox WHERE kind = 'invitation'").Scan(&body); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, "(ada@xn--exmple-4nf.com) invites you") || strings.Contains(body, "exаmple") {
		t.Errorf("invitation:\n%s\nwant the inviter's domain in punycode", body)
	}
}
