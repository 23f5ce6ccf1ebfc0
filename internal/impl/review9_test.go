package impl_test

// Review 9: hostile review of the session 7f424df..44a3a23, attacked from the HTTP API. Each
// test FAILS while the problem it describes is there.

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/emailaddr"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
)

// Finding 1. A passkey sign-in in flight while its user changes her own password is refused
// as invalid-passkey, and recorded as a failed log-in with reason invalid-passkey, though the
// passkey is hers, unchanged, and signs in the moment after.
//
// Review 8a conditioned passkey sessions on credential_version (checkCredential), which a first
// proof moves; but every password change, reset or first password moves it too, and none of
// those touches a passkey. SessionsPasskeyFinish answers every errCredentialChanged as a
// refused passkey. The right answer is the sign-in's (its passkey is still the user's): the
// condition should be what the first proof takes back, the passkey itself (or the sign-in
// should re-check against the user as she is now, as credentialChanged does for passwords).
func TestReview9PasskeySignInRacingTheOwnersPasswordChangeIsRefused(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	own := env.Login("ada@example.com", password, "planoorder")
	a := apitest.NewAuthenticator(passkeyOrigin)
	registerPasskey(t, env, a, own)

	opts := options(t, mfaPost(env, addr(7), passkeySignInBegin, map[string]any{"application": "planoorder"}, "").
		Expect(t, 200, gen.StatusActionSuccessful))
	finish := apitest.Request(http.MethodPost, passkeySignInEnd, "text/plain",
		apitest.Sensitive(t, map[string]any{"credential": a.Assert(t, opts), "application": "planoorder"}), "")
	finish.RemoteAddr = addr(7) + ":1234"

	release := holdRoleScopes(t, env)
	answer := env.Start(finish)
	until(t, func() bool { return waitingOnALock(t, env) }, answer, release, "the passkey sign-in never waited to create its session")
	// Ada, on her laptop, changes her password meanwhile (her passkey stays).
	change := apitest.Request(http.MethodPost, passwordUpdate, "text/plain",
		apitest.Sensitive(t, map[string]any{"current_password": password, "password": newPassword}), own)
	changed := env.Start(change)
	select {
	case <-changed.Done():
	case <-time.After(10 * time.Second):
		release()
		t.Fatal("the password change never answered")
	}
	release()
	changed.Wait().Expect(t, 200, gen.StatusActionSuccessful)
	res := answer.Wait()
	if res.Code != http.StatusOK {
		t.Errorf("ada's passkey sign-in in flight at her own password change answered %d %s: her passkey is unchanged",
			res.Code, res.Status())
	}
	var failed int
	if err := env.Pool.QueryRow(t.Context(),
		"SELECT count(*) FROM audit_events WHERE kind = 'login.failed'").Scan(&failed); err != nil {
		t.Fatal(err)
	}
	if failed > 0 {
		t.Errorf("%d failed log-ins recorded for a passkey sign-in with ada's own, unchanged passkey", failed)
	}
}

// Finding 2. Since review 8b, anyone who knows the email of an account that is not proven yet
// keeps its owner from ever getting a sign-in link or a reset, from one address, and the owner's
// own device token no longer helps.
//
// attemptAt and sendReset make every caller of an unproven account a stranger for links and
// resets, so the strangers' share (5 per 15 minutes) is all the account has: one address (20
// per 15 minutes) spends it for four accounts at once. Before 195ef0e the owner who registered
// herself and signed in once with her password kept her device token's allowance and got her
// link (to prove her email, or to sign in); now she gets rate-limited as long as the stranger
// keeps asking. Review 8b's aim (the squatter gets no allowance per device token) is met as
// well by one allowance that all the callers an unproven account knows share (bounded per
// account, not per token), which strangers cannot spend.
func TestReview9StrangerKeepsAnUnprovenOwnerFromHerLinks(t *testing.T) {
	t.Parallel()
	const perAccount = 2
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.Links = limits.Throttle{PerAccount: perAccount, PerKnown: perAccount, PerAddress: 20, Window: 15 * time.Minute}
	}))
	// Ada registered herself and has not opened the welcome email yet; she signed in once.
	env.UnverifiedUser("ada@example.com", password, "client")
	device := signInFrom(t, env, addr(2), "ada@example.com", "")
	// A stranger who knows her address asks for her links, from one address.
	for range perAccount {
		postFrom(env, thief, magicLinkRequest, map[string]any{"email": "ada@example.com", "application": "planoorder"}, "").
			Expect(t, 200, gen.StatusActionSuccessful)
	}
	res := postFrom(env, addr(2), magicLinkRequest, map[string]any{"email": "ada@example.com", "application": "planoorder",
		"device_token": device}, "")
	if res.Code == http.StatusTooManyRequests {
		t.Fatalf("%d link requests of a stranger from one address keep ada, with her own device token and from her "+
			"own address, from the link that proves her email: %d %s", perAccount, res.Code, res.Status())
	}
	res.Expect(t, 200, gen.StatusActionSuccessful)
}

// Finding 3 (Mailbox is used for the liaison rule only). One person's mailbox receives
// invitations beyond its daily allowance, in other spellings of its address: the allowance is
// counted per normalized address (limits.InvitationTo), while a "+tag", Gmail's dots and now
// the domain's Unicode and IDNA ASCII spellings reach one mailbox (emailaddr.Mailbox). The
// recipient allowance exists to bound what one mailbox receives from everyone together; it
// should be counted per Mailbox.
func TestReview9InvitationsPerRecipientInOtherSpellings(t *testing.T) {
	t.Parallel()
	const perRecipient = 2
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.InvitationRecipients = limits.RecipientQuota{PerRecipient: perRecipient, Window: 24 * time.Hour}
	}))
	spellings := []string{"victim@bücher.example", "victim@xn--bcher-kva.example", "victim+a@bücher.example", "victim+b@bücher.example"}
	sent, counted := 0, map[string]bool{}
	for i, email := range spellings {
		sender := fmt.Sprintf("sender%d@example.com", i)
		env.User(sender, password, "client")
		offerTo(t, env, env.Login(sender, password, "planoorder"), email, []int64{clientIDOf(t, env, sender)}, nil).
			Expect(t, 200, gen.StatusActionSuccessful)
	}
	for _, email := range spellings { // each stored form once: the domain's two spellings are one
		if stored := emailaddr.Normalize(email); !counted[stored] {
			counted[stored] = true
			sent += countInvitations(t, env, email)
		}
	}
	if sent > perRecipient {
		t.Errorf("one mailbox received %d invitations in one day, in %d spellings of its address: its allowance is %d",
			sent, len(spellings), perRecipient)
	}
}

// Finding 2, the other side: the callers an unproven account knows share one allowance, so the
// squatter of an address, from several addresses and with a device token for each, has its
// mailbox sent at most what strangers may and that one allowance.
func TestReview9SquatterOfAnUnprovenMailboxSharesOneAllowance(t *testing.T) {
	t.Parallel()
	const perAccount, perKnown = 2, 3
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.Links = limits.Throttle{PerAccount: perAccount, PerKnown: perKnown, PerAddress: 20, Window: 15 * time.Minute}
	}))
	env.UnverifiedUser("victim@example.com", password, "client")
	sent := 0
	for n := 30; n < 33; n++ {
		device := signInFrom(t, env, addr(n), "victim@example.com", "")
		// With its token from anywhere, and without one from a new address.
		for _, try := range []struct{ from, device string }{{addr(n + 10), device}, {addr(n + 20), ""}} {
			for range perKnown + 1 {
				res := postFrom(env, try.from, magicLinkRequest, map[string]any{
					"email": "victim@example.com", "application": "planoorder", "device_token": try.device}, "")
				if res.Code != http.StatusOK {
					res.Expect(t, 429, gen.StatusRateLimited)
					break
				}
				sent++
			}
		}
	}
	if sent > perAccount+perKnown {
		t.Errorf("the squatter of an unproven account had %d sign-in emails sent to its mailbox in one window, "+
			"want %d (the strangers' share and the one allowance of the callers it knows)", sent, perAccount+perKnown)
	}
}

// Finding 2, for resets: the owner of an unproven account who registered herself (and signed
// in since) is sent her reset although a stranger spent the strangers' share.
func TestReview9StrangerKeepsAnUnprovenOwnerFromHerReset(t *testing.T) {
	t.Parallel()
	const perAccount = 2
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.Resets = limits.Throttle{PerAccount: perAccount, PerKnown: perAccount, PerAddress: 20, Window: 15 * time.Minute}
	}))
	env.UnverifiedUser("ada@example.com", password, "client")
	device := signInFrom(t, env, addr(2), "ada@example.com", "")
	for range perAccount {
		mfaPost(env, thief, resetRequest, map[string]any{"email": "ada@example.com", "application": "planoorder"}, "").
			Expect(t, 200, gen.StatusActionSuccessful)
	}
	env.Server.Wait()
	before := countRows(t, env, "sent_emails")
	mfaPost(env, addr(2), resetRequest, map[string]any{"email": "ada@example.com", "application": "planoorder",
		"device_token": device}, "").Expect(t, 200, gen.StatusActionSuccessful)
	env.Server.Wait()
	if countRows(t, env, "sent_emails") == before {
		t.Errorf("%d reset requests of a stranger keep ada, with her own device token, from her reset", perAccount)
	}
}
