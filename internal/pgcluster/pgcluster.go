// Package pgcluster runs a private PostgreSQL cluster from the PostgreSQL
// binaries installed on the machine: a persistent one in a data folder (for
// `planoauth serve` without DATABASE_URL) or a throwaway one (for tests).
//
// The server listens only on a unix socket in a folder only its OS user may
// enter, and trusts every connection that gets there.
package pgcluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const (
	// readyTimeout bounds how long we wait for a server to accept connections.
	readyTimeout = 60 * time.Second
	// stopTimeout bounds a fast shutdown, which only waits for sessions to end.
	stopTimeout = 60 * time.Second
	// serverPort only names the socket file: each cluster has its own socket
	// folder, so clusters never clash on it.
	serverPort = 5432
	// logFileName is the server log, kept inside the data folder so it needs
	// no other folder the postgres user can write to.
	logFileName = "server.log"
)

// Options adjusts how a cluster is started.
type Options struct {
	// Logger receives progress messages; nil discards them.
	Logger *slog.Logger
	// Fast trades crash safety for speed (fsync, synchronous_commit and
	// full_page_writes off). Only for throwaway test clusters. Like all
	// settings, it does not change a running server that Start reuses.
	Fast bool
}

// Cluster is a PostgreSQL cluster running from a data folder on this machine.
type Cluster struct {
	dataDir   string
	socketDir string
	port      int
	tools     tools
	log       *slog.Logger
	// startedServer is set when this Cluster started the server, so Stop
	// stops it; a server that was already running is left to its starter.
	startedServer bool
	// tempDir is StartTemp's folder, removed by Stop.
	tempDir string
}

// Start initialises dataDir if it holds no cluster yet and starts the
// server, or reuses the server already running from dataDir (for example one
// a previous run left behind). It returns once the server accepts
// connections. When Start reused a running server, Stop leaves it running.
func Start(ctx context.Context, dataDir string, opts Options) (*Cluster, error) {
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("start PostgreSQL: %w", err)
	}
	c, err := start(ctx, dataDir, opts)
	if err != nil {
		return nil, fmt.Errorf("start PostgreSQL in %s: %w", dataDir, withPermissionHint(err))
	}
	return c, nil
}

// StartTemp starts a throwaway cluster in a new temporary folder, which Stop
// removes.
func StartTemp(ctx context.Context, opts Options) (*Cluster, error) {
	tempDir, err := os.MkdirTemp("", "planoauth-pgtmp-")
	if err != nil {
		return nil, fmt.Errorf("start temporary PostgreSQL: %w", err)
	}
	c, err := start(ctx, filepath.Join(tempDir, "data"), opts)
	if err != nil {
		_ = os.RemoveAll(tempDir)
		_ = os.RemoveAll(socketDirFor(filepath.Join(tempDir, "data")))
		return nil, fmt.Errorf("start temporary PostgreSQL in %s: %w", tempDir, err)
	}
	c.tempDir = tempDir
	return c, nil
}

func start(ctx context.Context, dataDir string, opts Options) (*Cluster, error) {
	major, err := readMajorVersion(dataDir)
	if err != nil {
		return nil, err
	}
	t, err := findTools(major)
	if err != nil {
		return nil, err
	}
	c := &Cluster{dataDir: dataDir, tools: t, log: opts.Logger}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(dataDir), 0o755); err != nil {
		return nil, fmt.Errorf("create parent folder: %w", err)
	}
	if err := t.makeTraversable(filepath.Dir(dataDir)); err != nil {
		return nil, err
	}
	running := false
	if major == "" {
		err = c.initialise(ctx, opts.Fast)
	} else {
		running, err = c.isRunning(ctx)
	}
	if err != nil {
		return nil, err
	}
	if running {
		c.log.Info("reusing running PostgreSQL", "dir", dataDir)
		err = c.waitUntilReady(ctx)
	} else {
		err = c.startServer(ctx, opts.Fast)
	}
	if err != nil {
		return nil, err
	}
	// Read where the server really listens: a reused server may have been
	// started with other settings.
	if c.socketDir, c.port, err = readSocket(dataDir); err != nil {
		return nil, errors.Join(err, c.Stop())
	}
	return c, nil
}

// initialise creates a new cluster in c.dataDir.
func (c *Cluster) initialise(ctx context.Context, fast bool) error {
	c.log.Info("initialising PostgreSQL cluster", "dir", c.dataDir)
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	if err := c.tools.own(c.dataDir); err != nil {
		return err
	}
	args := []string{"-D", c.dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"}
	if fast {
		args = append(args, "--no-sync")
	}
	if _, err := c.tools.run(ctx, "initdb", args...); err != nil {
		return fmt.Errorf("initialise cluster: %w", err)
	}
	return nil
}

// isRunning asks pg_ctl, which also sees through a postmaster.pid left by a
// crash (its process is gone).
func (c *Cluster) isRunning(ctx context.Context) (bool, error) {
	_, err := c.tools.run(ctx, "pg_ctl", "status", "-D", c.dataDir)
	switch exitCode(err) {
	case 0:
		return true, nil
	case 3: // no server running
		return false, nil
	default:
		return false, fmt.Errorf("check whether PostgreSQL runs: %w", err)
	}
}

func (c *Cluster) startServer(ctx context.Context, fast bool) error {
	socketDir := socketDirFor(c.dataDir)
	if err := c.prepareSocketDir(socketDir); err != nil {
		return err
	}
	settings := []string{
		"listen_addresses=", // unix socket only
		"unix_socket_directories=" + socketDir,
		"port=" + strconv.Itoa(serverPort), // overrides a PGPORT in our environment
		"max_connections=200",
	}
	if fast {
		settings = append(settings, "fsync=off", "synchronous_commit=off", "full_page_writes=off")
	}
	// pg_ctl hands -o to a shell, hence the quoting.
	var serverOptions []string
	for _, s := range settings {
		serverOptions = append(serverOptions, "-c "+shellQuote(s))
	}
	c.log.Info("starting PostgreSQL", "dir", c.dataDir)
	logFile := filepath.Join(c.dataDir, logFileName)
	_, err := c.tools.run(ctx, "pg_ctl", "start", "-w", "-t", strconv.Itoa(int(readyTimeout.Seconds())),
		"-D", c.dataDir, "-l", logFile, "-o", strings.Join(serverOptions, " "))
	if err != nil {
		return fmt.Errorf("start server: %w\nlast lines of %s:\n%s", err, logFile, logTail(logFile))
	}
	c.startedServer = true
	return nil
}

// socketDirFor returns the socket folder for a data folder. Socket paths are
// limited to about 107 bytes, so it lives directly under /tmp (not TMPDIR,
// which can be long), named after a hash of dataDir so a restarted cluster
// finds the same folder again.
func socketDirFor(dataDir string) string {
	sum := sha256.Sum256([]byte(dataDir))
	return "/tmp/planoauth-pg-" + hex.EncodeToString(sum[:4])
}

// prepareSocketDir makes dir a folder only the server's OS user may enter,
// whether it is missing (first run, or /tmp was cleaned) or left by an
// earlier run. Anyone can create names in /tmp, so a folder we did not make
// (another owner, a symlink) is refused rather than trusted.
func (c *Cluster) prepareSocketDir(dir string) error {
	err := os.Mkdir(dir, 0o700)
	if err == nil {
		return c.tools.own(dir)
	}
	if !os.IsExist(err) {
		return fmt.Errorf("create socket folder: %w", err)
	}
	info, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("check socket folder: %w", err)
	}
	if !info.IsDir() || fileOwner(info) != c.tools.uid {
		return fmt.Errorf("socket folder %s is not a folder owned by uid %d; remove it", dir, c.tools.uid)
	}
	if info.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("make socket folder private: %w", err)
		}
	}
	return nil
}

// waitUntilReady waits for a running server to finish starting up (another
// process may have just started it).
func (c *Cluster) waitUntilReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	for {
		status, err := readPidFileLine(c.dataDir, pidLineStatus)
		if err != nil {
			return err
		}
		if status == "ready" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("running server did not become ready (status %q): %w", status, ctx.Err())
		case <-ticker.C:
		}
	}
}

// URL returns a connection URL for database dbname as the postgres superuser.
func (c *Cluster) URL(dbname string) string {
	u := url.URL{
		Scheme: "postgres",
		User:   url.User("postgres"),
		Path:   "/" + dbname,
		// libpq-style parsers (pgx included) do not read '+' as a space.
		RawQuery: "host=" + strings.ReplaceAll(url.QueryEscape(c.socketDir), "+", "%20") +
			"&port=" + strconv.Itoa(c.port) + "&sslmode=disable",
	}
	return u.String()
}

// EnsureDatabase creates database name unless it already exists.
func (c *Cluster) EnsureDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("ensure database %s: %w", name, err)
	}
	defer conn.Close(context.Background())
	var exists bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		return fmt.Errorf("ensure database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: someone else just made it
		return nil
	}
	if err != nil {
		return fmt.Errorf("ensure database %s: %w", name, err)
	}
	return nil
}

// Stop stops the server with a fast shutdown (open sessions are ended) if
// this Cluster started it, and removes the folder of a StartTemp cluster.
// A server that Start found already running is left running, since whoever
// started it may still use it.
func (c *Cluster) Stop() error {
	if c.startedServer {
		c.log.Info("stopping PostgreSQL", "dir", c.dataDir)
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if _, err := c.tools.run(ctx, "pg_ctl", "stop", "-m", "fast", "-w", "-D", c.dataDir); err != nil {
			return fmt.Errorf("stop PostgreSQL in %s: %w", c.dataDir, err)
		}
		c.startedServer = false
	}
	if c.tempDir != "" {
		if err := os.RemoveAll(c.tempDir); err != nil {
			return fmt.Errorf("remove temporary PostgreSQL: %w", err)
		}
		if err := os.RemoveAll(socketDirFor(c.dataDir)); err != nil {
			return fmt.Errorf("remove temporary PostgreSQL: %w", err)
		}
	}
	return nil
}

// withPermissionHint explains the usual cause of "Permission denied" when we
// run as root: the server runs as the postgres user, and only the data
// folder's parent is opened up for it, not the folders above (like /root).
func withPermissionHint(err error) error {
	if os.Geteuid() != 0 || !strings.Contains(err.Error(), "Permission denied") {
		return err
	}
	return fmt.Errorf("%w\n(the postgres OS user must be able to enter every folder above the data folder; chmod o+x them)", err)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// logTail returns the end of the server log, where a failed start is explained.
func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}
