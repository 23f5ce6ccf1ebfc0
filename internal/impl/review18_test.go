package impl_test

// Review 18: where this session's merges meet (the user cache, derived trust, the lock order
// of revocations, the shared guessing allowance), attacked from the HTTP API.

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/gen"
)

// ownAllowance × derived trust: a thief on a copy of ada's synced passkey spends the password
// allowance that every session which did not prove the password shares (10 guesses). Ada, on
// her laptop's session of her own security key (no password proven either), is then refused
// the removal of the copy (rate-limited): the thief keeps her from removing its passkey for
// the window. What she does then: sign in with her password (and her key), a session with an
// allowance of its own, and remove the copy, which ends the thief's session.
func TestReview18ThiefSpendsTheSharedAllowanceOwnerSignsInWithHerPassword(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newStolenPasskey(t, env)
	laptop := tokenOf(t, passkeySignIn(t, env, ada.b, addr(2)).Expect(t, 200, gen.StatusActionSuccessful))
	thief := tokenOf(t, passkeySignIn(t, env, ada.a, addr(9)).Expect(t, 200, gen.StatusActionSuccessful))
	for {
		res := mfaPost(env, addr(9), passkeyDelete, map[string]any{"id": ada.key, "password": "a guess"}, thief)
		if res.Code == http.StatusTooManyRequests {
			res.Expect(t, 429, gen.StatusRateLimited)
			break
		}
		res.Expect(t, 400, gen.StatusInvalidPassword)
	}
	mfaPost(env, addr(2), passkeyDelete, map[string]any{"id": ada.synced, "password": password}, laptop).
		Expect(t, 429, gen.StatusRateLimited) // the lock-out: her session shares the thief's allowance
	own := steppedUp(t, env, addr(2), ada.b)
	res := mfaPost(env, addr(2), passkeyDelete, map[string]any{"id": ada.synced, "password": password}, own).
		Expect(t, 200, gen.StatusActionSuccessful)
	if sessionEnded(t, res) {
		t.Error("ada's password session ended with the copy's removal")
	}
	env.Get(mfaIndex, thief).Expect(t, 401, gen.StatusInvalidToken)
}

// squattedWithInvitation is the squatting story of a liaison invited but not yet accepted: a
// squatter registered victim and, as older versions allowed, invited invitee (unverified, a
// password of its own) to be its liaison. It returns the owner's proof of victim (the welcome
// email's link) and the invitee's acceptance (its invitation link), from two addresses.
func squattedWithInvitation(t *testing.T, env *apitest.Env, victim, invitee string) (proof, accept *http.Request) {
	t.Helper()
	squat := registration(victim)
	squat["client"].(map[string]any)["password"] = "the attacker's password"
	register(t, env, squat)
	liaison := env.UnverifiedUser(invitee, password)
	squatter := userIDOf(t, env, victim)
	var liaisonID int64
	if err := env.Pool.QueryRow(context.Background(), `INSERT INTO liaisons (user_id, invited_by_user_id)
		VALUES ($1, $2) RETURNING id`, liaison, squatter).Scan(&liaisonID); err != nil {
		t.Fatal(err)
	}
	token, hash := auth.NewToken(auth.MagicLinkPrefix)
	exec(t, env, `INSERT INTO magic_links (kind, token_hash, user_id, application_id, expires_at, liaison_id, invited_by_user_id)
		SELECT 'invitation', $1, $2, id, $3, $4, $5 FROM applications WHERE slug = 'planox2'`,
		hash, liaison, env.Clock.Now().Add(time.Hour), liaisonID, squatter)
	env.DeliverEmails()
	proof = apitest.Request(http.MethodPost, magicLinkCreate, "text/plain", apitest.Sensitive(t,
		map[string]any{"magic_token": lastLinkToken(t, env, victim), "application": "planoorder"}), "")
	proof.RemoteAddr = addr(2) + ":1234"
	accept = apitest.Request(http.MethodPost, magicLinkCreate, "text/plain", apitest.Sensitive(t,
		map[string]any{"magic_token": token, "application": "planox2"}), "")
	accept.RemoteAddr = addr(7) + ":1234"
	return proof, accept
}

// The invitee of squattedWithInvitation accepts at the instant grace proves her email, which
// takes the squatter's liaisons back. The acceptance holds its link and its user's row (its
// own first proof) and is held before it accepts the liaison record; the proof deletes that
// record, whose deletion takes the invitee's link with it, and waits for the link. Then the
// acceptance wants the record the proof deleted: each waits for the other. Neither may crash,
// and the proof takes the liaison back whichever went first.
func TestReview18InvitationAcceptedAtTheInvitersProof(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	const victim = "grace@example.com"
	proof, accept := squattedWithInvitation(t, env, victim, "accomplice@example.com")

	release := holdRows(t, env, "LOCK TABLE company_member_requests IN SHARE MODE")
	accepting := env.Start(accept)
	until(t, func() bool { return lockWaiters(t, env) >= 1 }, accepting, release, "the acceptance never waited")
	proving := env.Start(proof)
	until(t, func() bool { return lockWaiters(t, env) >= 2 }, proving, release, "the proof never waited")
	release()
	for what, res := range map[string]*apitest.Response{"grace's proof": proving.Wait(), "the acceptance": accepting.Wait()} {
		if res.Code >= 500 {
			t.Errorf("%s answered %d %s", what, res.Code, res.Raw)
		}
	}
	if !emailVerified(t, env, victim) {
		t.Error("grace's email is not proven")
	}
	var live, records int
	if err := env.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL),
		(SELECT count(*) FROM liaisons WHERE user_id = $1)`, userIDOf(t, env, "accomplice@example.com")).Scan(&live, &records); err != nil {
		t.Fatal(err)
	}
	if live != 0 || records != 0 {
		t.Errorf("the accomplice has %d live sessions and %d liaison records after grace's proof, want none", live, records)
	}
}

// The other order: grace's proof took the liaison record back (and its invitation with it) and
// is held before it commits; the acceptance then waits for its link, and finds it gone.
func TestReview18InvitationAcceptedBehindTheInvitersProof(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	const victim = "grace@example.com"
	proof, accept := squattedWithInvitation(t, env, victim, "accomplice@example.com")

	release := holdRows(t, env, "LOCK TABLE company_member_requests IN SHARE MODE")
	proving := env.Start(proof)
	until(t, func() bool { return lockWaiters(t, env) >= 1 }, proving, release, "the proof never waited")
	accepting := env.Start(accept)
	until(t, func() bool { return lockWaiters(t, env) >= 2 }, accepting, release, "the acceptance never waited for the proof")
	release()
	proving.Wait().Expect(t, 200, gen.StatusActionSuccessful)
	if res := accepting.Wait(); res.Code != http.StatusBadRequest && res.Code != http.StatusUnauthorized {
		t.Errorf("the acceptance behind the proof answered %d %s, want its link refused", res.Code, res.Raw)
	}
	if emailVerified(t, env, "accomplice@example.com") {
		t.Error("the acceptance of a taken-back invitation proved the invitee's email")
	}
}

// Read-your-writes of a derived removal, notifications held back: ada's first passkey (a) is
// removed, and with it the passkey (b) registered from a session signed in with a, her last
// second factor: mfa_enabled turns off. Her limited password session on this instance, which
// read her with mfa_enabled on, is complete at once; and a session on b, the removal's caller,
// is ended.
func TestReview18DerivedRemovalTurningMFAOffIsReadAtOnce(t *testing.T) {
	t.Parallel()
	for name, opts := range cacheModes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := apitest.New(t, opts...)
			env.User("ada@example.com", password, "client")
			first := env.Login("ada@example.com", password, "planoorder")
			a, b := apitest.NewAuthenticator(passkeyOrigin), apitest.NewAuthenticator(passkeyOrigin)
			aID := registerPasskey(t, env, a, first).Factors.Passkeys[0].Id
			onA := tokenOf(t, passkeySignIn(t, env, a, addr(3)).Expect(t, 200, gen.StatusActionSuccessful))
			if f := registerPasskey(t, env, b, onA).Factors; len(f.Passkeys) != 2 {
				t.Fatalf("ada has %d passkeys, want 2", len(f.Passkeys))
			}
			limited := *limitedSignIn(t, env, addr(2), "ada@example.com", gen.StatusMfaRequired).Token
			env.Get(sessionsIndex, limited).Expect(t, 401, gen.StatusMfaRequired) // ada is kept, with a factor
			caller := steppedUp(t, env, addr(4), b)
			readSession(t, env, caller)
			defer pauseNotifications(t, env)()
			res := mfaPost(env, addr(4), passkeyDelete, map[string]any{"id": aID, "password": password}, caller).
				Expect(t, 200, gen.StatusActionSuccessful)
			if !sessionEnded(t, res) {
				t.Error("the caller's session on b, registered on a session on a, did not end with a")
			}
			env.Get(sessionsRead, caller).Expect(t, 401, gen.StatusInvalidToken)
			env.Get(sessionsRead, onA).Expect(t, 401, gen.StatusInvalidToken)
			env.Get(sessionsIndex, limited).Expect(t, 200, gen.StatusActionSuccessful) // no factor to complete any more
		})
	}
}

// Eve, an employee, is (as older versions allowed) the liaison of a squatter's account on
// grace's email, and ends the squatter's sessions (sessions/revoke) at the instant grace proves
// her email. The revocation holds eve's row for share (hers, the lower id, first) and waits for
// the squatter's; the proof holds the squatter's row and wants eve's, to take the liaison back.
func TestReview18EmployeeLiaisonRevokesTheSquatterAtTheProof(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	eve := env.User("eve@example.com", password, "employee")
	const victim = "grace@example.com"
	squat := registration(victim)
	squat["client"].(map[string]any)["password"] = "the attacker's password"
	squatted := register(t, env, squat)
	squatter := userIDOf(t, env, victim)
	var liaisonID int64
	if err := env.Pool.QueryRow(context.Background(), `INSERT INTO liaisons (user_id, accepted_at, invited_by_user_id)
		VALUES ($1, now(), $2) RETURNING id`, eve, squatter).Scan(&liaisonID); err != nil {
		t.Fatal(err)
	}
	exec(t, env, "INSERT INTO liaison_clients (liaison_id, client_id, granted_by_user_id) VALUES ($1, $2, $3)",
		liaisonID, squatted.Client.Id, squatter)
	staff := env.Session(eve, "planoorder", "employee")
	env.DeliverEmails()
	proof := apitest.Request(http.MethodPost, magicLinkCreate, "text/plain", apitest.Sensitive(t,
		map[string]any{"magic_token": lastLinkToken(t, env, victim), "application": "planoorder"}), "")
	proof.RemoteAddr = addr(2) + ":1234"

	release := holdRows(t, env, "SELECT 1 FROM sessions WHERE user_id = $1 FOR UPDATE", squatter)
	proving := env.Start(proof)
	until(t, func() bool { return lockWaiters(t, env) >= 1 }, proving, release, "the proof never waited")
	revoking := env.Start(revokeRequest(env, addr(3), squatter, staff))
	until(t, func() bool { return lockWaiters(t, env) >= 2 }, revoking, release, "the revocation never waited for the proof")
	release()
	for what, res := range map[string]*apitest.Response{"grace's proof": proving.Wait(), "eve's revocation": revoking.Wait()} {
		if res.Code >= 500 {
			t.Errorf("%s answered %d %s", what, res.Code, res.Raw)
		}
	}
	if !emailVerified(t, env, victim) {
		t.Error("grace's email is not proven")
	}
	var records int
	if err := env.Pool.QueryRow(context.Background(), "SELECT count(*) FROM liaisons WHERE user_id = $1", eve).Scan(&records); err != nil {
		t.Fatal(err)
	}
	if records != 0 {
		t.Error("eve is still the liaison the squatter registered")
	}
	env.Get(sessionsRead, staff).Expect(t, 200, gen.StatusActionSuccessful) // her employee session stays
}
