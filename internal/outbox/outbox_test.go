package outbox_test

import (
	"testing"
	"time"

	"github.com/plano/planoauth/internal/outbox"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	base, limit := 30*time.Second, 10*time.Minute
	for n, want := range map[int]time.Duration{
		1: 30 * time.Second, 2: time.Minute, 3: 2 * time.Minute, 5: 8 * time.Minute, 6: limit, 60: limit,
	} {
		if got := outbox.Backoff(n, base, limit); got != want {
			t.Errorf("Backoff(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestWithDefaults(t *testing.T) {
	t.Parallel()
	d := outbox.Config{BatchSize: 10, PollInterval: time.Second, MaxAttempts: 8, BackoffBase: time.Minute, BackoffMax: time.Hour, Lease: time.Minute}
	got := outbox.Config{MaxAttempts: 3, Lease: 4 * time.Minute}.WithDefaults(d)
	want := d
	want.MaxAttempts, want.Lease = 3, 4*time.Minute
	if got != want {
		t.Errorf("WithDefaults = %+v, want %+v", got, want)
	}
	if got.SendTimeout() != 2*time.Minute {
		t.Errorf("SendTimeout = %s, want half the lease", got.SendTimeout())
	}
}
