package main

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexedwards/argon2id"
)

// rawHashRate is how many passwords per second this machine checks against phc (a hash the
// server stored, so with the server's parameters), one check per CPU at a time, with nothing
// else around it: the ceiling of the login rate.
func rawHashRate(ctx context.Context, phc string, d time.Duration) (float64, error) {
	if _, err := argon2id.ComparePasswordAndHash(password, phc); err != nil {
		return 0, err
	}
	var n atomic.Int64
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if ok, err := argon2id.ComparePasswordAndHash(password, phc); ok && err == nil {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds(), ctx.Err()
}
