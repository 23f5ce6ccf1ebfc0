package impl_test

// A hostile review of what changed since review 4 (successful sign-ins counted per caller,
// review 4's fixes: invitations and password changes, totp_disable's recent proof, a first factor
// committed meanwhile, the remember_me wish at enrolment): each test is an attack from the HTTP
// API that should be refused, and FAILS while the hole is open. The comment above each test says
// what the attacker does and why the answer is wrong; the review report ranks them and proposes
// fixes.

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
)

// Finding 1. Whoever has the password of an account without a second factor signs in without
// bound again, from one address: every device token is a fresh allowance, and every sign-in
// hands out a new one.
//
// limits.SignedIn is there so that "the account's own password could [not] keep the hash queue
// busy and the audit trail growing" (README, Limits and abuse); it now pays from the caller's
// allowance as Attempt does: "30 for each device token and address the account knows". But a
// device token's allowance is keyed by the token's row (device_tokens.id), and every successful
// sign-in retires the token presented and issues a new one (limits.Trust), with a new id and so
// an allowance never touched. Before this change the account had 30 successes per window, from
// everyone; now one caller that presents the token each answer hands it has no bound at all:
// each sign-in is an argon2id hash (20 ms of CPU: the bounded hash queue then sheds every other
// account's sign-ins with rate-limited), a session row and a login.succeeded event.
// (Each address it signs in from once also becomes known, with an allowance of its own: cheap
// with IPv6 prefixes.) The successor of a device token should carry on its allowance (one
// device, one allowance), so that one caller gets at most its device's, its address's and the
// strangers' share.
func TestReview5DeviceTokenChainSignsInWithoutBound(t *testing.T) {
	t.Parallel()
	const allowance = 3
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		// The fix: every password caller together has PerAll too, whatever tokens it chains.
		d.Limits.SignedIn = limits.SuccessQuota{PerAccount: allowance, PerAll: 3 * allowance, Window: 15 * time.Minute}
	}))
	env.User("ada@example.com", password, "client")
	trail := len(wholeTrail(t, env))
	device, signedIn := "", 0
	var last *apitest.Response
	for range 4 * allowance {
		params := map[string]any{"email": "ada@example.com", "password": password, "application": "planoorder"}
		if device != "" {
			params["device_token"] = device
		}
		last = postFrom(env, thief, sessionsCreate, params, "")
		if last.Code != http.StatusOK {
			break
		}
		signedIn++
		device = deviceToken(t, last)
	}
	// The most one caller can take: the strangers' share, its address's and its device's.
	if signedIn > 3*allowance {
		t.Errorf("one caller from one address signed in %d times in one window (limit %d per caller), each answer's device "+
			"token a fresh allowance: %d events appended", signedIn, allowance, len(wholeTrail(t, env))-trail)
	}
	last.Expect(t, 429, gen.StatusRateLimited)
}

// Finding 2. The password alone keeps the owner from changing it, from a complete session, on
// any address her account does not know yet.
//
// users/password_update pays for its change from limits.SignedIn like a sign-in (tryPassword),
// with the request's address and no device token. Successful sign-ins are now counted per
// caller, and a sign-in answered mfa-required is a success (settle: it carries its session): so
// the thief, who has ada's password but not her app, spends the strangers' share of successes
// with a few mfa-required sign-ins per window (it never completes one, and every right password
// gives its guess back). Ada, signed in completely (password and app), moves to another network
// (a phone, a café) and does what the README tells her to do about a leaked password: change
// it. Her aal2 session is a proof of both factors, but its request comes from an address her
// account does not know yet, so it pays from the strangers' share, which the thief keeps empty:
// rate-limited, window after window, while the password she wants to retire keeps working for
// the thief. (A password change then forgets every known caller, so even a second change from
// the same address pays from that share.) A change from a complete session should pay from that
// session's own allowance (its sign-in's device or address), never from the strangers'.
func TestReview5PasswordAloneBlocksTheOwnersPasswordChange(t *testing.T) {
	t.Parallel()
	const allowance = 3
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SignedIn = limits.SuccessQuota{PerAccount: allowance, Window: 15 * time.Minute}
	}))
	// aal2Owner is a user with an app and a complete session from addr(2), in a new window.
	aal2Owner := func(email string) string {
		env.User(email, password, "client")
		secret, _ := enrolTOTP(t, env, env.Login(email, password, "planoorder"))
		token := aal2Session(t, env, addr(2), email, secret, 1)
		env.Clock.Advance(15 * time.Minute)
		return token
	}
	change := func(t *testing.T, token string, spent string) {
		res := mfaPost(env, addr(3), passwordUpdate, map[string]any{"current_password": password, "password": newPassword}, token)
		if res.Code == http.StatusTooManyRequests {
			t.Errorf("%s keep the owner's complete (aal2) session from changing the password from an address her account "+
				"does not know yet: %d %s", spent, res.Code, res.Status())
		}
		res.Expect(t, 200, gen.StatusActionSuccessful)
	}
	t.Run("PasswordAlone", func(t *testing.T) {
		ada := aal2Owner("ada@example.com")
		for range allowance {
			limitedSignIn(t, env, thief, "ada@example.com", gen.StatusMfaRequired)
		}
		change(t, ada, fmt.Sprintf("%d sign-ins with the password alone (none completed)", allowance))
	})
	// The same with no password at all: a stranger's wrong guesses spend the strangers' share of
	// guesses (limits.SignIn, 10), which tryPassword takes first.
	t.Run("WrongGuesses", func(t *testing.T) {
		grace := aal2Owner("grace@example.com")
		exhaust(t, env, "grace@example.com", thief)
		change(t, grace, "a stranger's wrong guesses (it has no password)")
	})
}

// Finding 3. The password alone keeps the owner's Google sign-ins out, from her own device: a
// Google sign-in never presents the device token.
//
// Successful sign-ins are counted per caller "as for Attempt" (limits.SignedIn): a device token
// the account issued has an allowance of its own, so that strangers who spent theirs never stand
// between the owner's device and the account. sessions/create, magic_link_create,
// passkey_finish and the mfa routes take device_token; sessions/google takes none (SessionsGoogle
// builds its limits.Client from the address alone), so a Google sign-in from anywhere but a known
// address is a stranger's, whatever device it comes from.
//
// Attack: ada signs in with Google and her app (her device gets a device token, her address is
// known). The thief has her password but not her app, and spends the strangers' share of
// successes with mfa-required sign-ins, which it never completes. Ada's phone changes network
// (a new address, her device token in hand): her Google sign-in answers rate-limited, window
// after window, though nothing about it involves the password the thief holds. A Google sign-in
// proves something the password does not (as a passkey's does): it should pay from an allowance
// of its own per account, as SignedInWithPasskey does (or, at least, take device_token as the
// other sign-ins do; this test then sends it).
func TestReview5PasswordAloneKeepsTheOwnersGoogleSignInOut(t *testing.T) {
	t.Parallel()
	const allowance = 3
	iss := newTestIssuer(t)
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SignedIn = limits.SuccessQuota{PerAccount: allowance, Window: 15 * time.Minute}
		d.Google = iss.config()
	}))
	env.User("ada@example.com", password, "client")
	secret, _ := enrolTOTP(t, env, env.Login("ada@example.com", password, "planoorder"))
	google := func(address string) *apitest.Response {
		return mfaPost(env, address, sessionsGoogle, map[string]any{"id_token": iss.sign(t, claims("ada@example.com", env.Clock.Now())),
			"application": "planoorder"}, "")
	}
	var limited gen.Session
	google(addr(2)).Expect(t, 401, gen.StatusMfaRequired).Data(t, &limited)
	var complete gen.Session
	mfaPost(env, addr(2), totpVerify, map[string]any{"code": totpCode(t, env, secret, 1)}, *limited.Token).
		Expect(t, 200, gen.StatusActionSuccessful).Data(t, &complete)
	if deref(complete.DeviceToken) == "" {
		t.Fatal("ada's completed Google sign-in answered no device token")
	}
	env.Clock.Advance(15 * time.Minute) // a new window

	for range allowance {
		limitedSignIn(t, env, thief, "ada@example.com", gen.StatusMfaRequired)
	}
	res := google(addr(3))
	if res.Code == http.StatusTooManyRequests {
		t.Errorf("%d sign-ins with the password alone (none completed) keep ada's Google sign-in from her own device out: "+
			"sessions/google takes no device token, so her device is a stranger on a new address", allowance)
	}
	res.Expect(t, 401, gen.StatusMfaRequired)
}

// Finding 4. A verification link outlives the proof of the email and every password change
// after it: a 24-hour sign-in link that "a new password ends what was emailed before" misses.
//
// Review 4 left verification links out of endPasswordLinks because "only an unverified account
// has one, whose mailbox is its owner by design". But nothing ends one when the email is proven
// another way (a reset, a sign-in link, Google): the account is verified, and its registration's
// verification link still signs in at sessions/magic_link_create (signInKinds) for the rest of
// its 24 hours. That is the case the README's rule is for: "whoever reads a shared or forwarded
// mailbox must not sign in with an old email once the owner changed the password because of it".
//
// Attack: bob registers; his welcome email (with the verification link) is read by someone else
// (a shared or forwarded mailbox). Bob resets his password (which proves his email, and ends his
// reset and sign-in links and invitations), because he suspects it. The reader exchanges the old
// verification link: a session as bob. The first proof of the email (and every password change)
// should end the user's verification links too.
func TestReview5VerificationLinkOutlivesTheResetThatProvedTheEmail(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	register(t, env, registration("bob@example.com"))
	env.DeliverEmails()
	leaked := lastLinkToken(t, env, "bob@example.com") // the verification link of his welcome email

	requestReset(env, addr(2), "bob@example.com").Expect(t, 200, gen.StatusActionSuccessful)
	resetWith(env, map[string]any{"reset_token": lastReset(t, env, "bob@example.com").token}).
		Expect(t, 200, gen.StatusActionSuccessful)
	res := postFrom(env, thief, magicLinkCreate, map[string]any{"magic_token": leaked, "application": "planoorder"}, "")
	if res.Code == http.StatusOK {
		t.Error("bob reset his password (proving his email); his leaked verification link still signed the reader in as bob")
	}
	res.Expect(t, 401, gen.StatusLinkExpired)
}

// Finding 5. A stale aal2 token and the password replace the password and log the owner out
// everywhere: the one change of a credential that takes no recent proof.
//
// Review 4's fix made mfa/totp_disable with the password take a recent proof, because "a stale
// token and a phished password would otherwise" change what guards the account; a first password
// takes one too. users/password_update with current_password takes none: a token of any age and
// the password (neither enough alone: the password answers mfa-required, and a limited session
// cannot call it) set a password of the thief's choosing, revoke every other session of the
// owner, forget her devices and addresses, and end her emailed links. Ada's password no longer
// works anywhere, and her app does not help her: she is out until she resets it by email, while
// the thief's session is the one kept. With the current password, a change should take a recent
// proof too (the second factor again on the session), as turning the app off with it does.
func TestReview5StaleTokenAndPasswordReplaceThePassword(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	secret, _ := enrolTOTP(t, env, env.Login("ada@example.com", password, "planoorder"))
	stolen := aal2Session(t, env, addr(2), "ada@example.com", secret, 1)
	env.Clock.Advance(time.Minute) // a new step for her own sign-in's code
	ada := aal2Session(t, env, addr(3), "ada@example.com", secret, 1)
	env.Clock.Advance(4 * impl.RecentProof)

	chosen := "the thief's own choice of words"
	res := mfaPost(env, thief, passwordUpdate, map[string]any{"current_password": password, "password": chosen}, stolen)
	if res.Code == http.StatusOK {
		t.Errorf("a token %s past its last proof and the password replaced ada's password: her own session now answers %d, "+
			"her password signs in? %d", 4*impl.RecentProof, env.Get(sessionsRead, ada).Code, signIn(env, addr(3), "ada@example.com").Code)
	}
	res.Expect(t, 403, gen.StatusPermissionDenied)
}

// Finding 6. An invitation still sets the first password of an established account that has
// none: a 7-day link that plants a password no password change can end.
//
// Review 4's fix: "an invitation never sets the password of an account that has one (it is no
// password reset)". An account without one (it signs in with Google, links or a passkey) is as
// established: its email is proven, it has sessions. Its invitation page still asks for a
// password (pages.form: HasPassword false), and UseLink sets it: a first password, which the
// README makes take a recent proof elsewhere because it "signs in afresh" and outlives the
// session (users/password_update). And nothing ends such an invitation: the owner has no password
// to change (endPasswordLinks runs only when one is set).
//
// Attack: bob signs in with emailed links only. A client invites him as a liaison; the email
// sits in his mailbox for 7 days, where someone else reads it. The reader opens /invite and
// chooses a password: bob's sessions are revoked, and the reader now signs in as bob with that
// password whenever it likes, long after the link (and bob never learns he has a password).
// The invitation of a proven account should set no password, whether it has one or not (its
// page asks for none; a password given anyway answers invalid-param).
func TestReview5InvitationSetsTheFirstPasswordOfAnEstablishedAccount(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("host@example.com", password, "client")
	env.User("bob@example.com", "", "client") // proven; signs in with links
	bob := env.Session(userIDOf(t, env, "bob@example.com"), "planoorder", "client")
	host := env.Login("host@example.com", password, "planoorder")
	offerTo(t, env, host, "bob@example.com", []int64{clientIDOf(t, env, "host@example.com")}, nil).Expect(t, 200, gen.StatusActionSuccessful)
	token := strings.TrimPrefix(linkOfEmail(t, env, "bob@example.com", "/invite"), "/invite?token=")

	chosen := "the reader's own choice of words"
	rec := openPage(env, http.MethodPost, "/invite", url.Values{"token": {token}, "password": {chosen}, "password_repeat": {chosen}}, sameOrigin)
	if res := login(env, map[string]any{"email": "bob@example.com", "password": chosen, "application": "planoorder"}); res.Code == http.StatusOK {
		t.Errorf("bob's invitation (page answered %d) set a first password of the reader's choosing on his proven account: "+
			"it signs in as bob, and bob's own session now answers %d", rec.Code, env.Get(sessionsRead, bob).Code)
	}
	if rec.Code == http.StatusOK {
		t.Errorf("the invitation page took a password for a proven account without one: %d", rec.Code)
	}
}
