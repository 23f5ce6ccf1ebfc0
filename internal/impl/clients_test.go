package impl_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/emailaddr"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
)

const (
	clientsRegister = "/api/v1/clients/register"
	clientsCreate   = "/api/v1/clients/create"
)

// registration is the parameters of a valid clients/register call for email.
func registration(email string) map[string]any {
	return map[string]any{"application": "planoorder", "client": map[string]any{
		"email": email, "password": password, "first_name": "Ada", "last_name": "Lovelace", "phone": "+1 (555) 555-0100",
	}}
}

func TestValidateNewClient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		email    string
		password string // "" means none given
		phone    string
		want     []string
	}{
		{"OK", "ada@example.com", "ten chars!", "+1 (555) 555-0100", nil},
		{"OKDotsAndDashes", "ada.l+plano@mail.example.co.uk", "", "555.555-01", nil},
		{"OKNoPhone", "ada@example.com", "", "", nil},
		{"OKMultibytePassword", "ada@example.com", "éééééééééé", "", nil},
		{"ErrEmailNoAt", "ada.example.com", "", "", []string{"client.email"}},
		{"ErrEmailDisplayName", "Ada <ada@example.com>", "", "", []string{"client.email"}},
		{"ErrEmailAngleBrackets", "<ada@example.com>", "", "", []string{"client.email"}},
		{"ErrEmailSpace", " ada@example.com", "", "", []string{"client.email"}},
		{"ErrEmailNoDotInDomain", "ada@localhost", "", "", []string{"client.email"}},
		{"ErrEmailIPLiteral", "ada@[127.0.0.1]", "", "", []string{"client.email"}},
		{"ErrEmailIPv6Literal", "ada@[IPv6:2001:db8::1]", "", "", []string{"client.email"}},
		{"ErrPasswordShort", "ada@example.com", "nine char", "", []string{"client.password"}},
		{"ErrPhoneFewDigits", "ada@example.com", "", "555-010", []string{"client.phone"}},
		{"ErrPhoneManyDigits", "ada@example.com", "", "+1234567890123456", []string{"client.phone"}},
		{"ErrPhoneLetters", "ada@example.com", "", "555-0100 ext 2", []string{"client.phone"}},
		{"ErrPhoneInnerPlus", "ada@example.com", "", "1+5555550100", []string{"client.phone"}},
		{"ErrEverything", "ada", "short", "phone", []string{"client.email", "client.password", "client.phone"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := gen.NewClientFields{Email: tc.email, Phone: &tc.phone}
			if tc.password != "" {
				c.Password = &tc.password
			}
			var got []string
			for _, p := range impl.ValidateNewClient(c) {
				got = append(got, p.Param)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("failing fields = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestClientsRegister(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)

	t.Run("OK", func(t *testing.T) {
		res := env.PostSensitive(clientsRegister, registration("ada@example.com"), "").Expect(t, 200, gen.StatusActionSuccessful)
		var data gen.ClientSession
		res.Data(t, &data)
		c := data.Client
		if *c.Email != "ada@example.com" || *c.FirstName != "Ada" || *c.LastName != "Lovelace" || *c.Phone != "+1 (555) 555-0100" || !*c.Active {
			t.Errorf("client = %s, want Ada's fields in the default view", res.Envelope.Data)
		}
		if c.CompanyId != nil || c.Bio != nil || c.Enterprise != nil {
			t.Errorf("default view shows %s, want no company id, bio or enterprise", res.Envelope.Data)
		}
		s := data.Session
		if s.Token == nil || !strings.HasPrefix(*s.Token, auth.SessionPrefix) || *s.Role != gen.RoleClient ||
			s.User == nil || s.User.Id != userIDOf(t, env, "ada@example.com") {
			t.Fatalf("session = %+v, want a new client session of ada with its token", s)
		}
		read := env.Get(sessionsRead, *s.Token).Expect(t, 200, gen.StatusActionSuccessful)
		var again gen.Session
		read.Data(t, &again)
		if again.Id != s.Id {
			t.Errorf("the new token reads session %s, want %s", again.Id, s.Id)
		}
		if got := outbox(t, env); !slices.Equal(got, []string{"welcome ada@example.com"}) {
			t.Errorf("outbox = %v, want one welcome to ada", got)
		}
	})
	t.Run("Views", func(t *testing.T) {
		params := registration("views@example.com")
		params["view"], params["session_view"], params["application_view"] = "client_read", "minimal", "full"
		res := env.PostSensitive(clientsRegister, params, "").Expect(t, 200, gen.StatusActionSuccessful)
		var data gen.ClientSession
		res.Data(t, &data)
		if data.Client.UserId == nil || data.Client.Bio == nil || data.Client.CreatedAt == nil || data.Client.Enterprise == nil {
			t.Errorf("client_read view = %s, want every field", res.Envelope.Data)
		}
		if data.Session.Token == nil || data.Session.Role != nil {
			t.Errorf("minimal session view = %+v, want id, token and expiry", data.Session)
		}
	})
	t.Run("Enterprise", func(t *testing.T) {
		params := registration("corp@example.com")
		params["enterprise"], params["view"] = true, "contract_type_view"
		params["client"].(map[string]any)["company_name"] = "Analytical Engines"
		res := env.PostSensitive(clientsRegister, params, "").Expect(t, 200, gen.StatusActionSuccessful)
		var data gen.ClientSession
		res.Data(t, &data)
		c := data.Client
		if c.CompanyId == nil || !*c.Enterprise || *c.CompanyName != "Analytical Engines" || c.Email != nil {
			t.Fatalf("contract_type_view = %s, want an enterprise company and no email", res.Envelope.Data)
		}
		if name, enterprise := company(t, env, *c.CompanyId); name != "Analytical Engines" || !enterprise {
			t.Errorf("company = %q enterprise=%v, want the enterprise company named as given", name, enterprise)
		}
	})
	t.Run("EnterpriseNamedAfterClient", func(t *testing.T) {
		params := registration("noname@example.com")
		params["enterprise"] = true
		res := env.PostSensitive(clientsRegister, params, "").Expect(t, 200, gen.StatusActionSuccessful)
		var data gen.ClientSession
		res.Data(t, &data)
		if name, _ := company(t, env, *data.Client.CompanyId); name != "Ada Lovelace" {
			t.Errorf("company name = %q, want the client's name", name)
		}
	})
	t.Run("CompanyIDIsARequest", func(t *testing.T) {
		existing := newCompany(t, env, "Existing Co")
		before := countRows(t, env, "companies")
		params := registration("member@example.com")
		params["enterprise"] = true // ignored: a company is named
		params["view"] = "client_read"
		params["client"].(map[string]any)["company_id"] = existing
		params["client"].(map[string]any)["company_name"] = "Whatever They Typed"
		res := env.PostSensitive(clientsRegister, params, "").Expect(t, 200, gen.StatusActionSuccessful)
		var data gen.ClientSession
		res.Data(t, &data)
		if data.Client.CompanyId != nil || *data.Client.CompanyName != "Whatever They Typed" || *data.Client.Enterprise {
			t.Errorf("client = %s, want no company (a request), with the informational name", res.Envelope.Data)
		}
		if after := countRows(t, env, "companies"); after != before {
			t.Errorf("companies went from %d to %d, want none created", before, after)
		}
		if n := countRows(t, env, "company_member_requests"); n != 1 {
			t.Errorf("%d membership requests, want the client's", n)
		}
	})
	t.Run("WelcomeCarriesAVerificationLink", func(t *testing.T) {
		data := register(t, env, registration("welcome@example.com"))
		if s := readSession(t, env, *data.Session.Token); *s.User.EmailVerified {
			t.Fatalf("user = %+v, want unverified after registering", s.User)
		}
		res := useEmailedLink(t, env, "welcome@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		var s gen.Session
		res.Data(t, &s)
		if !*s.User.EmailVerified || *s.Role != gen.RoleClient {
			t.Errorf("session = %+v, want the verified client", s)
		}
	})
	t.Run("ErrEmailAlreadyRegistered", func(t *testing.T) {
		env.PostSensitive(clientsRegister, registration("taken@example.com"), "").Expect(t, 200, gen.StatusActionSuccessful)
		env.PostSensitive(clientsRegister, registration("Taken@Example.COM"), "").Expect(t, 400, gen.StatusEmailAlreadyRegistered)
		env.User("liaison@example.com", password, "liaison")
		env.PostSensitive(clientsRegister, registration("liaison@example.com"), "").Expect(t, 400, gen.StatusEmailAlreadyRegistered)
	})
	t.Run("ErrClientValidationFailed", func(t *testing.T) {
		users := countRows(t, env, "users")
		res := env.PostSensitive(clientsRegister, map[string]any{"application": "planoorder", "client": map[string]any{
			"email": "Ada <bad@example.com>", "password": "short", "phone": "call me", "company_id": 999999,
		}}, "").Expect(t, 400, gen.StatusClientValidationFailed)
		want := []string{"client.email", "client.password", "client.phone"} // a company id is a request: never checked here
		if got := res.Params(); !slices.Equal(got, want) {
			t.Errorf("errors = %v, want %v", got, want)
		}
		if n := countRows(t, env, "users"); n != users {
			t.Errorf("users went from %d to %d", users, n)
		}
	})
	t.Run("ErrUserRequiresRole", func(t *testing.T) {
		users := countRows(t, env, "users")
		params := registration("x2@example.com")
		params["application"] = "planox2" // accepts no clients
		res := env.PostSensitive(clientsRegister, params, "").Expect(t, 400, gen.StatusUserRequiresRole)
		if !strings.Contains(res.Envelope.Message, "PlanoX2") {
			t.Errorf("message = %q, want it to name the application", res.Envelope.Message)
		}
		if n := countRows(t, env, "users"); n != users {
			t.Errorf("users went from %d to %d, want nothing created", users, n)
		}
	})
}

// TestClientsRegisterConcurrentEmail registers one email 50 times at once, in different cases:
// the unique index must let exactly one through.
func TestClientsRegisterConcurrentEmail(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.Registrations = limits.AddressQuota{PerAddress: 100, Window: time.Hour}
		d.Hasher.QueueBudget = time.Minute // every registration waits its turn: none is shed
	}))
	const n = 50
	results := make([]*apitest.Response, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = env.PostSensitive(clientsRegister, registration(caseVariant("race.condition@example.com", i)), "")
		}()
	}
	close(start)
	wg.Wait()
	counts := map[string]int{}
	for _, res := range results {
		if res == nil {
			t.Fatal("a request broke the contract (see above)")
		}
		counts[fmt.Sprintf("%d %s", res.Code, res.Status())]++
	}
	want := map[string]int{"200 action-successful": 1, "400 email-already-registered": n - 1}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("answers = %v, want %v", counts, want)
	}
	for table, want := range map[string]int{"users": 1, "clients": 1, "sessions": 1, "email_outbox": 1} {
		if got := countRows(t, env, table); got != want {
			t.Errorf("%d rows in %s, want %d", got, table, want)
		}
	}
}

// caseVariant changes the case of s's letters following the bits of i.
func caseVariant(s string, i int) string {
	out := []rune(s)
	for j, r := range out {
		if i>>(j%6)&1 == 1 {
			out[j] = unicode.ToUpper(r)
		}
	}
	return string(out)
}

// TestClientsRegisterAtomic makes each step after the user insert fail in turn: nothing of the
// registration may stay behind.
func TestClientsRegisterAtomic(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	if _, err := env.Pool.Exec(ctx, `CREATE FUNCTION fail_insert() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'forced failure inserting into %', TG_TABLE_NAME; END $$`); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"clients", "email_outbox", "sessions"} {
		t.Run("ErrFailingInsertInto_"+table, func(t *testing.T) {
			exec(t, env, "CREATE TRIGGER fail_insert BEFORE INSERT ON "+table+" FOR EACH ROW EXECUTE FUNCTION fail_insert()")
			defer exec(t, env, "DROP TRIGGER fail_insert ON "+table)
			params := registration("atomic@example.com")
			params["enterprise"] = true // a company is created before the user
			env.PostSensitive(clientsRegister, params, "").Expect(t, 500, gen.StatusApplicationCrash)
			for _, table := range []string{"users", "clients", "companies", "email_outbox", "sessions"} {
				if n := countRows(t, env, table); n != 0 {
					t.Errorf("%d rows left in %s, want 0", n, table)
				}
			}
		})
	}
	t.Run("OKOnceFixed", func(t *testing.T) {
		env.PostSensitive(clientsRegister, registration("atomic@example.com"), "").Expect(t, 200, gen.StatusActionSuccessful)
	})
}

func TestClientsCreate(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	app := env.AppTokens["planoorder"]
	env.User("staff@example.com", password, "employee")
	env.User("client@example.com", password, "client")
	employee := env.Login("staff@example.com", password, "planoorder")

	t.Run("OK", func(t *testing.T) {
		res := env.PostSensitive(clientsCreate, map[string]any{"client": map[string]any{
			"email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper",
		}}, app).Expect(t, 200, gen.StatusActionSuccessful)
		var c gen.ClientProfile
		res.Data(t, &c)
		if *c.Email != "grace@example.com" || *c.FirstName != "Grace" {
			t.Errorf("client = %s, want grace", res.Envelope.Data)
		}
		// No password was given: the new user signs in with Google or a magic link.
		login(env, map[string]any{"email": "grace@example.com", "password": password, "application": "planoorder"}).
			Expect(t, 400, gen.StatusUserHasNoPassword)
	})
	t.Run("OKEmployeeWithPassword", func(t *testing.T) {
		res := env.PostSensitive(clientsCreate, map[string]any{"view": "contract_type_view", "enterprise": true, "client": map[string]any{
			"email": "linus@example.com", "password": password,
		}}, employee).Expect(t, 200, gen.StatusActionSuccessful)
		var c gen.ClientProfile
		res.Data(t, &c)
		if c.Enterprise == nil || !*c.Enterprise {
			t.Errorf("client = %s, want an enterprise client", res.Envelope.Data)
		}
		if res.Envelope.Session == nil {
			t.Errorf("an answer to a session token carries no session")
		}
		env.Login("linus@example.com", password, "planoorder")
	})
	t.Run("ErrEmailAlreadyClient", func(t *testing.T) {
		clients := countRows(t, env, "clients")
		env.PostSensitive(clientsCreate, map[string]any{"enterprise": true, "client": map[string]any{"email": "CLIENT@example.com"}}, app).
			Expect(t, 400, gen.StatusEmailAlreadyClient)
		if n := countRows(t, env, "clients"); n != clients {
			t.Errorf("clients went from %d to %d", clients, n)
		}
	})
	t.Run("ErrClientValidationFailed", func(t *testing.T) {
		res := env.PostSensitive(clientsCreate, map[string]any{"client": map[string]any{
			"email": "nobody@nowhere", "password": "short",
		}}, app).Expect(t, 400, gen.StatusClientValidationFailed)
		if got, want := res.Params(), []string{"client.email", "client.password"}; !slices.Equal(got, want) {
			t.Errorf("errors = %v, want %v", got, want)
		}
	})
	t.Run("ErrPermissionDenied", func(t *testing.T) {
		token := env.Login("client@example.com", password, "planoorder")
		env.PostSensitive(clientsCreate, map[string]any{"client": map[string]any{"email": "new@example.com"}}, token).
			Expect(t, 403, gen.StatusPermissionDenied)
	})
}

// TestLiaisonBecomesClient follows a liaison registered by a client who later becomes a client
// itself through clients/create.
func TestLiaisonBecomesClient(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("boss@example.com", password, "client")
	env.User("lia@example.com", "liaison's own password")
	boss := env.Login("boss@example.com", password, "planoorder")
	bossClient := clientIDOf(t, env, "boss@example.com")
	env.PostSensitive(liaisonsRegister, map[string]any{
		"liaison": map[string]any{"email": "lia@example.com", "first_name": "Lia"}, "client_ids": []int64{bossClient},
	}, boss).Expect(t, 200, gen.StatusActionSuccessful)
	acceptInvitation(t, env, "lia@example.com", "planoorder")

	res := env.PostSensitive(clientsCreate, map[string]any{"client": map[string]any{
		"email": "Lia@Example.com", "password": "an attempt to replace it", "first_name": "Other",
	}}, env.AppTokens["planoorder"]).Expect(t, 200, gen.StatusClientCreatedForExistingEmail)
	var c gen.ClientProfile
	res.Data(t, &c)
	if *c.Email != "lia@example.com" || *c.FirstName != "Test" {
		t.Errorf("client = %s, want the existing user's email and names", res.Envelope.Data)
	}
	// The user keeps its password, and now logs in as a client.
	session := env.PostSensitive(sessionsCreate, map[string]any{"email": "lia@example.com", "password": "liaison's own password", "application": "planoorder"}, "").
		Expect(t, 200, gen.StatusActionSuccessful)
	var s gen.Session
	session.Data(t, &s)
	if *s.Role != gen.RoleClient {
		t.Errorf("role = %s, want client", *s.Role)
	}
	env.PostSensitive(clientsCreate, map[string]any{"client": map[string]any{"email": "lia@example.com"}}, env.AppTokens["planoorder"]).
		Expect(t, 400, gen.StatusEmailAlreadyClient)
}

func exec(t *testing.T, env *apitest.Env, sql string, args ...any) {
	t.Helper()
	if _, err := env.Pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// outbox lists the queued emails as "kind recipient".
func outbox(t *testing.T, env *apitest.Env) []string {
	t.Helper()
	rows, err := env.Pool.Query(context.Background(), "SELECT kind || ' ' || recipient FROM email_outbox ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func newCompany(t *testing.T, env *apitest.Env, name string) int64 {
	t.Helper()
	var id int64
	if err := env.Pool.QueryRow(context.Background(), "INSERT INTO companies (name) VALUES ($1) RETURNING id", name).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func company(t *testing.T, env *apitest.Env, id int64) (name string, enterprise bool) {
	t.Helper()
	if err := env.Pool.QueryRow(context.Background(), "SELECT name, enterprise FROM companies WHERE id = $1", id).Scan(&name, &enterprise); err != nil {
		t.Fatal(err)
	}
	return name, enterprise
}

func userIDOf(t *testing.T, env *apitest.Env, email string) int64 {
	t.Helper()
	user, err := env.Q.GetUserByEmail(context.Background(), emailaddr.Normalize(email))
	if err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return user.ID
}

func clientIDOf(t *testing.T, env *apitest.Env, email string) int64 {
	t.Helper()
	client, err := env.Q.GetClientProfileByUserID(context.Background(), userIDOf(t, env, email))
	if err != nil {
		t.Fatalf("client of %s: %v", email, err)
	}
	return client.ID
}

// setCompany puts the client of email in a company.
func setCompany(t *testing.T, env *apitest.Env, email string, companyID int64) {
	t.Helper()
	exec(t, env, "UPDATE clients SET company_id = $1 WHERE id = $2", companyID, clientIDOf(t, env, email))
}

func TestClientsRegisterRateLimited(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.Registrations = limits.AddressQuota{PerAddress: 2, Window: time.Hour}
	}))
	register := func(email string) *apitest.Response {
		return env.PostSensitive("/api/v1/clients/register", map[string]any{"application": "planoorder",
			"client": map[string]any{"email": email, "password": password}}, "")
	}
	register("one@example.com").Expect(t, 200, gen.StatusActionSuccessful)
	register("ONE@example.com").Expect(t, 400, gen.StatusEmailAlreadyRegistered) // creates nothing, costs nothing
	register("two@example.com").Expect(t, 200, gen.StatusActionSuccessful)
	res := register("three@example.com").Expect(t, 429, gen.StatusRateLimited)
	if res.Header.Get("Retry-After") != "3600" {
		t.Errorf("Retry-After = %q, want 3600", res.Header.Get("Retry-After"))
	}
	env.Clock.Advance(time.Hour)
	register("three@example.com").Expect(t, 200, gen.StatusActionSuccessful)
}
