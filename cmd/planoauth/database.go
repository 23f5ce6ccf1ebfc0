package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/migrate"
	"github.com/plano/planoauth/internal/pgcluster"
	"github.com/plano/planoauth/internal/telemetry"
)

// database is a migrated database ready to use.
type database struct {
	pool *pgxpool.Pool
	q    *db.Queries
}

// withDatabase opens DATABASE_URL, or starts the private cluster under the data folder, applies
// migrations, and calls f. The private cluster is stopped when f returns.
func withDatabase(ctx context.Context, cfg config, stderr io.Writer, f func(context.Context, *database) error) error {
	return withTracedDatabase(ctx, cfg, stderr, nil, f)
}

// withTracedDatabase is withDatabase with the pool's queries traced by tp (nil: not traced).
func withTracedDatabase(ctx context.Context, cfg config, stderr io.Writer, tp trace.TracerProvider, f func(context.Context, *database) error) error {
	url := cfg.databaseURL
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	if url == "" {
		dir, err := filepath.Abs(filepath.Join(cfg.dataDir, "postgres"))
		if err != nil {
			return fmt.Errorf("data folder: %w", err)
		}
		cluster, err := pgcluster.Start(ctx, dir, pgcluster.Options{Logger: log})
		if err != nil {
			return fmt.Errorf("start the private PostgreSQL (set DATABASE_URL to use another): %w", err)
		}
		defer func() {
			if err := cluster.Stop(); err != nil {
				log.Error("stop PostgreSQL", slog.Any("error", err))
			}
		}()
		if err := cluster.EnsureDatabase(ctx, "planoauth"); err != nil {
			return err
		}
		url = cluster.URL("planoauth")
	}
	policy := migrate.Default
	policy.Log = log
	if err := policy.Up(ctx, url); err != nil {
		return err
	}
	poolConfig, err := telemetry.PoolConfig(url, tp)
	if err != nil {
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolConfig)
	if err != nil {
		return fmt.Errorf("connect to the database: %w", err)
	}
	defer pool.Close()
	return f(ctx, &database{pool: pool, q: db.New(pool)})
}

// issueMissingTokens gives every application without a token a new one and prints it: the only
// time it is ever shown, since only its hash is kept.
func issueMissingTokens(ctx context.Context, q *db.Queries, stdout io.Writer) error {
	slugs, err := q.ListApplicationsWithoutToken(ctx)
	if err != nil {
		return fmt.Errorf("list applications without a token: %w", err)
	}
	for _, slug := range slugs {
		token, hash := auth.NewToken(auth.ApplicationPrefix)
		n, err := q.IssueMissingApplicationToken(ctx, db.IssueMissingApplicationTokenParams{Slug: slug, TokenHash: hash})
		if err != nil {
			return fmt.Errorf("issue a token for %s: %w", slug, err)
		}
		if n == 1 { // another instance may have issued it first
			fmt.Fprintf(stdout, "application %s token (shown once, store it now): %s\n", slug, token)
		}
	}
	return nil
}
