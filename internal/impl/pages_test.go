package impl_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/emailaddr"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
)

// openPage serves a request for a link page (HTML, not the API's envelope).
func openPage(env *apitest.Env, method, target string, form url.Values, header map[string]string) *httptest.ResponseRecorder {
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	env.Handler.ServeHTTP(rec, req)
	return rec
}

// sameOrigin are the headers a browser sends with a form posted from the page itself.
var sameOrigin = map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://example.com"}

// expectPage fails unless the page answered code with every page's headers and contains each of
// want.
func expectPage(t *testing.T, rec *httptest.ResponseRecorder, code int, want ...string) {
	t.Helper()
	body := rec.Body.String()
	if rec.Code != code {
		t.Fatalf("answered %d, want %d:\n%s", rec.Code, code, body)
	}
	h := rec.Header()
	csp := h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") ||
		strings.Contains(csp, "unsafe") || h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" ||
		h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Errorf("headers %v, want a strict CSP, no-store, nosniff, DENY, no-referrer, HTML", h)
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Errorf("the page loads or links something else:\n%s", body)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("the page does not say %q:\n%s", w, body)
		}
	}
}

// linkUsed reports whether the link of token was used.
func linkUsed(t *testing.T, env *apitest.Env, token string) bool {
	t.Helper()
	var used bool
	if err := env.Pool.QueryRow(context.Background(), "SELECT used_at IS NOT NULL FROM magic_links WHERE token_hash = $1",
		auth.HashToken(token)).Scan(&used); err != nil {
		t.Fatal(err)
	}
	return used
}

// handedOver checks that a page sent the browser to the redirect URL with a sign-in token, and
// exchanges that token for a session the way the application would.
func handedOver(t *testing.T, env *apitest.Env, rec *httptest.ResponseRecorder, redirectURL string) gen.Session {
	t.Helper()
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("answered %d, want 303 to %s:\n%s", rec.Code, redirectURL, rec.Body)
	}
	next, err := url.Parse(rec.Header().Get("Location"))
	if err != nil || !strings.HasPrefix(next.String(), redirectURL+"?") {
		t.Fatalf("Location %q, want %s with a token", rec.Header().Get("Location"), redirectURL)
	}
	res := useLink(env, next.Query().Get("magic_token"), "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	var s gen.Session
	res.Data(t, &s)
	return s
}

func TestResetPage(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	requestReset(env, addr(1), "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful)
	mail := lastReset(t, env, "ada@example.com")
	page := "/reset?token=" + mail.token

	t.Run("GetsNeverUseTheLink", func(t *testing.T) {
		for range 2 { // a mail scanner, then the owner
			rec := openPage(env, http.MethodGet, page, nil, nil)
			expectPage(t, rec, 200, "Choose a new password", "ada@example.com", "PlanoOrder", `name="token" value="`+mail.token+`"`,
				`autocomplete="new-password"`, "Set the new password")
			// The form may lead to the application's redirect URL, and nowhere else.
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://127.0.0.1:8080;") {
				t.Errorf("CSP %q, want form-action to this origin and the redirect URL's", csp)
			}
		}
		if rec := openPage(env, http.MethodHead, page, nil, nil); rec.Code != 200 || rec.Body.Len() != 0 {
			t.Errorf("HEAD answered %d with %d bytes, want 200 and no body", rec.Code, rec.Body.Len())
		}
		if linkUsed(t, env, mail.token) {
			t.Fatal("opening the page used the link")
		}
	})
	t.Run("ErrPasswordsDiffer", func(t *testing.T) {
		rec := openPage(env, http.MethodPost, "/reset", url.Values{"token": {mail.token}, "password": {newPassword}, "password_repeat": {"other"}}, sameOrigin)
		expectPage(t, rec, 422, "The two passwords differ", `value="`+mail.token+`"`)
	})
	t.Run("ErrTooWeak", func(t *testing.T) {
		rec := openPage(env, http.MethodPost, "/reset", url.Values{"token": {mail.token}, "password": {"password123"}, "password_repeat": {"password123"}}, sameOrigin)
		expectPage(t, rec, 422, "This password is too easy to guess", "most common passwords", `value="`+mail.token+`"`)
	})
	// Another site cannot make a browser post a form here (a link of its choosing, signing the
	// victim in as the attacker).
	t.Run("ErrCrossSite", func(t *testing.T) {
		form := url.Values{"token": {mail.token}, "password": {newPassword}, "password_repeat": {newPassword}}
		for _, header := range []map[string]string{{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}} {
			expectPage(t, openPage(env, http.MethodPost, "/reset", form, header), 403, "another site")
		}
		if linkUsed(t, env, mail.token) {
			t.Fatal("a cross-site form used the link")
		}
	})
	t.Run("OK", func(t *testing.T) {
		old := env.Login("ada@example.com", password, "planoorder")
		rec := openPage(env, http.MethodPost, "/reset", url.Values{"token": {mail.token}, "password": {newPassword}, "password_repeat": {newPassword}}, sameOrigin)
		s := handedOver(t, env, rec, "http://127.0.0.1:8080/welcome")
		if s.User.Email != "ada@example.com" {
			t.Errorf("session = %+v, want ada's", s)
		}
		env.Get(sessionsRead, old).Expect(t, 401, gen.StatusInvalidToken)
		env.Login("ada@example.com", newPassword, "planoorder")
	})
	t.Run("ErrUsed", func(t *testing.T) {
		expectPage(t, openPage(env, http.MethodGet, page, nil, nil), 410, "This link was used already")
		rec := openPage(env, http.MethodPost, "/reset", url.Values{"token": {mail.token}, "password": {newPassword}, "password_repeat": {newPassword}}, sameOrigin)
		expectPage(t, rec, 410, "This link was used already")
	})
}

func TestResetPageWithoutRedirect(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	jsonFrom(env, addr(1), resetRequest, map[string]any{"email": "ada@example.com", "application": "planoorder"}).
		Expect(t, 200, gen.StatusActionSuccessful)
	mail := lastReset(t, env, "ada@example.com")
	rec := openPage(env, http.MethodPost, "/reset", url.Values{"token": {mail.token}, "password": {newPassword}, "password_repeat": {newPassword}}, sameOrigin)
	expectPage(t, rec, 200, "Your password is changed", "Sign in to PlanoOrder with it")
	env.Login("ada@example.com", newPassword, "planoorder")
}

func TestMagicPage(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	jsonFrom(env, addr(1), magicLinkRequest, map[string]any{"email": "ada@example.com", "application": "planoorder",
		"redirect_url": "http://127.0.0.1:8080/welcome?from=email"}).Expect(t, 200, gen.StatusActionSuccessful)
	token := lastLinkToken(t, env, "ada@example.com")
	for range 2 {
		expectPage(t, openPage(env, http.MethodGet, "/magic?token="+token, nil, nil), 200, "Sign in to PlanoOrder", "ada@example.com", "Sign in</button>")
	}
	if linkUsed(t, env, token) {
		t.Fatal("opening the page used the link")
	}
	rec := openPage(env, http.MethodPost, "/magic", url.Values{"token": {token}}, sameOrigin)
	s := handedOver(t, env, rec, "http://127.0.0.1:8080/welcome")
	if next, _ := url.Parse(rec.Header().Get("Location")); next.Query().Get("from") != "email" {
		t.Errorf("Location %s lost the redirect URL's own query", next)
	}
	if *s.Role != gen.RoleClient || s.User.Email != "ada@example.com" {
		t.Errorf("session = %+v, want ada's client session", s)
	}
	useLink(env, token, "planoorder").Expect(t, 401, gen.StatusLinkUsed) // the emailed link is used up
	// The hand-over token works once.
	next, _ := url.Parse(rec.Header().Get("Location"))
	useLink(env, next.Query().Get("magic_token"), "planoorder").Expect(t, 401, gen.StatusLinkUsed)
}

// Without a redirect URL there is nowhere to sign in: the page says the email is confirmed.
func TestMagicPageWithoutRedirect(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	token := lastLinkToken(t, env, "ada@example.com")
	expectPage(t, openPage(env, http.MethodPost, "/magic", url.Values{"token": {token}}, sameOrigin), 200,
		"Your email address is confirmed", "go back to PlanoOrder")
	if !linkUsed(t, env, token) {
		t.Error("the button did not use the link")
	}
}

func TestPagesRefuse(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	signIn := lastLinkToken(t, env, "ada@example.com")

	for name, tc := range map[string]struct {
		target string
		code   int
		says   string
	}{
		"NoToken":         {"/magic", 404, "This link does not work"},
		"UnknownToken":    {"/magic?token=" + auth.MagicLinkPrefix + strings.Repeat("A", 43), 404, "This link does not work"},
		"AnotherKind":     {"/reset?token=" + signIn, 404, "This link does not work"},
		"AnotherKindToo":  {"/invite?token=" + signIn, 404, "This link does not work"},
		"GarbageToken":    {"/verify?token=%3Cscript%3E", 404, "This link does not work"},
		"UnknownPagePath": {"/magic/", 0, ""},
	} {
		t.Run(name, func(t *testing.T) {
			rec := openPage(env, http.MethodGet, tc.target, nil, nil)
			if tc.code == 0 {
				if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "route-non-existent") {
					t.Errorf("%s answered %d %s, want the API's route-non-existent", tc.target, rec.Code, rec.Body)
				}
				return
			}
			expectPage(t, rec, tc.code, tc.says)
		})
	}
	t.Run("Expired", func(t *testing.T) {
		env.Clock.Advance(impl.MagicLinkLifetime)
		expectPage(t, openPage(env, http.MethodGet, "/magic?token="+signIn, nil, nil), 410, "This link has expired", "Ask for a new email",
			fmt.Sprintf("password reset link for %d minutes", int(impl.MagicLinkLifetime/time.Minute)))
		expectPage(t, openPage(env, http.MethodPost, "/magic", url.Values{"token": {signIn}}, sameOrigin), 410, "This link has expired")
	})
}

// linkOfEmail delivers the queued emails and returns the page link of the newest one to email.
func linkOfEmail(t *testing.T, env *apitest.Env, email, page string) string {
	t.Helper()
	env.DeliverEmails()
	var body string
	err := env.Pool.QueryRow(context.Background(),
		"SELECT body_text FROM sent_emails WHERE recipient = $1 ORDER BY id DESC LIMIT 1", emailaddr.Normalize(email)).Scan(&body)
	if err != nil {
		t.Fatalf("no email to %s: %v", email, err)
	}
	token := linkToken.FindString(body)
	link := impl.DefaultPublicURL + page + "?token=" + token
	if token == "" || !strings.Contains(body, "\n"+link+"\n") {
		t.Fatalf("the email holds no link to %s:\n%s", page, body)
	}
	return page + "?token=" + token
}

// The welcome email's verification link and an invitation open their pages: GETs use nothing,
// the button proves the email (and accepts the liaison role, and sets the password chosen).
func TestVerifyAndInvitePages(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)

	t.Run("Verify", func(t *testing.T) {
		env.PostSensitive(clientsRegister, registration("ada@example.com"), "").Expect(t, 200, gen.StatusActionSuccessful)
		page := linkOfEmail(t, env, "ada@example.com", "/verify")
		for range 2 {
			expectPage(t, openPage(env, http.MethodGet, page, nil, nil), 200, "Confirm your email address", "ada@example.com")
		}
		token := strings.TrimPrefix(page, "/verify?token=")
		expectPage(t, openPage(env, http.MethodPost, "/verify", url.Values{"token": {token}}, sameOrigin), 200,
			"Your email address is confirmed", "ada@example.com is confirmed")
		var verified bool
		if err := env.Pool.QueryRow(context.Background(),
			"SELECT email_verified_at IS NOT NULL FROM users WHERE email = 'ada@example.com'").Scan(&verified); err != nil || !verified {
			t.Errorf("email verified = %v (%v), want true", verified, err)
		}
		expectPage(t, openPage(env, http.MethodGet, page, nil, nil), 410, "This link was used already")
	})
	t.Run("Invite", func(t *testing.T) {
		env.User("owner@example.com", password, "client")
		exec(t, env, "UPDATE users SET email_verified_at = now() WHERE email = 'owner@example.com'")
		owner := env.Login("owner@example.com", password, "planoorder")
		env.PostSensitive(liaisonsRegister, map[string]any{
			"liaison": map[string]any{"email": "lia@example.com"}, "client_ids": []int64{clientIDOf(t, env, "owner@example.com")},
		}, owner).Expect(t, 200, gen.StatusActionSuccessful)
		page := linkOfEmail(t, env, "lia@example.com", "/invite")
		for range 2 {
			expectPage(t, openPage(env, http.MethodGet, page, nil, nil), 200,
				"Accept your invitation to PlanoOrder", "lia@example.com", "Password (optional)")
		}
		token := strings.TrimPrefix(page, "/invite?token=")
		weak := url.Values{"token": {token}, "password": {"password123"}, "password_repeat": {"password123"}}
		expectPage(t, openPage(env, http.MethodPost, "/invite", weak, sameOrigin), 422, "too easy to guess")
		ok := url.Values{"token": {token}, "password": {newPassword}, "password_repeat": {newPassword}}
		expectPage(t, openPage(env, http.MethodPost, "/invite", ok, sameOrigin), 200, "Your invitation is accepted")
		// The role took effect and the password chosen works, in planox2 too (liaisons only).
		env.Login("lia@example.com", newPassword, "planox2")
	})
	t.Run("InviteWithoutPassword", func(t *testing.T) {
		env.PostSensitive(liaisonsRegister, map[string]any{
			"liaison": map[string]any{"email": "sam@example.com"}, "client_ids": []int64{clientIDOf(t, env, "owner@example.com")},
		}, env.Login("owner@example.com", password, "planoorder")).Expect(t, 200, gen.StatusActionSuccessful)
		token := strings.TrimPrefix(linkOfEmail(t, env, "sam@example.com", "/invite"), "/invite?token=")
		expectPage(t, openPage(env, http.MethodPost, "/invite", url.Values{"token": {token}}, sameOrigin), 200, "Your invitation is accepted")
		login(env, map[string]any{"email": "sam@example.com", "password": newPassword, "application": "planox2"}).
			Expect(t, 400, gen.StatusUserHasNoPassword)
	})
	t.Run("Expired", func(t *testing.T) {
		env.PostSensitive(liaisonsRegister, map[string]any{
			"liaison": map[string]any{"email": "old@example.com"}, "client_ids": []int64{clientIDOf(t, env, "owner@example.com")},
		}, env.Login("owner@example.com", password, "planoorder")).Expect(t, 200, gen.StatusActionSuccessful)
		page := linkOfEmail(t, env, "old@example.com", "/invite")
		env.Clock.Advance(impl.InvitationLifetime)
		expectPage(t, openPage(env, http.MethodGet, page, nil, nil), 410, "This link has expired")
	})
}

// The pages that prove an email ask a registrant for the account's password, so that confirming
// does not take back what it set up: right, everything stays; wrong, the form says so and the
// link stays usable; left empty, the first proof takes everything back.
func TestPagesKeepTheAccountWithItsPassword(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	const keepIt = "If you created this account, enter its password to keep it."

	t.Run("Verify", func(t *testing.T) {
		registered := register(t, env, registration("ada@example.com"))
		page := linkOfEmail(t, env, "ada@example.com", "/verify")
		expectPage(t, openPage(env, http.MethodGet, page, nil, nil), 200, keepIt, `name="current_password"`)
		token := strings.TrimPrefix(page, "/verify?token=")
		wrong := url.Values{"token": {token}, "current_password": {"not the password at all"}}
		expectPage(t, openPage(env, http.MethodPost, "/verify", wrong, sameOrigin), 422, "This is not the account&#39;s password", keepIt)
		if linkUsed(t, env, token) {
			t.Fatal("a wrong password used the link up")
		}
		right := url.Values{"token": {token}, "current_password": {password}}
		expectPage(t, openPage(env, http.MethodPost, "/verify", right, sameOrigin), 200, "ada@example.com is confirmed")
		readSession(t, env, *registered.Session.Token) // the registrant's session lives on
		env.Login("ada@example.com", password, "planoorder")
	})
	t.Run("Invite", func(t *testing.T) {
		env.User("owner@example.com", password, "client")
		env.UnverifiedUser("sq@example.com", password)
		owner := env.Login("owner@example.com", password, "planoorder")
		offerTo(t, env, owner, "sq@example.com", []int64{clientIDOf(t, env, "owner@example.com")}, nil).Expect(t, 200, gen.StatusActionSuccessful)
		page := linkOfEmail(t, env, "sq@example.com", "/invite")
		rec := openPage(env, http.MethodGet, page, nil, nil)
		expectPage(t, rec, 200, keepIt, "Accept your invitation to PlanoOrder")
		if strings.Contains(rec.Body.String(), "Password (optional)") {
			t.Errorf("the page asks for a new password before the account's own:\n%s", rec.Body)
		}
		token := strings.TrimPrefix(page, "/invite?token=")
		expectPage(t, openPage(env, http.MethodPost, "/invite", url.Values{"token": {token}, "current_password": {password}}, sameOrigin),
			200, "Your invitation is accepted")
		env.Login("sq@example.com", password, "planox2") // a liaison now, with the password it kept
	})
	// Attack: whoever reads the mailbox of an invited account that has a password chooses its
	// password on the invitation's page: an invitation is no password reset.
	t.Run("InviteKeepsAPassword", func(t *testing.T) {
		env.User("host@example.com", password, "client")
		env.User("bo@example.com", password, "client") // proven, with a password
		host := env.Login("host@example.com", password, "planoorder")
		offerTo(t, env, host, "bo@example.com", []int64{clientIDOf(t, env, "host@example.com")}, nil).Expect(t, 200, gen.StatusActionSuccessful)
		page := linkOfEmail(t, env, "bo@example.com", "/invite")
		rec := openPage(env, http.MethodGet, page, nil, nil)
		expectPage(t, rec, 200, "Accepting does not change how you sign in.")
		if strings.Contains(rec.Body.String(), `name="password"`) {
			t.Errorf("the invitation of an account with a password asks for a new one:\n%s", rec.Body)
		}
		token := strings.TrimPrefix(page, "/invite?token=")
		chosen := "the reader's own choice of words"
		refused := openPage(env, http.MethodPost, "/invite", url.Values{"token": {token}, "password": {chosen}, "password_repeat": {chosen}}, sameOrigin)
		if refused.Code == http.StatusOK {
			t.Fatalf("a password given anyway was taken: %d\n%s", refused.Code, refused.Body)
		}
		login(env, map[string]any{"email": "bo@example.com", "password": chosen, "application": "planoorder"}).Expect(t, 400, gen.StatusInvalidPassword)
		expectPage(t, openPage(env, http.MethodPost, "/invite", url.Values{"token": {token}}, sameOrigin), 200, "Your invitation is accepted")
		env.Login("bo@example.com", password, "planox2") // a liaison now, with its own password
	})
	t.Run("NothingToKeep", func(t *testing.T) {
		env.User("grace@example.com", password, "client") // proven already
		requestLink(env, "grace@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		rec := openPage(env, http.MethodGet, "/magic?token="+lastLinkToken(t, env, "grace@example.com"), nil, nil)
		expectPage(t, rec, 200, "Sign in to PlanoOrder")
		if strings.Contains(rec.Body.String(), "current_password") {
			t.Errorf("the page of a proven account asks for its password:\n%s", rec.Body)
		}
	})
}
