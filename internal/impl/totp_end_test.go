package impl_test

// Turning the authenticator app off ends what it completed (README, Second factors), as
// removing a passkey does (passkeys_end_test.go): a thief who had the password and proved a
// code of the app (a code phished from the owner, or its own app's) keeps no session once the
// owner turns the app off to be rid of it; and a code in flight when the app goes upgrades
// nothing. Each test is an attack from the HTTP API and FAILED before turning the app off ended
// the sessions that proved its codes and the upgrade required the app (the last one tries the
// upgrade's statement directly, in a window the API cannot open).

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
)

// totpThiefAddress is where the thief signs in from.
const totpThiefAddress = "127.0.0.5"

// appAndKey is ada's account with an authenticator app and a passkey: setup, the session that
// set both up (it proved the app's first code, so its methods name otp); own, her session
// signed in with the passkey (webauthn, no code), from which she turns the app off; secret, the
// app's; codes, her recovery codes; key, her passkey's authenticator.
type appAndKey struct {
	setup, own, secret string
	codes              []string
	key                *apitest.Authenticator
}

func newAppAndKey(t *testing.T, env *apitest.Env) appAndKey {
	t.Helper()
	env.User("ada@example.com", password, "client")
	ada := appAndKey{setup: env.Login("ada@example.com", password, "planoorder"), key: apitest.NewAuthenticator(passkeyOrigin)}
	ada.secret, ada.codes = enrolTOTP(t, env, ada.setup)
	registerPasskey(t, env, ada.key, ada.setup)
	ada.own = tokenOf(t, passkeySignIn(t, env, ada.key, addr(2)).Expect(t, 200, gen.StatusActionSuccessful))
	return ada
}

// nextCode is a code of the app at a time step no code was accepted at yet: the clock moves on
// one step first.
func nextCode(t *testing.T, env *apitest.Env, secret string) string {
	t.Helper()
	env.Clock.Advance(30 * time.Second)
	return totpCode(t, env, secret, 0)
}

// withCode signs in as ada with her password from address and completes the second factor with
// a code of her app; it returns the session's token.
func withCode(t *testing.T, env *apitest.Env, address, secret string) string {
	t.Helper()
	limited := *limitedSignIn(t, env, address, "ada@example.com", gen.StatusMfaRequired).Token
	mfaPost(env, address, totpVerify, map[string]any{"code": nextCode(t, env, secret)}, limited).Expect(t, 200, gen.StatusActionSuccessful)
	return limited
}

// The thief has ada's password and codes phished from her, and completes its sign-ins with
// them, from two addresses. Ada turns the app off from her passkey session: the thief's
// sessions answer as revoked sessions do, on every instance, and so does the session that set
// the app up (it proved a code of it); her sessions that proved no code stay; the trail has the
// removal and the revocation, and ada is emailed.
func TestTOTPDisableEndsTheSessionsItCompleted(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	other := env.SecondInstance()
	ada := newAppAndKey(t, env)
	thieves := []string{withCode(t, env, totpThiefAddress, ada.secret), withCode(t, env, addr(6), ada.secret)}
	env.Get(scopesLiaisonRegister, thieves[0]).Expect(t, 200, gen.StatusActionSuccessful) // complete
	withRecoveryCode := *limitedSignIn(t, env, addr(7), "ada@example.com", gen.StatusMfaRequired).Token
	mfaPost(env, addr(7), recoveryCodeVerify, map[string]any{"code": ada.codes[0]}, withRecoveryCode).Expect(t, 200, gen.StatusActionSuccessful)
	stayed := map[string]string{"passkey": ada.own, "stepped up with the passkey": steppedUp(t, env, addr(3), ada.key),
		"recovery code": withRecoveryCode, "password": *limitedSignIn(t, env, addr(4), "ada@example.com", gen.StatusMfaRequired).Token}
	before := statuses(env, stayed)
	if code := readStatus(env, other, thieves[0]); code != http.StatusOK { // cached on the other instance
		t.Fatalf("the other instance answered %d", code)
	}
	seen := len(noticesTo(t, env, "ada@example.com"))

	res := mfaPost(env, addr(2), totpDisable, map[string]any{"password": password}, ada.own).Expect(t, 200, gen.StatusActionSuccessful)
	if sessionEnded(t, res) {
		t.Errorf("ada's passkey session, which proved no code, was said to end: %s", res.Raw)
	}
	wantEndedWithTheFactor(t, env, other, res, gen.AuditMfaTotpDisabled, append(thieves, ada.setup), stayed, before)
	wantOneNotice(t, env, "ada@example.com", seen, noticeRemoved, addr(2))
}

// A session may not saw off the proof it stands on and go on: ada, signed in with her password
// and a code on her phone, turns the app off from there (with a code). Her phone's session ends
// with the thief's (the answer says so); her passkey session stays.
func TestTOTPDisableFromASessionThatUsedIt(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newAppAndKey(t, env)
	thief := withCode(t, env, totpThiefAddress, ada.secret)
	phone := withCode(t, env, addr(2), ada.secret)
	res := mfaPost(env, addr(2), totpDisable, map[string]any{"code": nextCode(t, env, ada.secret)}, phone).Expect(t, 200, gen.StatusActionSuccessful)
	if !sessionEnded(t, res) {
		t.Errorf("the answer does not say the caller's session ended: %s", res.Raw)
	}
	env.Get(sessionsRead, phone).Expect(t, 401, gen.StatusInvalidToken)
	env.Get(sessionsRead, thief).Expect(t, 401, gen.StatusInvalidToken)
	env.Get(sessionsRead, ada.own).Expect(t, 200, gen.StatusActionSuccessful)
	if f := factorsOf(t, env, ada.own); f.Totp.Enabled || len(f.Passkeys) != 1 {
		t.Errorf("factors after turning the app off: %+v", f)
	}
}

// holdTOTP locks ada's TOTP row until the returned release runs: a code's check waits where it
// uses up its time step (UseTOTPStep), after the code matched, and the app's removal waits too,
// holding the user's row.
func holdTOTP(t *testing.T, env *apitest.Env) (release func()) {
	t.Helper()
	return holdRows(t, env, "SELECT 1 FROM totp_secrets t JOIN users u ON u.id = t.user_id WHERE u.email = 'ada@example.com' FOR UPDATE OF t")
}

// The thief, with ada's password, sends a phished code that is past its check when ada turns
// the app off: its session is not upgraded (the upgrade requires the app still there), and
// answers as a verify after the removal does.
func TestTOTPVerifyInFlightAtTheDisableUpgradesNothing(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newAppAndKey(t, env)
	thief := *limitedSignIn(t, env, totpThiefAddress, "ada@example.com", gen.StatusMfaRequired).Token
	verify := apitest.Request(http.MethodPost, totpVerify, "text/plain",
		apitest.Sensitive(t, map[string]any{"code": nextCode(t, env, ada.secret)}), thief)
	verify.RemoteAddr = totpThiefAddress + ":1234"

	// With the password: a code would wait for the app's row before the removal takes the user's.
	removal := apitest.Request(http.MethodPost, totpDisable, "text/plain", apitest.Sensitive(t, map[string]any{"password": password}), ada.own)
	removal.RemoteAddr = addr(2) + ":1234"
	res := checkInFlightAtRemoval(t, env, verify, removal, holdTOTP(t, env))
	if res.Code == http.StatusOK {
		t.Errorf("a code in flight at the app's removal completed the second factor: %s", res.Raw)
	} else {
		res.Expect(t, 400, gen.StatusInvalidParam)
	}
	if code := env.Get(scopesLiaisonRegister, thief).Code; code == http.StatusOK {
		t.Error("the thief's session is complete, on an app removed before")
	}
}

// sealedTOTP is ada's stored (sealed) TOTP secret, as committed.
func sealedTOTP(t *testing.T, env *apitest.Env) []byte {
	t.Helper()
	var sealed []byte
	err := env.Pool.QueryRow(context.Background(), "SELECT t.sealed_secret FROM totp_secrets t JOIN users u ON u.id = t.user_id "+
		"WHERE u.email = 'ada@example.com' AND t.confirmed_at IS NOT NULL").Scan(&sealed)
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

// The window in which the owner turns the app off and sets up another while a thief's code of
// the old one is past its check is too narrow to open from the API (the check's upgrade holds
// the user's row once it begins), so the statement is tried directly: a session is upgraded on
// a code only while the app the code was checked against is still the user's confirmed one,
// not merely while the user has an app.
func TestTOTPUpgradeRequiresTheAppItChecked(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newAppAndKey(t, env)
	old := sealedTOTP(t, env)
	mfaPost(env, addr(2), totpDisable, map[string]any{"password": password}, ada.own).Expect(t, 200, gen.StatusActionSuccessful)
	enrolTOTP(t, env, ada.own)
	thief := limitedSignIn(t, env, totpThiefAddress, "ada@example.com", gen.StatusMfaRequired)
	q := db.New(env.Pool)
	upgrade := db.UpgradeSessionParams{ID: thief.Id, Method: string(gen.MethodOtp), Now: env.Clock.Now(), TotpSecret: old}
	if _, err := q.UpgradeSession(context.Background(), upgrade); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("a code of the app turned off upgraded the session on its successor (error %v)", err)
	}
	upgrade.TotpSecret = sealedTOTP(t, env)
	if s, err := q.UpgradeSession(context.Background(), upgrade); err != nil || s.Aal != string(gen.AAL2) {
		t.Fatalf("a code of the app in place did not upgrade the session: %+v, %v", s, err)
	}
}
