package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

// propagation is how soon a registry change must reach every instance (LISTEN/NOTIFY; the
// periodic refresh alone would take 30 seconds).
const propagation = time.Second

// TestInstancesShareTheRegistry runs two `planoauth serve` processes on one database and
// undeploys a route with the command line: both must answer route-not-found within a second,
// and serve it again within a second of deploying it.
func TestInstancesShareTheRegistry(t *testing.T) {
	t.Parallel()
	d := newTestDB(t, false) // serve syncs the registry itself
	bin := buildBinary(t)
	first, second := startServe(t, bin, d.url), startServe(t, bin, d.url)
	instances := []*instance{first.wait(t), second.wait(t)}
	const probe = "/api/v1/coexistence/index" // without a token: missing-param while deployed

	for _, in := range instances {
		if got := in.status(t, probe); got != gen.StatusMissingParam {
			t.Fatalf("%s answered %s before any change, want %s", in.base, got, gen.StatusMissingParam)
		}
	}
	d.mustCLI(t, "routes", "undeploy", "coexistenceIndex")
	waitForStatus(t, instances, probe, gen.StatusRouteNotFound)
	d.mustCLI(t, "routes", "deploy", probe)
	waitForStatus(t, instances, probe, gen.StatusMissingParam)
}

// buildBinary builds cmd/planoauth, as an operator would run it.
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build planoauth: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "planoauth")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// instance is a running `planoauth serve`.
type instance struct {
	base  string // http://127.0.0.1:PORT
	cmd   *exec.Cmd
	ready chan string // the address it printed, or "" when its output ended first
	// metrics is the metrics address it printed (PLANOAUTH_METRICS_ADDR), before listening.
	metrics chan string
	logs    apitest.LogBuffer
	client  *http.Client
}

// startServe starts `planoauth serve` on a free port; wait returns it once it listens. The
// process gets SIGTERM when the test ends, and must shut down cleanly.
func startServe(t *testing.T, bin, databaseURL string, env ...string) *instance {
	t.Helper()
	in := &instance{ready: make(chan string, 2), metrics: make(chan string, 1), client: &http.Client{Timeout: 2 * time.Second}}
	in.cmd = exec.Command(bin, "serve")
	in.cmd.Env = append(append(os.Environ(), "DATABASE_URL="+databaseURL, "PLANOAUTH_ADDR=127.0.0.1:0",
		"PLANOAUTH_LOG_LEVEL=warn", "PLANOAUTH_SHUTDOWN_TIMEOUT=5s"), env...)
	in.cmd.Stderr = &in.logs
	stdout, err := in.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := in.cmd.Start(); err != nil {
		t.Fatalf("start planoauth serve: %v", err)
	}
	go in.readAddress(stdout)
	t.Cleanup(func() { in.stop(t) })
	return in
}

// readAddress finds "PlanoAuth listening on http://ADDR ..." (tokens are printed before it) and
// keeps draining stdout so the process never blocks on it.
func (in *instance) readAddress(stdout io.Reader) {
	const prefix, metricsPrefix = "PlanoAuth listening on http://", "PlanoAuth metrics on http://"
	scanner := bufio.NewScanner(stdout)
	for scanner.Scan() {
		if rest, ok := strings.CutPrefix(scanner.Text(), prefix); ok {
			in.ready <- strings.Fields(rest)[0]
		}
		if rest, ok := strings.CutPrefix(scanner.Text(), metricsPrefix); ok {
			in.metrics <- strings.TrimSuffix(rest, "/metrics")
		}
	}
	in.ready <- ""
}

func (in *instance) wait(t *testing.T) *instance {
	t.Helper()
	select {
	case addr := <-in.ready:
		if addr == "" {
			t.Fatalf("planoauth serve stopped before listening:\n%s", in.logs.String())
		}
		in.base = "http://" + addr
	case <-time.After(time.Minute):
		t.Fatalf("planoauth serve did not listen within a minute:\n%s", in.logs.String())
	}
	return in
}

func (in *instance) stop(t *testing.T) {
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- in.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("planoauth serve exited with %v after SIGTERM", err)
		}
	case <-time.After(15 * time.Second):
		_ = in.cmd.Process.Kill()
		<-exited
		t.Errorf("planoauth serve ignored SIGTERM for 15 seconds")
	}
	if logs := in.logs.String(); t.Failed() && logs != "" {
		t.Logf("logs of %s:\n%s", in.base, logs)
	}
}

// status returns the status slug of a GET.
func (in *instance) status(t *testing.T, path string) gen.Status {
	t.Helper()
	status, err := in.get(path)
	if err != nil {
		t.Fatal(err)
	}
	return status
}

func (in *instance) get(path string) (gen.Status, error) {
	res, err := in.client.Get(in.base + path)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var envelope struct{ Status gen.Status }
	if err := json.NewDecoder(res.Body).Decode(&envelope); err != nil {
		return "", fmt.Errorf("GET %s%s: not an envelope: %w", in.base, path, err)
	}
	return envelope.Status, nil
}

// waitForStatus polls every instance until all answer want, for at most propagation. It polls
// other processes, whose change it cannot be told of; the deadline is what the test asserts.
func waitForStatus(t *testing.T, instances []*instance, path string, want gen.Status) {
	t.Helper()
	deadline := time.Now().Add(propagation)
	for {
		var pending []string
		for _, in := range instances {
			got, err := in.get(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				pending = append(pending, fmt.Sprintf("%s answers %s", in.base, got))
			}
		}
		if len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, want %s everywhere: %s", propagation, want, strings.Join(pending, "; "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestInstancesShareSessionRevocation runs two `planoauth serve` processes, each caching the
// tokens it resolves: revoking a user's sessions with the command line must reach both caches
// within a second.
func TestInstancesShareSessionRevocation(t *testing.T) {
	t.Parallel()
	d := newTestDB(t, false)
	bin := buildBinary(t)
	first, second := startServe(t, bin, d.url), startServe(t, bin, d.url)
	instances := []*instance{first.wait(t), second.wait(t)}
	waitForListeners(t, d, len(instances))

	const email = "ada@example.com"
	probe := "/api/v1/sessions/read?token=" + first.register(t, email)
	for _, in := range instances { // now cached by both
		if got := in.status(t, probe); got != gen.StatusActionSuccessful {
			t.Fatalf("%s answered %s, want %s", in.base, got, gen.StatusActionSuccessful)
		}
	}
	d.mustCLI(t, "sessions", "revoke", "--user", email)
	waitForStatus(t, instances, probe, gen.StatusInvalidToken)
}

// register registers a planoorder client through the API and returns its session token.
func (in *instance) register(t *testing.T, email string) string {
	t.Helper()
	params, _ := json.Marshal(map[string]any{"application": "planoorder",
		"client": map[string]any{"email": email, "password": "correct horse battery staple"}})
	res, err := in.client.Post(in.base+"/api/v1/clients/register", "text/plain",
		strings.NewReader(base64.StdEncoding.EncodeToString(params)))
	if err != nil {
		t.Fatal(err)
	}
	var registered struct {
		Data struct{ Session struct{ Token string } }
	}
	err = json.NewDecoder(res.Body).Decode(&registered)
	res.Body.Close()
	if err != nil || registered.Data.Session.Token == "" {
		t.Fatalf("register: %d %v", res.StatusCode, err)
	}
	return registered.Data.Session.Token
}

// TestInstancesShareSessionPolicy runs two `planoauth serve` processes, each keeping the
// applications in memory and caching the session it resolves: shortening the application's
// session lifetime with the command line must expire a live session on both within a second.
func TestInstancesShareSessionPolicy(t *testing.T) {
	t.Parallel()
	d := newTestDB(t, false)
	bin := buildBinary(t)
	first, second := startServe(t, bin, d.url), startServe(t, bin, d.url)
	instances := []*instance{first.wait(t), second.wait(t)}
	waitForListeners(t, d, len(instances))
	probe := "/api/v1/sessions/read?token=" + first.register(t, "ada@example.com")
	// Two hours old (as if created then), before either instance read it.
	if _, err := d.pool.Exec(context.Background(), "UPDATE sessions SET created_at = now() - interval '2 hours'"); err != nil {
		t.Fatal(err)
	}
	for _, in := range instances { // now cached by both
		if got := in.status(t, probe); got != gen.StatusActionSuccessful {
			t.Fatalf("%s answered %s, want %s", in.base, got, gen.StatusActionSuccessful)
		}
	}
	d.mustCLI(t, "applications", "session-policy", "planoorder", "--lifetime", "1h")
	waitForStatus(t, instances, probe, gen.StatusSessionExpired)
}

// waitForListeners waits until n instances subscribed to session invalidations: an instance
// caches tokens only while subscribed, so this shows the cache is on in `serve`.
func waitForListeners(t *testing.T, d *testDB, n int) {
	t.Helper()
	deadline := time.Now().Add(propagation)
	for {
		var listeners int
		err := d.pool.QueryRow(context.Background(),
			// This test's database only: the tests running beside it have their instances on
			// the same cluster, listening in databases of their own.
			"SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%LISTEN planoauth_sessions%' AND pid <> pg_backend_pid() "+
				"AND datname = current_database()").Scan(&listeners)
		if err != nil {
			t.Fatal(err)
		}
		if listeners == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d instances subscribed to session invalidations, want %d", listeners, n)
		}
		time.Sleep(10 * time.Millisecond) // polling other processes' connections
	}
}

// TestMetricsOnTheirOwnListener: with PLANOAUTH_METRICS_ADDR, /metrics is served there and not
// on the API's port.
func TestMetricsOnTheirOwnListener(t *testing.T) {
	t.Parallel()
	d := newTestDB(t, false)
	in := startServe(t, buildBinary(t), d.url, "PLANOAUTH_METRICS_ADDR=127.0.0.1:0").wait(t)
	var metricsAddr string
	select {
	case metricsAddr = <-in.metrics:
	default:
		t.Fatal("serve printed no metrics address before listening")
	}
	get := func(url string) (int, string) {
		t.Helper()
		res, err := in.client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	if code, body := get("http://" + metricsAddr + "/metrics"); code != http.StatusOK || !strings.Contains(body, "planoauth_password_hashes_total") {
		t.Errorf("GET /metrics on the metrics listener = %d:\n%.200s", code, body)
	}
	if code, body := get(in.base + "/metrics"); code == http.StatusOK || strings.Contains(body, "go_goroutines") {
		t.Errorf("GET /metrics on the API's port = %d, want no metrics:\n%.200s", code, body)
	}
	if code, _ := get("http://" + metricsAddr + "/api/v1/sessions/read"); code != http.StatusNotFound {
		t.Errorf("the metrics listener served the API (%d)", code)
	}
}
