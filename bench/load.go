package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// request makes the i-th request of a load run.
type request func(i int) (*http.Request, error)

// result is one measurement.
type result struct {
	name     string
	requests int
	errors   int
	elapsed  time.Duration
	p50, p99 time.Duration
	cpu      cpuSample // CPU per request of the server measured, PostgreSQL and the generator
}

func (r result) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r result) String() string {
	return fmt.Sprintf("%-40s %9.0f req/s  p50 %8s  p99 %8s  errors %d", r.name, r.rate(),
		r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.errors)
}

func newClient(concurrency int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: concurrency, MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency,
	}}
}

// closedLoop keeps `concurrency` requests in flight for d and measures throughput and latency.
// A request counts as an error unless it answers wantCode.
func closedLoop(ctx context.Context, name string, concurrency int, d time.Duration, wantCode int, next request) result {
	client := newClient(concurrency)
	deadline := time.Now().Add(d)
	var counter atomic.Int64
	var mu sync.Mutex
	var latencies []time.Duration
	errors := 0
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for time.Now().Before(deadline) && ctx.Err() == nil {
				took, ok := do(client, next, int(counter.Add(1)), wantCode)
				mine = append(mine, took)
				if !ok {
					bad++
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			errors += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	return summarize(name, latencies, errors, time.Since(start))
}

// openLoop sends requests at a fixed rate for d, measuring latency from each request's
// scheduled time so that a stalled server cannot hide its queue (no coordinated omission).
func openLoop(ctx context.Context, name string, rate float64, d time.Duration, wantCode int, next request) result {
	client := newClient(256)
	interval := time.Duration(float64(time.Second) / rate)
	total := int(d.Seconds() * rate)
	latencies := make([]time.Duration, total)
	oks := make([]bool, total)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < total && ctx.Err() == nil; i++ {
		scheduled := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(scheduled)) // pacing the generator, not waiting for a result
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, ok := do(client, next, i, wantCode)
			latencies[i] = time.Since(scheduled)
			oks[i] = ok
		}(i)
	}
	wg.Wait()
	errors := 0
	for _, ok := range oks {
		if !ok {
			errors++
		}
	}
	return summarize(name, latencies, errors, time.Since(start))
}

func do(client *http.Client, next request, i, wantCode int) (time.Duration, bool) {
	req, err := next(i)
	if err != nil {
		return 0, false
	}
	start := time.Now()
	res, err := client.Do(req)
	if err != nil {
		return time.Since(start), false
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return time.Since(start), res.StatusCode == wantCode
}

func summarize(name string, latencies []time.Duration, errors int, elapsed time.Duration) result {
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[int(p*float64(len(latencies)-1))]
	}
	return result{name: name, requests: len(latencies), errors: errors, elapsed: elapsed, p50: pct(0.50), p99: pct(0.99)}
}
