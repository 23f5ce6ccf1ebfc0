package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/gen/db"
)

// newSessions gives the user of email n live sessions in planoorder.
func (d *testDB) newSessions(t *testing.T, email string, n int) int64 {
	t.Helper()
	ctx := context.Background()
	user, err := d.q.CreateUser(ctx, db.CreateUserParams{Email: email})
	if err != nil {
		t.Fatal(err)
	}
	app, err := d.q.GetApplicationBySlug(ctx, "planoorder")
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		_, hash := auth.NewToken(auth.SessionPrefix)
		_, err := d.q.CreateSession(ctx, db.CreateSessionParams{TokenHash: hash, UserID: user.ID, ApplicationID: app.ID,
			Role: "client", Scopes: []string{}, Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
	}
	return user.ID
}

func (d *testDB) liveSessions(t *testing.T, userID int64) int {
	t.Helper()
	var n int
	err := d.pool.QueryRow(context.Background(), "SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL", userID).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSessionsRevoke(t *testing.T) {
	t.Parallel()
	d := newTestDB(t, false)
	ada := d.newSessions(t, "ada@example.com", 2)
	grace := d.newSessions(t, "grace@example.com", 1)

	t.Run("OK", func(t *testing.T) {
		out := d.mustCLI(t, "sessions", "revoke", "--user", "ADA@example.com")
		if want := "revoked 2 sessions of ada@example.com\n"; out != want {
			t.Errorf("printed %q, want %q", out, want)
		}
		if n := d.liveSessions(t, ada); n != 0 {
			t.Errorf("ada has %d live sessions, want 0", n)
		}
		if n := d.liveSessions(t, grace); n != 1 {
			t.Errorf("grace has %d live sessions, want her 1 untouched", n)
		}
		if out := d.mustCLI(t, "sessions", "revoke", "--user=ada@example.com"); out != "revoked 0 sessions of ada@example.com\n" {
			t.Errorf("second revoke printed %q, want 0 sessions", out)
		}
	})
	t.Run("ErrUnknownUser", func(t *testing.T) {
		_, err := d.cli(t, "sessions", "revoke", "--user", "nobody@example.com")
		if err == nil || !strings.Contains(err.Error(), `no user with email "nobody@example.com"`) {
			t.Errorf("err = %v, want no such user", err)
		}
	})
	t.Run("ErrUsage", func(t *testing.T) {
		for _, args := range [][]string{
			{"sessions"},
			{"sessions", "list"},
			{"sessions", "revoke"},
			{"sessions", "revoke", "--user"},
			{"sessions", "revoke", "--user", " "},
			{"sessions", "revoke", "--user", "ada@example.com", "extra"},
			{"sessions", "revoke", "--email", "ada@example.com"},
		} {
			_, err := d.cli(t, args...)
			if err == nil || !strings.Contains(err.Error(), "usage: planoauth sessions") {
				t.Errorf("planoauth %v: err = %v, want the sessions usage", args, err)
			}
		}
	})
}

// An operator's revocation takes the user's row first, as every change of the user's password or
// second factors does: a change in flight (here, the row held as one holds it) commits before the
// revocation, which then ends the sessions it was made on; it never commits after the operator
// was told the sessions were revoked.
func TestSessionsRevokeWaitsForAChangeInFlight(t *testing.T) {
	t.Parallel()
	d := newTestDB(t, false)
	ada := d.newSessions(t, "ada@example.com", 1)
	ctx := context.Background()
	change, err := d.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = change.Rollback(ctx) }()
	if _, err := change.Exec(ctx, "SELECT 1 FROM users WHERE id = $1 FOR UPDATE", ada); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		out string
		err error
	}
	done := make(chan answer, 1)
	go func() {
		out, err := d.cli(t, "sessions", "revoke", "--user", "ada@example.com")
		done <- answer{out, err}
	}()
	for deadline := time.Now().Add(5 * time.Second); ; {
		var waiting int
		if err := d.pool.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'").
			Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case a := <-done:
			t.Fatalf("the revocation did not wait for the change in flight: %q, %v", a.out, a.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the revocation never waited for the user's row")
		}
		time.Sleep(5 * time.Millisecond) // polling: only the database shows the wait
	}
	if err := change.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if a := <-done; a.err != nil || a.out != "revoked 1 session of ada@example.com\n" {
		t.Errorf("printed %q, %v; want the session revoked", a.out, a.err)
	}
	if n := d.liveSessions(t, ada); n != 0 {
		t.Errorf("ada has %d live sessions", n)
	}
}
