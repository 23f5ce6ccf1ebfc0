// Command bench measures PlanoAuth on this machine beside two baselines, in one run on one
// throwaway PostgreSQL, and writes bench/RESULTS.md. Figures are printed, never asserted.
//
//	go run ./bench [-rounds 3] [-duration 4s] [-connections 16] [-quick] [-out bench/RESULTS.md]
//
// The load comes from wrk (Debian's package, installed when missing) driven by the Lua scripts
// in lua/. Two PlanoAuth servers run (the real `planoauth serve` binary, session cache on and
// off) beside three baselines: a fixed answer (the HTTP layer's limit), one SELECT by token hash
// on a one-table sessions (the physical reference) and the service's own session query. Every
// measurement runs once per round, the rounds one after another (A B A B), and the report gives
// medians and ratios to the baselines of the same run: peak throughput and p99, p99 at half of
// peak (a fixed rate), logins against the raw argon2id rate with the server's peak RSS, and an
// overload of logins. See "Benchmarks" in README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-serve" {
		// Child mode: a baseline server in its own process, like the real one.
		if err := serveChild(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			os.Exit(1)
		}
		return
	}
	cfg := parseFlags()
	cpus, err := onServerCPUs(cfg.generatorCPUs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	cfg.cpus = cpus
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type config struct {
	rounds           int
	duration, warmup time.Duration
	overloadDuration time.Duration
	connections      int // peak throughput
	halfConnections  int // the fixed rate at half of peak
	loginConnections int
	threads          int // wrk -t
	generatorCPUs    int // CPUs of wrk's own; 0: shared with everything else
	cpus             cpuSplit
	overload         float64 // the overload test offers this many times the raw hash rate
	memoryLimitMiB   int     // PLANOAUTH_MEMORY_LIMIT_MIB of the servers; 0: their default
	gcPercent        int     // PLANOAUTH_GC_PERCENT of the servers; 0: their default
	out              string
	before           string   // a git revision also measured, cache on, beside the working tree
	env              []string // -env: settings of the working tree's servers only
	quick            bool
	keep             bool // keep the work directory: the servers' logs, wrk's scripts and figures
}

func parseFlags() config {
	var c config
	flag.IntVar(&c.rounds, "rounds", 3, "rounds of every measurement (medians are reported)")
	flag.DurationVar(&c.duration, "duration", 4*time.Second, "length of each measurement (whole seconds)")
	flag.DurationVar(&c.warmup, "warmup", time.Second, "load on each server before the first round")
	flag.DurationVar(&c.overloadDuration, "overload-duration", 6*time.Second, "length of the login overload (whole seconds)")
	flag.IntVar(&c.connections, "connections", 16, "wrk connections for peak throughput")
	flag.IntVar(&c.halfConnections, "half-connections", 32, "wrk connections for the fixed rate at half of peak")
	flag.IntVar(&c.loginConnections, "login-connections", 8, "wrk connections for logins and registrations")
	flag.IntVar(&c.threads, "threads", 2, "wrk threads")
	flag.IntVar(&c.generatorCPUs, "generator-cpus", 1, "CPUs of the load generator's own, taken from the CPUs this run may use (0: it shares them with the servers and PostgreSQL)")
	flag.Float64Var(&c.overload, "overload", 4, "the login overload offers this multiple of the raw hash rate")
	flag.IntVar(&c.memoryLimitMiB, "memory-limit-mib", 0, "PLANOAUTH_MEMORY_LIMIT_MIB of the servers measured (0: their default)")
	flag.IntVar(&c.gcPercent, "gc-percent", 0, "PLANOAUTH_GC_PERCENT of the servers measured (0: their default)")
	flag.StringVar(&c.out, "out", "bench/RESULTS.md", "where to write the results (-quick: only when given)")
	flag.StringVar(&c.before, "before", "", "a git revision (with the same migrations) whose planoauth serve, cache on, is measured beside this one's on sessions/read, scopes/liaison_register and sessions/index, and cache off on sessions/read")
	flag.Func("env", "KEY=VALUE: a setting of the working tree's planoauth servers only (repeatable); with -before, a setting's effect in one run", func(s string) error {
		if !strings.Contains(s, "=") {
			return fmt.Errorf("want KEY=VALUE, got %q", s)
		}
		c.env = append(c.env, s)
		return nil
	})
	flag.BoolVar(&c.keep, "keep", false, "keep the work directory (servers' logs, wrk's scripts and figures) and print its path")
	flag.BoolVar(&c.quick, "quick", false, "a smoke run: one round of 1s measurements, printed, not worth keeping")
	flag.Parse()
	if c.quick {
		c.rounds, c.duration, c.warmup, c.overloadDuration = 1, time.Second, time.Second, 2*time.Second
		outGiven := false
		flag.Visit(func(f *flag.Flag) { outGiven = outGiven || f.Name == "out" })
		if !outGiven {
			c.out = ""
		}
	}
	c.rounds = max(c.rounds, 1)
	return c
}
