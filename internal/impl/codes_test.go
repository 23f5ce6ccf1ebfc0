package impl_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/emailaddr"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
)

// Every link email carries a code for another device: typed with the email at
// sessions/magic_link_create it does what the link does (a sign-in, verification or invitation
// link's), and using either uses both. From the HTTP API, as the owner and as strangers guessing.

// emailCode finds the code of a link email, shown as two groups of four digits.
var emailCode = regexp.MustCompile(`this code[^:\n]* instead: (\d{4}) (\d{4})`)

// linkMail is what a link email carries.
type linkMail struct{ token, code string }

// lastLinkMail reads the token and code of the newest email recorded for email (the outbox
// delivered first).
func lastLinkMail(t *testing.T, env *apitest.Env, email string) linkMail {
	t.Helper()
	env.DeliverEmails()
	var body string
	err := env.Pool.QueryRow(context.Background(),
		"SELECT body_text FROM sent_emails WHERE recipient = $1 ORDER BY id DESC LIMIT 1", emailaddr.Normalize(email)).Scan(&body)
	if err != nil {
		t.Fatalf("no email recorded for %s: %v", email, err)
	}
	m := emailCode.FindStringSubmatch(body)
	token := linkToken.FindString(body)
	if m == nil || token == "" {
		t.Fatalf("the email holds no link and code:\n%s", body)
	}
	return linkMail{token: token, code: m[1] + m[2]}
}

// useCode exchanges email and code at sessions/magic_link_create (in planoorder unless params
// say otherwise) from a client address.
func useCode(env *apitest.Env, address, email, code string, params map[string]any) *apitest.Response {
	env.T.Helper()
	body := map[string]any{"email": email, "code": code, "application": "planoorder"}
	for k, v := range params {
		body[k] = v
	}
	return from(env, address, magicLinkCreate, body, "")
}

// wrongCode is a code that is not code.
func wrongCode(code string) string {
	if code == "00000000" {
		return "11111111"
	}
	return "00000000"
}

// generous lets tests try codes without meeting the sign-in allowance.
func generous(d *impl.Deps) {
	d.Limits.SignIn = limits.Throttle{PerAccount: 1000, PerKnown: 1000, PerAddress: 1000, Window: time.Hour}
	d.Limits.Links = limits.Throttle{PerAccount: 100, PerKnown: 100, PerAddress: 100, Window: time.Hour}
}

func TestSignInCode(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(generous))
	env.AllowRedirectOrigin("planoorder", "https://order.example")
	env.AllowRedirectOrigin("planoorder", impl.DefaultPublicURL) // where reset requests go back to

	t.Run("OK", func(t *testing.T) {
		env.User("ada@example.com", password, "client")
		env.PostJSON(magicLinkRequest, map[string]any{"email": "ada@example.com", "application": "planoorder",
			"redirect_url": "https://order.example/welcome"}, "").Expect(t, 200, gen.StatusActionSuccessful)
		mail := lastLinkMail(t, env, "ada@example.com")
		if len(mail.code) != auth.CodeDigits {
			t.Errorf("code %q, want %d digits", mail.code, auth.CodeDigits)
		}
		res := useCode(env, addr(1), "Ada@Example.com", mail.code, nil).Expect(t, 200, gen.StatusActionSuccessful)
		var s gen.Session
		res.Data(t, &s)
		if s.Token == nil || *s.Role != gen.RoleClient || s.User.Email != "ada@example.com" {
			t.Fatalf("session = %s, want ada's client session with a token", res.Envelope.Data)
		}
		var full gen.Session
		env.Get(sessionsRead+"?session_view=full", *s.Token).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &full)
		if full.RedirectUrl == nil || *full.RedirectUrl != "https://order.example/welcome" {
			t.Errorf("redirect_url = %v, want the one the link was requested with", full.RedirectUrl)
		}
		// The code and its link are one.
		useLink(env, mail.token, "planoorder").Expect(t, 401, gen.StatusLinkUsed)
		useCode(env, addr(1), "ada@example.com", mail.code, nil).Expect(t, 401, gen.StatusInvalidToken)
	})
	t.Run("TheLinkUsesTheCode", func(t *testing.T) {
		env.User("bea@example.com", password, "client")
		requestLink(env, "bea@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		mail := lastLinkMail(t, env, "bea@example.com")
		useLink(env, mail.token, "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		useCode(env, addr(2), "bea@example.com", mail.code, nil).Expect(t, 401, gen.StatusInvalidToken)
	})
	t.Run("HashedAtRest", func(t *testing.T) {
		env.User("cid@example.com", password, "client")
		requestLink(env, "cid@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		mail := lastLinkMail(t, env, "cid@example.com")
		var row, codeHash string
		err := env.Pool.QueryRow(context.Background(), `SELECT row_to_json(m)::text, m.code_hash FROM magic_links m
			WHERE user_id = (SELECT id FROM users WHERE email = 'cid@example.com')`).Scan(&row, &codeHash)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(codeHash, "$argon2id$") || strings.Contains(row, mail.code) {
			t.Errorf("stored link %s, want the code's argon2id hash only", row)
		}
	})
	t.Run("ErrWrongCodeThenRight", func(t *testing.T) {
		env.User("dee@example.com", password, "client")
		requestLink(env, "dee@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		mail := lastLinkMail(t, env, "dee@example.com")
		useCode(env, addr(3), "dee@example.com", wrongCode(mail.code), nil).Expect(t, 401, gen.StatusInvalidToken)
		useCode(env, addr(3), "dee@example.com", mail.code, nil).Expect(t, 200, gen.StatusActionSuccessful)
	})
	t.Run("ErrOtherApplication", func(t *testing.T) {
		env.User("eve@example.com", password, "client")
		requestLink(env, "eve@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		mail := lastLinkMail(t, env, "eve@example.com")
		useCode(env, addr(4), "eve@example.com", mail.code, map[string]any{"application": "planoauth"}).
			Expect(t, 401, gen.StatusLinkWrongApplication)
		useCode(env, addr(4), "eve@example.com", mail.code, nil).Expect(t, 200, gen.StatusActionSuccessful) // not used up
	})
	// A code is for its kind of link: a reset's code signs nobody in, and a sign-in code sets no
	// password.
	t.Run("ErrOtherKind", func(t *testing.T) {
		env.User("fay@example.com", password, "client")
		requestReset(env, addr(5), "fay@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		reset := lastReset(t, env, "fay@example.com")
		useCode(env, addr(5), "fay@example.com", reset.code, nil).Expect(t, 401, gen.StatusInvalidToken)
		requestLink(env, "fay@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		signIn := lastLinkMail(t, env, "fay@example.com")
		resetWith(env, map[string]any{"email": "fay@example.com", "code": signIn.code}).Expect(t, 401, gen.StatusInvalidToken)
		env.Login("fay@example.com", password, "planoorder") // the password is unchanged
		// Each still works where it belongs (the sign-in first: the new password would end it).
		useCode(env, addr(5), "fay@example.com", signIn.code, nil).Expect(t, 200, gen.StatusActionSuccessful)
		resetWith(env, map[string]any{"email": "fay@example.com", "code": reset.code}).Expect(t, 200, gen.StatusActionSuccessful)
	})
	t.Run("ErrExpired", func(t *testing.T) {
		env.User("gus@example.com", password, "client")
		requestLink(env, "gus@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		mail := lastLinkMail(t, env, "gus@example.com")
		env.Clock.Advance(impl.MagicLinkLifetime)
		useCode(env, addr(6), "gus@example.com", mail.code, nil).Expect(t, 401, gen.StatusInvalidToken)
	})
	// The newest email's code stands for the earlier ones (one code is tried at a time); the
	// earlier links still work.
	t.Run("NewestCodeStands", func(t *testing.T) {
		env.User("hal@example.com", password, "client")
		requestLink(env, "hal@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		first := lastLinkMail(t, env, "hal@example.com")
		requestLink(env, "hal@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		second := lastLinkMail(t, env, "hal@example.com")
		if first.code == second.code {
			t.Skip("the two codes happen to be the same")
		}
		useCode(env, addr(7), "hal@example.com", first.code, nil).Expect(t, 401, gen.StatusInvalidToken)
		useCode(env, addr(7), "hal@example.com", second.code, nil).Expect(t, 200, gen.StatusActionSuccessful)
		useLink(env, first.token, "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	})
	// Unknown emails, emails without a link, and wrong codes answer alike.
	t.Run("ErrUnknownEmail", func(t *testing.T) {
		unknown := useCode(env, addr(8), "nobody@example.com", "12345678", nil).Expect(t, 401, gen.StatusInvalidToken)
		env.User("ivy@example.com", password, "client")
		noLink := useCode(env, addr(8), "ivy@example.com", "12345678", nil).Expect(t, 401, gen.StatusInvalidToken)
		if unknown.Envelope.Message != noLink.Envelope.Message || unknown.Envelope.Data != nil || noLink.Envelope.Data != nil {
			t.Errorf("an unknown email answered %s, a known one %s: want the same", unknown.Raw, noLink.Raw)
		}
	})
	// The password option: given and right, the first proof keeps what the account set up; wrong,
	// it answers invalid-password and the code stays usable.
	t.Run("KeepWithPassword", func(t *testing.T) {
		env.UnverifiedUser("jo@example.com", password, "client")
		requestLink(env, "jo@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		mail := lastLinkMail(t, env, "jo@example.com")
		useCode(env, addr(9), "jo@example.com", mail.code, map[string]any{"password": "not the password"}).
			Expect(t, 400, gen.StatusInvalidPassword)
		res := useCode(env, addr(9), "jo@example.com", mail.code, map[string]any{"password": password}).
			Expect(t, 200, gen.StatusActionSuccessful)
		var s gen.Session
		res.Data(t, &s)
		if !*s.User.EmailVerified {
			t.Errorf("session = %s, want jo's email verified", res.Envelope.Data)
		}
		env.Login("jo@example.com", password, "planoorder") // kept
	})
	t.Run("FirstProofTakesBackWithoutPassword", func(t *testing.T) {
		env.UnverifiedUser("kit@example.com", password, "client")
		requestLink(env, "kit@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		mail := lastLinkMail(t, env, "kit@example.com")
		useCode(env, addr(10), "kit@example.com", mail.code, nil).Expect(t, 200, gen.StatusActionSuccessful)
		env.PostSensitive(sessionsCreate, map[string]any{"email": "kit@example.com", "password": password, "application": "planoorder"}, "").
			Expect(t, 400, gen.StatusUserHasNoPassword)
	})
	// The role rules are those of sessions/create, and the code is used up whatever they answer.
	t.Run("Roles", func(t *testing.T) {
		env.User("lou@example.com", "")
		requestLink(env, "lou@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		mail := lastLinkMail(t, env, "lou@example.com")
		res := useCode(env, addr(11), "lou@example.com", mail.code, nil).Expect(t, 401, gen.StatusClientRequired)
		if res.Envelope.Session == nil || res.Envelope.Session.Token == nil || *res.Envelope.Session.Role != gen.RoleNone {
			t.Errorf("client-required answered no limited session: %s", res.Raw)
		}
		requestLink(env, "lou@example.com", "planox2").Expect(t, 200, gen.StatusActionSuccessful)
		mail = lastLinkMail(t, env, "lou@example.com")
		useCode(env, addr(11), "lou@example.com", mail.code, map[string]any{"application": "planox2"}).
			Expect(t, 400, gen.StatusUserRequiresRole)
		useLink(env, mail.token, "planox2").Expect(t, 401, gen.StatusLinkUsed)
	})
}

// Exactly one way: the token, or email and code; anything else is refused before anything is
// looked up.
func TestSignInCodeParams(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	token := auth.MagicLinkPrefix + strings.Repeat("A", 43)
	for name, tc := range map[string]struct {
		params map[string]any
		code   int
		status gen.Status
		param  string
	}{
		"ErrNeither":       {map[string]any{}, 400, gen.StatusMissingParam, "magic_token"},
		"ErrEmailNoCode":   {map[string]any{"email": "a@example.com"}, 400, gen.StatusMissingParam, "code"},
		"ErrCodeNoEmail":   {map[string]any{"code": "12345678"}, 400, gen.StatusMissingParam, "email"},
		"ErrTokenAndEmail": {map[string]any{"magic_token": token, "email": "a@example.com"}, 400, gen.StatusInvalidParam, "magic_token"},
		"ErrTokenAndCode":  {map[string]any{"magic_token": token, "code": "12345678"}, 400, gen.StatusInvalidParam, "magic_token"},
		"ErrBoth":          {map[string]any{"magic_token": token, "email": "a@example.com", "code": "12345678"}, 400, gen.StatusInvalidParam, "magic_token"},
		"ErrCodeNotDigits": {map[string]any{"email": "a@example.com", "code": "1234567a"}, 400, gen.StatusInvalidParam, "code"},
		"ErrCodeTooShort":  {map[string]any{"email": "a@example.com", "code": "1234567"}, 400, gen.StatusInvalidParam, "code"},
		"ErrCodeSpaced":    {map[string]any{"email": "a@example.com", "code": "1234 5678"}, 400, gen.StatusInvalidParam, "code"},
	} {
		t.Run(name, func(t *testing.T) {
			tc.params["application"] = "planoorder"
			res := env.PostSensitive(magicLinkCreate, tc.params, "").Expect(t, tc.code, tc.status)
			if got := res.Params(); len(got) != 1 || got[0] != tc.param {
				t.Errorf("errors = %v, want [%s]", got, tc.param)
			}
		})
	}
	if n := countRows(t, env, "sessions"); n != 0 {
		t.Errorf("%d sessions created", n)
	}
}

// Attack: guess a code from many addresses at once. Each code gets CodeTries evaluations in
// all, however many addresses try concurrently; then it is dead, and even the right code
// answers invalid-token. The link still works: it was the code that died.
func TestSignInCodeTriesUnderConcurrency(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(generous))
	env.User("ada@example.com", password, "client")
	requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	mail := lastLinkMail(t, env, "ada@example.com")
	wrong := wrongCode(mail.code)
	got := concurrently(20, func(i int) *apitest.Response {
		return useCode(env, addr(100+i), "ada@example.com", wrong, nil)
	})
	if got.counts["401 invalid-token"] != 20 {
		t.Errorf("answers %v, want 20 invalid-token", got)
	}
	var tries int
	if err := env.Pool.QueryRow(context.Background(), "SELECT code_tries FROM magic_links WHERE kind = 'sign_in'").Scan(&tries); err != nil {
		t.Fatal(err)
	}
	if tries != impl.CodeTries {
		t.Errorf("%d tries counted, want exactly %d", tries, impl.CodeTries)
	}
	useCode(env, addr(1), "ada@example.com", mail.code, nil).Expect(t, 401, gen.StatusInvalidToken)
	useLink(env, mail.token, "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
}

// The right code sent many times at once signs in once: the code and its link are used in one
// statement.
func TestSignInCodeWorksOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(generous))
	env.User("ada@example.com", password, "client")
	requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	mail := lastLinkMail(t, env, "ada@example.com")
	got := concurrently(impl.CodeTries, func(i int) *apitest.Response {
		return useCode(env, addr(10+i), "ada@example.com", mail.code, nil)
	})
	if got.counts["200 action-successful"] != 1 || got.counts["401 invalid-token"] != impl.CodeTries-1 {
		t.Errorf("answers %v, want one session and %d invalid-token", got, impl.CodeTries-1)
	}
	if n := countRows(t, env, "sessions"); n != 1 {
		t.Errorf("%d sessions created, want 1", n)
	}
}

// Wrong codes are guesses at the account: they spend the sign-in allowance strangers share, so
// that asking for new links (and so new codes) buys no more guesses. The owner's device keeps
// its own allowance, and the link, which names no account, still works.
func TestSignInCodeCountsAsSignIn(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SignIn = limits.Throttle{PerAccount: 3, PerKnown: 3, PerAddress: 100, Window: 15 * time.Minute}
	}))
	env.User("ada@example.com", password, "client")
	home := postFrom(env, addr(1), sessionsCreate, map[string]any{"email": "ada@example.com", "password": password,
		"application": "planoorder"}, "").Expect(t, 200, gen.StatusActionSuccessful)
	device := deviceToken(t, home)
	requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	first := lastLinkMail(t, env, "ada@example.com")
	for i := range 2 {
		useCode(env, addr(20+i), "ada@example.com", wrongCode(first.code), nil).Expect(t, 401, gen.StatusInvalidToken)
	}
	// A new link's code does not reset the count.
	requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	mail := lastLinkMail(t, env, "ada@example.com")
	useCode(env, addr(22), "ada@example.com", wrongCode(mail.code), nil).Expect(t, 401, gen.StatusInvalidToken)
	res := useCode(env, addr(23), "ada@example.com", mail.code, nil).Expect(t, 429, gen.StatusRateLimited)
	if res.Header.Get("Retry-After") == "" {
		t.Error("rate-limited without Retry-After")
	}
	useCode(env, addr(24), "ada@example.com", mail.code, map[string]any{"device_token": device}).Expect(t, 200, gen.StatusActionSuccessful)
	useLink(env, first.token, "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
}

// Asking whether emails have accounts with codes is bounded as at sessions/create: an unknown
// email costs the client address a use of its sign-in allowance, and answers as a wrong code.
func TestSignInCodeUnknownEmailsCostTheAddress(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SignIn = limits.Throttle{PerAccount: 10, PerKnown: 10, PerAddress: 2, Window: 15 * time.Minute}
	}))
	env.User("ada@example.com", password, "client")
	useCode(env, addr(1), "nobody@example.com", "12345678", nil).Expect(t, 401, gen.StatusInvalidToken)
	useCode(env, addr(1), "ada@example.com", "12345678", nil).Expect(t, 401, gen.StatusInvalidToken)
	useCode(env, addr(1), "someone@example.com", "12345678", nil).Expect(t, 429, gen.StatusRateLimited)
	useCode(env, addr(2), "someone@example.com", "12345678", nil).Expect(t, 401, gen.StatusInvalidToken)
}

// The welcome's verification link carries a code: typed with the email, it proves the email (and
// signs in) as the link does, in the application the account was registered in.
func TestVerificationCode(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(generous))
	register(t, env, registration("ada@example.com"))
	// The code is minted as the email is sent: the outbox holds neither it nor the token.
	var queued string
	if err := env.Pool.QueryRow(context.Background(), "SELECT body_text FROM email_outbox WHERE recipient = 'ada@example.com'").Scan(&queued); err != nil {
		t.Fatal(err)
	}
	if linkToken.MatchString(queued) || regexp.MustCompile(`\d{4} \d{4}`).MatchString(queued) {
		t.Errorf("the outbox holds a token or a code:\n%s", queued)
	}
	mail := lastLinkMail(t, env, "ada@example.com")
	useCode(env, addr(1), "ada@example.com", mail.code, map[string]any{"application": "planox2"}).
		Expect(t, 401, gen.StatusLinkWrongApplication)
	res := useCode(env, addr(1), "ada@example.com", mail.code, map[string]any{"password": password}).
		Expect(t, 200, gen.StatusActionSuccessful)
	var s gen.Session
	res.Data(t, &s)
	if !*s.User.EmailVerified || *s.Role != gen.RoleClient {
		t.Errorf("session = %s, want ada's client session with her email verified", res.Envelope.Data)
	}
	useLink(env, mail.token, "planoorder").Expect(t, 401, gen.StatusLinkUsed)
	env.Login("ada@example.com", password, "planoorder") // kept with its password
}

// An invitation's code accepts it as its link does: the liaison role and what the inviter
// offered, in the inviter's application.
func TestInvitationCode(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(generous))
	env.User("ada@example.com", password, "client")
	adaClient := clientIDOf(t, env, "ada@example.com")
	ada := env.Login("ada@example.com", password, "planoorder")
	offerTo(t, env, ada, "lia@example.com", []int64{adaClient}, nil).Expect(t, 200, gen.StatusActionSuccessful)
	mail := lastLinkMail(t, env, "lia@example.com")
	useCode(env, addr(1), "lia@example.com", wrongCode(mail.code), nil).Expect(t, 401, gen.StatusInvalidToken)
	res := useCode(env, addr(1), "lia@example.com", mail.code, nil).Expect(t, 200, gen.StatusActionSuccessful)
	var s gen.Session
	res.Data(t, &s)
	if *s.Role != gen.RoleLiaison || !*s.User.EmailVerified {
		t.Fatalf("session = %s, want a verified liaison", res.Envelope.Data)
	}
	events := ofRequest(wholeTrail(t, env), res)
	want := []gen.AuditKind{gen.AuditMagicLinkUsed, gen.AuditUserEmailVerified, gen.AuditInvitationAccepted, gen.AuditGrantMade, gen.AuditLoginSucceeded}
	if got := kindsOf(events); !slices.Equal(got, want) {
		t.Fatalf("accepting by code recorded %v, want %v", got, want)
	}
	if !slices.Equal(*events[3].Details.ClientIds, []int64{adaClient}) {
		t.Errorf("grant.made = %s, want ada's client", jsonOf(events[3]))
	}
	useLink(env, mail.token, "planoorder").Expect(t, 401, gen.StatusLinkUsed)
}

// A code's use is recorded as a link's: magic_link.used with the proof and login.succeeded; a
// refused code as login.failed (method magic_link) of the email's user, in the application
// named; an unknown email's names no user.
func TestSignInCodeAudited(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(generous))
	ada := env.User("ada@example.com", password, "client")
	requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	mail := lastLinkMail(t, env, "ada@example.com")

	wrong := useCode(env, addr(1), "ada@example.com", wrongCode(mail.code), nil).Expect(t, 401, gen.StatusInvalidToken)
	events := ofRequest(wholeTrail(t, env), wrong)
	if len(events) != 1 || events[0].Kind != gen.AuditLoginFailed || *events[0].Details.Reason != gen.ReasonInvalidToken ||
		*events[0].Details.Method != gen.LoginMagicLink || events[0].UserId == nil || *events[0].UserId != ada ||
		*events[0].Application != gen.Planoorder || events[0].Actor.Type != gen.ActorAnonymous {
		t.Errorf("a wrong code recorded %s", jsonOf(events))
	}
	unknown := useCode(env, addr(1), "nobody@example.com", "12345678", nil).Expect(t, 401, gen.StatusInvalidToken)
	events = ofRequest(wholeTrail(t, env), unknown)
	if len(events) != 1 || events[0].Kind != gen.AuditLoginFailed || events[0].UserId != nil {
		t.Errorf("an unknown email recorded %s", jsonOf(events))
	}
	right := useCode(env, addr(1), "ada@example.com", mail.code, nil).Expect(t, 200, gen.StatusActionSuccessful)
	events = ofRequest(wholeTrail(t, env), right)
	if got := kindsOf(events); !slices.Equal(got, []gen.AuditKind{gen.AuditMagicLinkUsed, gen.AuditLoginSucceeded}) {
		t.Fatalf("a right code recorded %v", got)
	}
	if *events[1].Details.Method != gen.LoginMagicLink || *events[0].UserId != ada {
		t.Errorf("a right code recorded %s", jsonOf(events))
	}
}

// The pages say that the email's code works on another device.
func TestLinkPagesMentionTheCode(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	mail := lastLinkMail(t, env, "ada@example.com")
	req := apitest.Request(http.MethodGet, "/magic?token="+mail.token, "", nil, "")
	rec := httptest.NewRecorder()
	env.Handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "the 8-digit code from the same email") {
		t.Errorf("the sign-in page (%d) does not mention the code:\n%s", rec.Code, rec.Body.String())
	}
}

// Attack: register someone else's email, sign in with the chosen password from several
// addresses (so that the account knows them and a device token), then guess the codes emailed
// to the mailbox's owner with an allowance per known address: a right guess with the password
// would keep the squatted account with the email proven. Until the email is proven every code
// try is a stranger's, whatever the caller presents; the owner's link still works.
func TestSquatterGetsNoAllowanceOfItsOwnForCodes(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SignIn = limits.Throttle{PerAccount: 3, PerKnown: 10, PerAddress: 100, Window: 15 * time.Minute}
	}))
	env.UnverifiedUser("victim@example.com", password, "client")
	signIn := map[string]any{"email": "victim@example.com", "password": password, "application": "planoorder"}
	var device string
	for i := range 4 {
		device = deviceToken(t, postFrom(env, addr(1+i), sessionsCreate, signIn, "").Expect(t, 200, gen.StatusActionSuccessful))
	}
	requestLink(env, "victim@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	mail := lastLinkMail(t, env, "victim@example.com")
	for i := range 3 {
		useCode(env, addr(1+i), "victim@example.com", wrongCode(mail.code), map[string]any{"password": password}).
			Expect(t, 401, gen.StatusInvalidToken)
	}
	useCode(env, addr(4), "victim@example.com", mail.code, map[string]any{"password": password, "device_token": device}).
		Expect(t, 429, gen.StatusRateLimited)
	res := useLink(env, mail.token, "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	var s gen.Session
	res.Data(t, &s)
	if !*s.User.EmailVerified {
		t.Errorf("session = %s, want the owner's, with the email proven", res.Envelope.Data)
	}
	postFrom(env, addr(1), sessionsCreate, signIn, "").Expect(t, 400, gen.StatusUserHasNoPassword) // taken back
}
