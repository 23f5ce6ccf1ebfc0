package migrate

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"

	"github.com/plano/planoauth/internal/emailaddr"
)

// normalizeDomainsVersion is the Go migration that brings every stored email to the form
// emailaddr.Normalize gives since it writes an internationalised domain in its ASCII (IDNA)
// form: users.email is the only column that stores an email in normal form (invitations, links
// and grants name users by id; rate-limit keys are SHA-256 digests of the form, which no
// migration can rewrite, and expire within their windows).
const normalizeDomainsVersion = 97

// normalizeDomains pages through the users by id and stores each email that Normalize changes,
// unless another user has that form already (one mailbox, two accounts, which no migration can
// merge): that user keeps its old spelling, which no sign-in or look-up finds anymore, and a
// notification of kind email-collision names both users for an operator to merge by hand
// (`planoauth notifications list`). The migration does not fail on a collision. Its SQL is
// written here, frozen at its version (see normalizeEmails).
func normalizeDomains() *goose.Migration {
	return goose.NewGoMigration(normalizeDomainsVersion, &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
		after := int64(0)
		for {
			last, err := normalizeDomainPage(ctx, tx, after)
			if err != nil || last == after {
				return err
			}
			after = last
		}
	}}, &goose.GoFunc{}) // down: nothing, the ASCII form is one the code before reads as well
}

// normalizeDomainPage handles the users after the id after and returns the last id it read
// (after itself when there were none).
func normalizeDomainPage(ctx context.Context, tx *sql.Tx, after int64) (int64, error) {
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
		if err := normalizeDomain(ctx, tx, c.id, c.email); err != nil {
			return after, err
		}
	}
	return last, nil
}

// normalizeDomain stores email as user id's, or, when another user has it, records the
// collision for operators and leaves the user as it is.
func normalizeDomain(ctx context.Context, tx *sql.Tx, id int64, email string) error {
	res, err := tx.ExecContext(ctx, `UPDATE users SET email = $2, updated_at = now()
		WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM users o WHERE o.email = $2)`, id, email)
	if err != nil {
		return fmt.Errorf("store the normalized email of user %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO notifications (kind, message, context)
		SELECT 'email-collision',
		       format('Users %s and %s have one email with its domain in two spellings (%s); user %s keeps its old spelling (%s), which no sign-in or look-up finds anymore. Merge them by hand.',
		              o.id, u.id, o.email, u.id, u.email),
		       jsonb_build_object('email', o.email, 'kept_user_id', o.id, 'unchanged_user_id', u.id, 'unchanged_email', u.email)
		FROM users u JOIN users o ON o.email = $2 WHERE u.id = $1`, id, email)
	if err != nil {
		return fmt.Errorf("record the email collision of user %d: %w", id, err)
	}
	return nil
}
