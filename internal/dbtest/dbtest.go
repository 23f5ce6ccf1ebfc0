// Package dbtest gives each test its own PostgreSQL database, cloned from a
// template database that is migrated once per test process.
//
// A package's TestMain calls Run; its tests call NewDatabase. The server is
// the one DATABASE_URL names, or else a throwaway cluster on this machine.
// Every database name contains the process id and a random part, so several
// test processes can share one server.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/pgcluster"
)

const (
	// setupTimeout bounds finding a server and migrating the template, so a
	// broken server fails TestMain instead of hanging until go test's timeout.
	setupTimeout = 2 * time.Minute
	// adminTimeout bounds one CREATE or DROP DATABASE.
	adminTimeout = 30 * time.Second
)

// server is what Run sets up for the whole test process. It is a package
// variable because TestMain and the tests share nothing else to carry it.
type server struct {
	adminURL string
	cluster  *pgcluster.Cluster // nil when DATABASE_URL names the server
	runID    string             // "<pid>_<random hex>", part of every database name we create
	template string
	created  atomic.Int64 // numbers the test databases

	// mu guards admin, and so serialises the CREATE DATABASE ... TEMPLATE
	// calls of parallel tests.
	mu    sync.Mutex
	admin *pgx.Conn
}

var current *server

// Run is called from a package's TestMain, as os.Exit(dbtest.Run(m, migrate)).
// It finds a PostgreSQL server (DATABASE_URL if set, otherwise a throwaway
// cluster), creates a template database, applies migrate to it, runs the
// tests, then drops what it created and stops a throwaway cluster. It
// returns the exit code for os.Exit.
func Run(m *testing.M, migrate func(ctx context.Context, databaseURL string) error) int {
	s, err := setUp(migrate)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dbtest: %v\n", err)
		return 1
	}
	current = s
	code := m.Run()
	if err := s.tearDown(); err != nil {
		fmt.Fprintf(os.Stderr, "dbtest: %v\n", err)
		return max(code, 1)
	}
	return code
}

// NewDatabase creates a database cloned from the migrated template, drops
// it when tb ends, and returns its URL. It is safe to call from parallel tests.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	return newDatabase(tb, true)
}

// NewEmptyDatabase creates an empty database (no migration applied), for
// tests of a migration that need the data of before it; it is dropped when
// tb ends.
func NewEmptyDatabase(tb testing.TB) string {
	tb.Helper()
	return newDatabase(tb, false)
}

func newDatabase(tb testing.TB, migrated bool) string {
	tb.Helper()
	if current == nil {
		tb.Fatal("dbtest: a database needs dbtest.Run in the package's TestMain")
	}
	s := current
	name := fmt.Sprintf("planoauth_test_%s_%d", s.runID, s.created.Add(1))
	databaseURL, err := withDatabase(s.adminURL, name)
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	create := "CREATE DATABASE " + quote(name)
	if migrated {
		create += " TEMPLATE " + quote(s.template)
	}
	if err := s.exec(tb.Context(), create); err != nil {
		tb.Fatalf("dbtest: create test database: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.dropDatabase(name); err != nil {
			tb.Errorf("dbtest: %v", err)
		}
	})
	return databaseURL
}

// AdminURL returns the URL tests can use to create or drop extra databases:
// DATABASE_URL itself when set, otherwise the throwaway cluster's postgres
// database.
func AdminURL() string {
	if current == nil {
		panic("dbtest: AdminURL needs dbtest.Run in the package's TestMain")
	}
	return current.adminURL
}

// setUp prepares a server with a migrated template, or undoes what it did.
func setUp(migrate func(ctx context.Context, databaseURL string) error) (*server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	s := &server{runID: fmt.Sprintf("%d_%s", os.Getpid(), randomHex())}
	if err := s.setUp(ctx, migrate); err != nil {
		return nil, errors.Join(err, s.tearDown())
	}
	return s, nil
}

func (s *server) setUp(ctx context.Context, migrate func(ctx context.Context, databaseURL string) error) error {
	if err := s.connect(ctx); err != nil {
		return err
	}
	template := "planoauth_tmpl_" + s.runID
	templateURL, err := withDatabase(s.adminURL, template)
	if err != nil {
		return err
	}
	if err := s.exec(ctx, "CREATE DATABASE "+quote(template)); err != nil {
		return fmt.Errorf("create template database: %w", err)
	}
	s.template = template
	if err := migrate(ctx, templateURL); err != nil {
		return fmt.Errorf("migrate template database: %w", err)
	}
	// PostgreSQL refuses to clone a database others are connected to: end
	// any session migrate left open and allow no new ones.
	// (CREATE DATABASE waits a few seconds for terminated sessions to exit.)
	if err := s.exec(ctx, "ALTER DATABASE "+quote(template)+" WITH ALLOW_CONNECTIONS false"); err != nil {
		return fmt.Errorf("close template database: %w", err)
	}
	err = s.exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", template)
	if err != nil {
		return fmt.Errorf("close template database: %w", err)
	}
	return nil
}

// connect starts a throwaway cluster unless DATABASE_URL is set, and opens
// the admin connection.
func (s *server) connect(ctx context.Context) error {
	s.adminURL = os.Getenv("DATABASE_URL")
	if s.adminURL == "" {
		cluster, err := pgcluster.StartTemp(ctx, pgcluster.Options{Fast: true})
		if err != nil {
			return err
		}
		s.cluster = cluster
		s.adminURL = cluster.URL("postgres")
	}
	admin, err := pgx.Connect(ctx, s.adminURL)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	s.admin = admin
	return nil
}

// tearDown drops the template and stops a throwaway cluster; it copes with
// a partial setUp.
func (s *server) tearDown() error {
	var errs []error
	if s.admin != nil {
		if s.template != "" {
			errs = append(errs, s.dropDatabase(s.template))
		}
		errs = append(errs, s.admin.Close(context.Background()))
	}
	if s.cluster != nil {
		errs = append(errs, s.cluster.Stop())
	}
	return errors.Join(errs...)
}

// dropDatabase drops a database even if a test left connections open. It
// runs during cleanup, when the test's context is already cancelled.
func (s *server) dropDatabase(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+quote(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// exec runs one statement on the shared admin connection.
func (s *server) exec(ctx context.Context, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.admin.Exec(ctx, sql, args...)
	return err
}

// withDatabase returns baseURL pointing at database name instead, keeping
// everything else (user, host, query parameters such as a socket host).
func withDatabase(baseURL, name string) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("DATABASE_URL must be a postgres:// URL")
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

func quote(identifier string) string {
	return pgx.Identifier{identifier}.Sanitize()
}

func randomHex() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return hex.EncodeToString(b)
}
