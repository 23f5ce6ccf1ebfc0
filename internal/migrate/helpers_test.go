package migrate_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/dbtest"
	"github.com/plano/planoauth/internal/migrate"
)

// migratedUpTo makes an empty database, applies the migrations up to and including version (so
// that a test can store the data of before the next ones) and returns its URL, a pool on it
// (closed when the test ends) and exec, which runs a statement and fails the test on an error.
func migratedUpTo(t *testing.T, version int64) (url string, pool *pgxpool.Pool, exec func(sql string, args ...any)) {
	t.Helper()
	ctx := context.Background()
	url = dbtest.NewEmptyDatabase(t)
	if err := migrate.UpTo(ctx, url, version); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	exec = func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	return url, pool, exec
}
