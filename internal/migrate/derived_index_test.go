package migrate_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/migrate"
)

// derivedFromIndexes lists the indexes of sessions over derived_from, each with whether it is
// valid.
func derivedFromIndexes(t *testing.T, pool *pgxpool.Pool) map[string]bool {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT c.relname, i.indisvalid FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'sessions'::regclass
		AND c.relname LIKE 'sessions_derived_from%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var name string
		var valid bool
		if err := rows.Scan(&name, &valid); err != nil {
			t.Fatal(err)
		}
		out[name] = valid
	}
	return out
}

// 00085 builds its index CONCURRENTLY, outside a transaction. Behind a write to sessions in flight
// longer than the lock timeout the build gives up and leaves an invalid index; tried again once
// the write ended, the migration drops that and builds it whole, and the index of 00083 goes.
func TestDerivedFromIndexBuiltConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, pool, exec := migratedUpTo(t, 84)
	exec("INSERT INTO users (id, email) VALUES (1, 'ada@example.com')")
	exec(`INSERT INTO sessions (token_hash, user_id, application_id, role, scopes, proved_at, derived_from)
		SELECT '\x01', 1, id, 'client', '{}', now(), ARRAY[gen_random_uuid()] FROM applications WHERE slug = 'planoorder'`)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "UPDATE sessions SET last_used_at = now()"); err != nil {
		t.Fatal(err)
	}
	policy := migrate.Policy{LockTimeout: 100 * time.Millisecond, Tries: 1}
	err = policy.Up(ctx, url)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "55P03" {
		t.Fatalf("Up behind a write = %v, want lock_not_available (55P03)", err)
	}
	if v := version(t, url); v != 84 {
		t.Errorf("version %d after the refusal, want 84", v)
	}
	if got := derivedFromIndexes(t, pool); got["sessions_derived_from_named_idx"] || !got["sessions_derived_from_idx"] {
		t.Errorf("indexes over derived_from after the refusal: %v, want 00083's valid and the new one invalid or absent", got)
	} else if _, left := got["sessions_derived_from_named_idx"]; !left {
		t.Log("the refused build left no invalid index")
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := policy.Up(ctx, url); err != nil {
		t.Fatalf("Up once the write ended: %v", err)
	}
	got := derivedFromIndexes(t, pool)
	if len(got) != 1 || !got["sessions_derived_from_named_idx"] {
		t.Errorf("indexes over derived_from: %v, want sessions_derived_from_named_idx alone, valid", got)
	}
}
