// Package password hashes and verifies passwords with argon2id (PHC strings), a bounded number
// at a time, with a bounded queue: work that could not start within a short budget is refused at
// once (ErrBusy) rather than queued without end.
package password

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/prometheus/client_golang/prometheus"
)

// HashMiB is the memory one hash holds while it runs.
const HashMiB = 19

// Params are the argon2id parameters of new hashes: OWASP's recommended minimum
// (19 MiB of memory, 2 passes, 1 lane).
var Params = &argon2id.Params{Memory: HashMiB * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// ErrMismatch is returned by Verify for a wrong password.
var ErrMismatch = errors.New("password does not match")

// ErrBusy is returned, at once, when more hashes wait than can start within the queue budget.
// Callers answer rate-limited with RetryAfterBusy.
var ErrBusy = errors.New("password hashing is at capacity")

// RetryAfterBusy is what a caller refused with ErrBusy is told to wait.
const RetryAfterBusy = time.Second

// DefaultQueueBudget is how long a hash may wait for a slot unless configured: with about 20 ms
// per hash per CPU here, a login admitted under overload waits at most about a quarter second.
const DefaultQueueBudget = 250 * time.Millisecond

// initialHashTime is the estimate of one hash until one was measured.
const initialHashTime = 20 * time.Millisecond

// Config shapes a Hasher. Zero fields mean one slot per CPU and DefaultQueueBudget.
type Config struct {
	// Slots is how many hashes run at once: each holds 19 MiB for its duration, so the bound
	// keeps memory flat under a burst, and more than one per CPU would only thrash.
	Slots int
	// QueueBudget bounds how long the hashes waiting for a slot would take to start: at most
	// Slots × QueueBudget / (the mean time of one hash) wait; any more are refused with ErrBusy.
	QueueBudget time.Duration
}

// Hasher hashes and verifies passwords with argon2id.
type Hasher struct {
	slots   chan struct{}
	budget  time.Duration
	waiting atomic.Int64
	// meanNanos is a moving average of one hash's duration, which sizes the queue.
	meanNanos atomic.Int64

	hashes   prometheus.Counter
	verifies prometheus.Counter
	shed     prometheus.Counter
}

// NewHasher returns a Hasher with the default shape (one slot per CPU, DefaultQueueBudget).
func NewHasher() *Hasher { return New(Config{}) }

// SlotsOf is how many hashes a Hasher shaped by cfg runs at once.
func SlotsOf(cfg Config) int {
	if cfg.Slots > 0 {
		return cfg.Slots
	}
	return cpus()
}

// New returns a Hasher shaped by cfg.
func New(cfg Config) *Hasher {
	cfg.Slots = SlotsOf(cfg)
	if cfg.QueueBudget <= 0 {
		cfg.QueueBudget = DefaultQueueBudget
	}
	h := &Hasher{
		slots: make(chan struct{}, cfg.Slots), budget: cfg.QueueBudget,
		hashes:   prometheus.NewCounter(prometheus.CounterOpts{Name: "planoauth_password_hashes_total", Help: "argon2id hashes of new passwords."}),
		verifies: prometheus.NewCounter(prometheus.CounterOpts{Name: "planoauth_password_verifications_total", Help: "argon2id verifications of passwords."}),
		shed:     prometheus.NewCounter(prometheus.CounterOpts{Name: "planoauth_password_shed_total", Help: "Hashes and verifications refused at once because too many were waiting (rate-limited)."}),
	}
	h.meanNanos.Store(int64(initialHashTime))
	return h
}

// Collectors are the Hasher's metrics, for a Prometheus registry.
func (h *Hasher) Collectors() []prometheus.Collector {
	return []prometheus.Collector{h.hashes, h.verifies, h.shed}
}

// cpus is how many CPUs the process may use: GOMAXPROCS, which Go sets from the CPU quota, but
// never more than the machine's CPUs, since an operator may set GOMAXPROCS above them (the
// scheduler then leaves fewer requests stranded behind a preempted thread, see README
// "Benchmarks"), and more hashes than CPUs would only hold more memory.
func cpus() int { return min(runtime.GOMAXPROCS(0), runtime.NumCPU()) }

// maxWaiting is how many may wait: as many as the slots can start within the budget.
func (h *Hasher) maxWaiting() int64 {
	return int64(cap(h.slots)) * int64(h.budget) / max(h.meanNanos.Load(), 1)
}

// acquire takes a slot: at once if one is free, after waiting if few enough wait, else ErrBusy.
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	if h.waiting.Add(1) > h.maxWaiting() {
		h.waiting.Add(-1)
		h.shed.Inc()
		return ErrBusy
	}
	defer h.waiting.Add(-1)
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for a password hashing slot: %w", ctx.Err())
	}
}

// release frees the slot and folds the hash's duration into the mean (weight 1/8). Before
// the slot is freed, the 19 MiB the hash just dropped is collected: left to the pacer, the heap
// grows to twice what the hashes in flight hold before anything is reclaimed, and a soft memory
// limit below that makes the collector run without end. Collected here, the next hash reuses the
// same memory: measured on 2 CPUs, peak RSS of back-to-back hashes fell from about 100 MiB to
// about 60 MiB with the same hash rate, where a 72 MiB soft limit had cut the rate by half.
func (h *Hasher) release(started time.Time) {
	took := int64(time.Since(started))
	for {
		old := h.meanNanos.Load()
		if h.meanNanos.CompareAndSwap(old, old+(took-old)/8) {
			break
		}
	}
	runtime.GC()
	<-h.slots
}

// Hash returns the PHC string of password's argon2id hash; ErrBusy when the queue is full.
func (h *Hasher) Hash(ctx context.Context, plain string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release(time.Now())
	h.hashes.Inc()
	phc, err := argon2id.CreateHash(plain, Params)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return phc, nil
}

// Verify checks password against a PHC hash in constant time. It returns ErrMismatch for a
// wrong password and ErrBusy when the queue is full, and reports whether the hash should be
// replaced (weaker parameters).
func (h *Hasher) Verify(ctx context.Context, plain, phc string) (rehash bool, err error) {
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release(time.Now())
	h.verifies.Inc()
	match, params, err := argon2id.CheckHash(plain, phc)
	if err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	if !match {
		return false, ErrMismatch
	}
	weaker := params.Memory < Params.Memory || params.Iterations < Params.Iterations
	return weaker, nil
}
