package impl_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/spec"
)

// caller is one kind of token the common parameters are tried with: its application, and a way
// to get a fresh token (a request may revoke the one it used).
type caller struct {
	name        string
	application string
	token       func() string
	session     bool
}

func callers(env *apitest.Env) []caller {
	fresh := func(email, role string, roles ...string) func() string {
		id := env.User(email, password, roles...)
		return func() string { return env.Session(id, "planoorder", role) }
	}
	return []caller{
		{"application", "planoorder", func() string { return env.AppTokens["planoorder"] }, false},
		{"otherApplication", "planox2", func() string { return env.AppTokens["planox2"] }, false},
		{"client", "planoorder", fresh("client@example.com", "client", "client"), true},
		{"liaison", "planoorder", fresh("liaison@example.com", "liaison", "liaison"), true},
		{"employee", "planoorder", fresh("employee@example.com", "employee", "employee"), true},
		{"none", "planoorder", fresh("none@example.com", "none"), true},
	}
}

var requestAddress atomic.Int32

// commonRequest builds a request to op from the contract's example body (or none), with the
// given parameters added (in the query of an operation without a body, else in its body).
func commonRequest(t *testing.T, op *spec.Operation, token string, add map[string]any) *http.Request {
	t.Helper()
	var req *http.Request
	if op.BodySchema == nil {
		query := url.Values{}
		for _, p := range op.Operation.Parameters {
			if p.Value.Required { // a required query parameter gets its example, or 1
				query.Set(p.Value.Name, fmt.Sprint(cmpOr(p.Value.Example, any(1))))
			}
		}
		for k, v := range add {
			query.Set(k, fmt.Sprint(v))
		}
		path := op.Path
		if len(query) > 0 {
			path += "?" + query.Encode()
		}
		req = apitest.Request(op.Method, path, "", nil, token)
	} else {
		object := map[string]any{}
		content := op.Operation.RequestBody.Value.Content
		if media := content.Get("application/json"); media != nil && media.Example != nil {
			b, _ := json.Marshal(media.Example)
			_ = json.Unmarshal(b, &object)
		}
		if media := content.Get("text/plain"); media != nil {
			decoded, err := base64.StdEncoding.DecodeString(fmt.Sprint(media.Example))
			if err != nil || json.Unmarshal(decoded, &object) != nil {
				t.Fatalf("the example of %s is not base64 of an object", op.ID)
			}
		}
		for k, v := range add {
			object[k] = v
		}
		b, _ := json.Marshal(object)
		if op.Sensitive != nil {
			req = apitest.Request(op.Method, op.Path, "text/plain", []byte(base64.StdEncoding.EncodeToString(b)), token)
		} else {
			req = apitest.Request(op.Method, op.Path, "application/json", b, token)
		}
	}
	n := requestAddress.Add(1)
	req.RemoteAddr = fmt.Sprintf("127.0.%d.%d:1234", n/250, 1+n%250)
	return req
}

// snapshot is what a refused request must leave as it was.
func snapshot(t *testing.T, env *apitest.Env) string {
	t.Helper()
	var s string
	err := env.Pool.QueryRow(context.Background(), `SELECT concat_ws(' ',
		(SELECT count(*) FROM users), (SELECT count(*) FROM clients), (SELECT count(*) FROM liaisons),
		(SELECT count(*) FROM employees), (SELECT count(*) FROM companies),
		(SELECT count(*) FROM sessions WHERE revoked_at IS NULL), (SELECT count(*) FROM sessions WHERE role = 'none'),
		(SELECT count(*) FROM coexistence_events), (SELECT count(*) FROM email_outbox),
		(SELECT max(updated_at) FROM users), (SELECT max(updated_at) FROM clients))`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestApplicationParameter tries `application` on every operation that takes a token, with every
// kind of token: naming another application than the token's is refused (permission-denied)
// before anything is done; naming the token's own is the same as naming none.
func TestApplicationParameter(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	kinds := callers(env)
	other := map[string]string{"planoorder": "planox2", "planox2": "planoorder"}
	for _, op := range env.Spec.Operations() {
		if len(op.Schemes) == 0 {
			continue // public: `application` is the application to sign in to
		}
		t.Run(op.ID, func(t *testing.T) {
			// Every kind of token at once, each three times, from as many addresses.
			var requests []*http.Request
			var names []string
			for _, c := range kinds {
				for range 3 {
					requests = append(requests, commonRequest(t, op, c.token(), map[string]any{"application": other[c.application]}))
					names = append(names, c.name)
				}
			}
			before := snapshot(t, env)
			var wg sync.WaitGroup
			for i, req := range requests {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if res := env.Do(req); res.Code != http.StatusForbidden || res.Status() != gen.StatusPermissionDenied {
						t.Errorf("%s naming another application: %d %s, want 403 permission-denied", names[i], res.Code, res.Status())
					}
				}()
			}
			wg.Wait()
			if after := snapshot(t, env); after != before {
				t.Errorf("naming another application changed the data: %s -> %s", before, after)
			}
			for _, c := range kinds {
				without := env.Do(commonRequest(t, op, c.token(), nil))
				own := env.Do(commonRequest(t, op, c.token(), map[string]any{"application": c.application}))
				if (without.Status() == gen.StatusPermissionDenied) != (own.Status() == gen.StatusPermissionDenied) ||
					(without.Code == http.StatusUnauthorized) != (own.Code == http.StatusUnauthorized) {
					t.Errorf("%s: naming its own application answers %d %s, naming none %d %s",
						c.name, own.Code, own.Status(), without.Code, without.Status())
				}
			}
		})
	}
}

// TestSessionViewParameters: every operation that takes a session token renders the caller's
// session, which every answer to one carries, with the session_view and application_view asked.
func TestSessionViewParameters(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	kinds := callers(env)
	for _, op := range env.Spec.Operations() {
		if !op.Accepts(spec.SchemeSession) {
			continue
		}
		t.Run(op.ID, func(t *testing.T) {
			for _, c := range kinds {
				if !c.session {
					continue
				}
				full := env.Do(commonRequest(t, op, c.token(), map[string]any{"session_view": "full", "application_view": "full"}))
				s := full.Envelope.Session
				if s == nil {
					t.Errorf("%s: %d %s carries no session", c.name, full.Code, full.Status())
					continue
				}
				if s.LastUsedAt == nil || s.Application == nil || s.Application.Roles == nil || s.Application.SessionPolicy == nil {
					t.Errorf("%s: the caller's session is not in the full views: %+v", c.name, s)
				}
				minimal := env.Do(commonRequest(t, op, c.token(), map[string]any{"session_view": "minimal"}))
				if s := minimal.Envelope.Session; s == nil || s.Role != nil || s.Application != nil {
					t.Errorf("%s: the caller's session is not minimal: %+v", c.name, s)
				}
			}
		})
	}
}

// TestCommonParametersRefuseBadValues: a value outside a common parameter's enum answers
// invalid-param naming it, on every operation that has the parameter, before anything is done.
func TestCommonParametersRefuseBadValues(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	employee := callers(env)[4]
	for _, op := range env.Spec.Operations() {
		t.Run(op.ID, func(t *testing.T) {
			for _, name := range []string{"application", "view", "session_view", "application_view"} {
				if !hasParam(op, name) {
					continue
				}
				token := ""
				if len(op.Schemes) > 0 {
					token = employee.token()
					if !op.Accepts(spec.SchemeSession) {
						token = env.AppTokens["planoorder"]
					}
				}
				req := commonRequest(t, op, token, map[string]any{name: "planoz"})
				before := snapshot(t, env)
				res := env.Do(req)
				if res.Code != 400 || res.Status() != gen.StatusInvalidParam || len(res.Params()) != 1 || res.Params()[0] != name {
					t.Errorf("%s=planoz: %d %s %v, want 400 invalid-param on %s", name, res.Code, res.Status(), res.Params(), name)
				}
				if after := snapshot(t, env); after != before {
					t.Errorf("%s=planoz changed the data", name)
				}
			}
		})
	}
}

// hasParam reports whether op has a parameter by that name: in its query when it takes no body,
// else in its body.
func hasParam(op *spec.Operation, name string) bool {
	if op.BodySchema == nil {
		return op.HasQueryParam(name)
	}
	if op.BodyParams != nil {
		return op.BodyParams[name]
	}
	_, ok := op.BodySchema.Properties[name]
	return ok
}

func cmpOr(v, otherwise any) any {
	if v == nil {
		return otherwise
	}
	return v
}

// TestViewParameter: `view` renders the objects of `data`: the session of the session routes
// (session_view winning when both are given), the clients of the routes that answer clients.
func TestViewParameter(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	f := newCompanyFixture(t, env)

	t.Run("Sessions", func(t *testing.T) {
		var s gen.Session
		env.Get(sessionsRead+"?view=minimal", f.ada).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
		if s.Role != nil || s.Application != nil {
			t.Errorf("view=minimal: %+v", s)
		}
		env.Get(sessionsRead+"?view=minimal&session_view=full", f.ada).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
		if s.LastUsedAt == nil {
			t.Errorf("session_view=full beside view=minimal: %+v, want full", s)
		}
		var list gen.SessionList
		env.Get(sessionsIndex+"?view=minimal", f.ada).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &list)
		if len(list.Results) == 0 || list.Results[0].Role != nil {
			t.Errorf("sessions/index view=minimal: %+v", list.Results)
		}
	})
	// contract_type_view shows the company fields and no email.
	contractView := func(t *testing.T, where string, c gen.ClientProfile) {
		t.Helper()
		if c.Email != nil || c.Enterprise == nil {
			t.Errorf("%s: client %+v is not in contract_type_view", where, c)
		}
	}
	t.Run("ScopesLiaisonRegister", func(t *testing.T) {
		var grants gen.LiaisonGrants
		env.Get("/api/v1/scopes/liaison_register?view=contract_type_view", f.owner).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &grants)
		if len(grants.Clients) != 1 {
			t.Fatalf("clients %+v", grants.Clients)
		}
		contractView(t, "scopes/liaison_register", grants.Clients[0])
	})
	t.Run("Companies", func(t *testing.T) {
		var m gen.CompanyMembers
		env.Get(fmt.Sprintf("%s?company_id=%d&view=contract_type_view", companiesMembers, f.company), f.employee).
			Expect(t, 200, gen.StatusActionSuccessful).Data(t, &m)
		contractView(t, "companies/members", m.Members[0].Client)
		env.PostJSON(companiesApproveMember, map[string]any{"company_id": f.company, "client_id": f.adaC, "view": "contract_type_view"}, f.employee).
			Expect(t, 200, gen.StatusActionSuccessful).Data(t, &m)
		for _, member := range m.Members {
			contractView(t, "companies/approve_member", member.Client)
		}
	})
	t.Run("LiaisonsRegister", func(t *testing.T) {
		var l gen.LiaisonInvitation
		env.PostSensitive("/api/v1/liaisons/register", map[string]any{"liaison": map[string]any{"email": "lia@example.com"},
			"client_ids": []int64{f.bobC}, "view": "contract_type_view", "application": "planoorder"}, f.employee).
			Expect(t, 200, gen.StatusActionSuccessful).Data(t, &l)
		if len(l.Clients) != 1 {
			t.Fatalf("clients %+v", l.Clients)
		}
		contractView(t, "liaisons/register", l.Clients[0])
	})
	t.Run("ClientsCreate", func(t *testing.T) {
		var c gen.ClientProfile
		env.PostSensitive("/api/v1/clients/create", map[string]any{"client": map[string]any{"email": "grace@example.com"},
			"view": "contract_type_view", "application": "planoorder"}, env.AppTokens["planoorder"]).
			Expect(t, 200, gen.StatusActionSuccessful).Data(t, &c)
		contractView(t, "clients/create", c)
	})
}

// TestTokenParameter: on every operation that takes a token, the token is accepted as the
// Authorization header, the token query parameter, and (where there is a body) the token body
// parameter, alike; without any, the answer is missing-param on token.
func TestTokenParameter(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	employee := callers(env)[4]
	for _, op := range env.Spec.Operations() {
		if len(op.Schemes) == 0 {
			continue
		}
		t.Run(op.ID, func(t *testing.T) {
			token := env.AppTokens["planoorder"]
			if op.Accepts(spec.SchemeSession) {
				token = employee.token()
			}
			header := env.Do(commonRequest(t, op, token, nil))
			ways := map[string]*http.Request{"none": commonRequest(t, op, "", nil)}
			query := commonRequest(t, op, "", nil)
			q := query.URL.Query()
			q.Set("token", token)
			query.URL.RawQuery = q.Encode()
			ways["query"] = query
			if op.BodySchema != nil {
				ways["body"] = commonRequest(t, op, "", map[string]any{"token": token})
			}
			for way, req := range ways {
				res := env.Do(req)
				if way == "none" {
					if res.Code != 400 || res.Status() != gen.StatusMissingParam || len(res.Params()) != 1 || res.Params()[0] != "token" {
						t.Errorf("no token: %d %s %v, want missing-param on token", res.Code, res.Status(), res.Params())
					}
					continue
				}
				if res.Code == 401 || res.Status() == gen.StatusMissingParam || (res.Code == 403) != (header.Code == 403) {
					t.Errorf("token in the %s: %d %s; in the header: %d %s", way, res.Code, res.Status(), header.Code, header.Status())
				}
			}
		})
	}
}
