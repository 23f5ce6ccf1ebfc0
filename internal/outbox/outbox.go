// Package outbox is what the workers delivering a queue table share: the email outbox
// (internal/mail) and the webhook deliveries (internal/webhooks). Each queue claims its due rows
// in its own SQL with FOR UPDATE SKIP LOCKED and a lease (counting the attempt and moving the
// row's next attempt to the end of the lease), so any number of workers in any number of
// instances never hold one row together; this package gives them their tuning, the backoff
// between attempts, the polling loop and the concurrent sends of a round.
//
// Delivery is at least once, not exactly once. While workers live, each row is sent once: a
// claim hides it for the lease, a send is cut off well before the lease ends (Send's timeout),
// and the outcome is recorded even during shutdown. If a process dies (or stalls past the
// lease) after the far end accepted a send and before the outcome was recorded, the row is sent
// again when its lease runs out.
package outbox

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Config tunes a worker. Zero fields take the worker's defaults (WithDefaults).
type Config struct {
	// BatchSize is how many due rows one round claims (and sends concurrently).
	BatchSize int
	// PollInterval is the pause after a round that found fewer than BatchSize due rows.
	PollInterval time.Duration
	// MaxAttempts is how many times a row is tried before the worker gives up on it.
	MaxAttempts int
	// After the n-th failed attempt the next one waits BackoffBase * 2^(n-1), at most BackoffMax.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Lease is how long a claimed row stays invisible to other workers. A send is cut off at
	// half of it, so a live worker always records the outcome before anyone else may claim the
	// row; a worker that dies leaves its claims to be picked up when the lease runs out.
	Lease time.Duration
}

// WithDefaults returns c with its zero fields taken from d.
func (c Config) WithDefaults(d Config) Config {
	if c.BatchSize > 0 {
		d.BatchSize = c.BatchSize
	}
	if c.PollInterval > 0 {
		d.PollInterval = c.PollInterval
	}
	if c.MaxAttempts > 0 {
		d.MaxAttempts = c.MaxAttempts
	}
	if c.BackoffBase > 0 {
		d.BackoffBase = c.BackoffBase
	}
	if c.BackoffMax > 0 {
		d.BackoffMax = c.BackoffMax
	}
	if c.Lease > 0 {
		d.Lease = c.Lease
	}
	return d
}

// SendTimeout is how long one send may take: half the lease.
func (c Config) SendTimeout() time.Duration { return c.Lease / 2 }

// NextAttempt is when a row whose n-th attempt failed at now is tried again.
func (c Config) NextAttempt(now time.Time, n int) time.Time {
	return now.Add(Backoff(n, c.BackoffBase, c.BackoffMax))
}

// Backoff is the wait after the n-th failed attempt (n >= 1): base * 2^(n-1), at most limit.
func Backoff(n int, base, limit time.Duration) time.Duration {
	wait := base
	for i := 1; i < n && wait < limit; i++ {
		wait *= 2
	}
	return min(wait, limit)
}

// Run calls round until ctx is done: again at once when it claimed a whole batch (there may be
// more due right now), otherwise after the poll interval. A failed round is logged as what.
func Run(ctx context.Context, c Config, log *slog.Logger, what string, round func(context.Context) (int, error)) {
	pause := time.NewTimer(0)
	defer pause.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-pause.C:
		}
		claimed, err := round(ctx)
		if err != nil && ctx.Err() == nil {
			log.ErrorContext(ctx, what, slog.Any("error", err))
		}
		if err == nil && claimed == c.BatchSize {
			pause.Reset(0)
		} else {
			pause.Reset(c.PollInterval)
		}
	}
}

// Claim is a queue's claiming query: up to batch rows due at now, leased until leaseUntil.
type Claim[T any] func(ctx context.Context, now, leaseUntil time.Time, batch int32) ([]T, error)

// Round is one round of a worker at now: it claims up to BatchSize due rows, sends them
// concurrently (Each) and returns how many it claimed.
func Round[T any](ctx context.Context, c Config, now time.Time, claim Claim[T], send func(context.Context, T) error) (int, error) {
	claimed, err := claim(ctx, now, now.Add(c.Lease), int32(c.BatchSize))
	if err != nil {
		return 0, err
	}
	return len(claimed), Each(ctx, claimed, send)
}

// Each sends every claimed row concurrently and returns the first error. The sends and the
// records of their outcomes outlive ctx's cancellation: a send cut off by shutdown might have
// been accepted and would then go out twice. Each send bounds itself instead (SendTimeout).
func Each[T any](ctx context.Context, claimed []T, send func(context.Context, T) error) error {
	detached := context.WithoutCancel(ctx)
	errs := make([]error, len(claimed))
	var wg sync.WaitGroup
	for i, row := range claimed {
		wg.Go(func() { errs[i] = send(detached, row) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
