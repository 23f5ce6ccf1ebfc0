package server_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/impl"
)

func TestMain(m *testing.M) { os.Exit(apitest.Main(m)) }

const (
	sessionsCreate   = "/api/v1/sessions/create"
	clientsRegister  = "/api/v1/clients/register"
	coexistenceTouch = "/api/v1/coexistence/touch"
	coexistenceIndex = "/api/v1/coexistence/index"
)

func TestRouteNonExistent(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	t.Run("UnknownPath", func(t *testing.T) {
		env.Get("/api/v1/sessions/nope", "").Expect(t, 500, gen.StatusRouteNonExistent)
	})
	t.Run("WrongMethod", func(t *testing.T) {
		env.Get(sessionsCreate, "").Expect(t, 500, gen.StatusRouteNonExistent)
	})
}

func TestInvalidContentType(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	t.Run("JSONToSensitiveRoute", func(t *testing.T) {
		body := []byte(`{"email":"a@example.com","password":"x","application":"planoorder"}`)
		res := env.Do(apitest.Request(http.MethodPost, sessionsCreate, "application/json", body, ""))
		res.Expect(t, 400, gen.StatusInvalidContentType)
	})
	t.Run("TextToJSONRoute", func(t *testing.T) {
		res := env.Do(apitest.Request(http.MethodPost, coexistenceTouch, "text/plain", []byte(`{"domain":"users"}`), ""))
		res.Expect(t, 400, gen.StatusInvalidContentType)
	})
}

func TestInvalidEncodedParams(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	for name, body := range map[string]string{
		"NotBase64":        "this is {not} base64!",
		"Base64OfText":     "aGVsbG8gd29ybGQ=", // "hello world"
		"Base64OfArray":    "WzEsMiwzXQ==",     // [1,2,3]
		"Base64OfTwoJSONs": "e30ge30=",         // "{} {}"
	} {
		t.Run(name, func(t *testing.T) {
			res := env.Do(apitest.Request(http.MethodPost, sessionsCreate, "text/plain", []byte(body), ""))
			res.Expect(t, 400, gen.StatusInvalidEncodedParams)
		})
	}
	t.Run("MalformedJSON", func(t *testing.T) {
		res := env.Do(apitest.Request(http.MethodPost, coexistenceTouch, "application/json", []byte(`{"domain":`), ""))
		res.Expect(t, 400, gen.StatusInvalidEncodedParams)
	})
}

func TestNoParamsDecoded(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	t.Run("EmptyObject", func(t *testing.T) {
		env.PostSensitive(sessionsCreate, map[string]any{}, "").Expect(t, 400, gen.StatusNoParamsDecoded)
	})
	t.Run("EmptyBody", func(t *testing.T) {
		res := env.Do(apitest.Request(http.MethodPost, clientsRegister, "", nil, ""))
		res.Expect(t, 400, gen.StatusNoParamsDecoded)
	})
}

func TestMissingParam(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	t.Run("TopLevel", func(t *testing.T) {
		res := env.PostSensitive(sessionsCreate, map[string]any{"email": "ada@example.com", "application": "planoorder"}, "")
		res.Expect(t, 400, gen.StatusMissingParam)
		if got, want := res.Params(), []string{"password"}; !slices.Equal(got, want) {
			t.Errorf("errors = %v, want %v", got, want)
		}
	})
	t.Run("Nested", func(t *testing.T) {
		res := env.PostSensitive(clientsRegister, map[string]any{
			"application": "planoorder", "client": map[string]any{"password": "correct horse battery"},
		}, "")
		res.Expect(t, 400, gen.StatusMissingParam)
		if got, want := res.Params(), []string{"client.email"}; !slices.Equal(got, want) {
			t.Errorf("errors = %v, want %v", got, want)
		}
	})
	t.Run("JSONBody", func(t *testing.T) {
		res := env.PostJSON(coexistenceTouch, map[string]any{"domain": "users", "operation": "update"}, "")
		res.Expect(t, 400, gen.StatusMissingParam)
		if got, want := res.Params(), []string{"id"}; !slices.Equal(got, want) {
			t.Errorf("errors = %v, want %v", got, want)
		}
	})
}

func TestInvalidParam(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	tests := []struct {
		name   string
		do     func() *apitest.Response
		status gen.Status
		params []string
	}{
		{"UnknownApplication", func() *apitest.Response {
			return env.PostSensitive(sessionsCreate, map[string]any{"email": "a@example.com", "password": "x", "application": "nope"}, "")
		}, gen.StatusInvalidParam, []string{"application"}},
		{"UnknownView", func() *apitest.Response {
			return env.PostSensitive(sessionsCreate, map[string]any{"email": "a@example.com", "password": "x", "application": "planoorder", "session_view": "everything"}, "")
		}, gen.StatusInvalidParam, []string{"session_view"}},
		{"WrongType", func() *apitest.Response {
			return env.PostSensitive(clientsRegister, map[string]any{"application": "planoorder", "client": map[string]any{"email": "a@example.com", "password": "correct horse", "company_id": "seven"}}, "")
		}, gen.StatusInvalidParam, []string{"client.company_id"}},
		{"UnknownParam", func() *apitest.Response {
			return env.PostSensitive(sessionsCreate, map[string]any{"email": "a@example.com", "password": "x", "application": "planoorder", "admin": true}, "")
		}, gen.StatusInvalidParam, []string{"admin"}},
		{"TooLong", func() *apitest.Response {
			return env.PostSensitive(sessionsCreate, map[string]any{"email": "a@example.com", "password": strings.Repeat("x", 257), "application": "planoorder"}, "")
		}, gen.StatusInvalidParam, []string{"password"}},
		{"QueryOutOfRange", func() *apitest.Response {
			return env.Get(coexistenceIndex+"?limit=501", "")
		}, gen.StatusInvalidParam, []string{"limit"}},
		{"QueryNotANumber", func() *apitest.Response {
			return env.Get(coexistenceIndex+"?after=yesterday", "")
		}, gen.StatusInvalidParam, []string{"after"}},
		{"SchemaNamesItsSlug", func() *apitest.Response {
			return env.PostJSON(coexistenceTouch, map[string]any{"domain": "planets", "operation": "update", "id": 1}, "")
		}, gen.StatusDomainInvalid, []string{"domain"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.do().Expect(t, 400, tt.status)
			if got := res.Params(); !slices.Equal(got, tt.params) {
				t.Errorf("errors = %v, want %v", got, tt.params)
			}
		})
	}
}

func TestRequestTooLarge(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	body := bytes.Repeat([]byte("A"), 65<<10)
	res := env.Do(apitest.Request(http.MethodPost, sessionsCreate, "text/plain", body, ""))
	res.Expect(t, 413, gen.StatusRequestTooLarge)
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("RouteNotFound", func(t *testing.T) {
		t.Parallel()
		env := apitest.New(t)
		// An invalid limit shows how far a request gets: an undeployed route answers before
		// its parameters are read, a deployed one gets as far as validating them.
		setRoute(t, env, "/api/v1/coexistence/index", false)
		env.Get(coexistenceIndex+"?limit=0", "").Expect(t, 503, gen.StatusRouteNotFound)
		setRoute(t, env, "coexistenceIndex", true)
		env.Get(coexistenceIndex+"?limit=0", "").Expect(t, 400, gen.StatusInvalidParam)
	})
	t.Run("ServiceNotFound", func(t *testing.T) {
		t.Parallel()
		env := apitest.New(t)
		if _, err := env.Q.SetServiceDeployed(ctx, db.SetServiceDeployedParams{Name: "coexistence", Deployed: false}); err != nil {
			t.Fatal(err)
		}
		refresh(t, env)
		env.Get(coexistenceIndex, "").Expect(t, 503, gen.StatusServiceNotFound)
		env.PostJSON(coexistenceTouch, map[string]any{"domain": "users", "operation": "update", "id": 1}, "").
			Expect(t, 503, gen.StatusServiceNotFound)
	})
	t.Run("IdentifyRequestError", func(t *testing.T) {
		t.Parallel()
		env := apitest.New(t, apitest.WithoutRegistry())
		env.Get(coexistenceIndex, "").Expect(t, 500, gen.StatusIdentifyRequestError)
	})
}

func setRoute(t *testing.T, env *apitest.Env, route string, deployed bool) {
	t.Helper()
	n, err := env.Q.SetRouteDeployed(context.Background(), db.SetRouteDeployedParams{Route: route, Deployed: deployed})
	if err != nil || n != 1 {
		t.Fatalf("set route %s deployed=%t: %d rows, %v", route, deployed, n, err)
	}
	refresh(t, env)
}

func refresh(t *testing.T, env *apitest.Env) {
	t.Helper()
	if err := env.Registry.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// crashing panics in sessions/create, as a bug in a handler would.
type crashing struct{ *impl.Server }

func (crashing) SessionsCreate(context.Context, gen.SessionsCreateRequestObject) (gen.SessionsCreateResponseObject, error) {
	panic("handler bug")
}

func TestApplicationCrash(t *testing.T) {
	t.Parallel()
	var logs apitest.LogBuffer
	env := apitest.New(t,
		apitest.WithHandlers(func(s *impl.Server) gen.StrictServerInterface { return crashing{s} }),
		apitest.WithLog(&logs))
	const password = "a-secret-that-must-never-be-logged"
	res := env.PostSensitive(sessionsCreate, map[string]any{"email": "ada@example.com", "password": password, "application": "planoorder"}, "")
	res.Expect(t, 500, gen.StatusApplicationCrash)
	if res.Envelope.RequestID == "" || res.Envelope.RequestID != res.Header.Get("X-Request-Id") {
		t.Errorf("request_id %q, header %q: want the same non-empty id", res.Envelope.RequestID, res.Header.Get("X-Request-Id"))
	}
	log := logs.String()
	if !strings.Contains(log, "handler bug") || !strings.Contains(log, res.Envelope.RequestID) {
		t.Errorf("the panic is not logged with its request id:\n%s", log)
	}
	encoded := string(apitest.Sensitive(t, map[string]any{"password": password}))
	if strings.Contains(log, password) || strings.Contains(log, encoded[:20]) {
		t.Errorf("the log contains the sensitive body:\n%s", log)
	}
}

func TestServiceEndpoints(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	if rec := httptestDo(env, "/favicon.ico"); rec.Code != http.StatusNoContent {
		t.Errorf("GET /favicon.ico = %d, want 204 (the docs page asks for it)", rec.Code)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.yaml", "/openapi.json", "/docs"} {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			rec := httptestDo(env, path)
			if rec.Code != http.StatusOK {
				t.Fatalf("GET %s = %d, want 200", path, rec.Code)
			}
		})
	}
}

// A sensitive value must not reach the log by any path: rejected by validation (whose errors
// quote values), refused by a handler, or accepted.
func TestSensitiveParamsNeverLogged(t *testing.T) {
	t.Parallel()
	var logs apitest.LogBuffer
	env := apitest.New(t, apitest.WithLog(&logs))
	env.User("ada@example.com", "correct horse battery staple", "client")
	secret := "Sesame-" + strings.Repeat("s", 260) // too long: invalid-param
	env.PostSensitive(sessionsCreate, map[string]any{"email": "ada@example.com", "password": secret, "application": "planoorder"}, "").
		Expect(t, 400, gen.StatusInvalidParam)
	env.PostSensitive(sessionsCreate, map[string]any{"email": "ada@example.com", "password": "Sesame-short", "application": "planoorder", "extra": 1}, "").
		Expect(t, 400, gen.StatusInvalidParam)
	env.PostSensitive(sessionsCreate, map[string]any{"email": "ada@example.com", "password": "Sesame-wrong", "application": "planoorder"}, "").
		Expect(t, 400, gen.StatusInvalidPassword)
	env.PostSensitive(sessionsCreate, map[string]any{"email": "ada@example.com", "password": "correct horse battery staple", "application": "planoorder"}, "").
		Expect(t, 200, gen.StatusActionSuccessful)
	for _, leaked := range []string{"Sesame", "correct horse"} {
		if strings.Contains(logs.String(), leaked) {
			t.Errorf("the log contains %q:\n%s", leaked, logs.String())
		}
	}
	if !strings.Contains(logs.String(), `"operation":"sessionsCreate"`) {
		t.Errorf("the requests were not logged at all:\n%s", logs.String())
	}
}

// crashingRead panics in sessions/read, after the caller's session token was authenticated.
type crashingRead struct{ *impl.Server }

func (crashingRead) SessionsRead(context.Context, gen.SessionsReadRequestObject) (gen.SessionsReadResponseObject, error) {
	panic("handler bug")
}

// TestCrashAnswerToASessionToken (review7): the application-crash answer written by the recover
// middleware (outside the authenticator) repeats the caller's session, as the contract says
// every answer to a session token does (before the request state, it had none); it must be the
// caller's own session, never another's.
func TestCrashAnswerToASessionToken(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithHandlers(func(s *impl.Server) gen.StrictServerInterface { return crashingRead{s} }))
	env.User("ada@example.com", "correct horse battery staple", "client")
	token := env.Login("ada@example.com", "correct horse battery staple", "planoorder")
	res := env.Get("/api/v1/sessions/read", token).Expect(t, 500, gen.StatusApplicationCrash)
	if res.Envelope.Session == nil {
		t.Fatal("the crash answer to a session token has no session")
	}
	other := env.Login("ada@example.com", "correct horse battery staple", "planoorder")
	again := env.Get("/api/v1/sessions/read", other).Expect(t, 500, gen.StatusApplicationCrash)
	a, b := again.Envelope.Session, res.Envelope.Session
	if a == nil || a.Id == b.Id {
		t.Errorf("the second caller's crash answer shows session %+v, want its own", a)
	}
}
