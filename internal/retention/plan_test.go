package retention_test

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/dbtest"
	"github.com/plano/planoauth/internal/retention"
)

// TestSessionsRetentionAtScale is the measurement behind the README's retention figures (and a
// check that the worker keeps what is still needed at that scale). With
// PLANOAUTH_RETENTION_SESSIONS=N it seeds N sessions of 1,000 users: 30% revoked and 10% expired
// past retention, one in ten deriving from another (derived_from, see seedSessions), and runs the
// retention worker's round as it runs (its own connection, its batches) with auto_explain on,
// logging the EXPLAIN (ANALYZE, BUFFERS) of each DeleteOldSessions batch and the round's time.
// Without the variable it is skipped: the seeding alone takes a while.
//
//	PLANOAUTH_RETENTION_SESSIONS=200000 go test ./internal/retention -run TestSessionsRetentionAtScale -v
func TestSessionsRetentionAtScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PLANOAUTH_RETENTION_SESSIONS"))
	if n <= 0 {
		t.Skip("set PLANOAUTH_RETENTION_SESSIONS to a number of sessions to measure the retention of sessions")
	}
	ctx := context.Background()
	url := dbtest.NewDatabase(t)
	seedPool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer seedPool.Close()
	seedSessions(t, seedPool, n)
	kept := keptSessions(t, seedPool)

	// Each batch's plan, as auto_explain sends it when the statement ends: the first and every
	// 20th whole, of the others their durations (auto_explain's first line).
	var mu sync.Mutex
	batches := 0
	config, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	config.MaxConns = 1
	config.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		if !strings.Contains(n.Message, "DELETE FROM sessions") {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		batches++
		if batches == 1 || batches%20 == 0 {
			t.Logf("batch %d:\n%s", batches, n.Message)
		} else {
			t.Logf("batch %d: %s", batches, strings.SplitN(n.Message, "\n", 2)[0])
		}
	}
	config.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0;
			SET auto_explain.log_analyze = on; SET auto_explain.log_buffers = on; SET client_min_messages = log`)
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// The round is given PLANOAUTH_RETENTION_BUDGET (default 5m): past it, the figures are the
	// batches it finished.
	budget, err := time.ParseDuration(cmp.Or(os.Getenv("PLANOAUTH_RETENTION_BUDGET"), "5m"))
	if err != nil {
		t.Fatal(err)
	}
	round, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	worker := retention.NewWorker(pool, retention.Defaults, func() time.Time { return now }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	start := time.Now()
	res, err := worker.RunOnce(round)
	took := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	if round.Err() != nil {
		t.Fatalf("%d sessions: the round did not end within %v (%d batches of sessions done: %v)", n, budget, batches, err)
	}
	if err != nil || !res.Ran {
		t.Fatalf("RunOnce = %+v, %v", res, err)
	}
	t.Logf("%d sessions: the round deleted %d sessions in %d batches, %v in all", n, res.Deleted["sessions"], batches, took)
	if left := countSessions(t, seedPool); left != kept {
		t.Errorf("%d sessions left, want the %d still needed", left, kept)
	}
}

// seedSessions writes n sessions (see TestSessionsRetentionAtScale) and analyzes the table.
func seedSessions(t *testing.T, pool *pgxpool.Pool, n int) {
	t.Helper()
	old := now.Add(-retention.Defaults.Sessions - time.Hour)
	exec(t, pool, "INSERT INTO users (id, email) SELECT i, 'user' || i || '@example.com' FROM generate_series(1, 1000) i")
	// Session i's id is i in hex; one in 20 past retention derives from another past retention
	// (both go), one in 20 not past it from one past it (which stays).
	exec(t, pool, `CREATE FUNCTION pg_temp.sid(i bigint) RETURNS uuid IMMUTABLE LANGUAGE sql
		AS $$ SELECT ('00000000-0000-0000-0000-' || lpad(to_hex(i), 12, '0'))::uuid $$`)
	exec(t, pool, `INSERT INTO sessions (id, token_hash, user_id, application_id, role, scopes, created_at, last_used_at,
			proved_at, revoked_at, max_expires_at, derived_from)
		SELECT pg_temp.sid(i), int8send(i), 1 + i % 1000,
			(SELECT id FROM applications WHERE slug = 'planoorder'), 'client', '{}', $1, $1, $1,
			CASE WHEN i % 10 < 3 THEN $2::timestamptz END,
			CASE WHEN i % 10 = 3 THEN $2::timestamptz ELSE $3::timestamptz END,
			CASE i % 20 WHEN 0 THEN ARRAY[pg_temp.sid(i - 10)] WHEN 5 THEN ARRAY[pg_temp.sid(i - 3)] ELSE '{}' END
		FROM generate_series(1, $4::int) i`, old.Add(-time.Hour), old, now.Add(time.Hour), n)
	exec(t, pool, "VACUUM ANALYZE sessions")
}

// keptSessions counts the sessions the round must keep: those not past retention, and those a
// kept one derives from (the seed's chains are one step long).
func keptSessions(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var kept int
	cutoff := now.Add(-retention.Defaults.Sessions)
	err := pool.QueryRow(context.Background(), `WITH live AS (
			SELECT id, derived_from FROM sessions WHERE NOT (coalesce(revoked_at < $1, false) OR coalesce(max_expires_at < $1, false)))
		SELECT count(*) FROM sessions s WHERE s.id IN (SELECT id FROM live) OR s.id IN (SELECT unnest(derived_from) FROM live)`,
		cutoff).Scan(&kept)
	if err != nil {
		t.Fatal(err)
	}
	return kept
}

func countSessions(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var left int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM sessions").Scan(&left); err != nil {
		t.Fatal(err)
	}
	return left
}
