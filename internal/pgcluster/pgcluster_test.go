package pgcluster

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestStartTemp(t *testing.T) {
	ctx := t.Context()
	c, err := StartTemp(ctx, Options{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })

	for range 2 { // the second call finds the database
		if err := c.EnsureDatabase(ctx, "app db"); err != nil {
			t.Fatal(err)
		}
	}
	selectOne(t, c.URL("app db"))
	assertNoTCPListener(t, c)

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{c.tempDir, c.socketDir} {
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still exists after Stop (stat: %v)", dir, err)
		}
	}
}

func TestStartReusesRunningServer(t *testing.T) {
	ctx := t.Context()
	dataDir := persistentDataDir(t)

	first, err := Start(ctx, dataDir, Options{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = first.Stop() })
	if err := first.EnsureDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}

	second, err := Start(ctx, dataDir, Options{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	if second.startedServer {
		t.Error("second Start started a server instead of reusing the running one")
	}
	if err := second.Stop(); err != nil {
		t.Fatal(err)
	}
	selectOne(t, first.URL("app")) // the reused server survived second.Stop

	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); err != nil {
		t.Errorf("Stop of a persistent cluster removed its data: %v", err)
	}
}

// A crash leaves postmaster.pid behind; Start must see no server runs and start one.
func TestStartAfterCrashLeftPidFile(t *testing.T) {
	ctx := t.Context()
	dataDir := persistentDataDir(t)
	c, err := Start(ctx, dataDir, Options{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dataDir, "postmaster.pid")
	contents, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	// Put the file back with the pid of a process that has exited.
	lines := strings.SplitN(string(contents), "\n", 2)
	if err := os.WriteFile(pidFile, []byte(exitedPid(t)+"\n"+lines[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.tools.own(pidFile); err != nil {
		t.Fatal(err)
	}

	restarted, err := Start(ctx, dataDir, Options{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = restarted.Stop() })
	if !restarted.startedServer {
		t.Error("Start took the stale postmaster.pid for a running server")
	}
	selectOne(t, restarted.URL("postgres"))
}

func selectOne(t *testing.T, databaseURL string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var one int
	if err := conn.QueryRow(t.Context(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
}

func assertNoTCPListener(t *testing.T, c *Cluster) {
	t.Helper()
	addresses, err := readPidFileLine(c.dataDir, 6) // listen_addresses
	if err != nil {
		t.Fatal(err)
	}
	if addresses != "" {
		t.Errorf("server listens on TCP %q", addresses)
	}
}

// persistentDataDir returns a data folder for Start that the test removes,
// with its socket folder. Its path is too long for a socket path, which
// Start must cope with.
func persistentDataDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pgcluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	// As root, the postgres user must be able to pass through (Start only
	// opens up the data folder's parent; t.TempDir's folders are private).
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, strings.Repeat("a-rather-long-folder-name/", 5), "pg")
	t.Cleanup(func() {
		_ = os.RemoveAll(dir)
		_ = os.RemoveAll(socketDirFor(dataDir))
	})
	return dataDir
}

// exitedPid returns the pid of a process that has finished.
func exitedPid(t *testing.T) string {
	t.Helper()
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(p.Pid)
}
