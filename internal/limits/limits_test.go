package limits_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/dbtest"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/migrate"
	"github.com/plano/planoauth/internal/peer"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m, migrate.Up)) }

func TestWithDefaults(t *testing.T) {
	t.Parallel()
	got := limits.Config{SignIn: limits.Throttle{PerAccount: 3}, Liaisons: limits.Quota{Window: time.Minute}}.WithDefaults()
	d := limits.Defaults
	if got.SignIn != (limits.Throttle{PerAccount: 3, PerKnown: d.SignIn.PerKnown, PerAddress: d.SignIn.PerAddress, Window: d.SignIn.Window}) ||
		got.Liaisons != (limits.Quota{PerCaller: d.Liaisons.PerCaller, PerAddress: d.Liaisons.PerAddress, Window: time.Minute}) ||
		got.Links != d.Links || got.DeviceTokenTTL != d.DeviceTokenTTL {
		t.Errorf("WithDefaults = %+v", got)
	}
}

// Many takers at once of one allowance of M: exactly M pass, whatever the interleaving, and a
// use given back lets exactly one more through.
func TestRegisterExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	const allowance = 7
	l := limits.New(db.New(pool), limits.Config{Registrations: limits.AddressQuota{PerAddress: allowance, Window: time.Hour}},
		func() time.Time { return now })
	from := peer.Peer{Address: "192.0.2.7"}
	var passed, refused atomic.Int64
	tickets := make(chan limits.Ticket, 50)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			ticket, err := l.Register(ctx, from)
			var answer *envelope.Error
			switch {
			case err == nil:
				passed.Add(1)
				tickets <- ticket
			case errors.As(err, &answer) && answer.Status == gen.StatusRateLimited && answer.RetryAfter == time.Hour:
				refused.Add(1)
			default:
				t.Errorf("Register: %v", err)
			}
		})
	}
	wg.Wait()
	if passed.Load() != allowance || refused.Load() != 50-allowance {
		t.Fatalf("%d passed and %d refused, want %d and %d", passed.Load(), refused.Load(), allowance, 50-allowance)
	}
	if err := (<-tickets).Return(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Register(ctx, from); err != nil {
		t.Errorf("after one use came back: %v", err)
	}
	if _, err := l.Register(ctx, from); err == nil {
		t.Error("a use came back twice")
	}
	if _, err := l.Register(ctx, peer.Peer{Address: "192.0.2.8"}); err != nil {
		t.Errorf("another address: %v", err)
	}
}
