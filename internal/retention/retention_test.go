package retention_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/dbtest"
	"github.com/plano/planoauth/internal/migrate"
	"github.com/plano/planoauth/internal/retention"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m, migrate.Up)) }

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dbtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// seed writes, in every table the worker cleans, a row past retention (marked "old") and rows
// still within it (marked "live"), with the default retention.
func seed(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	d := retention.Defaults
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	exec(t, pool, "INSERT INTO users (id, email) VALUES (1, 'ada@example.com')")
	app := "(SELECT id FROM applications WHERE slug = 'planoorder')"
	exec(t, pool, `INSERT INTO limit_counters (key, window_start, expires_at, count) VALUES
		('old', $1, $2, 3), ('live', $3, $4, 3)`, ago(time.Hour), ago(time.Second), now, now.Add(time.Minute))
	maxAge := 7 * 24 * time.Hour
	exec(t, pool, `INSERT INTO sessions (token_hash, user_id, application_id, role, scopes, user_agent, created_at, last_used_at, proved_at, revoked_at, remember_me) VALUES
		('\x01', 1, `+app+`, 'client', '{}', 'old revoked', $1, $1, $1, $2, false),
		('\x02', 1, `+app+`, 'client', '{}', 'old expired', $3, $3, $3, NULL, false),
		('\x03', 1, `+app+`, 'client', '{}', 'live revoked recently', $1, $1, $1, $4, false),
		('\x04', 1, `+app+`, 'client', '{}', 'live expired recently', $5, $5, $5, NULL, false),
		('\x05', 1, `+app+`, 'client', '{}', 'live remember_me', $3, $3, $3, NULL, true)`,
		ago(d.Sessions+2*time.Hour), ago(d.Sessions+time.Hour), ago(d.Sessions+maxAge+time.Hour),
		ago(d.Sessions-time.Hour), ago(maxAge+time.Hour))
	// As a log-in leaves them: the latest a session may expire is fixed at its creation.
	exec(t, pool, "UPDATE sessions SET max_expires_at = created_at + $1::bigint * interval '1 second' WHERE NOT remember_me", int64(maxAge/time.Second))
	// Of an application whose policy gave it 60 days: as old as "old expired", but still usable.
	exec(t, pool, `INSERT INTO sessions (token_hash, user_id, application_id, role, scopes, user_agent, created_at, last_used_at, proved_at, max_expires_at) VALUES
		('\x06', 1, `+app+`, 'client', '{}', 'live long lifetime', $1, $1, $1, $2)`,
		ago(d.Sessions+maxAge+time.Hour), ago(d.Sessions+maxAge+time.Hour).Add(60*24*time.Hour))
	exec(t, pool, `INSERT INTO magic_links (token_hash, user_id, application_id, redirect_url, expires_at) VALUES
		('\x01', 1, `+app+`, 'old', $1), ('\x02', 1, `+app+`, 'live', $2)`, ago(d.MagicLinks+time.Second), ago(d.MagicLinks-time.Second))
	exec(t, pool, `INSERT INTO device_tokens (token_hash, user_id, expires_at) VALUES ('\x01', 1, $1), ('\x02', 1, $2)`,
		ago(time.Second), now.Add(time.Hour))
	exec(t, pool, `INSERT INTO known_addresses (user_id, address, expires_at) VALUES (1, 'old', $1), (1, 'live', $2)`,
		ago(time.Second), now.Add(time.Hour))
	exec(t, pool, `INSERT INTO sent_emails (kind, recipient, subject, body_text, created_at) VALUES
		('old', 'a@example.com', 's', 'b', $1), ('live', 'a@example.com', 's', 'b', $2)`, ago(d.SentEmails+time.Second), ago(d.SentEmails-time.Second))
	exec(t, pool, `INSERT INTO notifications (kind, message, created_at) VALUES ('old', 'm', $1), ('live', 'm', $2)`,
		ago(d.Notifications+time.Second), ago(d.Notifications-time.Second))
	exec(t, pool, `INSERT INTO email_outbox (kind, recipient, subject, body_text, sent_at, failed_at) VALUES
		('old', 'a@example.com', 's', 'b', $1, NULL), ('old', 'a@example.com', 's', 'b', NULL, $1),
		('live', 'a@example.com', 's', 'b', $2, NULL), ('live', 'a@example.com', 's', 'b', NULL, NULL)`,
		ago(d.Outbox+time.Second), ago(d.Outbox-time.Second))
	exec(t, pool, `INSERT INTO audit_events (id, occurred_at, kind, actor_type, application_id) VALUES
		(1, $1, 'old', 'operator', `+app+`), (2, $2, 'live', 'operator', `+app+`)`, ago(d.AuditEvents+time.Second), ago(d.AuditEvents-time.Second))
	exec(t, pool, `INSERT INTO webhooks (id, application_id, url, secret_sealed) VALUES (1, `+app+`, 'https://hooks.example/', '\x00')`)
	exec(t, pool, `INSERT INTO webhook_deliveries (webhook_id, event_id, next_attempt_at, last_error, created_at, delivered_at, failed_at) VALUES
		(1, 2, $1, 'old', $1, $1, NULL), (1, 2, $1, 'old', $1, NULL, $1),
		(1, 2, $2, 'live', $2, $2, NULL), (1, 2, $1, 'live pending', $1, NULL, NULL)`,
		ago(d.WebhookDeliveries+time.Second), ago(d.WebhookDeliveries-time.Second))
}

// remaining lists, per table, the marks of the rows left.
func remaining(t *testing.T, pool *pgxpool.Pool) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for table, mark := range map[string]string{
		"limit_counters": "key", "sessions": "user_agent", "magic_links": "redirect_url",
		"device_tokens": "CASE WHEN token_hash = '\\x01' THEN 'old' ELSE 'live' END", "known_addresses": "address",
		"sent_emails": "kind", "notifications": "kind", "email_outbox": "kind", "audit_events": "kind",
		"webhook_deliveries": "last_error",
	} {
		rows, err := pool.Query(context.Background(), "SELECT "+mark+" FROM "+table+" ORDER BY 1")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var m string
			if err := rows.Scan(&m); err != nil {
				t.Fatal(err)
			}
			out[table] = append(out[table], m)
		}
		rows.Close()
	}
	return out
}

func newWorker(pool *pgxpool.Pool) *retention.Worker {
	return retention.NewWorker(pool, retention.Defaults, func() time.Time { return now }, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func TestRetention(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	seed(t, pool)
	res, err := newWorker(pool).RunOnce(context.Background())
	if err != nil || !res.Ran {
		t.Fatalf("RunOnce = %+v, %v", res, err)
	}
	got := remaining(t, pool)
	for table, marks := range got {
		for _, m := range marks {
			if m == "old" || len(m) > 3 && m[:3] == "old" {
				t.Errorf("%s: a row past retention (%s) is left", table, m)
			}
		}
	}
	want := map[string]int{"limit_counters": 1, "sessions": 4, "magic_links": 1, "device_tokens": 1, "known_addresses": 1,
		"sent_emails": 1, "notifications": 1, "email_outbox": 2, "audit_events": 1, "webhook_deliveries": 2}
	for table, n := range want {
		if len(got[table]) != n {
			t.Errorf("%s keeps %v, want %d live rows", table, got[table], n)
		}
	}
	if res.Deleted["sessions"] != 2 || res.Deleted["email_outbox"] != 2 || res.Deleted["limit_counters"] != 1 {
		t.Errorf("deleted %v", res.Deleted)
	}
}

// One instance at a time: while another holds the lock, a round deletes nothing.
func TestRetentionOneInstanceAtATime(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	seed(t, pool)
	ctx := context.Background()
	other, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(ctx, "SELECT pg_advisory_lock($1)", retention.LockKey); err != nil {
		t.Fatal(err)
	}
	before := remaining(t, pool)
	res, err := newWorker(pool).RunOnce(ctx)
	if err != nil || res.Ran {
		t.Errorf("RunOnce while locked = %+v, %v; want a skipped round", res, err)
	}
	if after := remaining(t, pool); len(after["sessions"]) != len(before["sessions"]) {
		t.Errorf("a skipped round deleted sessions")
	}
	if _, err := other.Exec(ctx, "SELECT pg_advisory_unlock($1)", retention.LockKey); err != nil {
		t.Fatal(err)
	}
	other.Release()
	if res, err := newWorker(pool).RunOnce(ctx); err != nil || !res.Ran || res.Deleted["sessions"] != 2 {
		t.Errorf("RunOnce after unlock = %+v, %v", res, err)
	}
}

// A session past retention stays while a device token or a known address names it (ending it
// forgets them, limits.ForgetEnded, however long ago it ended); once they expire, it goes.
func TestRetentionKeepsTheSessionOfADevice(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	exec(t, pool, "INSERT INTO users (id, email) VALUES (1, 'ada@example.com')")
	old := now.Add(-retention.Defaults.Sessions - time.Hour)
	exec(t, pool, `INSERT INTO sessions (id, token_hash, user_id, application_id, role, scopes, user_agent, created_at, last_used_at, proved_at, revoked_at)
		SELECT gen_random_uuid(), v.hash, 1, a.id, 'client', '{}', v.mark, $1, $1, $1, $1
		FROM applications a, (VALUES ('\x01'::bytea, 'device'), ('\x02', 'address'), ('\x03', 'expired device')) v (hash, mark)
		WHERE a.slug = 'planoorder'`, old)
	exec(t, pool, `INSERT INTO device_tokens (token_hash, user_id, session_id, expires_at)
		SELECT s.token_hash, 1, s.id, CASE s.user_agent WHEN 'device' THEN $1::timestamptz ELSE $2::timestamptz END
		FROM sessions s WHERE s.user_agent IN ('device', 'expired device')`, now.Add(time.Hour), now.Add(-time.Second))
	exec(t, pool, `INSERT INTO known_addresses (user_id, address, session_id, expires_at)
		SELECT 1, '127.0.0.1', s.id, $1 FROM sessions s WHERE s.user_agent = 'address'`, now.Add(time.Hour))
	for round, want := range [][]string{{"address", "device", "expired device"}, {"address", "device"}} {
		if _, err := newWorker(pool).RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := remaining(t, pool)["sessions"]; !slices.Equal(got, want) {
			t.Errorf("after round %d the sessions left are %v, want %v", round+1, got, want)
		}
	}
}

// A session past retention stays while a passkey, an app or recovery codes it made are there,
// or another session's derived_from names it: removing the factor it stood on must still find
// what it made (DerivedSessions). One that made nothing still there goes.
func TestRetentionKeepsTheSessionThatMadeAFactor(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	exec(t, pool, "INSERT INTO users (id, email) VALUES (1, 'ada@example.com')")
	old := now.Add(-retention.Defaults.Sessions - time.Hour)
	exec(t, pool, `INSERT INTO sessions (id, token_hash, user_id, application_id, role, scopes, user_agent, created_at, last_used_at, proved_at, revoked_at)
		SELECT gen_random_uuid(), v.hash, 1, a.id, 'client', '{}', v.mark, $1, $1, $1, $1
		FROM applications a, (VALUES ('\x01'::bytea, 'passkey'), ('\x02', 'app'), ('\x03', 'codes'), ('\x04', 'derived'), ('\x05', 'nothing'))
			v (hash, mark)
		WHERE a.slug = 'planoorder'`, old)
	exec(t, pool, `INSERT INTO passkeys (user_id, rp_id, credential_id, name, credential, created_at, made_by)
		SELECT 1, 'localhost', '\x01', 'Laptop', '{}', $1, s.id FROM sessions s WHERE s.user_agent = 'passkey'`, old)
	exec(t, pool, `INSERT INTO totp_secrets (user_id, sealed_secret, created_at, confirmed_at, made_by)
		SELECT 1, '\x01', $1, $1, s.id FROM sessions s WHERE s.user_agent = 'app'`, old)
	exec(t, pool, `INSERT INTO recovery_codes (user_id, code_hash, created_at, made_by)
		SELECT 1, '\x01', $1, s.id FROM sessions s WHERE s.user_agent = 'codes'`, old)
	exec(t, pool, `INSERT INTO sessions (token_hash, user_id, application_id, role, scopes, user_agent, created_at, last_used_at, proved_at, derived_from)
		SELECT '\x06', 1, a.id, 'client', '{}', 'live', $1, $1, $1, ARRAY(SELECT s.id FROM sessions s WHERE s.user_agent = 'derived')
		FROM applications a WHERE a.slug = 'planoorder'`, now)
	if _, err := newWorker(pool).RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := remaining(t, pool)["sessions"], []string{"app", "codes", "derived", "live", "passkey"}; !slices.Equal(got, want) {
		t.Errorf("the sessions left are %v, want %v", got, want)
	}
}

// Review 17: two sessions past retention that name each other in derived_from (one used the
// recovery codes the other made, and registered the passkey the other then verified with; both
// made things since removed), or one that names itself (it verified with the passkey it had
// registered), are named by nothing else and hold nothing of their own: they go.
// A chain whose far end made a passkey still there stays whole, its middle past retention too
// (DerivedSessions must still walk from the session on the factor to the one that made it).
func TestRetentionDropsACycleOfDerivedSessions(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	exec(t, pool, "INSERT INTO users (id, email) VALUES (1, 'ada@example.com')")
	old := now.Add(-retention.Defaults.Sessions - time.Hour)
	exec(t, pool, `INSERT INTO sessions (id, token_hash, user_id, application_id, role, scopes, user_agent, created_at, last_used_at, proved_at, revoked_at)
		SELECT gen_random_uuid(), v.hash, 1, a.id, 'client', '{}', v.mark, $1, $1, $1, $1
		FROM applications a, (VALUES ('\x01'::bytea, 'cycle a'), ('\x02', 'cycle b'), ('\x03', 'chain base'), ('\x04', 'chain middle'),
			('\x05', 'chain end'), ('\x06', 'self')) v (hash, mark)
		WHERE a.slug = 'planoorder'`, old)
	link := func(from, to string) {
		exec(t, pool, `UPDATE sessions SET derived_from = derived_from || (SELECT id FROM sessions WHERE user_agent = $2) WHERE user_agent = $1`, from, to)
	}
	link("cycle a", "cycle b")
	link("cycle b", "cycle a")
	link("self", "self") // it verified with the passkey it had registered
	link("chain middle", "chain base")
	link("chain end", "chain middle")
	exec(t, pool, `INSERT INTO passkeys (user_id, rp_id, credential_id, name, credential, created_at, made_by)
		SELECT 1, 'localhost', '\x01', 'Laptop', '{}', $1, s.id FROM sessions s WHERE s.user_agent = 'chain end'`, old)
	for range 3 {
		if _, err := newWorker(pool).RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := remaining(t, pool)["sessions"], []string{"chain base", "chain end", "chain middle"}; !slices.Equal(got, want) {
		t.Errorf("the sessions left are %v, want %v", got, want)
	}
}
