package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/plano/planoauth/internal/pgcluster"
)

const (
	readers  = 32 // clients whose sessions the token-checked reads use
	loginers = 64 // other clients, who log in (with their right passwords)
	// addresses is how many client addresses the logins and registrations come from.
	addresses = 256
	// loginTimeout bounds one login's latency in wrk's histogram; an overloaded hasher is slow.
	loginTimeout = 30 * time.Second
	// maxConnections caps the overload test's connections (one file descriptor each, here and in
	// the server).
	maxConnections = 1000
)

// serverEnv is the settings of both servers measured, beyond the defaults.
//   - The login and registration allowances are lifted (successful logins per account too). A
//     login attempt counts against its account and address until it succeeds, and a success
//     against its account, so the overload test's hundreds of logins in flight would otherwise
//     be refused by those limits; with them lifted, every 429 is the hasher shedding load.
//   - 127.0.0.1 (wrk) is a trusted proxy, so that logins and registrations come from many
//     client addresses (X-Forwarded-For), as they would in production: from one address, every
//     attempt would update the same counter row, and that row, not the hasher, would be the
//     bottleneck. The reads send no X-Forwarded-For.
var serverEnv = []string{"PLANOAUTH_LOGIN_LIMIT_ACCOUNT=1000000", "PLANOAUTH_LOGIN_LIMIT_KNOWN=1000000",
	"PLANOAUTH_LOGIN_LIMIT_ADDRESS=1000000", "PLANOAUTH_LOGIN_SUCCESS_LIMIT_ACCOUNT=1000000", "PLANOAUTH_LOGIN_SUCCESS_LIMIT_ALL=1000000",
	"PLANOAUTH_REGISTER_LIMIT_ADDRESS=1000000", "PLANOAUTH_TRUSTED_PROXIES=127.0.0.1"}

// bench is what one run set up.
type bench struct {
	cfg                      config
	wrk                      *wrk
	procs                    *processes
	on, off                  *process // PlanoAuth with the session cache on (the default) and off
	before, beforeOff        *process // -before: that revision's PlanoAuth, cache on and off; else nil
	traced                   *process // PlanoAuth, cache on, tracing on with its spans dropped
	fixed, lookup, samequery *process
	scopesquery, indexquery  *process // the routes' own queries alone
	f                        fixtures
	phc                      string // a password hash the server stored
}

func run(ctx context.Context, cfg config) error {
	if err := ensureWrk(ctx); err != nil {
		return err
	}
	raiseFileLimit()
	tmp, err := os.MkdirTemp("", "planoauth-bench-")
	if err != nil {
		return err
	}
	if cfg.keep {
		step("keeping the servers' logs and wrk's files in " + tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	r := &report{cfg: cfg, started: time.Now().UTC(), loadBefore: loadAverage()}
	var stops []func()
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}()
	b, err := setUp(ctx, cfg, tmp, &stops)
	if err != nil {
		return err
	}
	if err := b.measure(ctx, r); err != nil {
		return err
	}
	r.loadAfter = loadAverage()
	return r.write(cfg.out)
}

func step(s string) { fmt.Fprintln(os.Stderr, "bench:", s) }

// setUp starts PostgreSQL and every server, and makes the fixtures through the API.
func setUp(ctx context.Context, cfg config, tmp string, stops *[]func()) (*bench, error) {
	b := &bench{cfg: cfg, procs: &processes{cpus: cfg.cpus.machine, cpuIDs: cpuIDs(cfg.cpus.all)}}
	step("starting PostgreSQL")
	cluster, err := pgcluster.StartTemp(ctx, pgcluster.Options{}) // durable settings, as in production
	if err != nil {
		return nil, err
	}
	*stops = append(*stops, func() { _ = cluster.Stop() })
	for _, name := range []string{"bench", "reference"} {
		if err := cluster.EnsureDatabase(ctx, name); err != nil {
			return nil, err
		}
	}
	url := cluster.URL("bench")
	if b.procs.postmaster, err = postmasterPID(ctx, url); err != nil {
		return nil, err
	}
	if err := b.startPlanoAuth(ctx, tmp, url, stops); err != nil {
		return nil, err
	}
	step("registering clients through the API")
	if b.f, err = seed(ctx, b.on, readers, loginers); err != nil {
		return nil, err
	}
	if err := verifyEmails(ctx, url, b.f.readers); err != nil {
		return nil, err
	}
	if err := seedReference(ctx, cluster.URL("reference"), b.f.readers); err != nil {
		return nil, err
	}
	if b.phc, err = passwordHash(ctx, url, b.f.loginers[0].email); err != nil {
		return nil, err
	}
	if err := b.startBaselines(ctx, tmp, url, cluster.URL("reference"), stops); err != nil {
		return nil, err
	}
	b.procs.servers = []*process{b.on, b.off, b.traced, b.fixed, b.lookup, b.samequery, b.scopesquery, b.indexquery}
	if b.before != nil {
		b.procs.servers = append(b.procs.servers, b.before, b.beforeOff)
	}
	b.wrk, err = newWrk(tmp, cfg.threads, cfg.cpus, b.procs)
	return b, err
}

// startPlanoAuth builds the real binary and starts it three times: session cache on, off, and
// on with tracing (every span made, then dropped: what tracing costs without a collector's
// network; tracing off, the default, is the first).
func (b *bench) startPlanoAuth(ctx context.Context, tmp, url string, stops *[]func()) error {
	step("building and starting planoauth serve (session cache on, off, and on with tracing)")
	bin := filepath.Join(tmp, "planoauth")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/planoauth")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build planoauth: %w", err)
	}
	env := append([]string{"DATABASE_URL=" + url}, serverEnv...)
	if b.cfg.memoryLimitMiB > 0 {
		env = append(env, fmt.Sprintf("PLANOAUTH_MEMORY_LIMIT_MIB=%d", b.cfg.memoryLimitMiB))
	}
	if b.cfg.gcPercent > 0 {
		env = append(env, fmt.Sprintf("PLANOAUTH_GC_PERCENT=%d", b.cfg.gcPercent))
	}
	beforeEnv := env
	env = append(slices.Clip(env), b.cfg.env...)
	var err error
	// One after the other: the first applies the migrations.
	if b.on, err = startPlanoAuth(ctx, "planoauth-cache-on", bin, tmp, env...); err != nil {
		return err
	}
	*stops = append(*stops, b.on.stop)
	if b.off, err = startPlanoAuth(ctx, "planoauth-cache-off", bin, tmp, append(env, "PLANOAUTH_SESSION_CACHE_TTL=0s")...); err != nil {
		return err
	}
	*stops = append(*stops, b.off.stop)
	traced := append(env, "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER=none")
	if b.traced, err = startPlanoAuth(ctx, "planoauth-traced", bin, tmp, traced...); err != nil {
		return err
	}
	*stops = append(*stops, b.traced.stop)
	if b.cfg.before == "" {
		return nil
	}
	beforeBin, err := buildRevision(ctx, b.cfg.before, tmp)
	if err != nil {
		return err
	}
	if b.before, err = startPlanoAuth(ctx, "planoauth-before", beforeBin, tmp, beforeEnv...); err != nil {
		return err
	}
	*stops = append(*stops, b.before.stop)
	if b.beforeOff, err = startPlanoAuth(ctx, "planoauth-before-cache-off", beforeBin, tmp, append(beforeEnv, "PLANOAUTH_SESSION_CACHE_TTL=0s")...); err != nil {
		return err
	}
	*stops = append(*stops, b.beforeOff.stop)
	return nil
}

// buildRevision builds planoauth as it was at a git revision, from that revision's files. The
// revision must have the tree's migrations: its server migrates the same database.
func buildRevision(ctx context.Context, rev, tmp string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "--verify", "--end-of-options", rev+"^{commit}").Output()
	if err != nil {
		return "", fmt.Errorf("-before %q is no commit: %w", rev, err)
	}
	sha := strings.TrimSpace(string(out))
	if err := exec.CommandContext(ctx, "git", "diff", "--quiet", sha, "--", "sql/schema").Run(); err != nil {
		return "", fmt.Errorf("-before %s: its migrations differ from the tree's, and both servers would migrate one database", rev)
	}
	step("building planoauth at " + rev + " (" + sha + ")")
	src := filepath.Join(tmp, "before-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	archive := exec.CommandContext(ctx, "git", "archive", "--format=tar", "-o", filepath.Join(tmp, "before.tar"), sha)
	archive.Stderr = os.Stderr
	if err := archive.Run(); err != nil {
		return "", fmt.Errorf("export %s: %w", sha, err)
	}
	untar := exec.CommandContext(ctx, "tar", "-x", "-C", src, "-f", filepath.Join(tmp, "before.tar"))
	untar.Stderr = os.Stderr
	if err := untar.Run(); err != nil {
		return "", fmt.Errorf("unpack %s: %w", sha, err)
	}
	bin := filepath.Join(tmp, "planoauth-before")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/planoauth")
	build.Dir, build.Stderr = src, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("build planoauth at %s: %w", sha, err)
	}
	return bin, nil
}

func (b *bench) startBaselines(ctx context.Context, tmp, url, referenceURL string, stops *[]func()) error {
	step("starting the baselines")
	answer, err := captureAnswer(ctx, b.on, b.f.readers[0], tmp)
	if err != nil {
		return err
	}
	for _, s := range []struct {
		into *(*process)
		kind string
		env  []string
		args []string
	}{
		{&b.fixed, "fixed", nil, []string{"-body", answer}},
		{&b.lookup, "lookup", []string{"DATABASE_URL=" + referenceURL}, nil},
		{&b.samequery, "samequery", []string{"DATABASE_URL=" + url}, nil},
		{&b.scopesquery, "scopesquery", []string{"DATABASE_URL=" + url}, nil},
		{&b.indexquery, "indexquery", []string{"DATABASE_URL=" + url}, nil},
	} {
		p, err := startBaseline(ctx, s.kind, s.env, s.args...)
		if err != nil {
			return err
		}
		*s.into = p
		*stops = append(*stops, p.stop)
	}
	return nil
}

// scenario is one kind of request against one server.
type scenario struct {
	key, label string
	target     *process
	requests   []httpRequest
}

func (b *bench) peakScenarios() []scenario {
	get := func(path string) []httpRequest { return tokenGets(path, b.f.readers) }
	scenarios := []scenario{
		{"fixed", "baseline: fixed answer (net/http)", b.fixed, get("/")},
		{"lookup", "baseline: one SELECT by token hash, one-table sessions (net/http + pgx)", b.lookup, get("/")},
		{"samequery", "baseline: the service's own session query, GetSessionByTokenHash (net/http + pgx)", b.samequery, get("/")},
		{"scopesquery", "baseline: scopes/liaison_register's own query, GetClientProfileByUserID, token check free (net/http + pgx)", b.scopesquery, get("/")},
		{"indexquery", "baseline: sessions/index's own query, ListUserSessions, token check free (net/http + pgx)", b.indexquery, get("/")},
		{"read-on", "sessions/read, cache on", b.on, get("/api/v1/sessions/read")},
		{"read-off", "sessions/read, cache off", b.off, get("/api/v1/sessions/read")},
		{"read-traced", "sessions/read, cache on, tracing on (spans dropped)", b.traced, get("/api/v1/sessions/read")},
		{"scopes-on", "scopes/liaison_register, cache on", b.on, get("/api/v1/scopes/liaison_register")},
		{"scopes-off", "scopes/liaison_register, cache off", b.off, get("/api/v1/scopes/liaison_register")},
		{"index-on", "sessions/index, cache on", b.on, get("/api/v1/sessions/index")},
	}
	if b.before == nil {
		return scenarios
	}
	before := "before (" + b.cfg.before + ")"
	return append(scenarios,
		scenario{"read-before", "sessions/read, cache on, " + before, b.before, get("/api/v1/sessions/read")},
		scenario{"read-off-before", "sessions/read, cache off, " + before, b.beforeOff, get("/api/v1/sessions/read")},
		scenario{"scopes-before", "scopes/liaison_register, cache on, " + before, b.before, get("/api/v1/scopes/liaison_register")},
		scenario{"index-before", "sessions/index, cache on, " + before, b.before, get("/api/v1/sessions/index")},
	)
}

// halfKeys are the peak scenarios also offered half of their own peak rate (and, with -before,
// that revision's sessions/read).
func (b *bench) halfKeys() []string {
	keys := []string{"lookup", "read-on", "read-off"}
	if b.before != nil {
		keys = append(keys, "read-before")
	}
	return keys
}

func (b *bench) measure(ctx context.Context, r *report) error {
	r.scenarios = b.peakScenarios()
	step("warming up every server")
	for _, sc := range r.scenarios {
		if _, err := b.wrk.run(ctx, b.closed(sc, b.cfg.connections, b.cfg.warmup)); err != nil {
			return err
		}
	}
	var loads []load
	for _, sc := range r.scenarios {
		loads = append(loads, b.closed(sc, b.cfg.connections, b.cfg.duration))
	}
	var err error
	if r.peak, err = b.interleave(ctx, "peak throughput", loads); err != nil {
		return err
	}
	loads = nil
	r.halfRate, r.halfKeys = map[string]float64{}, b.halfKeys()
	for _, sc := range r.scenarios {
		if slices.Contains(r.halfKeys, sc.key) {
			r.halfRate[sc.key] = median(rates(r.peak[sc.key])) / 2
			l := b.closed(sc, b.cfg.halfConnections, b.cfg.duration)
			l.rate = r.halfRate[sc.key]
			loads = append(loads, l)
		}
	}
	if r.half, err = b.interleave(ctx, "half of peak (fixed rate)", loads); err != nil {
		return err
	}
	if err := b.logins(ctx, r); err != nil {
		return err
	}
	return b.overload(ctx, r)
}

func (b *bench) closed(sc scenario, connections int, d time.Duration) load {
	return load{name: sc.key, target: sc.target, requests: sc.requests, connections: connections, duration: d}
}

// interleave runs every load once per round, in the same order each round (A B A B ...), so
// that a change in the machine's load meanwhile falls on all of them alike.
func (b *bench) interleave(ctx context.Context, phase string, loads []load) (map[string][]sample, error) {
	out := map[string][]sample{}
	for round := 1; round <= b.cfg.rounds; round++ {
		step(fmt.Sprintf("%s, round %d of %d", phase, round, b.cfg.rounds))
		for _, l := range loads {
			s, err := b.wrk.run(ctx, l)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(os.Stderr, "  %-12s %8.0f req/s  p99 %s  errors %d\n", l.name, s.rate(), ms(s.p99), s.errors)
			out[l.name] = append(out[l.name], s)
		}
	}
	return out, nil
}

// logins alternates the raw argon2id rate, logins and registrations, round after round, and
// reads the server's peak RSS over them.
func (b *bench) logins(ctx context.Context, r *report) error {
	var err error
	if r.startRSS, err = b.on.rss(); err != nil {
		return err
	}
	r.rssReset = b.on.resetPeakRSS()
	logins := b.loginRequests()
	for round := 1; round <= b.cfg.rounds; round++ {
		step(fmt.Sprintf("logins, round %d of %d", round, b.cfg.rounds))
		rate, err := rawHashRate(ctx, b.phc, b.cfg.duration)
		if err != nil {
			return err
		}
		r.hashRates = append(r.hashRates, rate)
		s, err := b.wrk.run(ctx, load{name: "sessions/create", target: b.on, requests: logins,
			connections: b.cfg.loginConnections, duration: b.cfg.duration, timeout: loginTimeout})
		if err != nil {
			return err
		}
		r.logins = append(r.logins, s)
		// Every registration needs a new email: enough for twice the raw hash rate.
		regs := make([]httpRequest, int(2*rate*b.cfg.duration.Seconds())+64)
		for i := range regs {
			regs[i] = fromAddress(registration(fmt.Sprintf("new-%d-%d@example.com", round, i)), i)
		}
		s, err = b.wrk.run(ctx, load{name: "clients/register", target: b.on, requests: regs,
			connections: b.cfg.loginConnections, duration: b.cfg.duration, timeout: loginTimeout})
		if err != nil {
			return err
		}
		r.registers = append(r.registers, s)
		fmt.Fprintf(os.Stderr, "  hash %.1f/s  login %.1f/s  register %.1f/s\n", rate, r.logins[len(r.logins)-1].rate(), s.rate())
	}
	r.loginRSS, err = b.on.peakRSS()
	return err
}

// loginRequests log every login user in from several addresses.
func (b *bench) loginRequests() []httpRequest {
	reqs := make([]httpRequest, max(addresses, len(b.f.loginers)))
	for i := range reqs {
		reqs[i] = fromAddress(login(b.f.loginers[i%len(b.f.loginers)].email), i)
	}
	return reqs
}

// overload offers cfg.overload times the raw hash rate of logins at a fixed rate, with enough
// connections that none waits for a free one unless the server holds them all.
func (b *bench) overload(ctx context.Context, r *report) error {
	step("login overload")
	r.overloadRate = b.cfg.overload * median(r.hashRates)
	secs := math.Ceil(b.cfg.overloadDuration.Seconds())
	r.overloadConns = min(max(int(r.overloadRate*secs)+b.cfg.threads, 2*b.cfg.threads), maxConnections)
	b.on.resetPeakRSS()
	s, err := b.wrk.run(ctx, load{name: "sessions/create overload", target: b.on, requests: b.loginRequests(),
		connections: r.overloadConns, duration: b.cfg.overloadDuration, rate: r.overloadRate, timeout: loginTimeout})
	if err != nil {
		return err
	}
	r.overload = s
	r.overloadRSS, err = b.on.peakRSS()
	return err
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	var one, five, fifteen string
	_, _ = fmt.Sscan(string(b), &one, &five, &fifteen)
	return one + " " + five + " " + fifteen
}
