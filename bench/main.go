// Command bench measures PlanoAuth on this machine against a minimal baseline server, in one run
// on one database, and writes bench/RESULTS.md. Figures are printed, not asserted.
//
//	go run ./bench [-duration 5s] [-concurrency 32] [-out bench/RESULTS.md]
//
// It starts a throwaway PostgreSQL, the real `planoauth serve` binary and a baseline server
// (net/http + pgx doing the same indexed token lookup), drives each from this process over
// loopback, and reports requests/s, p50 and p99, ratios to the baseline, the raw argon2id hash
// rate beside the login rate, and the server's peak RSS.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "-baseline" {
		// Child mode: the baseline server runs in its own process, like the real one.
		if err := serveBaseline(os.Args[2], os.Getenv("DATABASE_URL")); err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			os.Exit(1)
		}
		return
	}
	var cfg config
	flag.DurationVar(&cfg.duration, "duration", 5*time.Second, "length of each measurement")
	flag.IntVar(&cfg.concurrency, "concurrency", 32, "concurrent connections for peak throughput")
	flag.StringVar(&cfg.out, "out", "bench/RESULTS.md", "where to write the results")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type config struct {
	duration    time.Duration
	concurrency int
	out         string
}
