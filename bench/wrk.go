package main

import (
	"bufio"
	"context"
	"embed"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The Lua scripts that drive wrk: closed.lua for peak throughput, open.lua for a fixed rate.
//
//go:embed lua/*.lua
var luaScripts embed.FS

// ensureWrk installs wrk from Debian's packages when it is missing, as scripts/docs-check.sh
// installs Chromium: as root with apt-get, otherwise it asks for it.
func ensureWrk(ctx context.Context) error {
	if _, err := exec.LookPath("wrk"); err == nil {
		return nil
	}
	if os.Geteuid() != 0 {
		return errors.New("wrk is missing: install it (apt-get install wrk), or run as root to have it installed")
	}
	step("installing wrk from Debian's packages")
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "wrk"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %w\n%s", args[0], err, out)
		}
	}
	return nil
}

// wrkVersion is wrk's first line of `wrk -v`, for the machine description.
func wrkVersion() string {
	out, _ := exec.Command("wrk", "-v").CombinedOutput() // wrk -v exits 1 after printing
	line, _, _ := strings.Cut(string(out), "\n")
	if i := strings.Index(line, " Copyright"); i > 0 {
		line = line[:i]
	}
	return strings.TrimSpace(line)
}

// httpRequest is one request wrk sends, formatted here so that the Lua scripts only rotate
// strings.
type httpRequest struct {
	method, path string
	header       [][2]string
	body         string
}

// head is the request line and headers, each ending in CRLF, without the final blank line (the
// open loop adds its X-Request-Id there).
func (r httpRequest) head(host string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", r.method, r.path, host)
	for _, h := range r.header {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	if r.method != "GET" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.body))
	}
	return b.String()
}

// load is one wrk run against one server.
type load struct {
	name        string
	target      *process
	requests    []httpRequest
	connections int
	duration    time.Duration // whole seconds: wrk's -d has no finer unit
	rate        float64       // offered requests/s for an open loop; 0 for a closed loop
	timeout     time.Duration // wrk's --timeout: answers slower than this count as errors
}

// sample is what one run measured.
type sample struct {
	answered int
	elapsed  time.Duration
	errors   int           // socket errors and answers other than 200
	p50, p99 time.Duration // closed loop: wrk's histogram; open loop: of the 200 answers, from their slot
	// Open loop only.
	sent, late, unfinished int         // late: sent more than 1 ms after its slot
	statuses               map[int]int // answers per HTTP status
	shed                   int         // 429 answers saying rate-limited
	cpu                    cpuUse
}

func (s sample) rate() float64 {
	if s.elapsed <= 0 {
		return 0
	}
	return float64(s.answered) / s.elapsed.Seconds()
}

// wrk runs l and measures it, with the CPU every party spent meanwhile.
type wrk struct {
	dir     string // scripts and request files
	threads int
	cpus    cpuSplit
	procs   *processes
}

func newWrk(dir string, threads int, cpus cpuSplit, procs *processes) (*wrk, error) {
	for _, name := range []string{"closed.lua", "open.lua"} {
		script, err := luaScripts.ReadFile("lua/" + name)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, name), script, 0o644); err != nil {
			return nil, err
		}
	}
	return &wrk{dir: dir, threads: threads, cpus: cpus, procs: procs}, nil
}

func (w *wrk) run(ctx context.Context, l load) (sample, error) {
	host := strings.TrimPrefix(l.target.url, "http://")
	reqFile := filepath.Join(w.dir, "requests.lua")
	if err := os.WriteFile(reqFile, []byte(luaRequests(l.requests, host)), 0o644); err != nil {
		return sample{}, err
	}
	outFile := filepath.Join(w.dir, "out.txt")
	_ = os.Remove(outFile)
	script := "closed.lua"
	if l.rate > 0 {
		script = "open.lua"
	}
	threads := min(w.threads, l.connections)
	conns := max(l.connections/threads*threads, threads) // wrk gives each thread connections/threads
	secs := max(int(math.Ceil(l.duration.Seconds())), 1)
	timeout := max(l.timeout, 2*time.Second)
	name, args := w.cpus.generatorCommand("-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", secs), "--timeout", fmt.Sprintf("%ds", int(timeout.Seconds())),
		"-s", filepath.Join(w.dir, script), l.target.url+"/")
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "BENCH_REQUESTS="+reqFile, "BENCH_OUT="+outFile,
		"BENCH_RATE="+strconv.FormatFloat(l.rate, 'f', 3, 64), "BENCH_THREADS="+strconv.Itoa(threads))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	before := w.procs.sampleCPU(l.target)
	if err := cmd.Run(); err != nil {
		return sample{}, fmt.Errorf("wrk %s: %w\n%s", l.name, err, out.String())
	}
	after := w.procs.sampleCPU(l.target)
	s, err := parseWrkOut(outFile, l.rate > 0)
	if err != nil {
		return sample{}, fmt.Errorf("wrk %s: %w\n%s", l.name, err, out.String())
	}
	s.cpu = before.until(after, rusageCPU(cmd.ProcessState), s.answered)
	return s, nil
}

// rusageCPU is the user and system CPU a finished child used.
func rusageCPU(ps *os.ProcessState) time.Duration {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// luaRequests is a Lua chunk returning the requests as {head, body} pairs.
func luaRequests(reqs []httpRequest, host string) string {
	var b strings.Builder
	b.WriteString("return {\n")
	for _, r := range reqs {
		fmt.Fprintf(&b, "{%s, %s},\n", luaQuote(r.head(host)), luaQuote(r.body))
	}
	b.WriteString("}\n")
	return b.String()
}

// luaQuote is s as a Lua 5.1 string literal: printable ASCII as is, anything else as \ddd.
func luaQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "\\%03d", c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// parseWrkOut reads what the Lua script's done() wrote.
func parseWrkOut(path string, open bool) (sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return sample{}, fmt.Errorf("no figures from the Lua script: %w", err)
	}
	defer f.Close()
	s := sample{statuses: map[int]int{}}
	kv := map[string]int64{}
	var ok []time.Duration
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) == 4 && fields[0] == "r":
			status, _ := strconv.Atoi(fields[1])
			us, _ := strconv.ParseInt(fields[2], 10, 64)
			s.statuses[status]++
			if status == 200 {
				ok = append(ok, time.Duration(us)*time.Microsecond)
			}
			if fields[3] == "1" {
				s.shed++
			}
		case len(fields) == 2:
			n, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return s, fmt.Errorf("bad line %q", sc.Text())
			}
			kv[fields[0]] = n
		default:
			return s, fmt.Errorf("bad line %q", sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	s.elapsed = time.Duration(kv["duration_us"]) * time.Microsecond
	socketErrors := int(kv["error_connect"] + kv["error_read"] + kv["error_write"])
	if !open {
		s.answered = int(kv["requests"])
		s.errors = socketErrors + int(kv["error_timeout"]) + int(kv["error_status"])
		s.p50 = time.Duration(kv["p50_us"]) * time.Microsecond
		s.p99 = time.Duration(kv["p99_us"]) * time.Microsecond
		return s, nil
	}
	for _, n := range s.statuses {
		s.answered += n
	}
	s.sent, s.late = int(kv["sent"]), int(kv["late"])
	s.unfinished = s.sent - s.answered
	s.errors = socketErrors + s.answered - s.statuses[200]
	slices.Sort(ok)
	s.p50, s.p99 = percentile(ok, 0.50), percentile(ok, 0.99)
	return s, nil
}

// percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}
