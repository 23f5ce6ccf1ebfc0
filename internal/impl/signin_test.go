package impl_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/emailaddr"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/mail"
)

const (
	magicLinkRequest = "/api/v1/sessions/magic_link_request"
	magicLinkCreate  = "/api/v1/sessions/magic_link_create"
	sessionsGoogle   = "/api/v1/sessions/google"
)

var linkToken = regexp.MustCompile(auth.MagicLinkPrefix + `[A-Za-z0-9_-]{43}`)

func requestLink(env *apitest.Env, email, application string) *apitest.Response {
	env.T.Helper()
	return env.PostJSON(magicLinkRequest, map[string]any{"email": email, "application": application}, "")
}

func useLink(env *apitest.Env, token, application string) *apitest.Response {
	env.T.Helper()
	return env.PostSensitive(magicLinkCreate, map[string]any{"magic_token": token, "application": application}, "")
}

// lastLinkToken reads the token of the newest link the local mailer recorded for email.
func lastLinkToken(t *testing.T, env *apitest.Env, email string) string {
	t.Helper()
	var body string
	err := env.Pool.QueryRow(context.Background(),
		"SELECT body_text FROM sent_emails WHERE recipient = $1 ORDER BY id DESC LIMIT 1", emailaddr.Normalize(email)).Scan(&body)
	if err != nil {
		t.Fatalf("no email recorded for %s: %v", email, err)
	}
	token := linkToken.FindString(body)
	if token == "" {
		t.Fatalf("the email holds no link token:\n%s", body)
	}
	return token
}

func TestMagicLink(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.Links = limits.Throttle{PerAccount: 100, PerKnown: 100, PerAddress: 100, Window: time.Minute}
	}))
	env.User("ada@example.com", password, "client")
	env.AllowRedirectOrigin("planoorder", "https://order.example")

	t.Run("OK", func(t *testing.T) {
		res := env.PostJSON(magicLinkRequest, map[string]any{
			"email": "ADA@example.com", "application": "planoorder", "redirect_url": "https://order.example/welcome",
		}, "").Expect(t, 200, gen.StatusActionSuccessful)
		var sent gen.MagicLinkSent
		res.Data(t, &sent)
		if !sent.Sent {
			t.Errorf("data = %s, want sent", res.Envelope.Data)
		}
		token := lastLinkToken(t, env, "ada@example.com")
		res = useLink(env, token, "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		var s gen.Session
		res.Data(t, &s)
		if s.Token == nil || *s.Role != gen.RoleClient || s.User.Email != "ada@example.com" {
			t.Errorf("session = %s, want ada's client session with a token", res.Envelope.Data)
		}
		env.Get(sessionsRead+"?session_view=full", *s.Token).Expect(t, 200, gen.StatusActionSuccessful)
		var full gen.Session
		env.Get(sessionsRead+"?session_view=full", *s.Token).Data(t, &full)
		if full.RedirectUrl == nil || *full.RedirectUrl != "https://order.example/welcome" {
			t.Errorf("redirect_url = %v, want the one the link was requested with", full.RedirectUrl)
		}
	})
	t.Run("ErrUsedTwice", func(t *testing.T) {
		requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		token := lastLinkToken(t, env, "ada@example.com")
		useLink(env, token, "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		useLink(env, token, "planoorder").Expect(t, 401, gen.StatusLinkUsed)
	})
	t.Run("ExpiryBoundary", func(t *testing.T) {
		requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		early := lastLinkToken(t, env, "ada@example.com")
		requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		late := lastLinkToken(t, env, "ada@example.com")
		env.Clock.Advance(impl.MagicLinkLifetime - time.Nanosecond)
		useLink(env, early, "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		env.Clock.Advance(time.Nanosecond)
		useLink(env, late, "planoorder").Expect(t, 401, gen.StatusLinkExpired)
	})
	t.Run("ErrOtherApplication", func(t *testing.T) {
		requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		token := lastLinkToken(t, env, "ada@example.com")
		useLink(env, token, "planoauth").Expect(t, 401, gen.StatusLinkWrongApplication)
		useLink(env, token, "planoorder").Expect(t, 200, gen.StatusActionSuccessful) // not used up
	})
	for name, token := range map[string]string{
		"ErrUnknownToken":   auth.MagicLinkPrefix + strings.Repeat("A", 43),
		"ErrMalformedToken": "pam_short",
		"ErrSessionToken":   auth.SessionPrefix + strings.Repeat("A", 43),
	} {
		t.Run(name, func(t *testing.T) {
			useLink(env, token, "planoorder").Expect(t, 401, gen.StatusInvalidToken)
		})
	}
	t.Run("ErrEmailNotFound", func(t *testing.T) {
		requestLink(env, "nobody@example.com", "planoorder").Expect(t, 400, gen.StatusEmailNotFound)
	})
	t.Run("ErrMissingParam", func(t *testing.T) {
		res := env.PostJSON(magicLinkRequest, map[string]any{"application": "planoorder"}, "").Expect(t, 400, gen.StatusMissingParam)
		if got := res.Params(); len(got) != 1 || got[0] != "email" {
			t.Errorf("errors = %v, want [email]", got)
		}
	})
}

func TestMagicLinkHashedAtRest(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	token := lastLinkToken(t, env, "ada@example.com")
	var row string
	var hash []byte
	err := env.Pool.QueryRow(context.Background(), "SELECT row_to_json(m)::text, m.token_hash FROM magic_links m").Scan(&row, &hash)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(row, strings.TrimPrefix(token, auth.MagicLinkPrefix)) {
		t.Errorf("the magic_links row holds the token: %s", row)
	}
	if string(hash) != string(auth.HashToken(token)) {
		t.Errorf("token_hash is not the token's SHA-256")
	}
}

func TestMagicLinkWorksOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	token := lastLinkToken(t, env, "ada@example.com")
	const tries = 20
	codes := make(chan int, tries)
	var wg sync.WaitGroup
	for range tries {
		wg.Go(func() { codes <- useLink(env, token, "planoorder").Code })
	}
	wg.Wait()
	close(codes)
	won := 0
	for code := range codes {
		if code == http.StatusOK {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent exchanges got a session, want exactly 1", won, tries)
	}
	if n := countRows(t, env, "sessions"); n != 1 {
		t.Errorf("%d sessions created, want 1", n)
	}
}

func TestMagicLinkRoles(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("norole@example.com", "")

	t.Run("ErrClientRequired", func(t *testing.T) {
		requestLink(env, "norole@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		res := useLink(env, lastLinkToken(t, env, "norole@example.com"), "planoorder").Expect(t, 401, gen.StatusClientRequired)
		if res.Envelope.Session == nil || res.Envelope.Session.Token == nil || *res.Envelope.Session.Role != gen.RoleNone {
			t.Errorf("client-required answered no limited session: %s", res.Raw)
		}
	})
	t.Run("ErrUserRequiresRole", func(t *testing.T) {
		requestLink(env, "norole@example.com", "planox2").Expect(t, 200, gen.StatusActionSuccessful)
		useLink(env, lastLinkToken(t, env, "norole@example.com"), "planox2").Expect(t, 400, gen.StatusUserRequiresRole)
	})
}

func TestMagicLinkRateLimited(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.Links = limits.Throttle{PerAccount: 2, PerKnown: 2, PerAddress: 100, Window: 10 * time.Minute}
		d.Limits.SignIn = limits.Throttle{PerAccount: 10, PerKnown: 10, PerAddress: 2, Window: 10 * time.Minute}
	}))
	env.User("ada@example.com", password, "client")
	env.User("bob@example.com", password, "client")

	t.Run("PerEmail", func(t *testing.T) {
		requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		requestLink(env, "Ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		res := requestLink(env, "ada@example.com", "planoorder").Expect(t, 429, gen.StatusRateLimited)
		if got := res.Header.Get("Retry-After"); got != strconv.Itoa(10*60) {
			t.Errorf("Retry-After = %q, want %d", got, 10*60)
		}
		requestLink(env, "bob@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	})
	t.Run("FailedExchangesPerAddress", func(t *testing.T) {
		unknown := auth.MagicLinkPrefix + strings.Repeat("B", 43)
		useLink(env, unknown, "planoorder").Expect(t, 401, gen.StatusInvalidToken)
		useLink(env, unknown, "planoorder").Expect(t, 401, gen.StatusInvalidToken)
		useLink(env, lastLinkToken(t, env, "bob@example.com"), "planoorder").Expect(t, 429, gen.StatusRateLimited)
	})
}

// fakeMandrill is a local stand-in for Mandrill's messages/send.
type fakeMandrill struct {
	mu      sync.Mutex
	answer  string // "sent", "rejected", "500" or "timeout"
	bodies  []string
	release chan struct{}
}

func startFakeMandrill(t *testing.T) (*fakeMandrill, *httptest.Server) {
	t.Helper()
	f := &fakeMandrill{answer: "sent", release: make(chan struct{})}
	srv := httptest.NewServer(f)
	t.Cleanup(func() {
		close(f.release)
		srv.Close()
	})
	return f, srv
}

func (f *fakeMandrill) set(answer string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer = answer
}

func (f *fakeMandrill) lastText() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bodies) == 0 {
		return ""
	}
	return f.bodies[len(f.bodies)-1]
}

func (f *fakeMandrill) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Message struct {
			Text string `json:"text"`
		} `json:"message"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	f.mu.Lock()
	f.bodies = append(f.bodies, req.Message.Text)
	answer := f.answer
	f.mu.Unlock()
	switch answer {
	case "sent":
		_, _ = w.Write([]byte(`[{"email":"ada@example.com","status":"sent","_id":"1"}]`))
	case "rejected":
		_, _ = w.Write([]byte(`[{"email":"ada@example.com","status":"rejected","reject_reason":"hard-bounce"}]`))
	case "500":
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"status":"error","code":-1,"name":"Invalid_Key","message":"Invalid API key"}`))
	case "timeout":
		select {
		case <-r.Context().Done():
		case <-f.release:
		}
	}
}

func TestMagicLinkThroughMandrill(t *testing.T) {
	t.Parallel()
	fake, srv := startFakeMandrill(t)
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Mailer = mail.NewMandrill(mail.MandrillConfig{APIKey: "test-key", BaseURL: srv.URL, From: "no-reply@plano.example", Timeout: 200 * time.Millisecond})
		d.Limits.Links = limits.Throttle{PerAccount: 100, PerKnown: 100, PerAddress: 100, Window: time.Minute}
	}))
	env.User("ada@example.com", password, "client")

	t.Run("OK", func(t *testing.T) {
		fake.set("sent")
		requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		token := linkToken.FindString(fake.lastText())
		if want := impl.DefaultPublicURL + "/magic?token=" + token; !strings.Contains(fake.lastText(), want) {
			t.Fatalf("Mandrill was sent no link %s:\n%s", want, fake.lastText())
		}
		useLink(env, token, "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		if n := countRows(t, env, "notifications"); n != 0 {
			t.Errorf("%d notifications after a successful send, want 0", n)
		}
	})
	for _, tc := range []struct{ answer, reason string }{
		{"rejected", "rejected the recipient: hard-bounce"},
		{"500", "HTTP 500: Invalid_Key"},
		{"timeout", "did not answer within 200ms"},
	} {
		t.Run("ErrMandrill"+tc.answer, func(t *testing.T) {
			// One recipient's failures of one kind write one notification per hour: each case
			// has its own recipient.
			recipient := tc.answer + "@example.com"
			env.User(recipient, password, "client")
			fake.set(tc.answer)
			before := countRows(t, env, "notifications")
			requestLink(env, recipient, "planoorder").Expect(t, 500, gen.StatusMandrillEmailFailed)
			token := linkToken.FindString(fake.lastText())
			if n := countRows(t, env, "notifications") - before; n != 1 {
				t.Fatalf("%d notifications written, want exactly 1", n)
			}
			var kind, message, details string
			err := env.Pool.QueryRow(context.Background(),
				"SELECT kind, message, context::text FROM notifications ORDER BY id DESC LIMIT 1").Scan(&kind, &message, &details)
			if err != nil {
				t.Fatal(err)
			}
			if kind != "mandrill-email-failed" || !strings.Contains(details, tc.reason) || !strings.Contains(details, `"magic_link"`) {
				t.Errorf("notification = %s %q %s, want mandrill-email-failed with %q and the email's kind", kind, message, details, tc.reason)
			}
			if token == "" || strings.Contains(message+details, strings.TrimPrefix(token, auth.MagicLinkPrefix)) {
				t.Errorf("the notification holds the link token (or no token was sent)")
			}
			// The same failure again is answered alike, costs its use, and writes nothing new.
			requestLink(env, recipient, "planoorder").Expect(t, 500, gen.StatusMandrillEmailFailed)
			if n := countRows(t, env, "notifications") - before; n != 1 {
				t.Errorf("%d notifications after a second failure for %s, want still 1", n, recipient)
			}
		})
	}
}

// Registering someone else's email must not give access to their account once they sign in
// with proof of the email: the first such sign-in drops the registrant's password and sessions.
func TestProvenEmailEvictsTheRegistrant(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	const victim = "grace@example.com"
	res := env.PostSensitive("/api/v1/clients/register", map[string]any{"application": "planoorder",
		"client": map[string]any{"email": victim, "password": "the attacker's password"}}, "").
		Expect(t, 200, gen.StatusActionSuccessful)
	var registered gen.ClientSession
	res.Data(t, &registered)
	attacker := *registered.Session.Token

	requestLink(env, victim, "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	res = useLink(env, lastLinkToken(t, env, victim), "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	var owner gen.Session
	res.Data(t, &owner)

	env.Get(sessionsRead, attacker).Expect(t, 401, gen.StatusInvalidToken)
	login(env, map[string]any{"email": victim, "password": "the attacker's password", "application": "planoorder"}).
		Expect(t, 400, gen.StatusUserHasNoPassword)
	// Proven once: a later link signs in without revoking the owner's own sessions.
	requestLink(env, victim, "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	useLink(env, lastLinkToken(t, env, victim), "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	env.Get(sessionsRead, *owner.Token).Expect(t, 200, gen.StatusActionSuccessful)
}
