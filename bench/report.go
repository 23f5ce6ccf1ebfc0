package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// report is one run's figures.
type report struct {
	cfg                   config
	started               time.Time
	loadBefore, loadAfter string
	scenarios             []scenario
	peak, half            map[string][]sample
	halfRate              map[string]float64
	halfKeys              []string // the scenarios measured at half of peak, in order
	hashRates             []float64
	logins, registers     []sample
	rssReset              bool // whether the peak RSS could be reset before the login phase
	loginRSS, overloadRSS int64
	startRSS              int64 // the server's RSS as the login phase began (after the reads)
	overload              sample
	overloadRate          float64
	overloadConns         int
}

func (r *report) write(path string) error {
	md := r.markdown()
	fmt.Print(md)
	if path == "" {
		return nil
	}
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func (r *report) markdown() string {
	var b strings.Builder
	b.WriteString("# PlanoAuth benchmark results\n\nWritten by `make bench` (`go run ./bench`); measured, never asserted. How to read them: README.md, \"Benchmarks\".\n\n")
	r.header(&b)
	r.targets(&b)
	r.peakTable(&b)
	r.halfTable(&b)
	r.loginTable(&b)
	r.overloadTable(&b)
	b.WriteString(notes)
	return b.String()
}

func (r *report) header(b *strings.Builder) {
	fmt.Fprintf(b, "- Measured: %s, %d round(s) of %s per measurement, one after another (A B A B), medians reported\n",
		r.started.Format(time.RFC3339), r.cfg.rounds, wholeSeconds(r.cfg.duration))
	fmt.Fprintf(b, "- Machine: %s\n", machine(r.cfg.cpus.machine))
	fmt.Fprintf(b, "- Load: %s, -t%d; peak -c%d, half of peak -c%d, logins -c%d; %s, over loopback\n",
		wrkVersion(), r.cfg.threads, r.cfg.connections, r.cfg.halfConnections, r.cfg.loginConnections, r.cfg.cpus.describe())
	if len(r.cfg.env) > 0 {
		fmt.Fprintf(b, "- Settings of this tree's servers beyond the bench's own (-env; not of -before's): %s\n", strings.Join(r.cfg.env, " "))
	}
	others := func(samples map[string][]sample, share func(cpuUse) float64) string {
		var all []float64
		for _, ss := range samples {
			for _, s := range ss {
				all = append(all, share(s.cpu))
			}
		}
		if len(all) == 0 {
			return pct(0)
		}
		return pct(median(all)) + " (at most " + pct(slices.Max(all)) + ")"
	}
	busy, stolen := func(u cpuUse) float64 { return u.others }, func(u cpuUse) float64 { return u.stolen }
	fmt.Fprintf(b, "- Quiet? Load average %s before, %s after; besides the bench, the CPUs were kept busy %s of the time during the peak measurements and %s at half of peak (medians over the measurements; of that, the hypervisor took %s and %s for other guests, steal); above a few %% the figures are noisy\n\n",
		r.loadBefore, r.loadAfter, others(r.peak, busy), others(r.half, busy), others(r.peak, stolen), others(r.half, stolen))
}

// Accessors of the medians the targets and tables use.
func (r *report) rate(key string) float64 { return median(rates(r.peak[key])) }

func (r *report) p99(key string) time.Duration {
	return medianDuration(r.peak[key], func(s sample) time.Duration { return s.p99 })
}

func (r *report) targets(b *strings.Builder) {
	b.WriteString("## Targets (issue 13)\n\n" +
		"Bound: for a route, its own queries alone, in a bare server with nothing around them (the " +
		"route cannot be faster), then an estimate with PlanoAuth's pipeline added as measured (the " +
		"cached read's time per request at peak less the fixed answer's); for logins, the raw hash " +
		"with PostgreSQL's CPU per login on the same CPU and nothing else. A target above its bound " +
		"cannot be met by tuning the pipeline.\n\n" +
		"| target | figure | bound | met |\n|---|---:|---:|:--:|\n")
	row := func(name, figure, bound string, met bool) {
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", name, figure, bound, mark(met))
	}
	ratio := func(a, base string) float64 { return r.rate(a) / r.rate(base) }
	x := func(f float64) string { return fmt.Sprintf("%.2f×", f) }
	// withPipeline is the rate of a route whose queries run at query's rate, with the pipeline's
	// time per request added, as a share of the one-lookup baseline's.
	pipeline := 1/r.rate("read-on") - 1/r.rate("fixed")
	withPipeline := func(query string) float64 { return 1 / (1/r.rate(query) + pipeline) / r.rate("lookup") }
	bound := func(query string) string {
		return fmt.Sprintf("%s alone, about %s with the pipeline", x(ratio(query, "lookup")), x(withPipeline(query)))
	}
	const none = "—"
	row("sessions/read, cache off: ≥ 0.8× the one-lookup baseline", x(ratio("read-off", "lookup")), bound("samequery"), ratio("read-off", "lookup") >= 0.8)
	row("sessions/read, cache on: ≥ 0.6× the fixed-answer handler", x(ratio("read-on", "fixed")), none, ratio("read-on", "fixed") >= 0.6)
	p99Ratio := float64(r.p99("read-on")) / float64(r.p99("lookup"))
	row("sessions/read, cache on: p99 at peak ≤ 2× the one-lookup baseline's", fmt.Sprintf("%s vs %s (%s)", ms(r.p99("read-on")), ms(r.p99("lookup")), x(p99Ratio)), none, p99Ratio <= 2)
	row("scopes/liaison_register, cache on: ≥ 0.8× the one-lookup baseline", x(ratio("scopes-on", "lookup")), bound("scopesquery"), ratio("scopes-on", "lookup") >= 0.8)
	row("sessions/index, cache on: ≥ 0.8× the one-lookup baseline", x(ratio("index-on", "lookup")), bound("indexquery"), ratio("index-on", "lookup") >= 0.8)
	loginRatio := median(rates(r.logins)) / median(r.hashRates)
	postgresPerLogin := medianDuration(r.logins, func(s sample) time.Duration { return s.cpu.postgres }).Seconds()
	loginBound := 1 / (1 + postgresPerLogin*median(r.hashRates))
	row("login (sessions/create): ≥ 0.9× the raw argon2id rate", x(loginRatio), x(loginBound)+" (PostgreSQL's CPU per login)", loginRatio >= 0.9)
	rss := mib(r.loginRSS)
	row("… with the server's peak RSS < 100 MiB", fmt.Sprintf("%.1f MiB", rss), none, rss < 100)
	for _, key := range []string{"read-on", "read-off"} {
		p := medianDuration(r.half[key], func(s sample) time.Duration { return s.p99 })
		row(fmt.Sprintf("p99 < 10 ms at half of peak (%s)", r.label(key)), ms(p), none, p < 10*time.Millisecond)
	}
	b.WriteString("\n")
	fmt.Fprintf(b, "Tracing (issue 15): off, the default, is the untraced build measured above (sessions/read, cache on: %.0f req/s); "+
		"on, with every span made and dropped, %.0f req/s (%s of off, %s at p99).\n\n",
		r.rate("read-on"), r.rate("read-traced"), x(ratio("read-traced", "read-on")), ms(r.p99("read-traced")))
}

func (r *report) label(key string) string {
	for _, sc := range r.scenarios {
		if sc.key == key {
			return sc.label
		}
	}
	return key
}

func (r *report) peakTable(b *strings.Builder) {
	fmt.Fprintf(b, "## Peak throughput (closed loop, %d connections)\n\n", r.cfg.connections)
	b.WriteString("| path | req/s | range | × one lookup | × fixed answer | p50 | p99 | errors | server CPU/req | PostgreSQL CPU/req | wrk CPU/req | others' CPU |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, sc := range r.scenarios {
		s := r.peak[sc.key]
		lo, hi := slices.Min(rates(s)), slices.Max(rates(s))
		fmt.Fprintf(b, "| %s | %.0f | %.0f–%.0f | %.2f | %.2f | %s | %s | %d | %s | %s | %s | %s |\n", sc.label, r.rate(sc.key), lo, hi,
			r.rate(sc.key)/r.rate("lookup"), r.rate(sc.key)/r.rate("fixed"),
			ms(medianDuration(s, func(s sample) time.Duration { return s.p50 })), ms(r.p99(sc.key)), totalErrors(s),
			us(medianDuration(s, func(s sample) time.Duration { return s.cpu.server })),
			us(medianDuration(s, func(s sample) time.Duration { return s.cpu.postgres })),
			us(medianDuration(s, func(s sample) time.Duration { return s.cpu.generator })),
			pct(median(collect(s, func(s sample) float64 { return s.cpu.others }))))
	}
	b.WriteString("\n")
}

func (r *report) halfTable(b *strings.Builder) {
	fmt.Fprintf(b, "## Half of peak (fixed rate, %d connections; latency from each request's due time)\n\n", r.cfg.halfConnections)
	b.WriteString("| path | offered req/s | answered req/s | p50 | p99 | sent > 1 ms late | errors | server CPU/req | others' CPU |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, key := range r.halfKeys {
		s := r.half[key]
		late := collect(s, func(s sample) float64 { return float64(s.late) / math.Max(float64(s.sent), 1) })
		fmt.Fprintf(b, "| %s | %.0f | %.0f | %s | %s | %s | %d | %s | %s |\n", r.label(key), r.halfRate[key], median(rates(s)),
			ms(medianDuration(s, func(s sample) time.Duration { return s.p50 })),
			ms(medianDuration(s, func(s sample) time.Duration { return s.p99 })), pct(median(late)), totalErrors(s),
			us(medianDuration(s, func(s sample) time.Duration { return s.cpu.server })),
			pct(median(collect(s, func(s sample) float64 { return s.cpu.others }))))
	}
	b.WriteString("\n")
}

func (r *report) loginTable(b *strings.Builder) {
	fmt.Fprintf(b, "## Logins (closed loop, %d connections)\n\n", r.cfg.loginConnections)
	b.WriteString("| measurement | per second | range | × raw hash rate | p50 | p99 | errors | server CPU/req | PostgreSQL CPU/req |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	hash := median(r.hashRates)
	fmt.Fprintf(b, "| raw argon2id check, one per CPU, the server's parameters | %.1f | %.1f–%.1f | 1.00 | | | | | |\n",
		hash, slices.Min(r.hashRates), slices.Max(r.hashRates))
	for _, m := range []struct {
		name    string
		samples []sample
	}{{"sessions/create (log in)", r.logins}, {"clients/register", r.registers}} {
		s := m.samples
		fmt.Fprintf(b, "| %s | %.1f | %.1f–%.1f | %.2f | %s | %s | %d | %s | %s |\n", m.name, median(rates(s)),
			slices.Min(rates(s)), slices.Max(rates(s)), median(rates(s))/hash,
			ms(medianDuration(s, func(s sample) time.Duration { return s.p50 })),
			ms(medianDuration(s, func(s sample) time.Duration { return s.p99 })), totalErrors(s),
			us(medianDuration(s, func(s sample) time.Duration { return s.cpu.server })),
			us(medianDuration(s, func(s sample) time.Duration { return s.cpu.postgres })))
	}
	phase := "during the logins and registrations"
	if !r.rssReset {
		phase = "since it started (its high-water mark could not be reset)"
	}
	limit := "the default PLANOAUTH_MEMORY_LIMIT_MIB"
	if r.cfg.memoryLimitMiB > 0 {
		limit = fmt.Sprintf("PLANOAUTH_MEMORY_LIMIT_MIB=%d", r.cfg.memoryLimitMiB)
	}
	if r.cfg.gcPercent > 0 {
		limit += fmt.Sprintf(", PLANOAUTH_GC_PERCENT=%d", r.cfg.gcPercent)
	}
	fmt.Fprintf(b, "\nServer (cache on, %s) peak RSS %s: %.1f MiB (%.1f MiB as they began, after the reads).\n\n",
		limit, phase, mib(r.loginRSS), mib(r.startRSS))
}

func (r *report) overloadTable(b *strings.Builder) {
	s := r.overload
	fmt.Fprintf(b, "## Login overload (fixed rate: %.0f logins/s, %.0f× the raw hash rate, for %s over %d connections)\n\n",
		r.overloadRate, r.cfg.overload, wholeSeconds(r.cfg.overloadDuration), r.overloadConns)
	b.WriteString("| sent | answered | 200 | 429 rate-limited | share shed | other answers | unanswered at the end | p50 of 200s | p99 of 200s | sent > 1 ms late | server peak RSS |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(b, "| %d | %d | %d | %d | %s | %d | %d | %s | %s | %d | %.1f MiB |\n\n", s.sent, s.answered, s.statuses[200], s.shed,
		pct(float64(s.shed)/math.Max(float64(s.answered), 1)), s.answered-s.statuses[200]-s.shed, s.unfinished,
		ms(s.p50), ms(s.p99), s.late, mib(r.overloadRSS))
}

func rates(samples []sample) []float64 {
	return collect(samples, func(s sample) float64 { return s.rate() })
}

func collect(samples []sample, f func(sample) float64) []float64 {
	out := make([]float64, len(samples))
	for i, s := range samples {
		out[i] = f(s)
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianDuration(samples []sample, f func(sample) time.Duration) time.Duration {
	return time.Duration(median(collect(samples, func(s sample) float64 { return float64(f(s)) })))
}

func totalErrors(samples []sample) int {
	n := 0
	for _, s := range samples {
		n += s.errors
	}
	return n
}

func wholeSeconds(d time.Duration) string {
	return fmt.Sprintf("%.0fs", math.Max(math.Ceil(d.Seconds()), 1))
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func pct(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func mark(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// machine describes where the figures were measured.
func machine(cpus int) string {
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
	kernel, _ := exec.Command("uname", "-r").Output()
	return fmt.Sprintf("%d CPUs (%s), %.1f GiB memory, Linux %s, %s, %s", cpus, model,
		float64(mem.Totalram)*float64(mem.Unit)/(1<<30), strings.TrimSpace(string(kernel)), runtime.Version(), strings.TrimSpace(string(pg)))
}

const notes = `## How this was measured

- **Servers.** Two ` + "`planoauth serve`" + ` processes (the real binary, its JSON access log to a
  file) on one throwaway PostgreSQL with durable settings: session cache on (the default
  ` + "`PLANOAUTH_SESSION_CACHE_TTL`" + `) and off (` + "`0s`" + `). Beside them, five bare net/http
  servers, each a process of its own: a **fixed answer** (a sessions/read answer of PlanoAuth's,
  captured once: the HTTP layer's limit), **one lookup** (the bearer token's SHA-256, one
  ` + "`SELECT ... WHERE token_hash = $1`" + ` on a one-table sessions in the database "reference" of
  the same cluster, the row as JSON: the physical reference for a token-checked read), the
  **same query** (the service's own GetSessionByTokenHash, nothing around it), and the
  **routes' own queries** of scopes/liaison_register and sessions/index (GetClientProfileByUserID,
  ListUserSessions) with the token check free (its user id read once per token, then kept),
  nothing around them: the bounds of the targets table.
  Ratios are of medians of the same run. With ` + "`-before REV`" + `, two more ` + "`planoauth serve`" + `, built
  from that git revision's files, cache on and off, are measured in the same rounds on the same
  fixtures (at peak, cache off for sessions/read only, and its sessions/read at half of peak):
  a change's before and after side by side, under the same load of the machine.
- **Fixtures**, made through the API: 32 clients registered with clients/register (enterprise, so
  that scopes/liaison_register finds a client and a company; their emails then marked proven in
  the database, as their verification links would, since an unproven client may grant nothing),
  whose tokens the reads rotate over,
  and 64 others who log in with their right passwords. The servers lift the failed-login and
  registration allowances and trust 127.0.0.1 as a proxy, so that logins and registrations come
  from 256 client addresses (X-Forwarded-For) as they would in production; from one address,
  every attempt updates the same counter row.
- **Peak.** wrk keeps every connection busy (a closed loop); p50 and p99 are wrk's, which
  corrects its histogram for coordinated omission in its own way.
- **Half of peak.** The same requests at a fixed rate, half of that server's median peak in this
  run (bench/lua/open.lua): each wrk thread hands out send slots on a fixed schedule through
  wrk's ` + "`delay()`" + `; a free connection waits for its slot; each answer's latency is taken from
  the slot it was due at (matched by X-Request-Id, which every server echoes), so a slow answer
  cannot hide the requests queued behind it. wrk's timers have 1 ms resolution: a request that
  leaves within 1 ms of its slot is timed from when it left; "sent > 1 ms late" counts those
  that found no free connection in time (or a generator short of CPU).
- **Logins.** Each round measures the raw argon2id rate (the bench process checking the password
  against a hash the server stored, so with its parameters, one check per CPU), then
  sessions/create and clients/register against the cache-on server. Its peak RSS is its VmHWM,
  reset (clear_refs) before the logins and again before the overload. Each hash allocates
  19 MiB; the soft memory limit (` + "`PLANOAUTH_MEMORY_LIMIT_MIB`" + `, by default 42 MiB + 19 per hash slot, 61 for the bench's one-CPU server; ` + "`-memory-limit-mib`" + `
  here, and ` + "`-gc-percent`" + ` for ` + "`PLANOAUTH_GC_PERCENT`" + `) keeps RSS down at the price of collecting and re-faulting that memory between hashes.
- **Overload.** Logins offered at a fixed rate above the raw hash rate. "share shed" is 429
  rate-limited over the answers (with the allowances lifted, every 429 comes from shedding load);
  p50 and p99 are of the admitted (200) logins answered during the run, from when each was due;
  "unanswered at the end" were still waiting when wrk stopped.
- **CPUs.** With -generator-cpus N (1 by default), wrk runs on the last N CPUs the run may use
  and everything else (PostgreSQL, the servers, the raw hashes) on the others (taskset), so the
  generator takes no CPU from what it measures; -generator-cpus 0 shares them all ("Load" above
  says which).
- **CPU.** Per answer: the server measured and the bench's PostgreSQL (its postmaster, the
  processes it forked and those that exited) from /proc, wrk from its rusage. "others' CPU" is
  the share of the machine's CPU time that processes not the bench's used meanwhile, the time
  the hypervisor gave other guests included (steal, in /proc/stat; "Quiet?" above gives it
  apart): on a shared machine the figures are only as good as that is small.
`
