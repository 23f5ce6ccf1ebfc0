package password

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// With one slot and room for one waiter, a third hash is refused at once while the first runs
// and the second waits; the waiter then gets its turn.
func TestHasherShedsBeyondTheBudget(t *testing.T) {
	t.Parallel()
	h := New(Config{Slots: 1, QueueBudget: initialHashTime})
	if got := h.maxWaiting(); got != 1 {
		t.Fatalf("maxWaiting = %d, want 1", got)
	}
	ctx := context.Background()
	if err := h.acquire(ctx); err != nil { // the running hash
		t.Fatal(err)
	}
	waiter := make(chan error, 1)
	go func() {
		_, err := h.Hash(ctx, "correct horse battery staple")
		waiter <- err
	}()
	for h.waiting.Load() != 1 { // until the second hash is queued
		runtime.Gosched()
	}
	if _, err := h.Hash(ctx, "another password"); !errors.Is(err, ErrBusy) {
		t.Errorf("third hash: err = %v, want ErrBusy", err)
	}
	if _, err := h.Verify(ctx, "x", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaA"); !errors.Is(err, ErrBusy) {
		t.Errorf("verification: err = %v, want ErrBusy", err)
	}
	h.release(time.Now())
	if err := <-waiter; err != nil {
		t.Errorf("the queued hash: %v", err)
	}
}

func TestHasherWaitEndsWithTheRequest(t *testing.T) {
	t.Parallel()
	h := New(Config{Slots: 1, QueueBudget: time.Hour})
	if err := h.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "correct horse battery staple"); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestHasherRoundTrip(t *testing.T) {
	t.Parallel()
	h := New(Config{})
	ctx := context.Background()
	phc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Verify(ctx, "correct horse battery staple", phc); err != nil {
		t.Errorf("right password: %v", err)
	}
	if _, err := h.Verify(ctx, "wrong", phc); !errors.Is(err, ErrMismatch) {
		t.Errorf("wrong password: err = %v, want ErrMismatch", err)
	}
}

// TestSlotsNeverExceedTheCPUs: an operator may set GOMAXPROCS above the machine's CPUs; the
// hasher still runs at most one hash per CPU, each holding 19 MiB.
func TestSlotsNeverExceedTheCPUs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(runtime.NumCPU() + 2))
	if got := cap(NewHasher().slots); got != runtime.NumCPU() {
		t.Errorf("%d slots with GOMAXPROCS %d on %d CPUs, want one per CPU", got, runtime.GOMAXPROCS(0), runtime.NumCPU())
	}
}
