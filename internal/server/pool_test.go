package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/plano/planoauth/internal/apitest"
)

// TestListenersLeaveThePoolToQueries: the service's listeners (the route registry, the
// applications, the session cache) each hold a connection for as long as the service runs. They
// must take it out of the pool: a listener holding a pooled connection leaves every request one
// connection fewer, which bounds the PostgreSQL-bound routes' throughput (a quarter of it with
// pgxpool's default of four on a small machine). Once the service is subscribed, all of a
// two-connection pool serves queries at once.
func TestListenersLeaveThePoolToQueries(t *testing.T) {
	t.Parallel()
	const size = 2
	env := apitest.New(t, apitest.WithPoolSize(size))
	// A deadline, not a wait: a connection that is free comes at once; one a listener holds
	// never comes while the service runs.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var held []*pgxpool.Conn
	defer func() {
		for _, c := range held {
			c.Release()
		}
	}()
	for len(held) < size {
		c, err := env.Pool.Acquire(ctx)
		if err != nil {
			t.Fatalf("only %d of the pool's %d connections serve queries: %v (stat: %d acquired of %d)",
				len(held), size, err, env.Pool.Stat().AcquiredConns(), env.Pool.Stat().TotalConns())
		}
		held = append(held, c)
		var one int
		if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatal(err)
		}
	}
}
