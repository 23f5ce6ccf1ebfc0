package dbtest

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) {
	os.Exit(Run(m, createTable))
}

func createTable(ctx context.Context, databaseURL string) error {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "CREATE TABLE t (x int)")
	return err
}

func TestDatabasesAreIsolated(t *testing.T) {
	for _, x := range []int{1, 2} {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			conn := connect(t, NewDatabase(t))
			if _, err := conn.Exec(t.Context(), "INSERT INTO t VALUES ($1)", x); err != nil {
				t.Fatal(err)
			}
			rows, err := conn.Query(t.Context(), "SELECT x FROM t")
			if err != nil {
				t.Fatal(err)
			}
			got, err := pgx.CollectRows(rows, pgx.RowTo[int])
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != x {
				t.Errorf("table t holds %v, want only [%d]", got, x)
			}
		})
	}
}

func TestDatabaseIsDroppedAfterTest(t *testing.T) {
	var name string
	t.Run("uses a database", func(t *testing.T) {
		u, err := url.Parse(NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		name = strings.TrimPrefix(u.Path, "/")
		connect(t, u.String()) // left open: the drop must cope
	})
	var exists bool
	err := connect(t, AdminURL()).QueryRow(t.Context(),
		"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

func TestWithDatabaseKeepsQuery(t *testing.T) {
	got, err := withDatabase("postgres://postgres@/postgres?host=%2Ftmp%2Fpg&port=5432&sslmode=disable", "other")
	if err != nil {
		t.Fatal(err)
	}
	if want := "postgres://postgres@/other?host=%2Ftmp%2Fpg&port=5432&sslmode=disable"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// connect opens a connection that is closed when t ends.
func connect(t *testing.T, databaseURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
