package impl_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/emailaddr"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
)

// Security notices: whoever has a user's password signs in to an account without a second
// factor, from an address of its own, and adds a factor (or changes the password): the owner
// would be locked out for good, so her mailbox is told at once, without a secret, with a plain
// way back (a reset, and support: `planoauth users reset-mfa`).

// The notices' email kinds and subjects.
const (
	noticePassword   = "password_changed"
	noticeAdded      = "second_factor_added"
	noticeRemoved    = "second_factor_removed"
	noticeCodes      = "recovery_codes_created"
	noticeReset      = "second_factors_reset"
	thiefAddress     = "127.0.0.66"
	resetPageOfOrder = impl.DefaultPublicURL + "/reset?application=planoorder"
)

var noticeSubjects = map[string]string{
	noticePassword: "Your Plano password was changed",
	noticeAdded:    "A second factor was added to your Plano account",
	noticeRemoved:  "A second factor was removed from your Plano account",
	noticeCodes:    "New recovery codes were made for your Plano account",
	noticeReset:    "Plano support reset the second factors of your account",
}

// sentNotice is a security notice the local mailer recorded.
type sentNotice struct{ kind, subject, body string }

// noticesTo delivers the outbox and returns the security notices recorded for email, oldest
// first.
func noticesTo(t *testing.T, env *apitest.Env, email string) []sentNotice {
	t.Helper()
	env.DeliverEmails()
	rows, err := env.Pool.Query(context.Background(),
		"SELECT kind, subject, body_text || body_html FROM sent_emails WHERE recipient = $1 AND kind = ANY($2) ORDER BY id",
		emailaddr.Normalize(email), []string{noticePassword, noticeAdded, noticeRemoved, noticeCodes, noticeReset})
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []sentNotice
	for rows.Next() {
		var n sentNotice
		if err := rows.Scan(&n.kind, &n.subject, &n.body); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// kindsOfNotices lists the notices' kinds.
func kindsOfNotices(ns []sentNotice) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.kind
	}
	return out
}

// wantOneNotice expects exactly one new notice (after seen of them) to email, of kind, naming
// PlanoOrder, the address and the time (the harness's clock's), with the plain reset page, and none of secrets nor any
// token; it returns how many email has now.
func wantOneNotice(t *testing.T, env *apitest.Env, email string, seen int, kind, address string, secrets ...string) int {
	t.Helper()
	got := noticesTo(t, env, email)
	if len(got) != seen+1 || got[seen].kind != kind {
		t.Fatalf("notices to %s: %v, want %d and then one %s", email, kindsOfNotices(got), seen, kind)
	}
	n := got[seen]
	if n.subject != noticeSubjects[kind] {
		t.Errorf("subject %q, want %q", n.subject, noticeSubjects[kind])
	}
	when := "When: " + env.Clock.Now().UTC().Format("2006-01-02 15:04") + " UTC\n"
	for _, want := range []string{"Where: PlanoOrder\n", "From the address: " + address + "\n", when,
		"\n" + resetPageOfOrder + "\n", "Contact Plano support", "ada@example.com"} {
		if !strings.Contains(n.body, want) {
			t.Errorf("the %s notice lacks %q:\n%s", kind, want, n.body)
		}
	}
	wantNoSecret(t, n, secrets...)
	return len(got)
}

// wantNoSecret fails when the notice holds one of secrets, a token or a link carrying one.
func wantNoSecret(t *testing.T, n sentNotice, secrets ...string) {
	t.Helper()
	for _, secret := range append(secrets, "token=", "pam_", "pas_", "pad_", "paa_") {
		if secret != "" && strings.Contains(n.body+n.subject, secret) {
			t.Errorf("the %s notice holds %q:\n%s", n.kind, secret, n.body)
		}
	}
}

// thiefSignsIn signs in as ada with her password from the thief's own address and returns the
// session's token.
func thiefSignsIn(t *testing.T, env *apitest.Env) string {
	t.Helper()
	var s gen.Session
	signIn(env, thiefAddress, "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
	return *s.Token
}

// The attack of the review: the thief enrols its app on an account without a factor. The owner
// is told, once, of that; then of every other change the thief makes, each of its own kind.
func TestThiefsChangesAreToldToTheOwner(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	thief := thiefSignsIn(t, env)

	var enrolment gen.TOTPEnrolment
	mfaPost(env, thiefAddress, totpEnroll, map[string]any{}, thief).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &enrolment)
	var change gen.MFAChange
	mfaPost(env, thiefAddress, totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, 0)}, thief).
		Expect(t, 200, gen.StatusActionSuccessful).Data(t, &change)
	if change.RecoveryCodes == nil {
		t.Fatal("the first factor answered no recovery codes")
	}
	secrets := append([]string{enrolment.Secret, thief, password}, *change.RecoveryCodes...)
	seen := wantOneNotice(t, env, "ada@example.com", 0, noticeAdded, thiefAddress, secrets...)
	if n := noticesTo(t, env, "ada@example.com")[0]; !strings.Contains(n.body, "An authenticator app was added") {
		t.Errorf("the notice does not say what was added:\n%s", n.body)
	}

	t.Run("new recovery codes", func(t *testing.T) {
		var set gen.RecoveryCodes
		mfaPost(env, thiefAddress, recoveryCodesCreate, map[string]any{}, thief).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &set)
		seen = wantOneNotice(t, env, "ada@example.com", seen, noticeCodes, thiefAddress, append(secrets, set.Codes...)...)
	})
	t.Run("a passkey registered", func(t *testing.T) {
		a := apitest.NewAuthenticator(passkeyOrigin)
		opts := options(t, mfaPost(env, thiefAddress, passkeyRegisterBegin, map[string]any{}, thief).Expect(t, 200, gen.StatusActionSuccessful))
		mfaPost(env, thiefAddress, passkeyRegisterEnd, map[string]any{"credential": a.Register(t, opts), "name": "Thief's key https://evil.example"}, thief).
			Expect(t, 200, gen.StatusActionSuccessful).Data(t, &change)
		// One notice of its kind per window: the app's told of factors added already.
		if got := noticesTo(t, env, "ada@example.com"); len(got) != seen {
			t.Fatalf("notices %v: a second factor added within the window was told again", kindsOfNotices(got))
		}
		env.Clock.Advance(impl.NoticeWindow)
		opts = options(t, mfaPost(env, thiefAddress, passkeyRegisterBegin, map[string]any{}, thief).Expect(t, 200, gen.StatusActionSuccessful))
		mfaPost(env, thiefAddress, passkeyRegisterEnd, map[string]any{"credential": a.Register(t, opts), "name": "Thief's key https://evil.example"}, thief).
			Expect(t, 200, gen.StatusActionSuccessful).Data(t, &change)
		got := noticesTo(t, env, "ada@example.com")
		if len(got) != seen+1 || got[seen].kind != noticeAdded || !strings.Contains(got[seen].body, "A passkey was added") ||
			!strings.Contains(got[seen].body, "When: 2026-11-23 12:10 UTC") {
			t.Fatalf("after the window: %v, want a passkey's notice at 12:10", kindsOfNotices(got))
		}
		if strings.Contains(got[seen].body, "evil.example") {
			t.Errorf("the notice quotes the passkey's name, which its registrant chose:\n%s", got[seen].body)
		}
		seen = len(got)
	})
	t.Run("a passkey removed", func(t *testing.T) {
		mfaPost(env, thiefAddress, passkeyDelete, map[string]any{"id": change.Factors.Passkeys[0].Id, "password": password}, thief).Expect(t, 200, gen.StatusActionSuccessful)
		seen = wantOneNotice(t, env, "ada@example.com", seen, noticeRemoved, thiefAddress, secrets...)
	})
	t.Run("the password changed", func(t *testing.T) {
		mfaPost(env, thiefAddress, passwordUpdate, map[string]any{"current_password": password, "password": newPassword}, thief).Expect(t, 200, gen.StatusActionSuccessful)
		seen = wantOneNotice(t, env, "ada@example.com", seen, noticePassword, thiefAddress, append(secrets, newPassword)...)
	})
	// Last: the thief's session proved the app's first code, so it ends with the app.
	t.Run("the app removed, within the window", func(t *testing.T) {
		mfaPost(env, thiefAddress, totpDisable, map[string]any{"code": totpCode(t, env, enrolment.Secret, 1)}, thief).Expect(t, 200, gen.StatusActionSuccessful)
		if got := noticesTo(t, env, "ada@example.com"); len(got) != seen {
			t.Fatalf("notices %v: a removal within the window was told again", kindsOfNotices(got))
		}
	})
}

// The owner's own password reset is told too (the mailbox that reset it may be shared).
func TestPasswordResetIsToldToTheOwner(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	requestReset(env, addr(7), "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful)
	mail := lastReset(t, env, "ada@example.com")
	mfaPost(env, addr(7), passwordReset, map[string]any{"reset_token": mail.token, "password": newPassword, "application": "planoorder"}, "").
		Expect(t, 200, gen.StatusActionSuccessful)
	wantOneNotice(t, env, "ada@example.com", 0, noticePassword, addr(7), mail.token, mail.code, newPassword)
}

// The thief repeating enrolments and removals quickly, and making new recovery codes from
// several sessions and addresses at once, gets the owner at most one notice of each kind per
// window.
func TestNoticesAreBounded(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	thief := thiefSignsIn(t, env)
	for range 3 {
		var enrolment gen.TOTPEnrolment
		mfaPost(env, thiefAddress, totpEnroll, map[string]any{}, thief).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &enrolment)
		mfaPost(env, thiefAddress, totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, 0)}, thief).Expect(t, 200, gen.StatusActionSuccessful)
		env.Clock.Advance(time.Minute)
		mfaPost(env, thiefAddress, totpDisable, map[string]any{"code": totpCode(t, env, enrolment.Secret, 0)}, thief).Expect(t, 200, gen.StatusActionSuccessful)
		thief = thiefSignsIn(t, env) // its session proved the app's first code: it ended with the app
	}
	if got := sortedNotices(t, env); strings.Join(got, ",") != noticeAdded+","+noticeRemoved {
		t.Errorf("three enrolments and removals in 3 minutes told %v, want one of each", got)
	}
	_, codes := enrolTOTP(t, env, thief)
	// Five more sessions of the thief, from five addresses, each completed with a recovery code.
	sessions := make([]string, 5)
	for i := range sessions {
		limited := *limitedSignIn(t, env, addr(20+i), "ada@example.com", gen.StatusMfaRequired).Token
		mfaPost(env, addr(20+i), recoveryCodeVerify, map[string]any{"code": codes[i]}, limited).Expect(t, 200, gen.StatusActionSuccessful)
		sessions[i] = limited
	}
	got := concurrently(len(sessions), func(i int) *apitest.Response {
		return mfaPost(env, addr(20+i), recoveryCodesCreate, map[string]any{}, sessions[i])
	})
	if got.counts["200 action-successful"] != len(sessions) {
		t.Fatalf("answers %v, want every new set made", got)
	}
	if got := sortedNotices(t, env); strings.Join(got, ",") != noticeCodes+","+noticeAdded+","+noticeRemoved {
		t.Errorf("then a fourth enrolment and five new sets at once told %v, want one of new codes more", got)
	}
}

// sortedNotices are the kinds of ada's notices, sorted (the outbox sends in no set order).
func sortedNotices(t *testing.T, env *apitest.Env) []string {
	t.Helper()
	kinds := kindsOfNotices(noticesTo(t, env, "ada@example.com"))
	slices.Sort(kinds)
	return kinds
}

// A change refused sends nothing; nor does one rolled back after its notice was queued, which
// leaves the window unspent too.
func TestNoNoticeWithoutTheChange(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	thief := thiefSignsIn(t, env)
	var enrolment gen.TOTPEnrolment
	mfaPost(env, thiefAddress, totpEnroll, map[string]any{}, thief).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &enrolment)
	mfaPost(env, thiefAddress, totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, 5)}, thief).Expect(t, 400, gen.StatusInvalidCode)
	mfaPost(env, thiefAddress, passwordUpdate, map[string]any{"current_password": "not it", "password": newPassword}, thief).Expect(t, 400, gen.StatusInvalidPassword)
	mfaPost(env, thiefAddress, passwordUpdate, map[string]any{"current_password": password, "password": "short"}, thief).Expect(t, 400, gen.StatusInvalidParam)
	mfaPost(env, thiefAddress, recoveryCodesCreate, map[string]any{}, thief).Expect(t, 400, gen.StatusInvalidParam)
	mfaPost(env, thiefAddress, totpDisable, map[string]any{"password": password}, thief).Expect(t, 400, gen.StatusInvalidParam)
	mfaPost(env, thiefAddress, passkeyDelete, map[string]any{"id": 1, "password": password}, thief).Expect(t, 400, gen.StatusInvalidParam)
	if got := noticesTo(t, env, "ada@example.com"); len(got) != 0 {
		t.Fatalf("refused changes told %v", kindsOfNotices(got))
	}

	// The enrolment's transaction fails at its last statement, after its notice was queued.
	for _, sql := range []string{
		`CREATE FUNCTION refuse_enrolment() RETURNS trigger LANGUAGE plpgsql AS $$
		 BEGIN IF NEW.kind = 'mfa.totp_enrolled' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$`,
		`CREATE TRIGGER refuse_enrolment BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_enrolment()`,
	} {
		if _, err := env.Pool.Exec(t.Context(), sql); err != nil {
			t.Fatal(err)
		}
	}
	mfaPost(env, thiefAddress, totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, 0)}, thief).Expect(t, 500, gen.StatusApplicationCrash)
	if n := countRows(t, env, "email_outbox"); n != 0 {
		t.Fatalf("a rolled-back enrolment left %d emails queued", n)
	}
	if _, err := env.Pool.Exec(t.Context(), "DROP TRIGGER refuse_enrolment ON audit_events"); err != nil {
		t.Fatal(err)
	}
	mfaPost(env, thiefAddress, totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, 0)}, thief).Expect(t, 200, gen.StatusActionSuccessful)
	wantOneNotice(t, env, "ada@example.com", 0, noticeAdded, thiefAddress, enrolment.Secret)
}

// While the email is not proven nothing is told: whoever registered the account may not own the
// mailbox. The owner's first proof (here a reset) takes back the factors, and its new password
// is told.
func TestNoNoticeToAnUnprovenEmail(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.UnverifiedUser("ada@example.com", password, "client")
	squatter := thiefSignsIn(t, env)
	enrolTOTP(t, env, squatter)
	mfaPost(env, thiefAddress, recoveryCodesCreate, map[string]any{}, squatter).Expect(t, 200, gen.StatusActionSuccessful)
	mfaPost(env, thiefAddress, passwordUpdate, map[string]any{"current_password": password, "password": newPassword}, squatter).Expect(t, 200, gen.StatusActionSuccessful)
	if got := noticesTo(t, env, "ada@example.com"); len(got) != 0 {
		t.Fatalf("an unproven email was told %v", kindsOfNotices(got))
	}
	requestReset(env, addr(7), "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful)
	mail := lastReset(t, env, "ada@example.com")
	var s gen.Session
	mfaPost(env, addr(7), passwordReset, map[string]any{"reset_token": mail.token, "password": "another long passphrase of hers", "application": "planoorder"}, "").
		Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
	wantLevel(t, s, gen.AAL1, gen.MethodLink)
	wantOneNotice(t, env, "ada@example.com", 0, noticePassword, addr(7), mail.token, mail.code)
}

// Support's way back in: `planoauth users reset-mfa` (impl.ResetSecondFactors) after the thief
// enrolled its app. The owner then gets in with a password reset, to a complete session; every
// earlier session is revoked, the thief's password is gone, the trail shows the operator.
func TestOperatorResetsSecondFactors(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	adaID := env.User("ada@example.com", password, "client")
	owner := env.Login("ada@example.com", password, "planoorder")
	thief := thiefSignsIn(t, env)
	enrolTOTP(t, env, thief)
	limitedSignIn(t, env, addr(7), "ada@example.com", gen.StatusMfaRequired) // the owner is locked out

	reset, err := impl.ResetSecondFactors(t.Context(), env.Pool, env.Clock.Now(), impl.MFAResetRequest{Email: "Ada@Example.com", KeepPassword: false, By: "support", Reason: "ticket 1", PublicURL: impl.DefaultPublicURL})
	if err != nil {
		t.Fatal(err)
	}
	if !reset.HadSecondFactor || !reset.PasswordDropped || reset.SessionsRevoked != 3 || !reset.Emailed || reset.User.ID != adaID {
		t.Errorf("reset %+v, want the factor, the password and 3 sessions gone, and an email", reset)
	}
	for _, token := range []string{owner, thief} {
		env.Get(mfaIndex, token).Expect(t, 401, gen.StatusInvalidToken)
	}
	signIn(env, thiefAddress, "ada@example.com").Expect(t, 400, gen.StatusUserHasNoPassword)
	got := noticesTo(t, env, "ada@example.com")
	i := slices.IndexFunc(got, func(n sentNotice) bool { return n.kind == noticeReset })
	if len(got) != 2 || i < 0 || got[i].subject != noticeSubjects[noticeReset] {
		t.Fatalf("notices %v, want the thief's factor and the reset", kindsOfNotices(got))
	}
	if body := got[i].body; !strings.Contains(body, "\n"+impl.DefaultPublicURL+"/reset\n") || strings.Contains(body, "From the address") ||
		!strings.Contains(body, "removed its password") {
		t.Errorf("the reset's notice:\n%s", body)
	}
	wantNoSecret(t, got[i])

	requestReset(env, addr(7), "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful)
	mail := lastReset(t, env, "ada@example.com")
	var s gen.Session
	mfaPost(env, addr(7), passwordReset, map[string]any{"reset_token": mail.token, "password": "another long passphrase of hers", "application": "planoorder"}, "").
		Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
	wantLevel(t, s, gen.AAL1, gen.MethodLink)
	if f := factorsOf(t, env, *s.Token); f.Totp.Enabled || len(f.Passkeys) != 0 || f.RecoveryCodes.Remaining != 0 {
		t.Errorf("after the reset: %+v", f)
	}

	var kinds []gen.AuditKind
	for _, e := range wholeTrail(t, env) {
		if e.Actor.Type == gen.ActorOperator && e.UserId != nil && *e.UserId == adaID {
			kinds = append(kinds, e.Kind)
		}
	}
	if strings.Join(auditStrings(kinds), ",") != "mfa.reset_by_operator,password.dropped,sessions.revoked" {
		t.Errorf("the operator's events: %v", kinds)
	}

	t.Run("ErrUnknownEmail", func(t *testing.T) {
		_, err := impl.ResetSecondFactors(t.Context(), env.Pool, env.Clock.Now(), impl.MFAResetRequest{Email: "nobody@example.com", KeepPassword: false, By: "support", Reason: "ticket 1", PublicURL: impl.DefaultPublicURL})
		if answer, ok := errors.AsType[*envelope.Error](err); !ok || answer.Status != gen.StatusEmailNotFound {
			t.Errorf("err = %v, want email-not-found", err)
		}
	})
	t.Run("KeepPassword", func(t *testing.T) {
		env.User("grace@example.com", password, "client")
		enrolTOTP(t, env, env.Login("grace@example.com", password, "planoorder"))
		reset, err := impl.ResetSecondFactors(t.Context(), env.Pool, env.Clock.Now(), impl.MFAResetRequest{Email: "grace@example.com", KeepPassword: true, By: "support", Reason: "ticket 1", PublicURL: impl.DefaultPublicURL})
		if err != nil || reset.PasswordDropped || !reset.HadSecondFactor {
			t.Fatalf("reset %+v, %v", reset, err)
		}
		signIn(env, "", "grace@example.com").Expect(t, 200, gen.StatusActionSuccessful)
	})
}

func auditStrings(kinds []gen.AuditKind) []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = string(k)
	}
	return out
}

// The notices' plain link opens the reset page without a token: it asks for the email and
// emails a reset link as sessions/password_reset_request does, saying the same whether or not
// the email has an account; only its own form may post it.
func TestResetRequestPage(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	page := strings.TrimPrefix(resetPageOfOrder, impl.DefaultPublicURL)
	expectPage(t, openPage(env, http.MethodGet, page, nil, nil), 200, "Reset your password", "your PlanoOrder account",
		`name="email"`, `name="application" value="planoorder"`)
	expectPage(t, openPage(env, http.MethodGet, "/reset", nil, nil), 200, "your PlanoAuth account", `name="application" value=""`)
	expectPage(t, openPage(env, http.MethodGet, "/reset?application=nothing", nil, nil), 404, "This page does not work")

	ask := func(email string, header map[string]string) *httptest.ResponseRecorder {
		return openPage(env, http.MethodPost, "/reset", url.Values{"email": {email}, "application": {"planoorder"}}, header)
	}
	if rec := ask("ada@example.com", map[string]string{"Sec-Fetch-Site": "cross-site"}); rec.Code != http.StatusForbidden {
		t.Errorf("a cross-site form answered %d, want 403", rec.Code)
	}
	expectPage(t, ask("not an email", sameOrigin), 422, "Type the email address of your account.")
	if n := resetEmails(t, env, "ada@example.com"); n != 0 {
		t.Fatalf("%d reset emails before a good request", n)
	}
	// The page states the link's lifetime, which pages cannot import: the test ties them.
	lifetime := fmt.Sprintf("within %d minutes", int(impl.MagicLinkLifetime/time.Minute))
	expectPage(t, ask("nobody@example.com", sameOrigin), 200, "Check your email", "If nobody@example.com is the email of an account", lifetime)
	expectPage(t, ask("ADA@example.com", sameOrigin), 200, "Check your email", "If ADA@example.com is the email of an account")
	mail := lastReset(t, env, "ada@example.com")
	if n := resetEmails(t, env, "nobody@example.com"); n != 0 {
		t.Errorf("%d reset emails to an unknown address", n)
	}
	// The link it sent works on its page, and the new password is told.
	rec := openPage(env, http.MethodPost, "/reset", url.Values{"token": {mail.token}, "password": {newPassword}, "password_repeat": {newPassword}}, sameOrigin)
	expectPage(t, rec, 200, "Your password is changed", "Sign in to PlanoOrder")
	wantOneNotice(t, env, "ada@example.com", 0, noticePassword, "192.0.2.1", mail.token, mail.code, newPassword)

	t.Run("ErrRateLimited", func(t *testing.T) {
		// The page spends the address's allowance of resets as the API does: 20 per window in
		// all, two of them spent above.
		for i := range limits.Defaults.Resets.PerAddress - 2 {
			if rec := ask(fmt.Sprintf("nobody%d@example.com", i), sameOrigin); rec.Code != http.StatusOK {
				t.Fatalf("request %d answered %d", i, rec.Code)
			}
		}
		expectPage(t, ask("ada@example.com", sameOrigin), 429, "Too many attempts")
		requestReset(env, "192.0.2.1", "ada@example.com").Expect(t, 429, gen.StatusRateLimited)
	})
}
