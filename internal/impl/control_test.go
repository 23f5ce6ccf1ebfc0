package impl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/gen"
)

const (
	sessionsIntrospect = "/api/v1/sessions/introspect"
	sessionsRevoke     = "/api/v1/sessions/revoke"
	usersLookup        = "/api/v1/users/lookup"
)

// sessionIDs lists the ids of the caller's sessions, as sessions/index shows them.
func sessionIDs(t *testing.T, env *apitest.Env, token string) []uuid.UUID {
	t.Helper()
	var list gen.SessionList
	env.Get(sessionsIndex, token).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &list)
	ids := make([]uuid.UUID, 0, len(list.Results))
	for _, s := range list.Results {
		ids = append(ids, s.Id)
	}
	return ids
}

// idOf returns the id of the session of token.
func idOf(t *testing.T, env *apitest.Env, token string) uuid.UUID {
	t.Helper()
	var s gen.Session
	env.Get(sessionsRead, token).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
	return s.Id
}

func revokedCount(t *testing.T, res *apitest.Response) int {
	t.Helper()
	var r gen.Revoked
	res.Data(t, &r)
	return r.Revoked
}

func TestSessionsDeleteByID(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := env.User("ada@example.com", password, "client")
	bob := env.User("bob@example.com", password, "client")

	t.Run("OK", func(t *testing.T) {
		current := env.Session(ada, "planoorder", "client")
		other := env.Session(ada, "planoauth", "client")
		res := env.PostJSON(sessionsDelete, map[string]any{"id": idOf(t, env, other)}, current).Expect(t, 200, gen.StatusActionSuccessful)
		if n := revokedCount(t, res); n != 1 {
			t.Errorf("revoked %d, want 1", n)
		}
		if res.Envelope.Session == nil || res.Envelope.Session.Id != idOf(t, env, current) {
			t.Errorf("the answer's session is %+v, want the caller's", res.Envelope.Session)
		}
		env.Get(sessionsRead, other).Expect(t, 401, gen.StatusInvalidToken)
		env.Get(sessionsRead, current).Expect(t, 200, gen.StatusActionSuccessful)
		// Already revoked: nothing more to do, and no error (two devices may race).
		res = env.PostJSON(sessionsDelete, map[string]any{"id": idOf(t, env, current), "all": false}, current)
		if n := revokedCount(t, res.Expect(t, 200, gen.StatusActionSuccessful)); n != 1 {
			t.Errorf("revoking the caller's own id revoked %d, want 1 (a log-out)", n)
		}
		env.Get(sessionsRead, current).Expect(t, 401, gen.StatusInvalidToken)
	})
	t.Run("AlreadyRevoked", func(t *testing.T) {
		current := env.Session(ada, "planoorder", "client")
		gone := env.Session(ada, "planoorder", "client")
		id := idOf(t, env, gone)
		env.PostJSON(sessionsDelete, map[string]any{}, gone).Expect(t, 200, gen.StatusActionSuccessful)
		res := env.PostJSON(sessionsDelete, map[string]any{"id": id}, current).Expect(t, 200, gen.StatusActionSuccessful)
		if n := revokedCount(t, res); n != 0 {
			t.Errorf("revoked %d, want 0", n)
		}
	})
	t.Run("Others", func(t *testing.T) {
		current := env.Session(ada, "planoorder", "client")
		a, b := env.Session(ada, "planoauth", "client"), env.Session(ada, "planoorder", "client")
		bobs := env.Session(bob, "planoorder", "client")
		res := env.PostJSON(sessionsDelete, map[string]any{"others": true}, current).Expect(t, 200, gen.StatusActionSuccessful)
		if n := revokedCount(t, res); n < 2 {
			t.Errorf("revoked %d, want every other session of ada", n)
		}
		env.Get(sessionsRead, a).Expect(t, 401, gen.StatusInvalidToken)
		env.Get(sessionsRead, b).Expect(t, 401, gen.StatusInvalidToken)
		env.Get(sessionsRead, current).Expect(t, 200, gen.StatusActionSuccessful)
		env.Get(sessionsRead, bobs).Expect(t, 200, gen.StatusActionSuccessful)
		if ids := sessionIDs(t, env, current); len(ids) != 1 {
			t.Errorf("ada has %d sessions left, want only the caller's", len(ids))
		}
	})
	t.Run("ErrConflicting", func(t *testing.T) {
		current := env.Session(ada, "planoorder", "client")
		other := env.Session(ada, "planoauth", "client")
		id := idOf(t, env, other)
		for _, tc := range []struct {
			body map[string]any
			want []string
		}{
			{map[string]any{"all": true, "others": true}, []string{"all", "others"}},
			{map[string]any{"id": id, "all": true}, []string{"all", "id"}},
			{map[string]any{"id": id, "others": true}, []string{"id", "others"}},
			{map[string]any{"id": id, "others": true, "all": true}, []string{"all", "id", "others"}},
		} {
			res := env.PostJSON(sessionsDelete, tc.body, current).Expect(t, 400, gen.StatusInvalidParam)
			if got := strings.Join(res.Params(), ","); got != strings.Join(tc.want, ",") {
				t.Errorf("%v: errors name %s, want %v", tc.body, got, tc.want)
			}
		}
		env.Get(sessionsRead, other).Expect(t, 200, gen.StatusActionSuccessful)
		env.Get(sessionsRead, current).Expect(t, 200, gen.StatusActionSuccessful)
	})
	t.Run("ErrMalformedID", func(t *testing.T) {
		current := env.Session(ada, "planoorder", "client")
		for _, bad := range []any{"nope", 42, "0b6f0d5e-7f4c-4b7e-9a53-5d0c2f1f9a1"} {
			res := env.PostJSON(sessionsDelete, map[string]any{"id": bad}, current).Expect(t, 400, gen.StatusInvalidParam)
			if got := res.Params(); len(got) != 1 || got[0] != "id" {
				t.Errorf("id %v: errors %v, want [id]", bad, got)
			}
		}
		env.Get(sessionsRead, current).Expect(t, 200, gen.StatusActionSuccessful)
	})
}

// Another user's session ids are neither revocable nor probeable: the answer to one is the answer
// to an id nobody has, whoever asks, however many at once, from wherever.
func TestSessionsDeleteOthersSessionAttack(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := env.User("ada@example.com", password, "client")
	victims := []string{env.Session(ada, "planoorder", "client"), env.Session(ada, "planoauth", "client")}
	targets := sessionIDs(t, env, victims[0])
	targets = append(targets, uuid.New()) // and one that names nothing
	attackers := map[string]string{
		"client":   env.Session(env.User("bob@example.com", password, "client"), "planoorder", "client"),
		"liaison":  env.Session(env.User("lia@example.com", password, "liaison"), "planoorder", "liaison"),
		"employee": env.Session(env.User("eve@example.com", password, "employee"), "planoorder", "employee"),
		"none":     env.Session(env.User("new@example.com", password), "planoorder", "none"),
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[string]int{}
	n := 0
	for who, token := range attackers {
		for _, id := range targets {
			n++
			wg.Add(1)
			go func(addr string) {
				defer wg.Done()
				b, _ := json.Marshal(map[string]any{"id": id})
				req := apitest.Request(http.MethodPost, sessionsDelete, "application/json", b, token)
				req.RemoteAddr = addr
				res := env.Do(req)
				mu.Lock()
				defer mu.Unlock()
				// A session without a role has not completed its sign-in: it may end only
				// itself, whatever the id.
				wantCode, wantStatus := 400, gen.StatusInvalidParam
				if who == "none" {
					wantCode, wantStatus = 403, gen.StatusPermissionDenied
				}
				var detail string
				if len(res.Envelope.Errors) > 0 {
					detail = res.Envelope.Errors[0].Message
				}
				answers[fmt.Sprintf("%s: %d %s %v %s", who, res.Code, res.Status(), res.Params(), detail)]++
				if res.Code != wantCode || res.Status() != wantStatus {
					t.Errorf("%s deleting %s: %d %s, want %d %s", who, id, res.Code, res.Status(), wantCode, wantStatus)
				}
			}(fmt.Sprintf("127.0.0.%d:1234", n))
		}
	}
	wg.Wait()
	if len(answers) != len(attackers) {
		t.Errorf("the answers to one attacker differ, which tells ids apart: %v", answers)
	}
	for _, token := range victims {
		env.Get(sessionsRead, token).Expect(t, 200, gen.StatusActionSuccessful)
	}
}

// introspect posts a session token to sessions/introspect with a caller's token.
func introspect(t *testing.T, env *apitest.Env, caller, sessionToken string, extra map[string]any) (*apitest.Response, gen.Introspection) {
	t.Helper()
	params := map[string]any{"session_token": sessionToken}
	for k, v := range extra {
		params[k] = v
	}
	res := env.PostSensitive(sessionsIntrospect, params, caller)
	var data gen.Introspection
	if res.Code == 200 {
		res.Data(t, &data)
	}
	return res, data
}

// inactive fails unless the answer is active: false and nothing else.
func inactive(t *testing.T, res *apitest.Response) {
	t.Helper()
	res.Expect(t, 200, gen.StatusActionSuccessful)
	if got := strings.TrimSpace(string(res.Envelope.Data)); got != `{"active":false}` {
		t.Errorf("data = %s, want only active: false", got)
	}
}

func TestSessionsIntrospect(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	env := apitest.New(t, apitest.WithLog(&logs))
	ada := env.User("ada@example.com", password, "client")
	app := env.AppTokens["planoorder"]

	t.Run("OK", func(t *testing.T) {
		token := env.Login("ada@example.com", password, "planoorder")
		res, data := introspect(t, env, app, token, map[string]any{"application_view": "full"})
		res.Expect(t, 200, gen.StatusActionSuccessful)
		if !data.Active || data.Id == nil || *data.Id != idOf(t, env, token) {
			t.Fatalf("data = %s, want the active session", res.Envelope.Data)
		}
		if *data.Role != gen.RoleClient || data.User == nil || data.User.Id != ada || data.User.Email != "ada@example.com" {
			t.Errorf("role %v, user %+v; want ada's client session", *data.Role, data.User)
		}
		if data.Application == nil || data.Application.Slug != gen.Planoorder || data.Application.SessionPolicy == nil {
			t.Errorf("application = %+v, want planoorder in the full view", data.Application)
		}
		if want := env.Clock.Now().Add(defaultIdleTimeout); data.ExpiresAt == nil || !data.ExpiresAt.Equal(want) {
			t.Errorf("expires_at = %v, want %s", data.ExpiresAt, want)
		}
		if data.Scopes == nil || len(*data.Scopes) == 0 {
			t.Errorf("scopes = %v", data.Scopes)
		}
		if res.Envelope.Session != nil {
			t.Errorf("the answer carries a session: %+v", res.Envelope.Session)
		}
	})
	t.Run("LimitedSession", func(t *testing.T) {
		token := env.Session(env.User("new@example.com", password), "planoorder", "none")
		_, data := introspect(t, env, app, token, nil)
		if data.Active || deref(data.Limitation) != gen.IntrospectionLimitationClientRequired || data.Role != nil || data.User != nil {
			t.Errorf("data = %+v, want inactive with limitation client-required and nothing else", data)
		}
	})
	t.Run("ErrInactive", func(t *testing.T) {
		revoked := env.Session(ada, "planoorder", "client")
		env.PostJSON(sessionsDelete, map[string]any{}, revoked).Expect(t, 200, gen.StatusActionSuccessful)
		for name, token := range map[string]string{
			"Revoked":          revoked,
			"Unknown":          auth.SessionPrefix + strings.Repeat("A", 43),
			"Malformed":        auth.SessionPrefix + "short",
			"Garbage":          "not a token",
			"ApplicationToken": env.AppTokens["planoauth"],
			"CallersOwnToken":  app,
		} {
			t.Run(name, func(t *testing.T) {
				res, _ := introspect(t, env, app, token, nil)
				inactive(t, res)
			})
		}
	})
	t.Run("ErrExpired", func(t *testing.T) {
		token := env.Session(ada, "planoorder", "client")
		env.Clock.Advance(defaultIdleTimeout)
		res, _ := introspect(t, env, app, token, nil)
		inactive(t, res)
	})
	t.Run("ErrParams", func(t *testing.T) {
		res := env.PostSensitive(sessionsIntrospect, map[string]any{"application_view": "full"}, app).Expect(t, 400, gen.StatusMissingParam)
		if got := res.Params(); len(got) != 1 || got[0] != "session_token" {
			t.Errorf("errors %v, want [session_token]", got)
		}
		env.PostJSON(sessionsIntrospect, map[string]any{"session_token": "pas_x"}, app).Expect(t, 400, gen.StatusInvalidContentType)
	})
	if strings.Contains(logs.String(), auth.SessionPrefix) {
		t.Errorf("a session token was logged:\n%s", logs.String())
	}
}

// Introspecting is not using: it never records a use, so it never keeps a session alive.
func TestSessionsIntrospectRecordsNoUse(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := env.User("ada@example.com", password, "client")
	token := env.Session(ada, "planoorder", "client")
	lastUse := func() time.Time {
		var at time.Time
		if err := env.Pool.QueryRow(context.Background(), "SELECT last_used_at FROM sessions").Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	created := lastUse()
	for env.Clock.Now().Before(created.Add(defaultIdleTimeout - time.Hour)) {
		env.Clock.Advance(time.Hour)
		_, data := introspect(t, env, env.AppTokens["planoorder"], token, nil)
		if !data.Active {
			t.Fatalf("inactive at %s", env.Clock.Now())
		}
	}
	if got := lastUse(); !got.Equal(created) {
		t.Errorf("last use moved from %s to %s by introspection", created, got)
	}
	env.Clock.Advance(time.Hour)
	res, _ := introspect(t, env, env.AppTokens["planoorder"], token, nil)
	inactive(t, res)
}

// An application sees only its own application's sessions, and only application tokens
// introspect: users never learn through it what another session is.
func TestSessionsIntrospectAttack(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := env.User("ada@example.com", password, "client")
	victim := env.Session(ada, "planoorder", "client")
	sessionCallers := map[string]string{
		"client":   env.Session(env.User("bob@example.com", password, "client"), "planoorder", "client"),
		"liaison":  env.Session(env.User("lia@example.com", password, "liaison"), "planoorder", "liaison"),
		"employee": env.Session(env.User("eve@example.com", password, "employee"), "planoorder", "employee"),
		"none":     env.Session(env.User("new@example.com", password), "planoorder", "none"),
		"self":     victim,
	}
	var wg sync.WaitGroup
	n := 0
	for _, other := range []string{"planoauth", "planox2"} {
		for range 5 {
			n++
			wg.Add(1)
			go func(addr string) {
				defer wg.Done()
				req := apitest.Request(http.MethodPost, sessionsIntrospect, "text/plain",
					apitest.Sensitive(t, map[string]any{"session_token": victim}), env.AppTokens[other])
				req.RemoteAddr = addr
				inactive(t, env.Do(req))
			}(fmt.Sprintf("127.0.0.%d:1234", n))
		}
	}
	for who, caller := range sessionCallers {
		n++
		wg.Add(1)
		go func(addr string) {
			defer wg.Done()
			req := apitest.Request(http.MethodPost, sessionsIntrospect, "text/plain",
				apitest.Sensitive(t, map[string]any{"session_token": victim}), caller)
			req.RemoteAddr = addr
			if res := env.Do(req); res.Code != 403 || res.Status() != gen.StatusPermissionDenied {
				t.Errorf("%s introspected: %d %s", who, res.Code, res.Status())
			}
		}(fmt.Sprintf("127.0.0.%d:1234", n))
	}
	wg.Wait()
	_, data := introspect(t, env, env.AppTokens["planoorder"], victim, nil)
	if !data.Active {
		t.Errorf("the victim's own application sees it inactive")
	}
}

// A revocation reaches introspection on every instance at once, cache or not.
func TestSessionsIntrospectSeesRevocationEverywhere(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	other := env.SecondInstance()
	token := env.Session(env.User("ada@example.com", password, "client"), "planoorder", "client")
	active := func(h http.Handler) bool {
		req := apitest.Request(http.MethodPost, sessionsIntrospect, "text/plain",
			apitest.Sensitive(t, map[string]any{"session_token": token}), env.AppTokens["planoorder"])
		return strings.Contains(serveBody(env, h, req), `"active":true`)
	}
	if !active(env.Handler) || !active(other) { // cached by both
		t.Fatal("inactive before the revocation")
	}
	env.PostJSON(sessionsDelete, map[string]any{}, token).Expect(t, 200, gen.StatusActionSuccessful)
	if active(env.Handler) {
		t.Error("this instance still sees the revoked session")
	}
	eventually(t, time.Second, "the other instance sees the session revoked", func() bool { return !active(other) })
}

func TestSessionsRevoke(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := env.User("ada@example.com", password, "client")
	employee := env.Session(env.User("eve@example.com", password, "employee"), "planoorder", "employee")
	adaSessions := func() map[string]string {
		return map[string]string{"planoorder": env.Session(ada, "planoorder", "client"), "planoauth": env.Session(ada, "planoauth", "client")}
	}

	t.Run("ApplicationToken", func(t *testing.T) {
		s := adaSessions()
		res := env.PostJSON(sessionsRevoke, map[string]any{"user_id": ada}, env.AppTokens["planoorder"]).Expect(t, 200, gen.StatusActionSuccessful)
		if n := revokedCount(t, res); n < 1 {
			t.Errorf("revoked %d", n)
		}
		env.Get(sessionsRead, s["planoorder"]).Expect(t, 401, gen.StatusInvalidToken)
		// Only its own application's: the other application's session lives on.
		env.Get(sessionsRead, s["planoauth"]).Expect(t, 200, gen.StatusActionSuccessful)
	})
	t.Run("OtherApplicationToken", func(t *testing.T) {
		s := adaSessions()
		res := env.PostJSON(sessionsRevoke, map[string]any{"user_id": ada}, env.AppTokens["planox2"]).Expect(t, 200, gen.StatusActionSuccessful)
		if n := revokedCount(t, res); n != 0 {
			t.Errorf("planox2 revoked %d of ada's sessions, which are in other applications", n)
		}
		for _, token := range s {
			env.Get(sessionsRead, token).Expect(t, 200, gen.StatusActionSuccessful)
		}
	})
	t.Run("Employee", func(t *testing.T) {
		s := adaSessions()
		res := env.PostJSON(sessionsRevoke, map[string]any{"user_id": ada}, employee).Expect(t, 200, gen.StatusActionSuccessful)
		if n := revokedCount(t, res); n < 2 {
			t.Errorf("revoked %d, want every one of ada's", n)
		}
		for _, token := range s {
			env.Get(sessionsRead, token).Expect(t, 401, gen.StatusInvalidToken)
		}
		if res.Envelope.Session == nil {
			t.Error("the answer to an employee carries no session")
		}
	})
	t.Run("ErrUnknownUser", func(t *testing.T) {
		res := env.PostJSON(sessionsRevoke, map[string]any{"user_id": 999999}, env.AppTokens["planoorder"]).Expect(t, 400, gen.StatusInvalidParam)
		if got := res.Params(); len(got) != 1 || got[0] != "user_id" {
			t.Errorf("errors %v, want [user_id]", got)
		}
	})
	t.Run("ErrNotAllowed", func(t *testing.T) {
		s := adaSessions()
		callers := map[string]struct {
			token string
			code  int
			want  gen.Status
		}{
			"client":  {env.Session(env.User("bob@example.com", password, "client"), "planoorder", "client"), 403, gen.StatusPermissionDenied},
			"liaison": {env.Session(env.User("lia@example.com", password, "liaison"), "planoorder", "liaison"), 403, gen.StatusPermissionDenied},
			"self":    {s["planoorder"], 403, gen.StatusPermissionDenied},
			"none":    {env.Session(env.User("new@example.com", password), "planoorder", "none"), 401, gen.StatusClientRequired},
		}
		var wg sync.WaitGroup
		n := 0
		for who, c := range callers {
			for range 3 {
				n++
				wg.Add(1)
				go func(addr string) {
					defer wg.Done()
					b, _ := json.Marshal(map[string]any{"user_id": ada})
					req := apitest.Request(http.MethodPost, sessionsRevoke, "application/json", b, c.token)
					req.RemoteAddr = addr
					if res := env.Do(req); res.Code != c.code || res.Status() != c.want {
						t.Errorf("%s: %d %s, want %d %s", who, res.Code, res.Status(), c.code, c.want)
					}
				}(fmt.Sprintf("127.0.0.%d:1234", n))
			}
		}
		wg.Wait()
		for _, token := range s {
			env.Get(sessionsRead, token).Expect(t, 200, gen.StatusActionSuccessful)
		}
	})
}

func TestUsersLookup(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := env.User("ada@example.com", password, "client")
	employee := env.Session(env.User("eve@example.com", password, "employee"), "planoorder", "employee")

	for name, token := range map[string]string{"ApplicationToken": env.AppTokens["planox2"], "Employee": employee} {
		t.Run(name, func(t *testing.T) {
			var user gen.User
			env.PostJSON(usersLookup, map[string]any{"email": "ADA@example.com"}, token).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &user)
			if user.Id != ada || user.Email != "ada@example.com" || user.HasPassword == nil || !*user.HasPassword {
				t.Errorf("user = %+v, want ada", user)
			}
		})
	}
	t.Run("ErrEmailNotFound", func(t *testing.T) {
		env.PostJSON(usersLookup, map[string]any{"email": "nobody@example.com"}, employee).Expect(t, 400, gen.StatusEmailNotFound)
	})
	t.Run("ErrNotAllowed", func(t *testing.T) {
		var wg sync.WaitGroup
		for i, c := range []struct {
			token string
			code  int
			want  gen.Status
		}{
			{env.Session(env.User("bob@example.com", password, "client"), "planoorder", "client"), 403, gen.StatusPermissionDenied},
			{env.Session(env.User("lia@example.com", password, "liaison"), "planoorder", "liaison"), 403, gen.StatusPermissionDenied},
			{env.Session(env.User("new@example.com", password), "planoorder", "none"), 401, gen.StatusClientRequired},
			{"", 400, gen.StatusMissingParam},
		} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, _ := json.Marshal(map[string]any{"email": "ada@example.com"})
				req := apitest.Request(http.MethodPost, usersLookup, "application/json", b, c.token)
				req.RemoteAddr = fmt.Sprintf("127.0.0.%d:1234", i+1)
				res := env.Do(req)
				if res.Code != c.code || res.Status() != c.want {
					t.Errorf("caller %d: %d %s, want %d %s", i, res.Code, res.Status(), c.code, c.want)
				}
				if strings.Contains(string(res.Raw), "ada@example.com") {
					t.Errorf("caller %d learned ada's user: %s", i, res.Raw)
				}
			}()
		}
		wg.Wait()
	})
}

// serveBody serves req on h, which need not be the Env's own handler, and returns the body.
func serveBody(env *apitest.Env, h http.Handler, req *http.Request) string {
	return string(env.DoOn(h, req).Raw)
}
