package impl_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/audit"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/requestid"
)

const auditIndex = "/api/v1/audit/index"

// readTrail reads a page of audit/index with token, which must be allowed to.
func readTrail(t *testing.T, env *apitest.Env, token, query string) gen.AuditTrail {
	t.Helper()
	var trail gen.AuditTrail
	env.Get(auditIndex+query, token).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &trail)
	return trail
}

// wholeTrail is every event, oldest first, read straight from the database.
func wholeTrail(t *testing.T, env *apitest.Env) []gen.AuditEvent {
	t.Helper()
	var start int64
	trail, err := audit.Read(context.Background(), env.Q, audit.Filter{Limit: 10_000}, &start, nil)
	if err != nil {
		t.Fatal(err)
	}
	return trail.Results
}

// ofRequest keeps the events recorded by the request whose answer res is.
func ofRequest(events []gen.AuditEvent, res *apitest.Response) []gen.AuditEvent {
	id := res.Header.Get(requestid.Header)
	var out []gen.AuditEvent
	for _, e := range events {
		if e.RequestId == id {
			out = append(out, e)
		}
	}
	return out
}

func kindsOf(events []gen.AuditEvent) []gen.AuditKind {
	out := make([]gen.AuditKind, 0, len(events))
	for _, e := range events {
		out = append(out, e.Kind)
	}
	return out
}

// from sends a sensitive body from a client address of its own.
func from(env *apitest.Env, address, path string, params map[string]any, token string) *apitest.Response {
	env.T.Helper()
	req := apitest.Request(http.MethodPost, path, "text/plain", apitest.Sensitive(env.T, params), token)
	req.RemoteAddr = address + ":1234"
	return env.Do(req)
}

// same compares two values as JSON, pointers by what they point at.
func same(a, b any) bool { return jsonOf(a) == jsonOf(b) }

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func slug(a gen.ApplicationSlug) *gen.ApplicationSlug { return &a }

func id(v int64) *int64 { return &v }

// TestAuditIndexWhoReadsWhat is the attack test of the trail's visibility: an application's
// token reads its own application's events and no other's, even with others written at the same
// time from other addresses; an employee reads every event; a client's or liaison's session, a
// limited session, a stranger and a forged token read nothing.
func TestAuditIndexWhoReadsWhat(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("employee@example.com", password, "employee")
	env.User("client@example.com", password, "client")
	env.User("liaison@example.com", password, "liaison")
	env.User("nobody@example.com", password)
	employee := env.Login("employee@example.com", password, "planoauth")
	client := env.Login("client@example.com", password, "planoorder")
	liaison := env.Login("liaison@example.com", password, "planox2")
	limited := login(env, map[string]any{"email": "nobody@example.com", "password": password, "application": "planoorder"}).
		Expect(t, 401, gen.StatusClientRequired).Envelope.Session.Token

	// Events of both applications, from several addresses, while both applications read.
	var wg sync.WaitGroup
	var mu sync.Mutex
	read := map[gen.ApplicationSlug][]gen.AuditEvent{}
	for i := range 8 {
		wg.Go(func() {
			app := []string{"planoorder", "planox2"}[i%2]
			from(env, fmt.Sprintf("127.0.0.%d", 10+i), sessionsCreate,
				map[string]any{"email": fmt.Sprintf("stranger%d@example.com", i), "password": "guess", "application": app}, "")
		})
		wg.Go(func() {
			app := gen.ApplicationSlug([]string{"planoorder", "planox2"}[i%2])
			req := apitest.Request(http.MethodGet, auditIndex+"?limit=500", "", nil, env.AppTokens[string(app)])
			req.RemoteAddr = fmt.Sprintf("127.0.0.%d:1234", 30+i)
			res := env.Do(req)
			var trail gen.AuditTrail
			if res.Code == 200 {
				res.Data(t, &trail)
			}
			mu.Lock()
			read[app] = append(read[app], trail.Results...)
			mu.Unlock()
		})
	}
	wg.Wait()
	for app, events := range read {
		for _, e := range events {
			if e.Application == nil || *e.Application != app {
				t.Errorf("%s's token read event %d of %v", app, e.Id, e.Application)
			}
		}
	}

	t.Run("ApplicationReadsItsOwn", func(t *testing.T) {
		for _, app := range []gen.ApplicationSlug{gen.Planoorder, gen.Planox2, gen.Planoauth} {
			trail := readTrail(t, env, env.AppTokens[string(app)], "?limit=500")
			want := 0
			for _, e := range wholeTrail(t, env) {
				if e.Application != nil && *e.Application == app {
					want++
				}
			}
			if len(trail.Results) != want || want == 0 {
				t.Errorf("%s read %d events, want its %d", app, len(trail.Results), want)
			}
			for _, e := range trail.Results {
				if e.Application == nil || *e.Application != app {
					t.Errorf("%s read event %d of %v", app, e.Id, e.Application)
				}
			}
		}
	})
	t.Run("EmployeeReadsEverything", func(t *testing.T) {
		trail := readTrail(t, env, employee, "?limit=500")
		if got, want := len(trail.Results), len(wholeTrail(t, env)); got != want {
			t.Errorf("the employee read %d events, want all %d", got, want)
		}
	})
	t.Run("ErrPermissionDenied", func(t *testing.T) {
		for name, token := range map[string]string{"client": client, "liaison": liaison} {
			env.Get(auditIndex, token).Expect(t, 403, gen.StatusPermissionDenied)
			env.Get(auditIndex+"?user_id=1", token).Expect(t, 403, gen.StatusPermissionDenied)
			_ = name
		}
	})
	t.Run("ErrUnverifiedEmployee", func(t *testing.T) {
		env.UnverifiedUser("newstaff@example.com", password, "employee")
		staff := env.Login("newstaff@example.com", password, "planoauth")
		env.Get(auditIndex, staff).Expect(t, 403, gen.StatusPermissionDenied)
	})
	t.Run("ErrClientRequired", func(t *testing.T) {
		env.Get(auditIndex, *limited).Expect(t, 401, gen.StatusClientRequired)
	})
	t.Run("ErrMissingToken", func(t *testing.T) {
		res := env.Get(auditIndex, "").Expect(t, 400, gen.StatusMissingParam)
		if !slices.Equal(res.Params(), []string{"token"}) {
			t.Errorf("errors = %v, want token", res.Params())
		}
	})
	t.Run("ErrInvalidToken", func(t *testing.T) {
		forged, _ := auth.NewToken(auth.ApplicationPrefix)
		env.Get(auditIndex, forged).Expect(t, 401, gen.StatusInvalidToken)
		env.Get(auditIndex, "paa_short").Expect(t, 401, gen.StatusInvalidToken)
	})
	t.Run("ErrSessionExpired", func(t *testing.T) {
		other := apitest.New(t)
		other.User("employee@example.com", password, "employee")
		token := other.Login("employee@example.com", password, "planoauth")
		other.Clock.Advance(defaultIdleTimeout)
		other.Get(auditIndex, token).Expect(t, 401, gen.StatusSessionExpired)
	})
}

// TestAuditIndexPages follows the trail forward with after, pages back with before, filters by
// user and kind, and refuses what the contract refuses.
func TestAuditIndexPages(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := env.User("ada@example.com", password, "client")
	env.User("grace@example.com", password, "client")
	for range 3 {
		env.Login("ada@example.com", password, "planoorder")
		env.Login("grace@example.com", password, "planoorder")
		login(env, map[string]any{"email": "ada@example.com", "password": "wrong", "application": "planoorder"}).
			Expect(t, 400, gen.StatusInvalidPassword)
	}
	token := env.AppTokens["planoorder"]
	var all []int64
	for _, e := range wholeTrail(t, env) {
		all = append(all, e.Id)
	}
	if len(all) != 9 {
		t.Fatalf("the trail has %d events, want 9 (3 times two log-ins and a failure)", len(all))
	}

	t.Run("NewestFirst", func(t *testing.T) {
		trail := readTrail(t, env, token, "?limit=4")
		if got, want := ids(trail), reversed(all)[:4]; !slices.Equal(got, want) {
			t.Errorf("first page = %v, want %v", got, want)
		}
		var back []int64
		for cursor, page := trail.NextCursor, 0; ; page++ {
			if page > len(all) {
				t.Fatal("still paging back")
			}
			next := readTrail(t, env, token, fmt.Sprintf("?limit=4&before=%d", *cursor))
			if len(next.Results) == 0 {
				if next.NextCursor == nil || *next.NextCursor != *cursor {
					t.Errorf("an empty page's next_cursor = %v, want the cursor given (%d)", next.NextCursor, *cursor)
				}
				break
			}
			back = append(back, ids(next)...)
			cursor = next.NextCursor
		}
		if want := reversed(all)[4:]; !slices.Equal(back, want) {
			t.Errorf("paging back read %v, want %v", back, want)
		}
	})
	t.Run("FollowAfter", func(t *testing.T) {
		var followed []int64
		cursor := int64(0)
		for page := 0; page <= len(all); page++ {
			trail := readTrail(t, env, token, fmt.Sprintf("?limit=2&after=%d", cursor))
			if trail.NextCursor == nil {
				t.Fatal("a page after a cursor has no next_cursor")
			}
			if len(trail.Results) == 0 {
				if *trail.NextCursor != cursor {
					t.Errorf("an empty page's next_cursor = %d, want %d", *trail.NextCursor, cursor)
				}
				break
			}
			followed = append(followed, ids(trail)...)
			cursor = *trail.NextCursor
		}
		if !slices.Equal(followed, all) {
			t.Errorf("followed %v, want %v", followed, all)
		}
	})
	t.Run("Filters", func(t *testing.T) {
		trail := readTrail(t, env, token, fmt.Sprintf("?user_id=%d", ada))
		if len(trail.Results) != 6 {
			t.Errorf("ada has %d events, want 6", len(trail.Results))
		}
		for _, e := range trail.Results {
			if e.UserId == nil || *e.UserId != ada {
				t.Errorf("event %d is about %v, not ada", e.Id, e.UserId)
			}
		}
		failed := readTrail(t, env, token, fmt.Sprintf("?kind=login.failed&user_id=%d&after=0", ada))
		if got := kindsOf(failed.Results); len(got) != 3 || slices.ContainsFunc(got, func(k gen.AuditKind) bool { return k != gen.AuditLoginFailed }) {
			t.Errorf("ada's failures = %v, want 3 login.failed", got)
		}
		if empty := readTrail(t, env, token, "?kind=webhook.deleted"); len(empty.Results) != 0 || empty.NextCursor != nil {
			t.Errorf("no such events: %+v, want no results and no cursor", empty)
		}
	})
	t.Run("ErrInvalidParam", func(t *testing.T) {
		for query, param := range map[string]string{
			"?after=1&before=5": "before", "?limit=0": "limit", "?limit=501": "limit", "?kind=login.maybe": "kind",
			"?user_id=0": "user_id", "?after=-1": "after", "?before=0": "before",
		} {
			res := env.Get(auditIndex+query, token).Expect(t, 400, gen.StatusInvalidParam)
			if !slices.Equal(res.Params(), []string{param}) {
				t.Errorf("%s: errors = %v, want %s", query, res.Params(), param)
			}
		}
	})
}

func ids(trail gen.AuditTrail) []int64 {
	out := make([]int64, 0, len(trail.Results))
	for _, e := range trail.Results {
		out = append(out, e.Id)
	}
	return out
}

func reversed(s []int64) []int64 {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// TestAuditLogIns checks the events of password log-ins: who, whom, where, the request id, the
// reason of each refusal, and nothing for what the limits refuse.
func TestAuditLogIns(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Limits.SignIn = limits.Throttle{PerAccount: 4, PerKnown: 4, PerAddress: 100, Window: 15 * time.Minute}
	}))
	ada := env.User("ada@example.com", password, "client")
	env.User("bob@example.com", password, "client")
	env.User("google@example.com", "", "client")

	t.Run("Succeeded", func(t *testing.T) {
		res := from(env, "127.0.0.5", sessionsCreate, map[string]any{"email": "ada@example.com", "password": password, "application": "planoorder"}, "").
			Expect(t, 200, gen.StatusActionSuccessful)
		var session gen.Session
		res.Data(t, &session)
		events := ofRequest(wholeTrail(t, env), res)
		if len(events) != 1 {
			t.Fatalf("a log-in recorded %v, want one login.succeeded", kindsOf(events))
		}
		e := events[0]
		method, role := gen.LoginPassword, gen.RoleClient
		want := gen.AuditEvent{Id: e.Id, Kind: gen.AuditLoginSucceeded, OccurredAt: env.Clock.Now(),
			Actor: gen.AuditActor{Type: gen.ActorUser, UserId: id(ada)}, UserId: id(ada), Application: slug(gen.Planoorder),
			ClientAddress: "127.0.0.5", RequestId: res.Header.Get(requestid.Header),
			Details: gen.AuditDetails{Method: &method, Role: &role, SessionId: &session.Id}}
		if !same(e, want) {
			t.Errorf("event = %s\nwant    %s", jsonOf(e), jsonOf(want))
		}
	})
	for name, tc := range map[string]struct {
		email, password, application string
		status                       gen.Status
		user                         *int64
		address                      string
	}{
		"InvalidPassword":  {"ada@example.com", "wrong", "planoorder", gen.StatusInvalidPassword, id(ada), "127.0.0.6"},
		"EmailNotFound":    {"nobody@example.com", password, "planoorder", gen.StatusEmailNotFound, nil, "127.0.0.7"},
		"UserRequiresRole": {"ada@example.com", password, "planox2", gen.StatusUserRequiresRole, id(ada), "127.0.0.9"},
	} {
		t.Run("Failed"+name, func(t *testing.T) {
			res := from(env, tc.address, sessionsCreate, map[string]any{"email": tc.email, "password": tc.password, "application": tc.application}, "")
			res.Expect(t, 400, tc.status)
			events := ofRequest(wholeTrail(t, env), res)
			if len(events) != 1 {
				t.Fatalf("a refused log-in recorded %v, want one login.failed", kindsOf(events))
			}
			e := events[0]
			if e.Kind != gen.AuditLoginFailed || e.Actor.Type != gen.ActorAnonymous || e.Actor.UserId != nil ||
				!same(e.UserId, tc.user) || e.Details.Reason == nil || string(*e.Details.Reason) != string(tc.status) ||
				*e.Details.Method != gen.LoginPassword || e.ClientAddress != tc.address || string(*e.Application) != tc.application {
				t.Errorf("event = %s, want login.failed with reason %s about %s from %s", jsonOf(e), tc.status, jsonOf(tc.user), tc.address)
			}
		})
	}
	t.Run("WhatTheLimitsDoNotCountIsNotRecorded", func(t *testing.T) {
		before := len(wholeTrail(t, env))
		answers := map[gen.Status]int{}
		for range 6 {
			res := from(env, "127.0.0.20", sessionsCreate, map[string]any{"email": "bob@example.com", "password": "guess", "application": "planoorder"}, "")
			answers[res.Status()]++
		}
		if answers[gen.StatusInvalidPassword] != 4 || answers[gen.StatusRateLimited] != 2 {
			t.Fatalf("answers = %v, want 4 invalid-password, then 2 rate-limited", answers)
		}
		if after := len(wholeTrail(t, env)); after != before+4 {
			t.Errorf("the trail grew by %d, want 4 (the failures, not the rate-limited refusals)", after-before)
		}
		// A user without a password costs no hash and is not counted: nor is it recorded.
		login(env, map[string]any{"email": "google@example.com", "password": password, "application": "planoorder"}).
			Expect(t, 400, gen.StatusUserHasNoPassword)
		if after := len(wholeTrail(t, env)); after != before+4 {
			t.Errorf("user-has-no-password grew the trail")
		}
	})
	t.Run("NeverASecret", func(t *testing.T) {
		token := env.Login("ada@example.com", password, "planoorder")
		var dump string
		if err := env.Pool.QueryRow(context.Background(), "SELECT string_agg(t::text, ' ') FROM audit_events t").Scan(&dump); err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{password, "guess", "wrong", token, auth.SessionPrefix, "$argon2id"} {
			if strings.Contains(dump, secret) {
				t.Errorf("the audit trail holds %q", secret)
			}
		}
	})
}

// TestAuditRegistration checks that registering records the user, its password, its role and
// its session in the registration's transaction, and nothing when registration fails.
func TestAuditRegistration(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	res := from(env, "127.0.0.3", clientsRegister, registration("ada@example.com"), "").Expect(t, 200, gen.StatusActionSuccessful)
	ada := userIDOf(t, env, "ada@example.com")
	events := ofRequest(wholeTrail(t, env), res)
	want := []gen.AuditKind{gen.AuditUserCreated, gen.AuditPasswordSet, gen.AuditRoleGranted, gen.AuditLoginSucceeded}
	if got := kindsOf(events); !slices.Equal(got, want) {
		t.Fatalf("registration recorded %v, want %v", got, want)
	}
	for _, e := range events {
		if *e.UserId != ada || *e.Actor.UserId != ada || *e.Application != gen.Planoorder || e.ClientAddress != "127.0.0.3" {
			t.Errorf("event %s = %+v, want about and by ada, in planoorder, from 127.0.0.3", e.Kind, e)
		}
	}
	if *events[2].Details.Role != gen.RoleClient {
		t.Errorf("role.granted's role = %s, want client", *events[2].Details.Role)
	}
	before := len(wholeTrail(t, env))
	env.PostSensitive(clientsRegister, registration("ADA@example.com"), "").Expect(t, 400, gen.StatusEmailAlreadyRegistered)
	if after := len(wholeTrail(t, env)); after != before {
		t.Errorf("a refused registration recorded %d events", after-before)
	}
}

// TestAuditAccountsMadeByOthers checks clients/create (by an application and by an employee),
// liaisons/register and users/client_register: the actor is the caller, the grants are listed.
func TestAuditAccountsMadeByOthers(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	employeeID := env.User("employee@example.com", password, "employee")
	employee := env.Login("employee@example.com", password, "planoorder")

	t.Run("ClientsCreateByApplication", func(t *testing.T) {
		res := env.PostSensitive(clientsCreate, map[string]any{"client": map[string]any{"email": "new@example.com", "password": password}}, env.AppTokens["planox2"]).
			Expect(t, 200, gen.StatusActionSuccessful)
		user := userIDOf(t, env, "new@example.com")
		events := ofRequest(wholeTrail(t, env), res)
		if got, want := kindsOf(events), []gen.AuditKind{gen.AuditUserCreated, gen.AuditPasswordSet, gen.AuditRoleGranted}; !slices.Equal(got, want) {
			t.Fatalf("recorded %v, want %v", got, want)
		}
		for _, e := range events {
			if e.Actor.Type != gen.ActorApplication || e.Actor.UserId != nil || *e.UserId != user || *e.Application != gen.Planox2 {
				t.Errorf("event %s = %+v, want by planox2's token about the new user", e.Kind, e)
			}
		}
	})
	t.Run("ClientsCreateByEmployeeForExistingUser", func(t *testing.T) {
		liaison := env.User("liaison@example.com", password, "liaison")
		res := env.PostSensitive(clientsCreate, map[string]any{"client": map[string]any{"email": "liaison@example.com", "password": password}}, employee).
			Expect(t, 200, gen.StatusClientCreatedForExistingEmail)
		events := ofRequest(wholeTrail(t, env), res)
		if len(events) != 1 || events[0].Kind != gen.AuditRoleGranted || *events[0].Actor.UserId != employeeID ||
			*events[0].UserId != liaison || *events[0].Application != gen.Planoorder {
			t.Errorf("recorded %+v, want only the client role granted by the employee (no password: it was not set)", events)
		}
	})
	t.Run("LiaisonsRegister", func(t *testing.T) {
		companyID := newCompany(t, env, "Analytical Engines")
		res := env.PostSensitive(liaisonsRegister, map[string]any{
			"liaison": map[string]any{"email": "newliaison@example.com"}, "company_ids": []int64{companyID},
		}, employee).Expect(t, 200, gen.StatusActionSuccessful)
		events := ofRequest(wholeTrail(t, env), res)
		if got, want := kindsOf(events), []gen.AuditKind{gen.AuditUserCreated, gen.AuditRoleGranted, gen.AuditGrantOffered}; !slices.Equal(got, want) {
			t.Fatalf("recorded %v, want %v (no password given; the grant is an offer until accepted)", got, want)
		}
		if *events[1].Details.Role != gen.RoleLiaison || !slices.Equal(*events[2].Details.CompanyIds, []int64{companyID}) ||
			len(*events[2].Details.ClientIds) != 0 {
			t.Errorf("details = %+v and %+v, want the liaison role and the company granted", events[1].Details, events[2].Details)
		}
	})
	t.Run("UsersClientRegister", func(t *testing.T) {
		nobody := env.User("nobody@example.com", password)
		limited := login(env, map[string]any{"email": "nobody@example.com", "password": password, "application": "planoorder"}).
			Expect(t, 401, gen.StatusClientRequired).Envelope.Session.Token
		res := env.PostJSON(usersClientRegister, map[string]any{"client": map[string]any{"first_name": "No"}}, *limited).
			Expect(t, 200, gen.StatusActionSuccessful)
		events := ofRequest(wholeTrail(t, env), res)
		if len(events) != 1 || events[0].Kind != gen.AuditRoleGranted || *events[0].Actor.UserId != nobody || *events[0].UserId != nobody {
			t.Errorf("recorded %+v, want the user's own role.granted", events)
		}
	})
}

// TestAuditLogOut checks sessions/delete: one session, or all of them with one event per
// application whose sessions were revoked.
func TestAuditLogOut(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := env.User("ada@example.com", password, "employee")
	first := env.Login("ada@example.com", password, "planoorder")
	var current gen.Session
	env.Get(sessionsRead, first).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &current)
	res := env.Do(apitest.Request(http.MethodPost, sessionsDelete, "", nil, first)).Expect(t, 200, gen.StatusActionSuccessful)
	events := ofRequest(wholeTrail(t, env), res)
	if len(events) != 1 || events[0].Kind != gen.AuditSessionsRevoked || *events[0].Details.Revoked != 1 ||
		*events[0].Details.SessionId != current.Id || *events[0].Actor.UserId != ada || *events[0].Application != gen.Planoorder {
		t.Fatalf("logging out recorded %+v, want the one session revoked by ada", events)
	}

	env.Login("ada@example.com", password, "planoorder")
	env.Login("ada@example.com", password, "planox2")
	last := env.Login("ada@example.com", password, "planox2")
	res = env.PostJSON(sessionsDelete, map[string]any{"all": true}, last).Expect(t, 200, gen.StatusActionSuccessful)
	revoked := map[gen.ApplicationSlug]int{}
	for _, e := range ofRequest(wholeTrail(t, env), res) {
		if e.Kind != gen.AuditSessionsRevoked || e.Details.SessionId != nil {
			t.Errorf("event %+v, want sessions.revoked without a session id", e)
		}
		revoked[*e.Application] += *e.Details.Revoked
	}
	if fmt.Sprint(revoked) != fmt.Sprint(map[gen.ApplicationSlug]int{gen.Planoorder: 1, gen.Planox2: 2}) {
		t.Errorf("revoked per application = %v, want 1 in planoorder and 2 in planox2", revoked)
	}

	// One named session, then the others.
	mine := env.Login("ada@example.com", password, "planoorder")
	named := env.Login("ada@example.com", password, "planox2")
	env.Login("ada@example.com", password, "planox2")
	var target gen.Session
	env.Get(sessionsRead, named).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &target)
	res = env.PostJSON(sessionsDelete, map[string]any{"id": target.Id}, mine).Expect(t, 200, gen.StatusActionSuccessful)
	events = ofRequest(wholeTrail(t, env), res)
	if len(events) != 1 || *events[0].Details.SessionId != target.Id || *events[0].Application != gen.Planox2 {
		t.Errorf("revoking a named session recorded %s, want it, in planox2", jsonOf(events))
	}
	res = env.PostJSON(sessionsDelete, map[string]any{"others": true}, mine).Expect(t, 200, gen.StatusActionSuccessful)
	events = ofRequest(wholeTrail(t, env), res)
	if len(events) != 1 || *events[0].Details.Revoked != 1 || *events[0].Application != gen.Planox2 || events[0].Details.SessionId != nil {
		t.Errorf("revoking the others recorded %s, want the one planox2 session", jsonOf(events))
	}
}

// TestAuditSignInWithoutPassword checks sign-in links (requested, used, the first proof of the
// email dropping a password and closing the sessions it opened) and Google sign-in.
func TestAuditSignInWithoutPassword(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) { d.Google = iss.config() }))

	t.Run("MagicLink", func(t *testing.T) {
		// Someone registered ada's email with a password and signed in twice, in two applications.
		env.PostSensitive(clientsRegister, registration("ada@example.com"), "").Expect(t, 200, gen.StatusActionSuccessful)
		ada := userIDOf(t, env, "ada@example.com")
		env.Login("ada@example.com", password, "planoauth")
		requested := requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		if got := kindsOf(ofRequest(wholeTrail(t, env), requested)); !slices.Equal(got, []gen.AuditKind{gen.AuditMagicLinkRequested}) {
			t.Errorf("a link request recorded %v", got)
		}
		used := useLink(env, lastLinkToken(t, env, "ada@example.com"), "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		events := ofRequest(wholeTrail(t, env), used)
		want := []gen.AuditKind{gen.AuditMagicLinkUsed, gen.AuditUserEmailVerified, gen.AuditPasswordDropped,
			gen.AuditSessionsRevoked, gen.AuditSessionsRevoked, gen.AuditLoginSucceeded}
		if got := kindsOf(events); !slices.Equal(got, want) {
			t.Fatalf("the first sign-in by link recorded %v, want %v", got, want)
		}
		for _, e := range events {
			if *e.UserId != ada || *e.Actor.UserId != ada {
				t.Errorf("event %s = %+v, want about and by ada", e.Kind, e)
			}
		}
		if got := *events[5].Details.Method; got != gen.LoginMagicLink {
			t.Errorf("login.succeeded's method = %s, want magic_link", got)
		}
		// The second sign-in proves nothing new.
		requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		again := useLink(env, lastLinkToken(t, env, "ada@example.com"), "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		if got := kindsOf(ofRequest(wholeTrail(t, env), again)); !slices.Equal(got, []gen.AuditKind{gen.AuditMagicLinkUsed, gen.AuditLoginSucceeded}) {
			t.Errorf("a later sign-in by link recorded %v", got)
		}
		unusable := from(env, "127.0.0.40", magicLinkCreate, map[string]any{"magic_token": auth.MagicLinkPrefix + strings.Repeat("A", 43), "application": "planox2"}, "").
			Expect(t, 401, gen.StatusInvalidToken)
		events = ofRequest(wholeTrail(t, env), unusable)
		if len(events) != 1 || events[0].Kind != gen.AuditLoginFailed || *events[0].Details.Reason != gen.ReasonInvalidToken ||
			*events[0].Details.Method != gen.LoginMagicLink || events[0].UserId != nil || *events[0].Application != gen.Planox2 {
			t.Errorf("an unusable link recorded %+v", events)
		}
	})
	t.Run("Google", func(t *testing.T) {
		res := googleLogin(env, iss.sign(t, claims("grace@example.com", env.Clock.Now())), "planoorder").Expect(t, 401, gen.StatusClientRequired)
		grace := userIDOf(t, env, "grace@example.com")
		events := ofRequest(wholeTrail(t, env), res)
		if got, want := kindsOf(events), []gen.AuditKind{gen.AuditUserCreated, gen.AuditUserEmailVerified, gen.AuditLoginSucceeded}; !slices.Equal(got, want) {
			t.Fatalf("a first Google sign-in recorded %v, want %v", got, want)
		}
		if e := events[2]; *e.Details.Method != gen.LoginGoogle || *e.Details.Role != gen.RoleNone || *e.UserId != grace {
			t.Errorf("login.succeeded = %+v, want by Google with the limited role", e)
		}
		expired := claims("grace@example.com", env.Clock.Now().Add(-2*time.Hour))
		res = googleLogin(env, iss.sign(t, expired), "planox2").Expect(t, 401, gen.StatusInvalidToken)
		events = ofRequest(wholeTrail(t, env), res)
		if len(events) != 1 || *events[0].Details.Reason != gen.ReasonInvalidToken || *events[0].Details.Method != gen.LoginGoogle {
			t.Errorf("a refused Google token recorded %+v", events)
		}
		before := len(wholeTrail(t, env))
		googleLogin(env, "not a jwt", "planox2").Expect(t, 400, gen.StatusInvalidParam)
		if after := len(wholeTrail(t, env)); after != before {
			t.Errorf("a malformed ID token recorded %d events; only what the limits count is recorded", after-before)
		}
	})
}

// TestAuditTrailCommitsInOrder shows that an event's id becomes visible only after every
// smaller id: an append waits for the transaction holding the trail's lock, so a follower
// passing back next_cursor never skips an event committed late.
func TestAuditTrailCommitsInOrder(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	tx, err := env.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	app, err := env.Q.GetApplicationBySlug(ctx, "planoorder")
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.Append(ctx, db.New(tx), env.Clock.Now(), audit.Event{Kind: gen.AuditApplicationTokenRotated, Actor: audit.Operator, ApplicationID: app.ID}); err != nil {
		t.Fatal(err)
	}
	body := apitest.Sensitive(t, map[string]any{"email": "nobody@example.com", "password": "x", "application": "planoorder"})
	done := env.Start(apitest.Request(http.MethodPost, sessionsCreate, "text/plain", body, ""))
	waitForAdvisoryLockWaiter(t, env, done)
	if trail := readTrail(t, env, env.AppTokens["planoorder"], "?after=0"); len(trail.Results) != 0 {
		t.Fatalf("trail = %v while the first append is uncommitted, want nothing yet", ids(trail))
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if res := done.Wait(); res.Code != 400 {
		t.Fatalf("the failed log-in answered %d %s", res.Code, res.Raw)
	}
	trail := readTrail(t, env, env.AppTokens["planoorder"], "?after=0")
	if got := kindsOf(trail.Results); !slices.Equal(got, []gen.AuditKind{gen.AuditApplicationTokenRotated, gen.AuditLoginFailed}) {
		t.Errorf("trail = %v, want the held event, then the log-in's", got)
	}
}

// crashingAudit panics in audit/index, as a bug in the handler would.
type crashingAudit struct{ *impl.Server }

func (crashingAudit) AuditIndex(context.Context, gen.AuditIndexRequestObject) (gen.AuditIndexResponseObject, error) {
	panic("handler bug")
}

// TestAuditIndexServiceSlugs covers the slugs audit/index documents from the common block that
// come from the route registry and the server: an undeployed route or service, a registry never
// loaded, another method, and a crash.
func TestAuditIndexServiceSlugs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	refresh := func(t *testing.T, env *apitest.Env) {
		t.Helper()
		if err := env.Registry.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("RouteNotFound", func(t *testing.T) {
		env := apitest.New(t)
		if _, err := env.Q.SetRouteDeployed(ctx, db.SetRouteDeployedParams{Route: "auditIndex", Deployed: false}); err != nil {
			t.Fatal(err)
		}
		refresh(t, env)
		env.Get(auditIndex, env.AppTokens["planoorder"]).Expect(t, 503, gen.StatusRouteNotFound)
	})
	t.Run("ServiceNotFound", func(t *testing.T) {
		env := apitest.New(t)
		if _, err := env.Q.SetServiceDeployed(ctx, db.SetServiceDeployedParams{Name: "audit", Deployed: false}); err != nil {
			t.Fatal(err)
		}
		refresh(t, env)
		env.Get(auditIndex, env.AppTokens["planoorder"]).Expect(t, 503, gen.StatusServiceNotFound)
	})
	t.Run("IdentifyRequestError", func(t *testing.T) {
		env := apitest.New(t, apitest.WithoutRegistry())
		env.Get(auditIndex, env.AppTokens["planoorder"]).Expect(t, 500, gen.StatusIdentifyRequestError)
	})
	t.Run("RouteNonExistent", func(t *testing.T) {
		env := apitest.New(t)
		env.PostJSON(auditIndex, map[string]any{}, env.AppTokens["planoorder"]).Expect(t, 500, gen.StatusRouteNonExistent)
	})
	t.Run("ApplicationCrash", func(t *testing.T) {
		env := apitest.New(t, apitest.WithHandlers(func(s *impl.Server) gen.StrictServerInterface { return crashingAudit{s} }))
		env.Get(auditIndex, env.AppTokens["planoorder"]).Expect(t, 500, gen.StatusApplicationCrash)
	})
}

// kindsOfRequest is the kinds of the events res's request recorded.
func kindsOfRequest(t *testing.T, env *apitest.Env, res *apitest.Response) []gen.AuditKind {
	t.Helper()
	return kindsOf(ofRequest(wholeTrail(t, env), res))
}

// TestAuditAccounts checks the events of company membership, invitations, and what the first
// proof of a squatted email takes back.
func TestAuditAccounts(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	f := newCompanyFixture(t, env)

	t.Run("Membership", func(t *testing.T) {
		res := env.PostJSON(companiesRequestMember, map[string]any{"company_id": f.company}, f.ada).Expect(t, 200, gen.StatusActionSuccessful)
		events := ofRequest(wholeTrail(t, env), res)
		if len(events) != 1 || events[0].Kind != gen.AuditMembershipRequested || *events[0].Details.CompanyId != f.company ||
			*events[0].Details.ClientId != f.adaC || *events[0].UserId != userIDOf(t, env, "ada@example.com") {
			t.Fatalf("a request recorded %s", jsonOf(events))
		}
		res = f.change(env, companiesApproveMember, f.adaC, f.owner).Expect(t, 200, gen.StatusActionSuccessful)
		events = ofRequest(wholeTrail(t, env), res)
		if len(events) != 1 || events[0].Kind != gen.AuditMembershipApproved || *events[0].Actor.UserId != userIDOf(t, env, "owner@example.com") {
			t.Fatalf("an approval recorded %s", jsonOf(events))
		}
		res = f.change(env, companiesRemoveMember, f.adaC, f.employee).Expect(t, 200, gen.StatusActionSuccessful)
		if got := kindsOfRequest(t, env, res); !slices.Equal(got, []gen.AuditKind{gen.AuditMembershipRemoved}) {
			t.Errorf("a removal recorded %v", got)
		}
		// A refused request is a removal too.
		env.PostJSON(companiesRequestMember, map[string]any{"company_id": f.company}, f.bob).Expect(t, 200, gen.StatusActionSuccessful)
		res = f.change(env, companiesRemoveMember, f.bobC, env.AppTokens["planox2"]).Expect(t, 200, gen.StatusActionSuccessful)
		events = ofRequest(wholeTrail(t, env), res)
		if len(events) != 1 || events[0].Kind != gen.AuditMembershipRemoved || events[0].Actor.Type != gen.ActorApplication ||
			*events[0].Application != gen.Planox2 || *events[0].UserId != userIDOf(t, env, "bob@example.com") {
			t.Errorf("a refusal recorded %s", jsonOf(events))
		}
	})
	t.Run("InvitationAccepted", func(t *testing.T) {
		env.PostSensitive(liaisonsRegister, map[string]any{"liaison": map[string]any{"email": "helper@example.com"},
			"client_ids": []int64{f.ownerClient}}, f.owner).Expect(t, 200, gen.StatusActionSuccessful)
		res := useEmailedLink(t, env, "helper@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		events := ofRequest(wholeTrail(t, env), res)
		want := []gen.AuditKind{gen.AuditMagicLinkUsed, gen.AuditUserEmailVerified, gen.AuditInvitationAccepted, gen.AuditGrantMade, gen.AuditLoginSucceeded}
		if got := kindsOf(events); !slices.Equal(got, want) {
			t.Fatalf("accepting an invitation recorded %v, want %v", got, want)
		}
		if *events[2].Details.Role != gen.RoleLiaison {
			t.Errorf("invitation.accepted = %s, want the liaison role", jsonOf(events[2]))
		}
		if !slices.Equal(*events[3].Details.ClientIds, []int64{f.ownerClient}) || len(*events[3].Details.CompanyIds) != 0 ||
			*events[3].Actor.UserId != *events[3].UserId {
			t.Errorf("grant.made = %s, want the owner's client, accepted by the liaison", jsonOf(events[3]))
		}
	})
	t.Run("FirstProofTakesBack", func(t *testing.T) {
		const victim = "grace@example.com"
		squat := registration(victim)
		squat["client"].(map[string]any)["company_id"] = f.company
		squatted := register(t, env, squat)
		env.User("accomplice@example.com", password, "client")
		accomplice := userIDOf(t, env, "accomplice@example.com")
		var liaisonID int64
		if err := env.Pool.QueryRow(context.Background(), `INSERT INTO liaisons (user_id, accepted_at, invited_by_user_id)
			VALUES ($1, now(), $2) RETURNING id`, accomplice, userIDOf(t, env, victim)).Scan(&liaisonID); err != nil {
			t.Fatal(err)
		}
		exec(t, env, "INSERT INTO liaison_clients (liaison_id, client_id, granted_by_user_id) VALUES ($1, $2, $3)",
			liaisonID, squatted.Client.Id, userIDOf(t, env, victim))
		res := useEmailedLink(t, env, victim, "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		events := ofRequest(wholeTrail(t, env), res)
		want := []gen.AuditKind{gen.AuditMagicLinkUsed, gen.AuditUserEmailVerified, gen.AuditPasswordDropped, gen.AuditSessionsRevoked,
			gen.AuditGrantRevoked, gen.AuditRoleRevoked, gen.AuditMembershipRemoved, gen.AuditLoginSucceeded}
		if got := kindsOf(events); !slices.Equal(got, want) {
			t.Fatalf("the first proof recorded %v, want %v", got, want)
		}
		byKind := map[gen.AuditKind]gen.AuditEvent{}
		for _, e := range events {
			byKind[e.Kind] = e
		}
		if e := byKind[gen.AuditGrantRevoked]; *e.UserId != accomplice || !slices.Equal(*e.Details.ClientIds, []int64{squatted.Client.Id}) {
			t.Errorf("grant.revoked = %s, want the accomplice's grant of the squatted client", jsonOf(e))
		}
		if e := byKind[gen.AuditRoleRevoked]; *e.UserId != accomplice || *e.Details.Role != gen.RoleLiaison {
			t.Errorf("role.revoked = %s, want the accomplice's liaison role", jsonOf(e))
		}
		if e := byKind[gen.AuditMembershipRemoved]; *e.Details.CompanyId != f.company || *e.Details.ClientId != squatted.Client.Id {
			t.Errorf("membership.removed = %s, want the squatter's request", jsonOf(e))
		}
	})
}

// TestAuditPasswords checks the events of recovering and changing a password.
func TestAuditPasswords(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)

	t.Run("ResetByLink", func(t *testing.T) {
		ada := env.User("ada@example.com", password, "client")
		env.Login("ada@example.com", password, "planoorder")
		env.Login("ada@example.com", password, "planoauth")
		requested := requestReset(env, addr(1), "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		mail := lastReset(t, env, "ada@example.com") // the email goes out after the answer
		if got := kindsOfRequest(t, env, requested); !slices.Equal(got, []gen.AuditKind{gen.AuditPasswordResetRequested}) {
			t.Errorf("a reset request recorded %v", got)
		}
		res := resetWith(env, map[string]any{"reset_token": mail.token}).Expect(t, 200, gen.StatusActionSuccessful)
		events := ofRequest(wholeTrail(t, env), res)
		want := []gen.AuditKind{gen.AuditMagicLinkUsed, gen.AuditPasswordReset, gen.AuditSessionsRevoked, gen.AuditSessionsRevoked,
			gen.AuditLoginSucceeded}
		if got := kindsOf(events); !slices.Equal(got, want) {
			t.Fatalf("a reset recorded %v, want %v (the email was proven before)", got, want)
		}
		for _, e := range events {
			if *e.UserId != ada || *e.Actor.UserId != ada {
				t.Errorf("event %s = %s, want about and by ada", e.Kind, jsonOf(e))
			}
		}
	})
	t.Run("ResetByCode", func(t *testing.T) {
		env.UnverifiedUser("bob@example.com", password, "client")
		requestReset(env, addr(2), "bob@example.com").Expect(t, 200, gen.StatusActionSuccessful)
		mail := lastReset(t, env, "bob@example.com")
		res := resetWith(env, map[string]any{"email": "bob@example.com", "code": mail.code}).Expect(t, 200, gen.StatusActionSuccessful)
		want := []gen.AuditKind{gen.AuditMagicLinkUsed, gen.AuditUserEmailVerified, gen.AuditPasswordDropped, gen.AuditPasswordReset,
			gen.AuditLoginSucceeded}
		if got := kindsOfRequest(t, env, res); !slices.Equal(got, want) {
			t.Errorf("a first reset by code recorded %v, want %v", got, want)
		}
	})
	t.Run("Change", func(t *testing.T) {
		grace := env.User("grace@example.com", password, "client")
		mine := env.Login("grace@example.com", password, "planoorder")
		env.Login("grace@example.com", password, "planoauth")
		res := updatePassword(env, mine, map[string]any{"current_password": password, "password": newPassword}).
			Expect(t, 200, gen.StatusActionSuccessful)
		events := ofRequest(wholeTrail(t, env), res)
		if got := kindsOf(events); !slices.Equal(got, []gen.AuditKind{gen.AuditPasswordChanged, gen.AuditSessionsRevoked}) {
			t.Fatalf("a change recorded %v", got)
		}
		if *events[0].UserId != grace || *events[0].Application != gen.Planoorder || *events[1].Application != gen.Planoauth ||
			*events[1].Details.Revoked != 1 {
			t.Errorf("events = %s, want the change in planoorder and the planoauth session revoked", jsonOf(events))
		}
	})
}
