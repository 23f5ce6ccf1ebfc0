package impl_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
)

const (
	sessionsCreate = "/api/v1/sessions/create"
	sessionsRead   = "/api/v1/sessions/read"
	sessionsDelete = "/api/v1/sessions/delete"
	sessionsIndex  = "/api/v1/sessions/index"
	password       = "correct horse battery staple"
)

func login(env *apitest.Env, params map[string]any) *apitest.Response {
	env.T.Helper()
	return env.PostSensitive(sessionsCreate, params, "")
}

func TestSessionsCreate(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	env.AllowRedirectOrigin("planoorder", "https://order.example")

	t.Run("OK", func(t *testing.T) {
		res := login(env, map[string]any{"email": "ADA@example.com", "password": password, "application": "planoorder",
			"redirect_url": "https://order.example/welcome", "session_view": "full", "application_view": "full"}).
			Expect(t, 200, gen.StatusActionSuccessful)
		var s gen.Session
		res.Data(t, &s)
		if s.Token == nil || !strings.HasPrefix(*s.Token, auth.SessionPrefix) {
			t.Errorf("token = %v, want a %s token", s.Token, auth.SessionPrefix)
		}
		if got, want := *s.Role, gen.RoleClient; got != want {
			t.Errorf("role = %s, want %s", got, want)
		}
		if got := *s.RedirectUrl; got != "https://order.example/welcome" {
			t.Errorf("redirect_url = %q, not passed through", got)
		}
		if s.Application.Slug != gen.Planoorder || s.Application.Roles == nil {
			t.Errorf("application = %+v, want planoorder in the full view", s.Application)
		}
		if s.User == nil || s.User.Email != "ada@example.com" {
			t.Errorf("user = %+v, want ada@example.com", s.User)
		}
		if want := env.Clock.Now().Add(defaultIdleTimeout); !s.ExpiresAt.Equal(want) {
			t.Errorf("expires_at = %s, want %s (72 hours of idleness)", s.ExpiresAt, want)
		}
	})
	t.Run("MinimalView", func(t *testing.T) {
		res := login(env, map[string]any{"email": "ada@example.com", "password": password, "application": "planoorder", "view": "minimal"}).
			Expect(t, 200, gen.StatusActionSuccessful)
		var s gen.Session
		res.Data(t, &s)
		if s.Token == nil || s.Role != nil || s.User != nil {
			t.Errorf("minimal view = %s, want id, token and expiry only", res.Envelope.Data)
		}
	})
	t.Run("ErrEmailNotFound", func(t *testing.T) {
		login(env, map[string]any{"email": "nobody@example.com", "password": password, "application": "planoorder"}).
			Expect(t, 400, gen.StatusEmailNotFound)
	})
	t.Run("ErrInvalidPassword", func(t *testing.T) {
		login(env, map[string]any{"email": "ada@example.com", "password": "wrong password", "application": "planoorder"}).
			Expect(t, 400, gen.StatusInvalidPassword)
	})
}

func TestSessionsCreateUserHasNoPassword(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("google@example.com", "", "client")
	blank := env.User("blank@example.com", "", "client")
	if _, err := env.Pool.Exec(context.Background(), "UPDATE users SET password_hash = '  ' WHERE id = $1", blank); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"google@example.com", "blank@example.com"} {
		login(env, map[string]any{"email": email, "password": password, "application": "planoorder"}).
			Expect(t, 400, gen.StatusUserHasNoPassword)
	}
}

func TestSessionsCreateRoles(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("norole@example.com", password)
	env.User("client@example.com", password, "client")
	env.User("staff@example.com", password, "client", "employee")

	t.Run("ErrUserRequiresRole", func(t *testing.T) {
		// planox2 accepts employees and liaisons and does not let users register as clients.
		login(env, map[string]any{"email": "norole@example.com", "password": password, "application": "planox2"}).
			Expect(t, 400, gen.StatusUserRequiresRole)
		login(env, map[string]any{"email": "client@example.com", "password": password, "application": "planox2"}).
			Expect(t, 400, gen.StatusUserRequiresRole)
		if n := countRows(t, env, "sessions"); n != 0 {
			t.Errorf("%d sessions created, want none", n)
		}
	})
	t.Run("ErrClientRequired", func(t *testing.T) {
		res := login(env, map[string]any{"email": "norole@example.com", "password": password, "application": "planoorder"}).
			Expect(t, 401, gen.StatusClientRequired)
		if res.Envelope.Session == nil || res.Envelope.Session.Token == nil {
			t.Fatalf("client-required answered no session with a token: %s", res.Raw)
		}
		var data gen.Session
		res.Data(t, &data)
		if data.Id != res.Envelope.Session.Id || *data.Role != gen.RoleNone {
			t.Errorf("data = %s, want the same limited session", res.Envelope.Data)
		}
		token := *res.Envelope.Session.Token
		// The limited session may read itself, but nothing beyond users/client_register.
		env.Get(sessionsRead, token).Expect(t, 200, gen.StatusActionSuccessful)
		res = env.Get(sessionsIndex, token).Expect(t, 401, gen.StatusClientRequired)
		if res.Envelope.Session == nil || res.Envelope.Session.Id != data.Id {
			t.Errorf("client-required on a later request answered no session: %s", res.Raw)
		}
	})
	t.Run("PrefersEmployee", func(t *testing.T) {
		res := login(env, map[string]any{"email": "staff@example.com", "password": password, "application": "planoorder"}).
			Expect(t, 200, gen.StatusActionSuccessful)
		var s gen.Session
		res.Data(t, &s)
		if *s.Role != gen.RoleEmployee {
			t.Errorf("role = %s, want employee", *s.Role)
		}
	})
}

func TestSessionsCreateRateLimited(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SignIn = limits.Throttle{PerAccount: 3, PerKnown: 3, PerAddress: 100, Window: 15 * time.Minute}
	}))
	env.User("ada@example.com", password, "client")
	wrong := map[string]any{"email": "ada@example.com", "password": "guess", "application": "planoorder"}
	for i := 0; i < 3; i++ {
		login(env, wrong).Expect(t, 400, gen.StatusInvalidPassword)
	}
	right := map[string]any{"email": "ada@example.com", "password": password, "application": "planoorder"}
	res := login(env, right).Expect(t, 429, gen.StatusRateLimited)
	if got := res.Header.Get("Retry-After"); got != strconv.Itoa(15*60) {
		t.Errorf("Retry-After = %q, want %d", got, 15*60)
	}
	env.Clock.Advance(15 * time.Minute)
	login(env, right).Expect(t, 200, gen.StatusActionSuccessful)
}

// Guesses sent all at once must not slip past the limit while earlier ones are still hashing.
func TestSessionsCreateRateLimitedConcurrently(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SignIn = limits.Throttle{PerAccount: 10, PerKnown: 10, PerAddress: 1000, Window: 15 * time.Minute}
	}))
	env.User("ada@example.com", password, "client")
	var mu sync.Mutex
	answers := map[gen.Status]int{}
	var wg sync.WaitGroup
	for i := 0; i < 60; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := env.PostSensitive(sessionsCreate, map[string]any{"email": "ada@example.com", "password": "guess", "application": "planoorder"}, "")
			mu.Lock()
			answers[res.Status()]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if answers[gen.StatusInvalidPassword] != 10 || answers[gen.StatusRateLimited] != 50 {
		t.Errorf("answers = %v, want 10 invalid-password and 50 rate-limited", answers)
	}
}

// Successful log-ins do not use up the address's allowance (many users share a proxy).
func TestSessionsCreateSuccessIsNotCounted(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SignIn = limits.Throttle{PerAccount: 2, PerKnown: 2, PerAddress: 2, Window: time.Minute}
	}))
	env.User("ada@example.com", password, "client")
	for i := 0; i < 5; i++ {
		env.Login("ada@example.com", password, "planoorder")
	}
}

func TestSessionsCreateRateLimitedPerAddress(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SignIn = limits.Throttle{PerAccount: 100, PerKnown: 100, PerAddress: 2, Window: time.Minute}
	}))
	env.User("ada@example.com", password, "client")
	login(env, map[string]any{"email": "a@example.com", "password": "x", "application": "planoorder"}).Expect(t, 400, gen.StatusEmailNotFound)
	login(env, map[string]any{"email": "b@example.com", "password": "x", "application": "planoorder"}).Expect(t, 400, gen.StatusEmailNotFound)
	login(env, map[string]any{"email": "ada@example.com", "password": password, "application": "planoorder"}).Expect(t, 429, gen.StatusRateLimited)
}

func TestSessionsRead(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	token := env.Login("ada@example.com", password, "planoorder")

	t.Run("OK", func(t *testing.T) {
		res := env.Get(sessionsRead, token).Expect(t, 200, gen.StatusActionSuccessful)
		var s gen.Session
		res.Data(t, &s)
		if s.Token != nil {
			t.Errorf("sessions/read shows the token; it appears only where just issued")
		}
		if res.Envelope.Session == nil || res.Envelope.Session.Id != s.Id {
			t.Errorf("envelope session = %+v, want the caller's", res.Envelope.Session)
		}
	})
	t.Run("TokenInQuery", func(t *testing.T) {
		env.Get(sessionsRead+"?token="+token, "").Expect(t, 200, gen.StatusActionSuccessful)
	})
	t.Run("ErrMissingToken", func(t *testing.T) {
		res := env.Get(sessionsRead, "").Expect(t, 400, gen.StatusMissingParam)
		if got := res.Params(); len(got) != 1 || got[0] != "token" {
			t.Errorf("errors = %v, want [token]", got)
		}
	})
	for name, bad := range map[string]string{
		"ErrGarbage":   "not-a-token",
		"ErrUnknown":   auth.SessionPrefix + strings.Repeat("A", 43),
		"ErrMalformed": auth.SessionPrefix + "short",
	} {
		t.Run(name, func(t *testing.T) {
			env.Get(sessionsRead, bad).Expect(t, 401, gen.StatusInvalidToken)
		})
	}
	t.Run("ErrApplicationToken", func(t *testing.T) {
		env.Get(sessionsRead, env.AppTokens["planoorder"]).Expect(t, 403, gen.StatusPermissionDenied)
	})
	t.Run("ErrSessionOnApplicationRoute", func(t *testing.T) {
		env.Get("/api/v1/coexistence/index", token).Expect(t, 403, gen.StatusPermissionDenied)
	})
}

func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	env.User("remember@example.com", password, "client")

	t.Run("IdleBoundary", func(t *testing.T) {
		token := env.Login("ada@example.com", password, "planoorder")
		env.Clock.Advance(defaultIdleTimeout - time.Second)
		env.Get(sessionsRead, token).Expect(t, 200, gen.StatusActionSuccessful) // records the use
		env.Clock.Advance(defaultIdleTimeout - time.Second)
		env.Get(sessionsRead, token).Expect(t, 200, gen.StatusActionSuccessful)
		env.Clock.Advance(defaultIdleTimeout)
		env.Get(sessionsRead, token).Expect(t, 401, gen.StatusSessionExpired)
	})
	t.Run("MaxAgeBoundary", func(t *testing.T) {
		token := env.Login("ada@example.com", password, "planoorder")
		created := env.Clock.Now()
		for env.Clock.Now().Before(created.Add(defaultLifetime - 48*time.Hour)) {
			env.Clock.Advance(48 * time.Hour)
			env.Get(sessionsRead, token).Expect(t, 200, gen.StatusActionSuccessful)
		}
		// Used recently, but 7 days old from this instant on.
		env.Clock.Advance(created.Add(defaultLifetime).Sub(env.Clock.Now()) - time.Nanosecond)
		env.Get(sessionsRead, token).Expect(t, 200, gen.StatusActionSuccessful)
		env.Clock.Advance(time.Nanosecond)
		env.Get(sessionsRead, token).Expect(t, 401, gen.StatusSessionExpired)
	})
	t.Run("RememberMeOutlivesBoth", func(t *testing.T) {
		res := login(env, map[string]any{"email": "remember@example.com", "password": password, "application": "planoorder", "remember_me": true}).
			Expect(t, 200, gen.StatusActionSuccessful)
		var s gen.Session
		res.Data(t, &s)
		if s.ExpiresAt != nil {
			t.Errorf("a remember_me session has expires_at %s", s.ExpiresAt)
		}
		env.Clock.Advance(30 * 24 * time.Hour)
		env.Get(sessionsRead, *s.Token).Expect(t, 200, gen.StatusActionSuccessful)
		// The preference is saved: the next log-in without the flag lasts too.
		token := env.Login("remember@example.com", password, "planoorder")
		env.Clock.Advance(10 * 24 * time.Hour)
		env.Get(sessionsRead, token).Expect(t, 200, gen.StatusActionSuccessful)
	})
}

// A session keeps the remember_me of its creation: turning the preference on later must not
// bring an expired session back.
func TestSessionExpiryNotRevivedByRememberMe(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	old := env.Login("ada@example.com", password, "planoorder")
	env.Clock.Advance(30 * 24 * time.Hour)
	env.Get(sessionsRead, old).Expect(t, 401, gen.StatusSessionExpired)
	login(env, map[string]any{"email": "ada@example.com", "password": password, "application": "planoorder", "remember_me": true}).
		Expect(t, 200, gen.StatusActionSuccessful)
	env.Get(sessionsRead, old).Expect(t, 401, gen.StatusSessionExpired)
}

func TestSessionsDelete(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")

	t.Run("OK", func(t *testing.T) {
		token := env.Login("ada@example.com", password, "planoorder")
		other := env.Login("ada@example.com", password, "planoauth")
		res := env.Do(apitest.Request(http.MethodPost, sessionsDelete, "", nil, token)).Expect(t, 200, gen.StatusActionSuccessful)
		var revoked gen.Revoked
		res.Data(t, &revoked)
		if revoked.Revoked != 1 {
			t.Errorf("revoked %d sessions, want 1", revoked.Revoked)
		}
		env.Get(sessionsRead, token).Expect(t, 401, gen.StatusInvalidToken)
		env.Get(sessionsRead, other).Expect(t, 200, gen.StatusActionSuccessful)
	})
	t.Run("All", func(t *testing.T) {
		a := env.Login("ada@example.com", password, "planoorder")
		b := env.Login("ada@example.com", password, "planoauth")
		env.PostJSON(sessionsDelete, map[string]any{"all": true, "token": a}, "").Expect(t, 200, gen.StatusActionSuccessful)
		env.Get(sessionsRead, a).Expect(t, 401, gen.StatusInvalidToken)
		env.Get(sessionsRead, b).Expect(t, 401, gen.StatusInvalidToken)
	})
}

func TestSessionsIndex(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	env.User("bob@example.com", password, "client")
	old := env.Login("ada@example.com", password, "planoauth")
	env.Clock.Advance(defaultIdleTimeout) // old has expired
	first := env.Login("ada@example.com", password, "planoorder")
	env.Clock.Advance(time.Minute)
	current := env.Login("ada@example.com", password, "planoauth")
	env.Login("bob@example.com", password, "planoorder")
	_ = old

	res := env.Get(sessionsIndex+"?session_view=full", current).Expect(t, 200, gen.StatusActionSuccessful)
	var list gen.SessionList
	res.Data(t, &list)
	if len(list.Results) != 2 {
		t.Fatalf("%d sessions listed, want ada's 2 live ones: %s", len(list.Results), res.Envelope.Data)
	}
	if !*list.Results[0].Current || *list.Results[1].Current {
		t.Errorf("current flags = %v, %v; want the newest (the caller's) first", *list.Results[0].Current, *list.Results[1].Current)
	}
	for _, s := range list.Results {
		if s.Token != nil {
			t.Errorf("sessions/index shows a token")
		}
		if s.UserAgent == nil || s.ClientAddress == nil || s.LastUsedAt == nil {
			t.Errorf("full view lacks client address, user agent or last use: %+v", s)
		}
	}
	if strings.Contains(string(res.Raw), first) || strings.Contains(string(res.Raw), current) {
		t.Errorf("a token appears in the answer")
	}
}

func TestSessionRowHoldsNoToken(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	token := env.Login("ada@example.com", password, "planoorder")
	var row string
	var hash []byte
	err := env.Pool.QueryRow(context.Background(), "SELECT row_to_json(s)::text, s.token_hash FROM sessions s").Scan(&row, &hash)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.TrimPrefix(token, auth.SessionPrefix)
	if strings.Contains(row, body) {
		t.Errorf("the session row contains the token: %s", row)
	}
	if sum := sha256.Sum256([]byte(token)); string(hash) != string(sum[:]) {
		t.Errorf("token_hash is not the token's SHA-256")
	}
}

func TestLastUseWrites(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	token := env.Login("ada@example.com", password, "planoorder")
	// Count the rows actually written to last_used_at.
	ctx := context.Background()
	for _, ddl := range []string{
		"CREATE TABLE touch_log (at timestamptz NOT NULL DEFAULT clock_timestamp())",
		`CREATE FUNCTION log_touch() RETURNS trigger LANGUAGE plpgsql AS $$
		 BEGIN INSERT INTO touch_log DEFAULT VALUES; RETURN NULL; END $$`,
		"CREATE TRIGGER log_touch AFTER UPDATE OF last_used_at ON sessions FOR EACH ROW EXECUTE FUNCTION log_touch()",
	} {
		if _, err := env.Pool.Exec(ctx, ddl); err != nil {
			t.Fatal(err)
		}
	}
	burst := func() {
		var wg sync.WaitGroup
		for i := 0; i < 200; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				env.Get(sessionsRead, token).Expect(t, 200, gen.StatusActionSuccessful)
			}()
		}
		wg.Wait()
	}
	burst() // last use was just recorded at log-in: nothing to write
	if n := countRows(t, env, "touch_log"); n != 0 {
		t.Errorf("%d last-use writes for 200 requests within a minute of log-in, want 0", n)
	}
	env.Clock.Advance(2 * time.Minute)
	burst()
	if n := countRows(t, env, "touch_log"); n > 2 {
		t.Errorf("%d last-use writes for 200 concurrent requests, want at most a handful", n)
	} else if n == 0 {
		t.Errorf("no last-use write after 2 minutes")
	}
}

func countRows(t *testing.T, env *apitest.Env, table string) int {
	t.Helper()
	var n int
	if err := env.Pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
