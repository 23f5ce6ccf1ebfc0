// Package migrate applies the embedded schema migrations with goose. Several instances may start
// at once: goose's PostgreSQL session lock lets one migrate while the others wait. The
// migrations are sql/schema's files and, where SQL cannot do the work, Go migrations numbered
// between them (emails.go).
//
// A migration that alters a table takes a lock every query on it must wait for, and waiting for
// that lock behind a long transaction would stop the table's traffic meanwhile, since every
// query queues behind the waiting migration. So each statement waits at most LockTimeout for a
// lock; a migration refused one is rolled back whole (each runs in its own transaction) and
// tried again after a pause, up to Tries times, then Up fails and the instance does not start.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib" // also the "pgx" database/sql driver goose runs on
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	sqlfiles "github.com/plano/planoauth/sql"
)

// Policy is how long a migration's statement may wait for a lock, and how often a migration
// refused one is tried.
type Policy struct {
	LockTimeout time.Duration
	Tries       int
	Pause       time.Duration // between tries
	Log         *slog.Logger  // told of each refusal; nil: nobody
}

// Default is the policy of Up: a few seconds of the table's traffic at most, for about half a
// minute of tries.
var Default = Policy{LockTimeout: 5 * time.Second, Tries: 5, Pause: 2 * time.Second}

// lockNotAvailable is the SQLSTATE of a statement that waited lock_timeout for a lock.
const lockNotAvailable = "55P03"

// Up applies every pending migration to the database at databaseURL, with the Default policy.
func Up(ctx context.Context, databaseURL string) error { return Default.Up(ctx, databaseURL) }

// Up applies every pending migration to the database at databaseURL.
func (p Policy) Up(ctx context.Context, databaseURL string) error {
	return p.run(ctx, databaseURL, func(provider *goose.Provider) error {
		_, err := provider.Up(ctx)
		return err
	})
}

// UpTo applies the pending migrations up to and including version, for tests of a migration
// that need the data of before it.
func UpTo(ctx context.Context, databaseURL string, version int64) error {
	return Default.run(ctx, databaseURL, func(provider *goose.Provider) error {
		_, err := provider.UpTo(ctx, version)
		return err
	})
}

// run applies, trying again while a migration is refused a lock.
func (p Policy) run(ctx context.Context, databaseURL string, apply func(*goose.Provider) error) error {
	for try := 1; ; try++ {
		err := p.runOnce(ctx, databaseURL, apply)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != lockNotAvailable || try >= p.Tries {
			return err
		}
		if p.Log != nil {
			p.Log.Warn("a migration waited too long for a lock and was rolled back; trying again",
				slog.Int("try", try), slog.Int("tries", p.Tries), slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(p.Pause):
		}
	}
}

func (p Policy) runOnce(ctx context.Context, databaseURL string, apply func(*goose.Provider) error) error {
	config, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return fmt.Errorf("parse database URL: %w", err)
	}
	config.RuntimeParams["lock_timeout"] = strconv.FormatInt(p.LockTimeout.Milliseconds(), 10)
	conn := stdlib.OpenDB(*config)
	defer conn.Close()
	migrations, err := fs.Sub(sqlfiles.Migrations, "schema")
	if err != nil {
		return fmt.Errorf("migrations folder: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, conn, migrations, goose.WithSessionLocker(locker),
		goose.WithGoMigrations(normalizeEmails(), normalizeDomains()))
	if err != nil {
		return fmt.Errorf("migration provider: %w", err)
	}
	if err := apply(provider); err != nil {
		return fmt.Errorf("apply migrations (each statement waits at most %s for a lock): %w", p.LockTimeout, err)
	}
	return nil
}
