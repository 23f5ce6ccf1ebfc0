package impl_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
)

// Review 10 (branch notify: security notices, the reset page without a link, reset-mfa).

// Finding 1. The bound of one notice per kind per window hides the factor that stays.
//
// "every change of what signs in to an account emails its (proven) email" (openapi, mfa tag,
// "The owner is told"); "the first change of each kind is always told" (README). The thief
// adds its authenticator app (told: "An authenticator app was added"), registers a passkey
// within the window (not told: a factor was added already), then turns the app off (told: "The
// authenticator app was removed", a kind of its own). The owner's mailbox reads as a change
// undone; the passkey that keeps her out is never mentioned, not even after the window: the
// bounded notice is dropped, not deferred.
func TestReview10AFactorAddedBetweenToldChangesIsNeverTold(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	thief := thiefSignsIn(t, env)

	var enrolment gen.TOTPEnrolment
	mfaPost(env, thiefAddress, totpEnroll, map[string]any{}, thief).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &enrolment)
	mfaPost(env, thiefAddress, totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, 0)}, thief).Expect(t, 200, gen.StatusActionSuccessful)

	env.Clock.Advance(time.Minute)
	a := apitest.NewAuthenticator(passkeyOrigin)
	opts := options(t, mfaPost(env, thiefAddress, passkeyRegisterBegin, map[string]any{}, thief).Expect(t, 200, gen.StatusActionSuccessful))
	var change gen.MFAChange
	mfaPost(env, thiefAddress, passkeyRegisterEnd, map[string]any{"credential": a.Register(t, opts)}, thief).
		Expect(t, 200, gen.StatusActionSuccessful).Data(t, &change)
	if len(change.Factors.Passkeys) != 1 {
		t.Fatalf("factors after the passkey: %+v", change.Factors)
	}

	env.Clock.Advance(time.Minute)
	mfaPost(env, thiefAddress, totpDisable, map[string]any{"code": totpCode(t, env, enrolment.Secret, 0)}, thief).Expect(t, 200, gen.StatusActionSuccessful)

	// The thief's passkey signs in; the owner's password alone no longer does.
	passkeySignIn(t, env, a, thiefAddress).Expect(t, 200, gen.StatusActionSuccessful)
	limitedSignIn(t, env, addr(7), "ada@example.com", gen.StatusMfaRequired)

	// However long the owner waits, nothing tells her of the passkey.
	env.Clock.Advance(impl.NoticeWindow)
	got := noticesTo(t, env, "ada@example.com")
	// Every notice states the account's second factors as they are after its change, so the
	// removal's tells of the passkey that stays.
	told := slices.ContainsFunc(got, func(n sentNotice) bool {
		return strings.Contains(n.body, "Second factors of the account now: a passkey (added ")
	})
	if !told {
		bodies := make([]string, len(got))
		for i, n := range got {
			bodies[i] = n.kind + ": " + strings.SplitN(n.body, "\n", 4)[2]
		}
		t.Errorf("the thief's passkey, which locks the owner out, was never told; her mailbox reads:\n%s",
			strings.Join(bodies, "\n"))
	}
}

// Finding 2. After `planoauth users reset-mfa`, the thief's way back in is not told.
//
// The thief adds its app (told); support resets the account with --keep-password (the owner
// said she only lost her phone: README "the same, keeping the password (the owner lost her
// phone; nobody else knows it)"). Support was wrong: the thief knows the password, signs in
// again a minute later and adds its app again. The notice that would tell the owner at once is
// the one safety net left, and the notice window, which the thief's first enrolment opened
// before the operator's reset, swallows it: the owner's last email says support reset her
// factors, and she is locked out again without a word.
func TestReview10ThiefBackAfterTheOperatorsResetIsNotTold(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	enrolTOTP(t, env, thiefSignsIn(t, env))

	env.Clock.Advance(time.Minute)
	reset, err := impl.ResetSecondFactors(t.Context(), env.Pool, env.Clock.Now(), impl.MFAResetRequest{Email: "ada@example.com", KeepPassword: true, By: "support", Reason: "ticket 1", PublicURL: impl.DefaultPublicURL})
	if err != nil || !reset.HadSecondFactor || !reset.Emailed {
		t.Fatalf("reset %+v, %v", reset, err)
	}

	env.Clock.Advance(time.Minute)
	again := thiefSignsIn(t, env)
	var enrolment gen.TOTPEnrolment
	mfaPost(env, thiefAddress, totpEnroll, map[string]any{}, again).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &enrolment)
	mfaPost(env, thiefAddress, totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, 0)}, again).Expect(t, 200, gen.StatusActionSuccessful)
	limitedSignIn(t, env, addr(7), "ada@example.com", gen.StatusMfaRequired) // the owner is locked out again

	got := kindsOfNotices(noticesTo(t, env, "ada@example.com"))
	slices.Sort(got) // the outbox sends in no set order
	if strings.Join(got, ",") != noticeAdded+","+noticeAdded+","+noticeReset {
		t.Errorf("notices %v: the thief's factor added after the operator's reset was not told", got)
	}
}

// Finding 3. A passkey sign-in in flight outlives `planoauth users reset-mfa --keep-password`.
//
// "Moves credential_version: no log-in with the old password in flight completes" (mfa.go,
// ResetSecondFactors) holds only when the password is dropped. With --keep-password the
// reset deletes the passkeys but leaves credential_version, the one thing
// sessions/passkey_finish checks before it creates its session (CreateSession's
// check_credential; passkeyStillHeld runs only when the version moved). An assertion verified
// just before the reset commits opens an aal2 session just after it, which the reset's
// revocation never saw: the thief's passkey, which support just removed, still signed it in.
//
// The window is made wide by locking role_scopes (TestReview8aPasskeySignInInFlightOutlivesTheFirstProof),
// which the sign-in reads after verifying the passkey and the reset does not read.
func TestReview10PasskeySignInInFlightOutlivesResetMFA(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	thief := thiefSignsIn(t, env)
	a := apitest.NewAuthenticator(passkeyOrigin)
	registerPasskey(t, env, a, thief)

	opts := options(t, mfaPost(env, thiefAddress, passkeySignInBegin, map[string]any{"application": "planoorder"}, "").
		Expect(t, 200, gen.StatusActionSuccessful))
	finish := apitest.Request(http.MethodPost, passkeySignInEnd, "text/plain",
		apitest.Sensitive(t, map[string]any{"credential": a.Assert(t, opts), "application": "planoorder"}), "")
	finish.RemoteAddr = thiefAddress + ":1234"

	release := holdRoleScopes(t, env)
	answer := env.Start(finish)
	until(t, func() bool { return waitingOnALock(t, env) }, answer, release, "the passkey sign-in never waited to create its session")
	reset, err := impl.ResetSecondFactors(t.Context(), env.Pool, env.Clock.Now(), impl.MFAResetRequest{Email: "ada@example.com", KeepPassword: true, By: "support", Reason: "ticket 1", PublicURL: impl.DefaultPublicURL})
	release()
	if err != nil || !reset.HadSecondFactor {
		t.Fatalf("reset %+v, %v", reset, err)
	}
	res := answer.Wait()
	if res.Code != http.StatusOK {
		res.Expect(t, 400, gen.StatusInvalidPasskey) // refused: the reset won
		return
	}
	var session gen.Session
	if res.Data(t, &session); session.Token == nil {
		t.Fatalf("a 200 without a session: %s", res.Raw)
	}
	if code := readStatus(env, env.Handler, *session.Token); code == http.StatusOK {
		s := readSession(t, env, *session.Token)
		t.Errorf("the thief's passkey sign-in in flight at the operator's reset holds a live %s session on the account "+
			"(the passkey it proved is gone): %s", *s.Aal, s.User.Email)
	}
}

// Finding 4. Two concurrent disables of one authenticator app: the second, serialized behind the
// first (LockUserMFA), deleted nothing but answered 200 and recorded a second mfa.totp_disabled.
// One of them turns the app off; the other is refused: invalid-token when it found its session,
// which proved a code of the app, ended with it, or invalid-param (no app is set up) when it
// passed the session check just before the first committed and read the app just after.
func TestReview10ConcurrentTOTPDisablesTurnItOffOnce(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	secret, _ := enrolTOTP(t, env, env.Login("ada@example.com", password, "planoorder"))
	session := aal2Session(t, env, addr(2), "ada@example.com", secret, 1)
	flights := make([]*apitest.InFlight, 2)
	for i := range flights {
		req := apitest.Request(http.MethodPost, totpDisable, "text/plain", apitest.Sensitive(t, map[string]any{"password": password}), session)
		req.RemoteAddr = addr(2+i) + ":1234"
		flights[i] = env.Start(req)
	}
	var ok, refused int
	for _, f := range flights {
		switch res := f.Wait(); res.Code {
		case http.StatusOK:
			ok++
		case http.StatusUnauthorized:
			res.Expect(t, 401, gen.StatusInvalidToken)
			refused++
		default:
			res.Expect(t, 400, gen.StatusInvalidParam)
			refused++
		}
	}
	if ok != 1 || refused != 1 {
		t.Errorf("%d disables succeeded and %d were refused, want one of each", ok, refused)
	}
	var disabled int
	if err := env.Pool.QueryRow(context.Background(), "SELECT count(*) FROM audit_events WHERE kind = 'mfa.totp_disabled'").Scan(&disabled); err != nil {
		t.Fatal(err)
	}
	if disabled != 1 {
		t.Errorf("%d mfa.totp_disabled events, want 1", disabled)
	}
}
