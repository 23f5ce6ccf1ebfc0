// Package migrate applies the embedded schema migrations with goose. Several instances may start
// at once: goose's PostgreSQL session lock lets one migrate while the others wait. The
// migrations are sql/schema's files and, where SQL cannot do the work, Go migrations numbered
// between them (emails.go).
package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver goose runs on
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	sqlfiles "github.com/plano/planoauth/sql"
)

// Up applies every pending migration to the database at databaseURL.
func Up(ctx context.Context, databaseURL string) error {
	return run(ctx, databaseURL, func(p *goose.Provider) error {
		_, err := p.Up(ctx)
		return err
	})
}

// UpTo applies the pending migrations up to and including version, for tests of a migration
// that need the data of before it.
func UpTo(ctx context.Context, databaseURL string, version int64) error {
	return run(ctx, databaseURL, func(p *goose.Provider) error {
		_, err := p.UpTo(ctx, version)
		return err
	})
}

func run(ctx context.Context, databaseURL string, apply func(*goose.Provider) error) error {
	conn, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
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
		goose.WithGoMigrations(normalizeEmails()))
	if err != nil {
		return fmt.Errorf("migration provider: %w", err)
	}
	if err := apply(provider); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}
