package impl_test

// Lock order around session revocation: every transaction that locks a user's row and sessions
// takes the row first, as strongly as it will need it, and the rows of two users in the order of
// their ids. Each test is an attack from the HTTP API, with concurrent requests from distinct
// client addresses, held at the point where the interleaving matters. They FAILED while the
// locks were taken in another order or not at all: the revocations crashed on a deadlock, and
// the liaison sign-ins kept a session after the proof that took their role. The last test is the
// first passkey's registration, which recorded no passkey on its session.

import (
	"context"
	"net/http"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

// revokeRequest is sessions/revoke of user's sessions by the session token, from address.
func revokeRequest(env *apitest.Env, address string, user int64, token string) *http.Request {
	env.T.Helper()
	return mfaRequest(env, address, sessionsRevoke, map[string]any{"user_id": user}, token)
}

// revokeTogether starts first and then second (two sessions/revoke) while hold keeps them where
// their transactions already hold what they took first, waits until both wait for a lock, lets
// them go and returns their answers, first's first.
func revokeTogether(t *testing.T, env *apitest.Env, hold func() (release func()), first, second *http.Request) (a, b *apitest.Response) {
	t.Helper()
	release := hold()
	one := env.Start(first)
	until(t, func() bool { return lockWaiters(t, env) >= 1 }, one, release, "the first revocation never waited")
	two := env.Start(second)
	until(t, func() bool { return lockWaiters(t, env) >= 2 }, two, release, "the second revocation never waited")
	release()
	return one.Wait(), two.Wait()
}

// oneRevokedTheOther checks that of two revocations that each end the other's session, one
// answered that it revoked (at least want sessions) and the other, whose session the first
// ended before it could act, invalid-token: neither crashed.
func oneRevokedTheOther(t *testing.T, a, b *apitest.Response, want int) {
	t.Helper()
	if a.Code != http.StatusOK {
		a, b = b, a
	}
	if n := revokedCount(t, a.Expect(t, 200, gen.StatusActionSuccessful)); n < want {
		t.Errorf("the revocation that went first revoked %d sessions, want at least %d", n, want)
	}
	b.Expect(t, 401, gen.StatusInvalidToken)
}

// holdEmployees locks the employee records of users until the returned release runs: an
// employee's sessions/revoke waits there (lockEmployee), past the user rows it took first.
func holdEmployees(t *testing.T, env *apitest.Env, users ...int64) func() (release func()) {
	return func() func() {
		return holdRows(t, env, "SELECT 1 FROM employees WHERE user_id = ANY ($1) FOR UPDATE", users)
	}
}

// Eve, an employee who believes her account stolen, ends her own sessions everywhere from two of
// them at the same instant (two tabs, two devices). Each took her row for share (checkGrantor)
// and then wanted it for update (LockUserMFA): each waited for the other, and PostgreSQL ended
// one with a deadlock after a second (application-crash). Now the first takes the row for update
// from the start, the second waits for it, and finds its session ended.
func TestRevokeLocksEmployeeRevokingHerselfTwice(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	eve := env.User("eve@example.com", password, "employee")
	tab, phone := env.Session(eve, "planoorder", "employee"), env.Session(eve, "planox2", "employee")
	a, b := revokeTogether(t, env, holdEmployees(t, env, eve),
		revokeRequest(env, addr(2), eve, tab), revokeRequest(env, addr(3), eve, phone))
	oneRevokedTheOther(t, a, b, 2)
	env.Get(sessionsRead, tab).Expect(t, 401, gen.StatusInvalidToken)
	env.Get(sessionsRead, phone).Expect(t, 401, gen.StatusInvalidToken)
}

// Two employees end each other's sessions at the same instant (one of the accounts is a thief's
// way in, and each side acts). Each held its own row for share and then wanted the other's for
// update: a deadlock. Now both take the two rows in the order of their ids.
func TestRevokeLocksEmployeesRevokingEachOther(t *testing.T) {
	t.Parallel()
	for _, lowerFirst := range []bool{true, false} {
		name := map[bool]string{true: "LowerIDFirst", false: "HigherIDFirst"}[lowerFirst]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := apitest.New(t)
			eve := env.User("eve@example.com", password, "employee")
			mal := env.User("mal@example.com", password, "employee")
			eveSession, malSession := env.Session(eve, "planoorder", "employee"), env.Session(mal, "planoorder", "employee")
			first, second := revokeRequest(env, addr(2), mal, eveSession), revokeRequest(env, addr(3), eve, malSession)
			if !lowerFirst {
				first, second = second, first
			}
			a, b := revokeTogether(t, env, holdEmployees(t, env, eve, mal), first, second)
			oneRevokedTheOther(t, a, b, 1)
		})
	}
}

// squattedWithLiaison is the squatting story of a liaison: a squatter registered victim and, as
// older versions allowed, made an accomplice (accomplice@example.com, with a password) its
// liaison, accepted and acting for the squatted client. It returns the request by which the
// owner proves the email (the welcome email's link) and the accomplice's sign-in to planox2,
// which accepts liaisons and employees only.
func squattedWithLiaison(t *testing.T, env *apitest.Env, victim string) (proof, signIn *http.Request) {
	t.Helper()
	squat := registration(victim)
	squat["client"].(map[string]any)["password"] = "the attacker's password"
	squatted := register(t, env, squat)
	env.User("accomplice@example.com", password)
	var liaisonID int64
	if err := env.Pool.QueryRow(context.Background(), `INSERT INTO liaisons (user_id, accepted_at, invited_by_user_id)
		VALUES ($1, now(), $2) RETURNING id`, userIDOf(t, env, "accomplice@example.com"), userIDOf(t, env, victim)).Scan(&liaisonID); err != nil {
		t.Fatal(err)
	}
	exec(t, env, "INSERT INTO liaison_clients (liaison_id, client_id, granted_by_user_id) VALUES ($1, $2, $3)",
		liaisonID, squatted.Client.Id, userIDOf(t, env, victim))
	env.DeliverEmails()
	proof = apitest.Request(http.MethodPost, magicLinkCreate, "text/plain", apitest.Sensitive(t,
		map[string]any{"magic_token": lastLinkToken(t, env, victim), "application": "planoorder"}), "")
	proof.RemoteAddr = addr(2) + ":1234"
	signIn = mfaRequest(env, addr(7), sessionsCreate,
		map[string]any{"email": "accomplice@example.com", "password": password, "application": "planox2"}, "")
	return proof, signIn
}

// noLiaisonLeft checks that the accomplice has no live session and signs in to planox2 no more.
func noLiaisonLeft(t *testing.T, env *apitest.Env) {
	t.Helper()
	var live int
	if err := env.Pool.QueryRow(context.Background(), "SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL",
		userIDOf(t, env, "accomplice@example.com")).Scan(&live); err != nil {
		t.Fatal(err)
	}
	if live != 0 {
		t.Errorf("the accomplice has %d live sessions after the proof took its role", live)
	}
	mfaPost(env, addr(8), sessionsCreate, map[string]any{"email": "accomplice@example.com", "password": password,
		"application": "planox2"}, "").Expect(t, 400, gen.StatusUserRequiresRole)
}

// The accomplice of squattedWithLiaison signs in to planox2 at the instant grace proves her
// email, which takes the liaison back with its sessions (RevokeRoleSessions). The sign-in read
// the role before the proof and created its session after the proof's revocation: a live liaison
// session with no liaison role behind it. Now the proof takes each liaison's row for update
// before revoking, and a sign-in reads the roles after holding the row: here it holds the row
// first (and waits to read its role's scopes), so the proof waits for its session and revokes it.
func TestRevokeLocksLiaisonSignInInFlightAtTheInvitersProof(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	const victim = "grace@example.com"
	proof, signIn := squattedWithLiaison(t, env, victim)

	release := holdRoleScopes(t, env)
	signingIn := env.Start(signIn)
	until(t, func() bool { return lockWaiters(t, env) >= 1 }, signingIn, release, "the sign-in never waited to create its session")
	proving := env.Start(proof)
	until(t, func() bool { return emailVerified(t, env, victim) || lockWaiters(t, env) >= 2 }, proving, release,
		"the proof neither committed nor waited")
	release()
	proving.Wait().Expect(t, 200, gen.StatusActionSuccessful)
	res := signingIn.Wait()
	if res.Code != http.StatusOK {
		res.Expect(t, 400, gen.StatusUserRequiresRole) // the proof went first
	} else if token := tokenOf(t, res); readStatus(env, env.Handler, token) == http.StatusOK {
		t.Errorf("the accomplice's sign-in in flight at the proof holds a live liaison session in planox2: %s", res.Raw)
	}
	noLiaisonLeft(t, env)
}

// The other order: grace's proof took the liaison back and is held before it commits (where it
// takes back the squatter's membership requests, after revoking the liaison's sessions). The
// accomplice's sign-in then read the role as committed (still a liaison), created its session at
// once, and the proof, which had revoked before, committed without it. Now the sign-in waits for
// the accomplice's row, which the proof holds, and then finds no role.
func TestRevokeLocksLiaisonSignInBehindTheInvitersProof(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	proof, signIn := squattedWithLiaison(t, env, "grace@example.com")

	release := holdRows(t, env, "LOCK TABLE company_member_requests IN SHARE MODE")
	proving := env.Start(proof)
	until(t, func() bool { return lockWaiters(t, env) >= 1 }, proving, release, "the proof never waited")
	signingIn := env.Start(signIn)
	until(t, func() bool { return lockWaiters(t, env) >= 2 }, signingIn, release, "the sign-in never waited for the proof")
	release()
	proving.Wait().Expect(t, 200, gen.StatusActionSuccessful)
	signingIn.Wait().Expect(t, 400, gen.StatusUserRequiresRole)
	noLiaisonLeft(t, env)
}

// The accomplice of squattedWithLiaison has an authenticator app: its sign-in to planox2 is a
// liaison session limited to its second factor. Its code is past its check (held where it uses
// up its time step) when grace's proof takes the liaison back and revokes that session: the
// upgrade, after the revocation, upgrades nothing (invalid-token). The upgrade and the
// revocation update the same session row, one after the other; this held before the lock order
// was fixed too.
func TestRevokeLocksLiaisonSecondFactorInFlightAtTheInvitersProof(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	const victim = "grace@example.com"
	proof, signIn := squattedWithLiaison(t, env, victim)
	accomplice := userIDOf(t, env, "accomplice@example.com")
	secret, _ := enrolTOTP(t, env, env.Session(accomplice, "planox2", "liaison"))
	res := env.Do(signIn).Expect(t, 401, gen.StatusMfaRequired)
	limited := tokenOf(t, res)
	verify := mfaRequest(env, addr(7), totpVerify, map[string]any{"code": nextCode(t, env, secret)}, limited)

	release := holdRows(t, env, "SELECT 1 FROM totp_secrets WHERE user_id = $1 FOR UPDATE", accomplice)
	verifying := env.Start(verify)
	until(t, func() bool { return lockWaiters(t, env) >= 1 }, verifying, release, "the code never waited to use up its step")
	proving := env.Start(proof)
	until(t, func() bool { return emailVerified(t, env, victim) }, proving, release, "the proof never committed")
	release()
	proving.Wait().Expect(t, 200, gen.StatusActionSuccessful)
	verifying.Wait().Expect(t, 401, gen.StatusInvalidToken)
	noLiaisonLeft(t, env)
}

// A thief with ada's password (she had no second factor) signs in and registers the account's
// first passkey, its own: its session becomes aal2 on it. It adds a second passkey as well, one
// it may pretend is hers. When the first passkey is removed (from a session on the other one),
// the session that stands on it ends, as the session that confirmed a first authenticator app
// ends when the app is turned off: the thief keeps no aal2 session made of a factor that is
// gone. It stayed while that session did not record the passkey it registered.
func TestRevokeLocksFirstPasskeyEndsTheSessionThatRegisteredIt(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	thief := tokenOf(t, signIn(env, thiefAddress, "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful))
	first, other := apitest.NewAuthenticator(passkeyOrigin), apitest.NewAuthenticator(passkeyOrigin)
	firstID := registerPasskey(t, env, first, thief).Factors.Passkeys[0].Id
	registerPasskey(t, env, other, thief)
	remover := tokenOf(t, passkeySignIn(t, env, other, addr(2)).Expect(t, 200, gen.StatusActionSuccessful))

	res := mfaPost(env, addr(2), passkeyDelete, map[string]any{"id": firstID, "password": password}, remover).Expect(t, 200, gen.StatusActionSuccessful)
	if sessionEnded(t, res) {
		t.Error("the removal ended the remover's session, which signed in with the other passkey")
	}
	env.Get(sessionsRead, thief).Expect(t, 401, gen.StatusInvalidToken)
	env.Get(sessionsRead, remover).Expect(t, 200, gen.StatusActionSuccessful)
}
