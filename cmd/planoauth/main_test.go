package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/dbtest"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/migrate"
	"github.com/plano/planoauth/internal/registry"
	"github.com/plano/planoauth/internal/spec"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m, migrate.Up)) }

// testDB is a database of the test's own, migrated.
type testDB struct {
	url  string
	pool *pgxpool.Pool
	q    *db.Queries
	// env is the rest of the environment the command line sees.
	env map[string]string
}

// newTestDB returns a fresh database; with synced, its route registry is synced from the
// contract, as serve leaves it.
func newTestDB(t *testing.T, synced bool) *testDB {
	t.Helper()
	url := dbtest.NewDatabase(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(pool.Close)
	if synced {
		contract, err := spec.Load()
		if err != nil {
			t.Fatal(err)
		}
		if err := registry.New(pool, contract, slog.New(slog.NewJSONHandler(io.Discard, nil))).Sync(context.Background()); err != nil {
			t.Fatalf("sync the registry: %v", err)
		}
	}
	return &testDB{url: url, pool: pool, q: db.New(pool)}
}

// cli runs the command line against the database and returns what it printed on stdout.
func (d *testDB) cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(name string) string {
		if name == "DATABASE_URL" {
			return d.url
		}
		return d.env[name]
	}
	err := run(t.Context(), args, getenv, &stdout, &stderr)
	return stdout.String(), err
}

// mustCLI runs the command line and fails the test if it fails.
func (d *testDB) mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := d.cli(t, args...)
	if err != nil {
		t.Fatalf("planoauth %v: %v", args, err)
	}
	return out
}
