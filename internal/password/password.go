// Package password hashes and verifies passwords with argon2id (PHC strings), a bounded number
// at a time.
package password

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/alexedwards/argon2id"
)

// Params are the argon2id parameters of new hashes: OWASP's recommended minimum
// (19 MiB of memory, 2 passes, 1 lane).
var Params = &argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// ErrMismatch is returned by Verify for a wrong password.
var ErrMismatch = errors.New("password does not match")

// Hasher hashes and verifies passwords with argon2id. Each hash holds 19 MiB for its duration, so
// a semaphore bounds how many run at once: memory stays flat under a burst of log-ins, and the
// rest wait their turn instead of thrashing the CPU.
type Hasher struct {
	slots chan struct{}
}

// NewHasher returns a Hasher running at most one hash per CPU at a time.
func NewHasher() *Hasher {
	return &Hasher{slots: make(chan struct{}, runtime.GOMAXPROCS(0))}
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for a password hashing slot: %w", ctx.Err())
	}
}

func (h *Hasher) release() { <-h.slots }

// Hash returns the PHC string of password's argon2id hash.
func (h *Hasher) Hash(ctx context.Context, plain string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	phc, err := argon2id.CreateHash(plain, Params)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return phc, nil
}

// Verify checks password against a PHC hash in constant time. It returns ErrMismatch for
// a wrong password, and reports whether the hash should be replaced (weaker parameters).
func (h *Hasher) Verify(ctx context.Context, plain, phc string) (rehash bool, err error) {
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
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
