package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// debianRoot is where Debian and Ubuntu install each PostgreSQL major version
// (/usr/lib/postgresql/<major>/bin), none of them on PATH.
const debianRoot = "/usr/lib/postgresql"

// tools runs the PostgreSQL binaries as the OS user the server belongs to.
type tools struct {
	binDir string
	// asPostgres is set when we are root: PostgreSQL refuses to run as root,
	// so its commands run as the postgres OS user and its folders belong to it.
	asPostgres bool
	uid, gid   int
}

// findTools picks the binaries and the OS user for a cluster whose data
// folder holds major version wantMajor ("" for a new cluster).
func findTools(wantMajor string) (tools, error) {
	binDir, err := findBinDir(wantMajor)
	if err != nil {
		return tools{}, err
	}
	t := tools{binDir: binDir, uid: os.Getuid(), gid: os.Getgid()}
	if os.Geteuid() != 0 {
		return t, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return tools{}, fmt.Errorf("running as root, PostgreSQL needs the postgres OS user: %w", err)
	}
	t.asPostgres = true
	t.uid, _ = strconv.Atoi(u.Uid)
	t.gid, _ = strconv.Atoi(u.Gid)
	return t, nil
}

// findBinDir prefers the binaries matching an existing cluster (a newer
// major version cannot open it), then pg_config's answer, then the highest
// Debian-installed version, then PATH.
func findBinDir(wantMajor string) (string, error) {
	if wantMajor != "" {
		if dir := filepath.Join(debianRoot, wantMajor, "bin"); hasServerBinaries(dir) {
			return dir, nil
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); hasServerBinaries(dir) {
			return dir, nil
		}
	}
	if dir := highestDebianBinDir(); dir != "" {
		return dir, nil
	}
	if path, err := exec.LookPath("pg_ctl"); err == nil {
		if dir := filepath.Dir(path); hasServerBinaries(dir) {
			return dir, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: install PostgreSQL or put its bin folder on PATH")
}

func highestDebianBinDir() string {
	entries, _ := os.ReadDir(debianRoot)
	var versions []float64
	for _, e := range entries {
		v, err := strconv.ParseFloat(e.Name(), 64) // "9.6" < "10"
		if err == nil && hasServerBinaries(filepath.Join(debianRoot, e.Name(), "bin")) {
			versions = append(versions, v)
		}
	}
	if len(versions) == 0 {
		return ""
	}
	sort.Float64s(versions)
	return filepath.Join(debianRoot, strconv.FormatFloat(versions[len(versions)-1], 'f', -1, 64), "bin")
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return false
		}
	}
	return true
}

// run runs a PostgreSQL binary and returns its combined output. A failure's
// error includes the output, which is where PostgreSQL explains itself.
func (t tools) run(ctx context.Context, name string, args ...string) (string, error) {
	path := filepath.Join(t.binDir, name)
	cmd := exec.CommandContext(ctx, path, args...)
	if t.asPostgres {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	// The current folder may be one the postgres user cannot enter (/root).
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// own gives path to the server's OS user, so it can use a folder we created.
func (t tools) own(path string) error {
	if !t.asPostgres {
		return nil
	}
	if err := os.Chown(path, t.uid, t.gid); err != nil {
		return fmt.Errorf("give %s to the postgres user: %w", path, err)
	}
	return nil
}

// makeTraversable lets the postgres user pass through dir (search
// permission only, not listing) when we run as root.
func (t tools) makeTraversable(dir string) error {
	if !t.asPostgres {
		return nil
	}
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("make %s traversable: %w", dir, err)
	}
	if info.Mode().Perm()&0o001 != 0 {
		return nil
	}
	if err := os.Chmod(dir, info.Mode().Perm()|0o001); err != nil {
		return fmt.Errorf("make %s traversable: %w", dir, err)
	}
	return nil
}

// exitCode returns a command's exit status, or -1 if it did not run to the end.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode()
	}
	return -1
}

// readMajorVersion returns the PostgreSQL major version of the cluster in
// dataDir, or "" when dataDir holds no cluster.
func readMajorVersion(dataDir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, "PG_VERSION"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read cluster version: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}
