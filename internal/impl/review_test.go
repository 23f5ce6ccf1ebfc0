package impl_test

// A hostile review of issues 10 and 11 on main: each test is an attack from the HTTP API that
// should be refused, and FAILS while the hole is open. The comment above each test says what the
// attacker does and why the answer is wrong; the review report ranks them and proposes fixes.
// Where a test needs requests to interleave in a given order, a trigger holds one of them on an
// advisory lock the test holds (as TestCredentialChangeWinsOverLoginInFlight does): the trigger
// only fixes the order, the attack is the two requests.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/emailaddr"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/mail"
)

// holdOn connects outside the pool (which the requests need), takes advisory lock key, and
// installs fn as a plpgsql trigger function that waits for that lock. It returns the connection,
// whose pg_advisory_unlock lets the held request go on.
func holdOn(t *testing.T, env *apitest.Env, key int, fn, trigger string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	hold, err := pgx.Connect(ctx, env.Pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hold.Close(ctx) })
	if _, err := hold.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		t.Fatal(err)
	}
	exec(t, env, fn)
	exec(t, env, trigger)
	return hold
}

func release(t *testing.T, hold *pgx.Conn, key int) {
	t.Helper()
	if _, err := hold.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", key); err != nil {
		t.Fatal(err)
	}
}

// memberOfOwnersCompany makes bob (of the company fixture) a member of the fixture's company:
// bob asks, the verified owner approves.
func memberOfOwnersCompany(t *testing.T, env *apitest.Env, f companyFixture) {
	t.Helper()
	env.PostJSON(companiesRequestMember, map[string]any{"company_id": f.company}, f.bob).Expect(t, 200, gen.StatusActionSuccessful)
	f.change(env, companiesApproveMember, f.bobC, f.owner).Expect(t, 200, gen.StatusActionSuccessful)
	if _, companies := grants(t, env, f.bob); !slices.Equal(companies, []int64{f.company}) {
		t.Fatalf("bob may grant %v, want his company %d", companies, f.company)
	}
}

// Finding 1. A grant passed on by a liaison outlives the grant it came from.
//
// Attack: bob, a member of the owner's company, makes lia a liaison of the company; lia (as
// liaisons may) passes the company on to mallory. The owner then removes bob: removeMember takes
// back what bob granted (DeleteGrantsOfCompanyBy: lia loses the company), but not what lia
// granted on the strength of bob's grant. Mallory, whom neither the owner nor any member ever
// chose, keeps acting for the company, and may pass it on again. Nothing lets the owner see or
// end it (companies/members lists no liaisons).
func TestReviewSubDelegatedGrantOutlivesItsSource(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	f := newCompanyFixture(t, env)
	memberOfOwnersCompany(t, env, f)

	env.PostSensitive(liaisonsRegister, map[string]any{"liaison": map[string]any{"email": "lia@example.com"},
		"company_ids": []int64{f.company}}, f.bob).Expect(t, 200, gen.StatusActionSuccessful)
	lia := *acceptInvitation(t, env, "lia@example.com", "planoorder").Token
	env.PostSensitive(liaisonsRegister, map[string]any{"liaison": map[string]any{"email": "mallory@example.com"},
		"company_ids": []int64{f.company}}, lia).Expect(t, 200, gen.StatusActionSuccessful)
	mallory := *acceptInvitation(t, env, "mallory@example.com", "planoorder").Token

	f.change(env, companiesRemoveMember, f.bobC, f.owner).Expect(t, 200, gen.StatusActionSuccessful)
	if _, companies := grants(t, env, lia); len(companies) != 0 {
		t.Errorf("lia may still grant %v after bob left the company", companies)
	}
	if _, companies := grants(t, env, mallory); len(companies) != 0 {
		t.Errorf("mallory may still grant (and acts for) %v after the member whose grant she got it through was removed: "+
			"the grants made through a grant must go with it", companies)
	}
}

// Finding 2. A grant in flight outlives the membership that allowed it.
//
// Attack: bob, about to be removed from the company (or moving to another one), sends
// liaisons/register granting the company while the owner's companies/remove_member runs.
// registerLiaison decides what bob may grant (checkGrants) before its transaction, and
// checkGrantor re-checks inside it only that bob is verified and his session live, not that he
// is still a member; the removal locks nothing the grant holds. So if the removal commits between
// the check and the grant's insert, its DeleteGrantsOfCompanyBy finds nothing yet, and the grant
// commits afterwards: lia acts for a company none of whose members granted it.
func TestReviewGrantRacesMembershipRemoval(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	f := newCompanyFixture(t, env)
	memberOfOwnersCompany(t, env, f)

	const key = 2020 // the grant is held just before it inserts the company grant
	hold := holdOn(t, env, key, `CREATE FUNCTION hold_company_grant() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN PERFORM pg_advisory_xact_lock(2020); RETURN NULL; END $$`,
		"CREATE TRIGGER hold_company_grant BEFORE INSERT ON liaison_companies FOR EACH STATEMENT EXECUTE FUNCTION hold_company_grant()")

	grantDone := env.Start(apitest.Request(http.MethodPost, liaisonsRegister, "text/plain", apitest.Sensitive(t, map[string]any{
		"liaison": map[string]any{"email": "lia@example.com"}, "company_ids": []int64{f.company}}), f.bob))
	if res := waitForLockWaiter(t, hold, "advisory", grantDone); res != nil {
		t.Fatalf("the grant was not held: %d %s", res.Code, res.Raw)
	}
	body, _ := json.Marshal(map[string]any{"company_id": f.company, "client_id": f.bobC})
	removalDone := env.Start(apitest.Request(http.MethodPost, companiesRemoveMember, "application/json", body, f.owner))
	// On main the removal commits at once; with the membership locked by the grant it would wait.
	removal := waitForLockWaiter(t, hold, "transactionid", removalDone)
	release(t, hold, key)
	grant := grantDone.Wait()
	if removal == nil {
		removal = removalDone.Wait()
	}
	if removal.Code != http.StatusOK {
		t.Fatalf("the removal answered %d %s", removal.Code, removal.Raw)
	}
	var n int
	if err := env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM liaison_companies
		WHERE company_id = $1 AND granted_by_user_id = $2`, f.company, userIDOf(t, env, "bob@example.com")).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("liaisons/register answered %d and left %d grant(s) of the company by bob, who is no longer a member: "+
			"the grant must re-check the grantor's membership inside its transaction, with a lock the removal waits for",
			grant.Code, n)
	}
}

// Finding 3. An unverified employee grants company membership and chooses passwords.
//
// Attack: an employee account whose email was never proven (every employee that existed before
// migration 00011 and never used a link or Google; or an account an attacker registered with
// the future employee's email before an operator made it an employee) calls clients/create with
// a company_id and a password. mayChooseCredentials trusts any employee session without asking
// whether its email is proven, so the new client is made a member of any company (with the
// attacker's password on it), though the same caller is refused by companies/members,
// companies/approve_member and scopes/liaison_register for being unverified. The membership is
// no grant recorded as the caller's, so the email's first proof does not take it back either.
func TestReviewUnverifiedEmployeeGrantsMembership(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.UnverifiedUser("newstaff@example.com", password, "employee")
	staff := env.Login("newstaff@example.com", password, "planoorder")
	company := newCompany(t, env, "Someone Else's")
	env.Get(companiesMembers+"?company_id="+strconv.FormatInt(company, 10), staff).Expect(t, 403, gen.StatusPermissionDenied)

	res := env.PostSensitive(clientsCreate, map[string]any{"view": "client_read",
		"client": map[string]any{"email": "made@example.com", "password": password, "company_id": company}}, staff)
	if res.Code == http.StatusOK {
		var c gen.ClientProfile
		res.Data(t, &c)
		t.Errorf("an unverified employee created a client with its own password, made a member of company %d (%s); "+
			"want permission-denied (or the rules of a caller who may not choose credentials)", deref(c.CompanyId), res.Envelope.Data)
		return
	}
	res.Expect(t, 403, gen.StatusPermissionDenied)
}

// Finding 4. A hash upgrade restores the password the first proof dropped.
//
// Attack: the squatter of an account whose hash has weaker parameters (made before they were
// raised: the README says such hashes are upgraded at the next log-in) logs in with its
// password while the owner proves the email. The log-in read the user before the proof, checks
// the password against that stale hash, and upgradePasswordHash then writes a new hash of the
// squatter's password with SetPasswordHash, which has no credential_version condition: the
// password the proof just dropped is back (the log-in itself then fails its CreateSession
// check, so the race looks handled). From then on the squatter signs in to the owner's account.
// The same write would undo a password reset of the recovery issue (old password back).
func TestReviewRehashRestoresDroppedPassword(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	const victim = "grace@example.com"
	weak, err := argon2id.CreateHash(password, &argon2id.Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32})
	if err != nil {
		t.Fatal(err)
	}
	var userID int64
	if err := env.Pool.QueryRow(context.Background(), `INSERT INTO users (email, password_hash, first_name)
		VALUES ($1, $2, 'Grace') RETURNING id`, victim, weak).Scan(&userID); err != nil {
		t.Fatal(err)
	}
	exec(t, env, "INSERT INTO clients (user_id) VALUES ($1)", userID)
	requestLink(env, victim, "planoorder").Expect(t, 200, gen.StatusActionSuccessful) // reaches the owner's mailbox
	link := lastLinkToken(t, env, victim)

	const key = 3030 // the squatter's log-in is held after it read the user, as it takes its use
	hold := holdOn(t, env, key, `CREATE FUNCTION hold_signin() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.key LIKE 'signin:account:%' THEN PERFORM pg_advisory_xact_lock(3030); END IF; RETURN NEW; END $$`,
		"CREATE TRIGGER hold_signin BEFORE INSERT ON limit_counters FOR EACH ROW EXECUTE FUNCTION hold_signin()")
	loginDone := env.Start(apitest.Request(http.MethodPost, sessionsCreate, "text/plain", apitest.Sensitive(t, map[string]any{
		"email": victim, "password": password, "application": "planoorder"}), ""))
	if res := waitForLockWaiter(t, hold, "advisory", loginDone); res != nil {
		t.Fatalf("the log-in was not held: %d %s", res.Code, res.Raw)
	}
	useLink(env, link, "planoorder").Expect(t, 200, gen.StatusActionSuccessful) // the owner's first proof commits
	release(t, hold, key)
	inFlight := loginDone.Wait()

	res := login(env, map[string]any{"email": victim, "password": password, "application": "planoorder"})
	if res.Code == http.StatusOK {
		t.Errorf("after the owner's first proof (log-in in flight answered %d), the squatter's password signs in again: "+
			"the hash upgrade wrote it back over the proof", inFlight.Code)
		return
	}
	res.Expect(t, 400, gen.StatusUserHasNoPassword)
}

// Finding 5. Concurrent registrations of one email each cost a full argon2id hash.
//
// Attack: send N registrations of one new email at once (from one address or several). Each
// passes checkEmailFree (nothing is committed yet), takes a use of the address's registration
// allowance, and hashes; one creates the account and the N-1 others fail on the unique index and
// are given their use back ("only accounts created count"). So one counted registration buys N
// hashes, and the rule "a duplicate registration answers before hashing" holds only one
// at a time: the 30 registrations an address may make per hour pay for 30 × N hashes.
func TestReviewDuplicateRegistrationsHashConcurrently(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Hasher.QueueBudget = time.Minute // nothing is shed: every request that hashes, hashes
	}))
	const n = 10
	before := metric(t, env, "planoauth_password_hashes_total")
	got := concurrently(n, func(int) *apitest.Response {
		return postFrom(env, addr(1), clientsRegister, registration("grace@example.com"), "")
	})
	if want := fmt.Sprintf("map[200 action-successful:1 400 email-already-registered:%d]", n-1); got.String() != want {
		t.Fatalf("answers = %s, want %s", got, want)
	}
	if hashes := metric(t, env, "planoauth_password_hashes_total") - before; hashes != 1 {
		t.Errorf("%v argon2id hashes for %d concurrent registrations of one email, want 1: the duplicates hashed before the "+
			"unique index refused them, and gave back their registration use", hashes, n)
	}
}

// Finding 6. clients/register is an unlimited enumeration oracle.
//
// Attack: from one address, spend its registrations (30 an hour by default; 1 here), then ask
// clients/register about as many emails as you like. A taken email answers
// email-already-registered before anything is counted; a free one answers rate-limited. Neither
// answer costs anything, so the address learns which of any number of emails have an account,
// where sessions/create and sessions/magic_link_request bound the same question to 100 (and 20)
// unknown emails per address per 15 minutes.
func TestReviewRegistrationIsAFreeEnumerationOracle(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.Registrations = limits.AddressQuota{PerAddress: 1, Window: time.Hour}
	}))
	const probes = 150
	exec(t, env, "INSERT INTO users (email) SELECT 'member' || g || '@example.com' FROM generate_series(1, $1::int) g", probes)
	postFrom(env, addr(1), clientsRegister, registration("mine@example.com"), "").Expect(t, 200, gen.StatusActionSuccessful)

	told := 0
	for i := range probes {
		taken := postFrom(env, addr(1), clientsRegister, registration(fmt.Sprintf("member%d@example.com", i+1)), "")
		free := postFrom(env, addr(1), clientsRegister, registration(fmt.Sprintf("nobody%d@example.com", i+1)), "")
		if taken.Status() != free.Status() {
			told++
		}
	}
	if bound := limits.Defaults.SignIn.PerAddress; told > bound {
		t.Errorf("one address with no registrations left told %d taken emails from free ones, want at most %d "+
			"(what the address may learn through sessions/create in a window)", told, bound)
	}
}

// Finding 7. A refused email gives its use back: no limit for addresses Mandrill rejects.
//
// Attack: make an account's address one that Mandrill rejects (register an address that hard
// bounces: the welcome email puts it on Mandrill's rejection list), or pick any such user. Then
// ask for sign-in links for it without end. Each request stores a link, calls Mandrill, writes
// a notification (kept 90 days, with the recipient) and answers mandrill-email-failed; and,
// "nothing reached the mailbox", gives back its use of both the account's and the address's
// allowance. So the limits never bite: unbounded Mandrill calls (the sender's quota and
// reputation), unbounded rows, and a notifications list that buries real failures. The same
// holds for every request during a Mandrill outage or slowdown (each waiting up to its timeout).
func TestReviewMandrillRefusalsAreFree(t *testing.T) {
	t.Parallel()
	fake, srv := startFakeMandrill(t)
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Mailer = mail.NewMandrill(mail.MandrillConfig{APIKey: "test-key", BaseURL: srv.URL, From: "no-reply@plano.example"})
	}))
	env.User("bounced@example.com", password, "client")
	fake.set("rejected")
	var got answers
	for range 30 {
		got.add(postFrom(env, addr(1), magicLinkRequest, map[string]any{"email": "bounced@example.com", "application": "planoorder"}, ""))
	}
	fake.mu.Lock()
	calls := len(fake.bodies)
	fake.mu.Unlock()
	if bound := limits.Defaults.Links.PerAccount; calls > bound {
		t.Errorf("30 link requests from one address for one account made %d Mandrill calls and %d notifications (answers %s), "+
			"want at most %d: a refused email still cost the call and the rows", calls, countRows(t, env, "notifications"), got.String(), bound)
	}
}

// Finding 8. A self-registered client reaches planox2 through a subaddress of its own email.
//
// Attack: register yourself (planoorder lets anyone), confirm the welcome email, and register
// "you+x@your-domain" as your own client's liaison. checkNotOwnLiaison compares whole
// normalised emails, so this is someone else; but under subaddressing (RFC 5233; Gmail, Outlook,
// Fastmail, Proton, ...) the invitation lands in your own mailbox. Accept it and you are a
// liaison in planox2, "an application that refuses self-registration", by a grant of your own
// making: the attack of issue 10 point 4 with one more character. (The root cause is wider:
// any second mailbox does it, and a liaison whose grants were all taken back keeps its accepted
// role; see the report.)
func TestReviewSubaddressSelfLiaisonReachesPlanox2(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	me := register(t, env, registration("ada@example.com"))
	mine := verify(t, env, "ada@example.com")
	res := env.PostSensitive(liaisonsRegister, map[string]any{"liaison": map[string]any{"email": "ada+x@example.com"},
		"client_ids": []int64{me.Client.Id}}, mine)
	if res.Code == http.StatusOK {
		acceptInvitation(t, env, "ada+x@example.com", "planoorder") // delivered to ada's own mailbox
		acceptedLiaisonSession(t, env, "ada+x@example.com")         // a liaison session in planox2
		t.Errorf("a self-registered client made its own subaddress its liaison and signed in to planox2 with it; " +
			"want invalid-param on liaison.email")
		return
	}
	res.Expect(t, 400, gen.StatusInvalidParam)
}

// Finding 9. liaisons/register tells any verified client who has an account, its id, and
// whether it is already someone's liaison.
//
// Attack: a verified client (anyone with a mailbox) registers emails as its liaison. For an
// email without a user the answer shows the new user in the default view (names,
// has_password, email_verified) and accepted false; for an existing user only {id, email},
// with accepted true when the user is an accepted liaison of anyone. So each call (30 an hour
// per caller) reveals whether the email has an account, that account's user id, and whether it
// is a liaison; and an accepted liaison is made to act for the caller's client at once, without
// being asked.
func TestReviewLiaisonRegisterRevealsExistingAccounts(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	env.User("bob@example.com", password, "liaison") // somebody else's liaison
	ada := env.Login("ada@example.com", password, "planoorder")
	adaClient := clientIDOf(t, env, "ada@example.com")
	answer := func(email string) (user map[string]any, accepted bool) {
		res := env.PostSensitive(liaisonsRegister, map[string]any{"liaison": map[string]any{"email": email},
			"client_ids": []int64{adaClient}}, ada).Expect(t, 200, gen.StatusActionSuccessful)
		var data struct {
			User     map[string]any `json:"user"`
			Accepted bool           `json:"accepted"`
		}
		res.Data(t, &data)
		return data.User, data.Accepted
	}
	existing, existingAccepted := answer("bob@example.com")
	fresh, freshAccepted := answer("newcomer@example.com")
	if !slices.Equal(slices.Sorted(maps.Keys(existing)), slices.Sorted(maps.Keys(fresh))) || existingAccepted != freshAccepted {
		t.Errorf("an existing account answers user %v accepted %v, a new one user %v accepted %v: "+
			"the answer tells the caller which emails have an account (and bob's user id %v, and that he is a liaison)",
			existing, existingAccepted, fresh, freshAccepted, existing["id"])
	}
}

// Finding 10. The squatter's remember_me survives the owner's first proof.
//
// Attack: register the victim's email, log in with remember_me on (saved on the user). When the
// owner proves the email, takeBackUnproven drops the password and sessions but keeps the saved
// preference, so every session the owner makes without saying remember_me (every link
// exchange that does not pass it) is a remember-me session that never expires by time: a token
// stolen from the owner stays good until revoked. The names and phone the squatter chose stay
// too (the phone is what a second factor or a recovery by SMS would use).
func TestReviewSquattersRememberMeOutlivesTheProof(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	const victim = "grace@example.com"
	register(t, env, registration(victim))
	login(env, map[string]any{"email": victim, "password": password, "application": "planoorder", "remember_me": true}).
		Expect(t, 200, gen.StatusActionSuccessful)
	owner := readSession(t, env, verify(t, env, victim))
	if remembered := deref(owner.User.RememberMe); owner.ExpiresAt == nil || remembered {
		t.Errorf("the owner's first session after the proof never expires (remember_me %v, set by the squatter): "+
			"want the preference reset by the first proof", remembered)
	}
}

// Finding 11. One caller may email the same invitee again and again.
//
// Attack: a verified client registers the same pending liaison over and over: each call queues a
// new invitation email ("Each registration of a liaison that has not accepted sends one"), up to
// the caller's 30 an hour, with the caller's name and email in it. Nothing bounds what one
// recipient gets: with a few verified accounts (a catch-all domain makes them free) an attacker
// sends one victim hundreds of invitations a day from our sender.
func TestReviewInvitationsRepeatToOneRecipient(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	ada := env.Login("ada@example.com", password, "planoorder")
	adaClient := clientIDOf(t, env, "ada@example.com")
	for range 10 {
		env.PostSensitive(liaisonsRegister, map[string]any{"liaison": map[string]any{"email": "victim@example.com"},
			"client_ids": []int64{adaClient}}, ada).Expect(t, 200, gen.StatusActionSuccessful)
	}
	if n := countInvitations(t, env, "victim@example.com"); n > 1 {
		t.Errorf("%d invitations queued to one recipient by one caller within minutes, want 1 while one is pending", n)
	}
}

func deref[T any](p *T) T {
	var zero T
	if p != nil {
		return *p
	}
	return zero
}

func countInvitations(t *testing.T, env *apitest.Env, email string) int {
	t.Helper()
	var n int
	if err := env.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM email_outbox WHERE kind = 'invitation' AND recipient = $1", emailaddr.Normalize(email)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
