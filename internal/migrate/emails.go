package migrate

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"

	"github.com/plano/planoauth/internal/emailaddr"
)

// normalizeEmailsVersion is the Go migration between sql/schema/00021 and 00023: it computes in
// Go what PostgreSQL cannot, the normalized form of every stored email (see internal/emailaddr),
// and leaves it in the work table email_renormalized for 00023 to apply.
const normalizeEmailsVersion = 22

// emailPage is how many users one statement reads.
const emailPage = 1000

// normalizeEmails pages through the users by id and records each email that Normalize changes.
// Its SQL is written here rather than in sql/queries: a migration's statements are frozen at its
// version, while sqlc's queries follow the latest schema (the work table is gone by then).
func normalizeEmails() *goose.Migration {
	return goose.NewGoMigration(normalizeEmailsVersion, &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
		return renormalizeUsers(ctx, tx, func(id int64, email string) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO email_renormalized (user_id, email) VALUES ($1, $2)`, id, email); err != nil {
				return fmt.Errorf("record the normalized email of user %d: %w", id, err)
			}
			return nil
		})
	}}, &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM email_renormalized`)
		return err
	}})
}

// renormalizeUsers pages through the users by id and calls apply with each user's email that
// emailaddr.Normalize changes, the emailaddr.Normalize of now: the Go email migrations (22, 97)
// share it.
func renormalizeUsers(ctx context.Context, tx *sql.Tx, apply func(id int64, email string) error) error {
	after := int64(0)
	for {
		last, err := renormalizePage(ctx, tx, after, apply)
		if err != nil || last == after {
			return err
		}
		after = last
	}
}

// renormalizePage handles the users after the id after and returns the last id it read (after
// itself when there were none).
func renormalizePage(ctx context.Context, tx *sql.Tx, after int64, apply func(id int64, email string) error) (int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, email FROM users WHERE id > $1 ORDER BY id LIMIT $2`, after, emailPage)
	if err != nil {
		return after, fmt.Errorf("read users after %d: %w", after, err)
	}
	type change struct {
		id    int64
		email string
	}
	var changes []change
	last := after
	for rows.Next() {
		var c change
		if err := rows.Scan(&c.id, &c.email); err != nil {
			rows.Close()
			return after, fmt.Errorf("read a user: %w", err)
		}
		last = c.id
		if normalized := emailaddr.Normalize(c.email); normalized != c.email {
			changes = append(changes, change{c.id, normalized})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return after, fmt.Errorf("read users after %d: %w", after, err)
	}
	for _, c := range changes {
		if err := apply(c.id, c.email); err != nil {
			return after, err
		}
	}
	return last, nil
}
