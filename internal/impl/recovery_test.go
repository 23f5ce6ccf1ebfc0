package impl_test

import (
	"context"
	"crypto/sha1" //nolint:gosec // the range API's key
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/emailaddr"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
	pw "github.com/plano/planoauth/internal/password"
)

const (
	resetRequest   = "/api/v1/sessions/password_reset_request"
	passwordReset  = "/api/v1/sessions/password_reset"
	passwordUpdate = "/api/v1/users/password_update"
	newPassword    = "many unrelated words beat one"
)

// resetCode finds the code of a reset email, shown as two groups of four digits.
var resetCode = regexp.MustCompile(`code with your email instead: (\d{4}) (\d{4})`)

// requestReset asks for a reset of email from a client address.
func requestReset(env *apitest.Env, address, email string) *apitest.Response {
	env.T.Helper()
	return jsonFrom(env, address, resetRequest, map[string]any{
		"email": email, "application": "planoorder", "redirect_url": "http://127.0.0.1:8080/welcome",
	})
}

// jsonFrom posts params as JSON from a client address.
func jsonFrom(env *apitest.Env, address, path string, params any) *apitest.Response {
	env.T.Helper()
	b, err := json.Marshal(params)
	if err != nil {
		env.T.Fatal(err)
	}
	req := apitest.Request(http.MethodPost, path, "application/json", b, "")
	req.RemoteAddr = address + ":1234"
	return env.Do(req)
}

// resetMail is what a reset email carries.
type resetMail struct{ token, code string }

// lastReset waits for the emails sent after their answers and reads the newest reset email
// recorded for email.
func lastReset(t *testing.T, env *apitest.Env, email string) resetMail {
	t.Helper()
	env.Server.Wait()
	var body string
	err := env.Pool.QueryRow(context.Background(),
		"SELECT body_text FROM sent_emails WHERE recipient = $1 AND kind = 'password_reset' ORDER BY id DESC LIMIT 1", emailaddr.Normalize(email)).Scan(&body)
	if err != nil {
		t.Fatalf("no reset email recorded for %s: %v", email, err)
	}
	m := resetCode.FindStringSubmatch(body)
	token := linkToken.FindString(body)
	if m == nil || token == "" || !strings.Contains(body, "\n"+impl.DefaultPublicURL+"/reset?token="+token+"\n") {
		t.Fatalf("the reset email holds no link to the reset page and code:\n%s", body)
	}
	return resetMail{token: token, code: m[1] + m[2]}
}

// resetEmails counts the reset emails recorded for email, once those sent after their answers
// are out.
func resetEmails(t *testing.T, env *apitest.Env, email string) int {
	t.Helper()
	env.Server.Wait()
	var n int
	err := env.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM sent_emails WHERE recipient = $1 AND kind = 'password_reset'", email).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func resetWith(env *apitest.Env, params map[string]any) *apitest.Response {
	env.T.Helper()
	if _, ok := params["application"]; !ok {
		params["application"] = "planoorder"
	}
	if _, ok := params["password"]; !ok {
		params["password"] = newPassword
	}
	return env.PostSensitive(passwordReset, params, "")
}

func TestPasswordResetRequest(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")

	t.Run("OK", func(t *testing.T) {
		res := requestReset(env, addr(1), "ADA@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		var data gen.PasswordResetRequested
		res.Data(t, &data)
		if !data.Requested {
			t.Errorf("data = %s, want requested", res.Envelope.Data)
		}
		mail := lastReset(t, env, "ada@example.com")
		if len(mail.code) != auth.CodeDigits {
			t.Errorf("code %q, want %d digits", mail.code, auth.CodeDigits)
		}
		// Only hashes are stored: the token's SHA-256, the code's argon2id.
		var tokenHash []byte
		var codeHash string
		err := env.Pool.QueryRow(context.Background(),
			"SELECT token_hash, code_hash FROM magic_links WHERE kind = 'password_reset' ORDER BY id DESC LIMIT 1").Scan(&tokenHash, &codeHash)
		if err != nil {
			t.Fatal(err)
		}
		if string(tokenHash) != string(auth.HashToken(mail.token)) || !strings.HasPrefix(codeHash, "$argon2id$") || strings.Contains(codeHash, mail.code) {
			t.Errorf("stored token hash %x and code hash %q, want SHA-256 and argon2id", tokenHash, codeHash)
		}
	})
	// An unknown email answers exactly as a known one, and nothing is sent.
	t.Run("UnknownEmailAnswersTheSame", func(t *testing.T) {
		known := requestReset(env, addr(2), "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		unknown := requestReset(env, addr(2), "nobody@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		if string(known.Envelope.Data) != string(unknown.Envelope.Data) || known.Envelope.Message != unknown.Envelope.Message {
			t.Errorf("known answered %s, unknown %s: they must not differ", known.Raw, unknown.Raw)
		}
		if n := resetEmails(t, env, "nobody@example.com"); n != 0 {
			t.Errorf("%d emails to an unknown address, want none", n)
		}
	})
	t.Run("ReplacesTheEarlierOne", func(t *testing.T) {
		requestReset(env, addr(3), "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		first := lastReset(t, env, "ada@example.com")
		requestReset(env, addr(3), "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		second := lastReset(t, env, "ada@example.com")
		resetWith(env, map[string]any{"reset_token": first.token}).Expect(t, 401, gen.StatusLinkExpired)
		resetWith(env, map[string]any{"email": "ada@example.com", "code": first.code}).Expect(t, 401, gen.StatusInvalidToken)
		resetWith(env, map[string]any{"reset_token": second.token}).Expect(t, 200, gen.StatusActionSuccessful)
	})
	t.Run("ErrRedirectURL", func(t *testing.T) {
		res := jsonFrom(env, addr(4), resetRequest, map[string]any{"email": "ada@example.com", "application": "planoorder",
			"redirect_url": "javascript:alert(1)"}).Expect(t, 400, gen.StatusInvalidParam)
		if got := res.Params(); len(got) != 1 || got[0] != "redirect_url" {
			t.Errorf("errors = %v, want [redirect_url]", got)
		}
	})
	t.Run("ErrMissingParam", func(t *testing.T) {
		res := jsonFrom(env, addr(4), resetRequest, map[string]any{"application": "planoorder"}).Expect(t, 400, gen.StatusMissingParam)
		if got := res.Params(); len(got) != 1 || got[0] != "email" {
			t.Errorf("errors = %v, want [email]", got)
		}
	})
}

// The account's allowance is spent quietly: past it nothing is sent and the answer does not
// change, so the limit tells nobody which emails have accounts. Only the address's allowance,
// which unknown emails spend alike, answers rate-limited, exactly under concurrency.
func TestPasswordResetRequestLimits(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.Resets = limits.Throttle{PerAccount: 3, PerKnown: 3, PerAddress: 6, Window: 15 * time.Minute}
	}))
	env.User("ada@example.com", password, "client")

	t.Run("PerAccountQuietly", func(t *testing.T) {
		for i := range 5 {
			requestReset(env, addr(10+i), "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		}
		if n := resetEmails(t, env, "ada@example.com"); n != 3 {
			t.Errorf("%d reset emails after 5 requests from strangers, want the account's 3", n)
		}
	})
	t.Run("PerAddressConcurrently", func(t *testing.T) {
		got := concurrently(20, func(i int) *apitest.Response {
			email := "ada@example.com"
			if i%2 == 0 {
				email = "nobody@example.com"
			}
			return requestReset(env, addr(50), email)
		})
		if got.counts["200 action-successful"] != 6 || got.counts["429 rate-limited"] != 14 {
			t.Errorf("answers %v, want 6 taken and 14 rate-limited", got)
		}
		res := requestReset(env, addr(50), "nobody@example.com").Expect(t, 429, gen.StatusRateLimited)
		if res.Header.Get("Retry-After") == "" {
			t.Error("rate-limited without Retry-After")
		}
		requestReset(env, addr(51), "nobody@example.com").Expect(t, 200, gen.StatusActionSuccessful)
	})
}

func TestPasswordReset(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	other := env.SecondInstance()

	t.Run("OK", func(t *testing.T) {
		env.User("ada@example.com", password, "client")
		old := env.Login("ada@example.com", password, "planoorder")
		if code := readStatus(env, other, old); code != http.StatusOK { // cached on the other instance
			t.Fatalf("the other instance answered %d", code)
		}
		requestReset(env, addr(1), "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		mail := lastReset(t, env, "ada@example.com")
		res := resetWith(env, map[string]any{"reset_token": mail.token, "session_view": "full"}).Expect(t, 200, gen.StatusActionSuccessful)
		var s gen.Session
		res.Data(t, &s)
		if s.Token == nil || *s.Role != gen.RoleClient || s.RedirectUrl == nil || *s.RedirectUrl != "http://127.0.0.1:8080/welcome" {
			t.Errorf("session = %s, want a client session with a token and the reset's redirect_url", res.Envelope.Data)
		}
		env.Get(sessionsRead, *s.Token).Expect(t, 200, gen.StatusActionSuccessful)
		// Every earlier session is revoked, on every instance.
		env.Get(sessionsRead, old).Expect(t, 401, gen.StatusInvalidToken)
		eventually(t, time.Second, "the other instance refuses the earlier session", func() bool {
			return readStatus(env, other, old) == http.StatusUnauthorized
		})
		login(env, map[string]any{"email": "ada@example.com", "password": password, "application": "planoorder"}).
			Expect(t, 400, gen.StatusInvalidPassword)
		env.Login("ada@example.com", newPassword, "planoorder")
		// The reset proved the email.
		var verified bool
		if err := env.Pool.QueryRow(context.Background(),
			"SELECT email_verified_at IS NOT NULL FROM users WHERE email = 'ada@example.com'").Scan(&verified); err != nil || !verified {
			t.Errorf("email verified = %v (%v), want true", verified, err)
		}
		resetWith(env, map[string]any{"reset_token": mail.token}).Expect(t, 401, gen.StatusLinkUsed)
		resetWith(env, map[string]any{"email": "ada@example.com", "code": mail.code}).Expect(t, 401, gen.StatusInvalidToken)
	})
	t.Run("ErrTooWeakLeavesTheLinkUsable", func(t *testing.T) {
		env.User("weak@example.com", password, "client")
		requestReset(env, addr(2), "weak@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		mail := lastReset(t, env, "weak@example.com")
		for plain, why := range map[string]string{"password123": "most common passwords", "short": "at least 10 characters",
			"weak@example.com": "your email address or name"} {
			res := resetWith(env, map[string]any{"reset_token": mail.token, "password": plain}).Expect(t, 400, gen.StatusInvalidParam)
			if len(res.Envelope.Errors) != 1 || res.Envelope.Errors[0].Param != "password" || !strings.Contains(res.Envelope.Errors[0].Message, why) {
				t.Errorf("%q: errors = %+v, want password %s", plain, res.Envelope.Errors, why)
			}
		}
		resetWith(env, map[string]any{"reset_token": mail.token}).Expect(t, 200, gen.StatusActionSuccessful)
	})
	t.Run("ErrExpired", func(t *testing.T) {
		env.User("late@example.com", password, "client")
		requestReset(env, addr(3), "late@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		mail := lastReset(t, env, "late@example.com")
		env.Clock.Advance(impl.MagicLinkLifetime)
		resetWith(env, map[string]any{"reset_token": mail.token}).Expect(t, 401, gen.StatusLinkExpired)
		resetWith(env, map[string]any{"email": "late@example.com", "code": mail.code}).Expect(t, 401, gen.StatusInvalidToken)
	})
	t.Run("ErrOtherApplication", func(t *testing.T) {
		env.User("app@example.com", password, "client")
		requestReset(env, addr(4), "app@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		mail := lastReset(t, env, "app@example.com")
		resetWith(env, map[string]any{"reset_token": mail.token, "application": "planoauth"}).Expect(t, 401, gen.StatusLinkWrongApplication)
		resetWith(env, map[string]any{"email": "app@example.com", "code": mail.code, "application": "planoauth"}).
			Expect(t, 401, gen.StatusLinkWrongApplication)
		resetWith(env, map[string]any{"reset_token": mail.token}).Expect(t, 200, gen.StatusActionSuccessful) // not used up
	})
	t.Run("ErrNotAResetLink", func(t *testing.T) {
		env.User("signin@example.com", password, "client")
		requestLink(env, "signin@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		signIn := lastLinkToken(t, env, "signin@example.com")
		resetWith(env, map[string]any{"reset_token": signIn}).Expect(t, 401, gen.StatusInvalidToken)
		useLink(env, signIn, "planoorder").Expect(t, 200, gen.StatusActionSuccessful) // not used up
		for _, token := range []string{auth.MagicLinkPrefix + strings.Repeat("A", 43), "pam_short"} {
			resetWith(env, map[string]any{"reset_token": token}).Expect(t, 401, gen.StatusInvalidToken)
		}
	})
	for name, tc := range map[string]struct {
		params map[string]any
		code   int
		status gen.Status
		param  string
	}{
		"ErrNeither":      {map[string]any{}, 400, gen.StatusMissingParam, "reset_token"},
		"ErrBoth":         {map[string]any{"reset_token": "pam_x", "email": "a@example.com"}, 400, gen.StatusInvalidParam, "reset_token"},
		"ErrEmailNoCode":  {map[string]any{"email": "a@example.com"}, 400, gen.StatusMissingParam, "code"},
		"ErrCodeNoEmail":  {map[string]any{"code": "12345678"}, 400, gen.StatusMissingParam, "email"},
		"ErrCodeNotDigit": {map[string]any{"email": "a@example.com", "code": "1234567a"}, 400, gen.StatusInvalidParam, "code"},
	} {
		t.Run(name, func(t *testing.T) {
			res := resetWith(env, tc.params).Expect(t, tc.code, tc.status)
			if got := res.Params(); len(got) != 1 || got[0] != tc.param {
				t.Errorf("errors = %v, want [%s]", got, tc.param)
			}
		})
	}
}

// A reset link works once, however many use it at once.
func TestPasswordResetWorksOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	requestReset(env, addr(1), "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful)
	mail := lastReset(t, env, "ada@example.com")
	got := concurrently(8, func(int) *apitest.Response {
		return resetWith(env, map[string]any{"reset_token": mail.token})
	})
	if got.counts["200 action-successful"] != 1 || got.counts["401 link-used"] != 7 {
		t.Errorf("answers %v, want one session and 7 link-used", got)
	}
}

func TestPasswordResetCode(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SignIn = limits.Throttle{PerAccount: 1000, PerKnown: 1000, PerAddress: 1000, Window: time.Hour}
	}))

	t.Run("OK", func(t *testing.T) {
		env.User("ada@example.com", password, "client")
		requestReset(env, addr(1), "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		mail := lastReset(t, env, "ada@example.com")
		resetWith(env, map[string]any{"email": "Ada@Example.com", "code": mail.code}).Expect(t, 200, gen.StatusActionSuccessful)
		env.Login("ada@example.com", newPassword, "planoorder")
		resetWith(env, map[string]any{"reset_token": mail.token}).Expect(t, 401, gen.StatusLinkUsed) // the code used the link
	})
	// Concurrent wrong codes from many addresses get 5 evaluations in all; then the code is dead,
	// and even the right one answers invalid-token.
	t.Run("DeadAfterFiveTries", func(t *testing.T) {
		env.User("bob@example.com", password, "client")
		requestReset(env, addr(2), "bob@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		mail := lastReset(t, env, "bob@example.com")
		wrong := "00000000"
		if mail.code == wrong {
			wrong = "11111111"
		}
		got := concurrently(20, func(i int) *apitest.Response {
			b := apitest.Sensitive(t, map[string]any{"email": "bob@example.com", "code": wrong, "password": newPassword, "application": "planoorder"})
			req := apitest.Request(http.MethodPost, passwordReset, "text/plain", b, "")
			req.RemoteAddr = addr(100+i) + ":1234"
			return env.Do(req)
		})
		if got.counts["401 invalid-token"] != 20 {
			t.Errorf("answers %v, want 20 invalid-token", got)
		}
		var tries int
		if err := env.Pool.QueryRow(context.Background(),
			"SELECT code_tries FROM magic_links WHERE kind = 'password_reset' AND user_id = (SELECT id FROM users WHERE email = 'bob@example.com')").Scan(&tries); err != nil {
			t.Fatal(err)
		}
		if tries != impl.CodeTries {
			t.Errorf("%d tries counted, want exactly %d", tries, impl.CodeTries)
		}
		resetWith(env, map[string]any{"email": "bob@example.com", "code": mail.code}).Expect(t, 401, gen.StatusInvalidToken)
		env.Login("bob@example.com", password, "planoorder") // unchanged
		// The link still works: it was the code that died.
		resetWith(env, map[string]any{"reset_token": mail.token}).Expect(t, 200, gen.StatusActionSuccessful)
	})
	t.Run("ErrUnknownEmail", func(t *testing.T) {
		resetWith(env, map[string]any{"email": "nobody@example.com", "code": "12345678"}).Expect(t, 401, gen.StatusInvalidToken)
	})
	t.Run("ErrNoReset", func(t *testing.T) {
		env.User("carol@example.com", password, "client")
		resetWith(env, map[string]any{"email": "carol@example.com", "code": "12345678"}).Expect(t, 401, gen.StatusInvalidToken)
	})
	t.Run("ErrTooWeakCostsNoTry", func(t *testing.T) {
		env.User("dan@example.com", password, "client")
		requestReset(env, addr(3), "dan@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		mail := lastReset(t, env, "dan@example.com")
		for range impl.CodeTries + 1 {
			resetWith(env, map[string]any{"email": "dan@example.com", "code": mail.code, "password": "password123"}).
				Expect(t, 400, gen.StatusInvalidParam)
		}
		resetWith(env, map[string]any{"email": "dan@example.com", "code": mail.code}).Expect(t, 200, gen.StatusActionSuccessful)
	})
}

// Wrong codes are guesses at the account: they spend the sign-in allowance strangers share, so
// that requesting new codes does not buy more guesses without bound.
func TestPasswordResetCodeCountsAsSignIn(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SignIn = limits.Throttle{PerAccount: 3, PerKnown: 3, PerAddress: 100, Window: 15 * time.Minute}
	}))
	env.User("ada@example.com", password, "client")
	requestReset(env, addr(1), "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful)
	mail := lastReset(t, env, "ada@example.com")
	wrong := "00000000"
	if mail.code == wrong {
		wrong = "11111111"
	}
	for i := range 3 {
		b := apitest.Sensitive(t, map[string]any{"email": "ada@example.com", "code": wrong, "password": newPassword, "application": "planoorder"})
		req := apitest.Request(http.MethodPost, passwordReset, "text/plain", b, "")
		req.RemoteAddr = addr(20+i) + ":1234"
		env.Do(req).Expect(t, 401, gen.StatusInvalidToken)
	}
	res := resetWith(env, map[string]any{"email": "ada@example.com", "code": mail.code}).Expect(t, 429, gen.StatusRateLimited)
	if res.Header.Get("Retry-After") == "" {
		t.Error("rate-limited without Retry-After")
	}
	// The link does not name the account, so it still works.
	resetWith(env, map[string]any{"reset_token": mail.token}).Expect(t, 200, gen.StatusActionSuccessful)
}

func updatePassword(env *apitest.Env, token string, params map[string]any) *apitest.Response {
	env.T.Helper()
	return env.PostSensitive(passwordUpdate, params, token)
}

func TestUsersPasswordUpdate(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	other := env.SecondInstance()

	t.Run("OK", func(t *testing.T) {
		env.User("ada@example.com", password, "client")
		mine := env.Login("ada@example.com", password, "planoorder")
		elsewhere := env.Login("ada@example.com", password, "planoauth")
		if code := readStatus(env, other, elsewhere); code != http.StatusOK {
			t.Fatalf("the other instance answered %d", code)
		}
		res := updatePassword(env, mine, map[string]any{"current_password": password, "password": newPassword}).
			Expect(t, 200, gen.StatusActionSuccessful)
		var revoked gen.Revoked
		res.Data(t, &revoked)
		if revoked.Revoked != 1 || res.Envelope.Session == nil {
			t.Errorf("answer %s, want 1 other session revoked and the caller's session", res.Raw)
		}
		env.Get(sessionsRead, mine).Expect(t, 200, gen.StatusActionSuccessful) // the caller's stays
		env.Get(sessionsRead, elsewhere).Expect(t, 401, gen.StatusInvalidToken)
		eventually(t, time.Second, "the other instance refuses the other session", func() bool {
			return readStatus(env, other, elsewhere) == http.StatusUnauthorized
		})
		env.Login("ada@example.com", newPassword, "planoorder")
		login(env, map[string]any{"email": "ada@example.com", "password": password, "application": "planoorder"}).
			Expect(t, 400, gen.StatusInvalidPassword)
	})
	t.Run("ErrCurrentPassword", func(t *testing.T) {
		env.User("bob@example.com", password, "client")
		token := env.Login("bob@example.com", password, "planoorder")
		res := updatePassword(env, token, map[string]any{"password": newPassword}).Expect(t, 400, gen.StatusMissingParam)
		if got := res.Params(); len(got) != 1 || got[0] != "current_password" {
			t.Errorf("errors = %v, want [current_password]", got)
		}
		updatePassword(env, token, map[string]any{"current_password": "not my password", "password": newPassword}).
			Expect(t, 400, gen.StatusInvalidPassword)
		env.Login("bob@example.com", password, "planoorder") // unchanged
	})
	t.Run("ErrTooWeak", func(t *testing.T) {
		env.User("carol@example.com", password, "client")
		token := env.Login("carol@example.com", password, "planoorder")
		res := updatePassword(env, token, map[string]any{"current_password": password, "password": "Password123"}).
			Expect(t, 400, gen.StatusInvalidParam)
		if len(res.Envelope.Errors) != 1 || res.Envelope.Errors[0].Param != "password" || !strings.Contains(res.Envelope.Errors[0].Message, "common") {
			t.Errorf("errors = %+v, want password: common", res.Envelope.Errors)
		}
	})
	// A user who signed up with Google or a link has no password: the session alone sets one.
	t.Run("FirstPassword", func(t *testing.T) {
		env.User("dan@example.com", "", "client")
		requestLink(env, "dan@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		res := useLink(env, lastLinkToken(t, env, "dan@example.com"), "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		var s gen.Session
		res.Data(t, &s)
		updatePassword(env, *s.Token, map[string]any{"password": newPassword}).Expect(t, 200, gen.StatusActionSuccessful)
		env.Login("dan@example.com", newPassword, "planoorder")
	})
	t.Run("ErrLimitedSession", func(t *testing.T) {
		env.User("norole@example.com", password)
		token := limitedSession(t, env, "norole@example.com")
		// The session of client-required lacks the scope: it answers as every route does for it.
		updatePassword(env, token, map[string]any{"current_password": password, "password": newPassword}).
			Expect(t, 401, gen.StatusClientRequired)
		limitedSession(t, env, "norole@example.com") // the password is unchanged
	})
	t.Run("ErrApplicationToken", func(t *testing.T) {
		res := updatePassword(env, env.AppTokens["planoorder"], map[string]any{"password": newPassword})
		if res.Code != 401 && res.Code != 403 {
			t.Errorf("an application token answered %d %s, want it refused", res.Code, res.Status())
		}
	})
	t.Run("ErrNoToken", func(t *testing.T) {
		updatePassword(env, "", map[string]any{"password": newPassword}).Expect(t, 400, gen.StatusMissingParam)
	})
}

// Guessing the current password with a stolen session is throttled like sign-in.
func TestUsersPasswordUpdateThrottled(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SignIn = limits.Throttle{PerAccount: 2, PerKnown: 2, PerAddress: 100, Window: 15 * time.Minute}
	}))
	env.User("ada@example.com", password, "client")
	token := env.Login("ada@example.com", password, "planoorder")
	guess := map[string]any{"current_password": "a guess", "password": newPassword}
	got := concurrently(6, func(int) *apitest.Response { return updatePassword(env, token, guess) })
	if got.counts["400 invalid-password"] != 2 || got.counts["429 rate-limited"] != 4 {
		t.Errorf("answers %v, want 2 evaluated and 4 rate-limited", got)
	}
}

// Every new password is checked, on the registration routes too (client-validation-failed).
func TestNewPasswordsAreChecked(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	t.Run("ClientsRegister", func(t *testing.T) {
		reg := registration("weak@example.com")
		reg["client"].(map[string]any)["password"] = "password123"
		res := env.PostSensitive("/api/v1/clients/register", reg, "").Expect(t, 400, gen.StatusClientValidationFailed)
		if len(res.Envelope.Errors) != 1 || res.Envelope.Errors[0].Param != "client.password" ||
			!strings.Contains(res.Envelope.Errors[0].Message, "most common passwords") {
			t.Errorf("errors = %+v, want client.password: common", res.Envelope.Errors)
		}
	})
	t.Run("ClientsCreate", func(t *testing.T) {
		res := env.PostSensitive("/api/v1/clients/create", map[string]any{"client": map[string]any{
			"email": "grace@example.com", "password": "qwertyuiop12"}}, env.AppTokens["planoorder"]).Expect(t, 400, gen.StatusClientValidationFailed)
		if got := res.Params(); len(got) != 1 || got[0] != "client.password" {
			t.Errorf("errors = %v, want [client.password]", got)
		}
	})
}

// fakePwned serves Have I Been Pwned's range API with one breached password.
func fakePwned(t *testing.T, breached string) *httptest.Server {
	t.Helper()
	sum := sha1.Sum([]byte(breached)) //nolint:gosec // the range API's key
	digest := strings.ToUpper(hex.EncodeToString(sum[:]))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/range/"+digest[:5] {
			fmt.Fprintf(w, "%s:42\r\n", digest[5:])
		}
		fmt.Fprintf(w, "%s:0\r\n", strings.Repeat("0", 35))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// With PLANOAUTH_HIBP_URL set, a password found in a breach is refused however strong it looks;
// an API that does not answer never stops anyone.
func TestBreachedPasswords(t *testing.T) {
	t.Parallel()
	const breached = "Tr0ub4dour&3-horse" // strong to zxcvbn, breached to the fake
	srv := fakePwned(t, breached)
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) { d.Pwned = pw.PwnedConfig{URL: srv.URL} }))

	t.Run("ClientsRegister", func(t *testing.T) {
		reg := registration("breached@example.com")
		reg["client"].(map[string]any)["password"] = breached
		res := env.PostSensitive(clientsRegister, reg, "").Expect(t, 400, gen.StatusClientValidationFailed)
		if len(res.Envelope.Errors) != 1 || res.Envelope.Errors[0].Param != "client.password" ||
			!strings.Contains(res.Envelope.Errors[0].Message, "Have I Been Pwned") {
			t.Errorf("errors = %+v, want client.password: breached", res.Envelope.Errors)
		}
		env.PostSensitive(clientsRegister, registration("fine@example.com"), "").Expect(t, 200, gen.StatusActionSuccessful)
	})
	t.Run("PasswordUpdate", func(t *testing.T) {
		env.User("ada@example.com", password, "client")
		token := env.Login("ada@example.com", password, "planoorder")
		res := updatePassword(env, token, map[string]any{"current_password": password, "password": breached}).
			Expect(t, 400, gen.StatusInvalidParam)
		if len(res.Envelope.Errors) != 1 || !strings.Contains(res.Envelope.Errors[0].Message, "appears 42 times") {
			t.Errorf("errors = %+v, want password: breached", res.Envelope.Errors)
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		down := httptest.NewServer(http.NotFoundHandler())
		down.Close()
		env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) { d.Pwned = pw.PwnedConfig{URL: down.URL} }))
		reg := registration("breached@example.com")
		reg["client"].(map[string]any)["password"] = breached
		env.PostSensitive(clientsRegister, reg, "").Expect(t, 200, gen.StatusActionSuccessful)
	})
}
