package impl_test

// Role records deleted outside PlanoAuth (the coexisting system's feed, an operator's SQL) take
// their sessions with them (00095_role_records_revoke).

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/gen"
)

// Deleting an employee, liaison or client record revokes its user's sessions acting with that
// role, in every application and from every instance's cache, and leaves those acting with
// another role; deleting a whole user with its records and sessions works as before.
func TestDeletedRoleRecordRevokesItsSessions(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	grace := env.User("grace@example.com", password, "employee")
	lia := env.User("lia@example.com", password, "client", "liaison")
	ada := env.User("ada@example.com", password, "client")
	graceAuth, graceX2 := env.Login("grace@example.com", password, "planoauth"), env.Login("grace@example.com", password, "planox2")
	liaClient, liaLiaison := env.Login("lia@example.com", password, "planoauth"), env.Login("lia@example.com", password, "planox2")
	adaOrder := env.Login("ada@example.com", password, "planoorder")
	other := env.SecondInstance()
	for _, token := range []string{graceAuth, graceX2, liaClient, liaLiaison, adaOrder} {
		env.Get(sessionsRead, token).Expect(t, 200, gen.StatusActionSuccessful) // in both instances' caches
		if code := readStatus(env, other, token); code != http.StatusOK {
			t.Fatalf("the other instance answered %d", code)
		}
	}

	exec(t, env, "DELETE FROM employees WHERE user_id = $1", grace)
	exec(t, env, "DELETE FROM liaisons WHERE user_id = $1", lia)
	exec(t, env, "DELETE FROM clients WHERE user_id = $1", ada)
	for name, token := range map[string]string{"grace's in planoauth": graceAuth, "grace's in planox2": graceX2,
		"lia's as a liaison": liaLiaison, "ada's": adaOrder} {
		for instance, h := range map[string]http.Handler{"this": env.Handler, "the other": other} {
			eventually(t, time.Second, instance+" instance refuses "+name+" session, its role record deleted", func() bool {
				return readStatus(env, h, token) == http.StatusUnauthorized
			})
		}
	}
	if code := readStatus(env, other, liaClient); code != http.StatusOK {
		t.Errorf("lia's client session, on the other instance: %d, want 200", code)
	}
	var s gen.Session
	env.Get(sessionsRead, liaClient).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
	if s.Role == nil || *s.Role != gen.RoleClient {
		t.Errorf("lia's client session acts as %s, want client", deref(s.Role))
	}
	login(env, map[string]any{"email": "grace@example.com", "password": password, "application": "planox2"}).
		Expect(t, 400, gen.StatusUserRequiresRole)

	// A role deleted and given again in one transaction (a feed that rewrites its rows) keeps
	// the sessions.
	exec(t, env, "BEGIN; DELETE FROM clients WHERE user_id = "+itoa(lia)+"; INSERT INTO clients (user_id) VALUES ("+itoa(lia)+"); COMMIT")
	env.Get(sessionsRead, liaClient).Expect(t, 200, gen.StatusActionSuccessful)

	// The whole user goes with its records and sessions, as before.
	exec(t, env, "DELETE FROM users WHERE id = $1", lia)
	eventually(t, time.Second, "lia's session is refused, her user deleted", func() bool {
		return readStatus(env, env.Handler, liaClient) == http.StatusUnauthorized
	})
}

// A sign-in in flight when the record is deleted: it read the role and holds its user's row
// (HoldUserForSession) when the deletion's revocation waits for that row; its session, created
// after, is revoked with the others as soon as it commits, so its token never acts as an
// employee's.
func TestDeletedRoleRecordRevokesTheSessionOfASignInInFlight(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	grace := env.User("grace@example.com", password, "employee")

	release := holdRows(t, env, "LOCK TABLE sessions IN SHARE MODE") // CreateSession waits here
	req := apitest.Request(http.MethodPost, sessionsCreate, "text/plain", apitest.Sensitive(t,
		map[string]any{"email": "grace@example.com", "password": password, "application": "planox2"}), "")
	req.RemoteAddr = addr(7) + ":1234"
	signIn := env.Start(req)
	until(t, func() bool { return lockWaiters(t, env) >= 1 }, signIn, release, "the sign-in never waited to create its session")
	deleted := make(chan error, 1)
	go func() {
		_, err := env.Pool.Exec(context.Background(), "DELETE FROM employees WHERE user_id = $1", grace)
		deleted <- err
	}()
	until(t, func() bool { return lockWaiters(t, env) >= 2 }, signIn, release, "the deletion never waited for the sign-in")
	release()
	res := signIn.Wait()
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if res.Code != 200 {
		t.Fatalf("the sign-in that read the role before the deletion: %d %s", res.Code, res.Raw)
	}
	var s gen.Session
	res.Data(t, &s)
	eventually(t, time.Second, "the session of the sign-in in flight is refused", func() bool {
		return readStatus(env, env.Handler, deref(s.Token)) == http.StatusUnauthorized
	})
	var revoked bool
	if err := env.Pool.QueryRow(context.Background(), "SELECT revoked_at IS NOT NULL FROM sessions WHERE token_hash = $1",
		auth.HashToken(deref(s.Token))).Scan(&revoked); err != nil || !revoked {
		t.Errorf("the session of the sign-in in flight is not revoked (%v)", err)
	}
	if _, data := introspect(t, env, env.AppTokens["planox2"], deref(s.Token), nil); data.Active {
		t.Errorf("planox2 is told the session of a sign-in in flight at the deletion is an active %s's", deref(data.Role))
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
