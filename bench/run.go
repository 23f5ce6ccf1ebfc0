package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/migrate"
	argon "github.com/plano/planoauth/internal/password"
	"github.com/plano/planoauth/internal/pgcluster"
)

const (
	password     = "correct horse battery staple"
	users        = 200
	loginWorkers = 8
)

func run(ctx context.Context, cfg config) error {
	tmp, err := os.MkdirTemp("", "planoauth-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	step("starting PostgreSQL")
	cluster, err := pgcluster.StartTemp(ctx, pgcluster.Options{}) // durable settings, as in production
	if err != nil {
		return err
	}
	defer cluster.Stop()
	if err := cluster.EnsureDatabase(ctx, "bench"); err != nil {
		return err
	}
	url := cluster.URL("bench")
	if err := migrate.Up(ctx, url); err != nil {
		return err
	}
	step("seeding users and sessions")
	f, err := seed(ctx, url)
	if err != nil {
		return err
	}
	step("building and starting planoauth serve and the baseline")
	server, err := startServer(ctx, tmp, url)
	if err != nil {
		return err
	}
	defer server.stop()
	baseline, err := startBaseline(ctx, url)
	if err != nil {
		return err
	}
	defer baseline.stop()

	r := report{cfg: cfg}
	// measure runs one load against a server process, recording the CPU each party spent.
	measure := func(target *process, load func() result) result {
		before := sampleCPU(target)
		res := load()
		res.cpu = before.perRequest(sampleCPU(target), res.requests)
		return res
	}
	tokenPath := func(base, path string) request {
		return func(i int) (*http.Request, error) {
			req, err := http.NewRequest(http.MethodGet, base+path, nil)
			if err == nil {
				req.Header.Set("Authorization", "Bearer "+f.tokens[i%len(f.tokens)])
			}
			return req, err
		}
	}
	step("token path: baseline, then planoauth")
	closedLoop(ctx, "warm-up", cfg.concurrency, time.Second, 200, tokenPath(baseline.url, "/read"))
	r.baseline = measure(baseline, func() result {
		return closedLoop(ctx, "baseline token lookup (peak)", cfg.concurrency, cfg.duration, 200, tokenPath(baseline.url, "/read"))
	})
	closedLoop(ctx, "warm-up", cfg.concurrency, time.Second, 200, tokenPath(server.url, "/api/v1/sessions/read"))
	r.tokenPeak = measure(server, func() result {
		return closedLoop(ctx, "sessions/read (peak)", cfg.concurrency, cfg.duration, 200, tokenPath(server.url, "/api/v1/sessions/read"))
	})
	r.tokenHalf = openLoop(ctx, "sessions/read (half of peak, open loop)", r.tokenPeak.rate()/2, cfg.duration, 200, tokenPath(server.url, "/api/v1/sessions/read"))

	step("argon2id raw hash rate")
	r.hashRate = hashRate(ctx, cfg.duration)
	step("sessions/create")
	r.login = measure(server, func() result {
		return closedLoop(ctx, "sessions/create", loginWorkers, cfg.duration, 200, sensitive(server.url+"/api/v1/sessions/create", func(i int) any {
			return map[string]any{"email": f.emails[i%len(f.emails)], "password": password, "application": "planoorder"}
		}))
	})
	step("clients/register")
	var registered atomic.Int64
	register := sensitive(server.url+"/api/v1/clients/register", func(i int) any {
		return map[string]any{"application": "planoorder", "client": map[string]any{
			"email": fmt.Sprintf("new-%d-%d@example.com", time.Now().UnixNano(), registered.Add(1)), "password": password,
			"first_name": "Bench", "last_name": "Mark"}}
	})
	r.register = measure(server, func() result {
		return closedLoop(ctx, "clients/register", loginWorkers, cfg.duration, 200, register)
	})
	r.peakRSS, err = server.peakRSS()
	if err != nil {
		return err
	}
	return r.write(cfg.out)
}

func step(s string) { fmt.Fprintln(os.Stderr, "bench:", s) }

type fixtures struct {
	emails []string
	tokens []string
}

// seed creates client users sharing one password hash, and a session for each.
func seed(ctx context.Context, url string) (fixtures, error) {
	var f fixtures
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return f, err
	}
	defer pool.Close()
	q := db.New(pool)
	hash, err := argon.NewHasher().Hash(ctx, password)
	if err != nil {
		return f, err
	}
	app, err := q.GetApplicationBySlug(ctx, "planoorder")
	if err != nil {
		return f, err
	}
	scopes, err := q.GetRoleScopes(ctx, db.GetRoleScopesParams{ApplicationID: app.ID, Role: "client"})
	if err != nil {
		return f, err
	}
	for i := 0; i < users; i++ {
		email := fmt.Sprintf("user%d@example.com", i)
		user, err := q.CreateUser(ctx, db.CreateUserParams{Email: email, PasswordHash: &hash, FirstName: "Bench"})
		if err != nil {
			return f, err
		}
		if _, err := q.CreateClient(ctx, db.CreateClientParams{UserID: user.ID}); err != nil {
			return f, err
		}
		token, tokenHash := auth.NewToken(auth.SessionPrefix)
		if _, err := q.CreateSession(ctx, db.CreateSessionParams{TokenHash: tokenHash, UserID: user.ID,
			ApplicationID: app.ID, Role: "client", Scopes: scopes, Now: time.Now()}); err != nil {
			return f, err
		}
		f.emails = append(f.emails, email)
		f.tokens = append(f.tokens, token)
	}
	return f, nil
}

func sensitive(url string, params func(i int) any) request {
	return func(i int) (*http.Request, error) {
		b, err := json.Marshal(params(i))
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(base64.StdEncoding.EncodeToString(b)))
		if err == nil {
			req.Header.Set("Content-Type", "text/plain")
		}
		return req, err
	}
}

// hashRate is how many argon2id hashes per second the machine computes with one per CPU.
func hashRate(ctx context.Context, d time.Duration) float64 {
	h := argon.NewHasher()
	var n atomic.Int64
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if _, err := h.Hash(ctx, password); err == nil {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

type process struct {
	cmd *exec.Cmd
	url string
}

func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
}

// peakRSS reads the process's high-water resident set size.
func (p *process) peakRSS() (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("read server status: %w", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			_, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

func startServer(ctx context.Context, tmp, url string) (*process, error) {
	bin := filepath.Join(tmp, "planoauth")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/planoauth")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build planoauth: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logs, err := os.Create(filepath.Join(tmp, "server.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "serve")
	// Every request comes from one address: lift the per-address registration allowance.
	cmd.Env = append(os.Environ(), "DATABASE_URL="+url, "PLANOAUTH_ADDR="+addr, "PLANOAUTH_REGISTER_LIMIT_ADDRESS=1000000")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = logs
	return startAndWait(cmd, "http://"+addr, "/readyz")
}

func startBaseline(ctx context.Context, url string) (*process, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, "-baseline", addr)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+url)
	cmd.Stderr = os.Stderr
	return startAndWait(cmd, "http://"+addr, "/read")
}

// startAndWait starts cmd and polls path until the server answers, for up to a minute.
func startAndWait(cmd *exec.Cmd, base, path string) (*process, error) {
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &process{cmd: cmd, url: base}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		res, err := http.Get(base + path)
		if err == nil {
			res.Body.Close()
			if res.StatusCode < 500 {
				return p, nil
			}
		}
		time.Sleep(100 * time.Millisecond) // waiting for another process to come up
	}
	p.stop()
	return nil, fmt.Errorf("%s did not come up at %s", cmd.Path, base)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// machine describes where the figures were measured.
func machine() string {
	var b strings.Builder
	model := "unknown CPU"
	if cpu, err := os.Open("/proc/cpuinfo"); err == nil {
		s := bufio.NewScanner(cpu)
		for s.Scan() {
			if name, ok := strings.CutPrefix(s.Text(), "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
				break
			}
		}
		cpu.Close()
	}
	var mem syscall.Sysinfo_t
	_ = syscall.Sysinfo(&mem)
	pg, _ := exec.Command("sh", "-c", `for d in /usr/lib/postgresql/*/bin; do bin=$d; done; "$bin/postgres" --version`).Output()
	fmt.Fprintf(&b, "%d CPUs (%s), %.1f GiB memory, %s, %s/%s, %s", runtime.NumCPU(), model,
		float64(mem.Totalram)*float64(mem.Unit)/(1<<30), runtime.Version(), runtime.GOOS, runtime.GOARCH, strings.TrimSpace(string(pg)))
	return b.String()
}
