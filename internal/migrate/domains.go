package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/pressly/goose/v3"
)

// normalizeDomainsVersion is the Go migration that brings every stored email to the form
// emailaddr.Normalize gives since it writes an internationalised domain in its ASCII (IDNA)
// form: users.email is the only column that stores an email in normal form (invitations, links
// and grants name users by id; rate-limit keys are SHA-256 digests of the form, which no
// migration can rewrite, and expire within their windows).
const normalizeDomainsVersion = 97

// normalizeDomains pages through the users by id and stores each email that Normalize changes,
// settling a collision with another user that has that form already as 00023 did
// (normalizeDomain). The migration does not fail on a collision. Its SQL is
// written here, frozen at its version; it pages through the users as 22 does (renormalizeUsers).
func normalizeDomains() *goose.Migration {
	return goose.NewGoMigration(normalizeDomainsVersion, &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
		return renormalizeUsers(ctx, tx, func(id int64, email string) error { return normalizeDomain(ctx, tx, id, email) })
	}}, &goose.GoFunc{}) // down: nothing, the ASCII form is one the code before reads as well
}

// normalizeDomain stores email as user id's. When another user has it, the two settle as 00023
// settled its collisions: the account whose email was proven first keeps the address, else the
// oldest (lowest id); the other is renamed to the undeliverable 'duplicate-<id>@invalid', its
// sessions are revoked, and an email-collision notification names both for an operator to
// merge by hand. (Keeping whichever was in ASCII form already gave a proven owner's address to
// a never-proven squat of its ASCII spelling: review 20.)
func normalizeDomain(ctx context.Context, tx *sql.Tx, id int64, email string) error {
	var other, loser int64
	err := tx.QueryRowContext(ctx, `SELECT o.id,
		       CASE WHEN (o.email_verified_at IS NULL, o.email_verified_at, o.id) < (u.email_verified_at IS NULL, u.email_verified_at, u.id)
		            THEN u.id ELSE o.id END
		FROM users u JOIN users o ON o.email = $2 AND o.id <> u.id WHERE u.id = $1`, id, email).Scan(&other, &loser)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		other = 0
	case err != nil:
		return fmt.Errorf("look for the normalized email of user %d: %w", id, err)
	}
	if other != 0 {
		kept := other
		if loser == other {
			kept = id
		}
		if err := settleCollision(ctx, tx, loser, kept, email); err != nil {
			return err
		}
		if loser == id {
			return nil
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET email = $2, updated_at = now() WHERE id = $1`, id, email); err != nil {
		return fmt.Errorf("store the normalized email of user %d: %w", id, err)
	}
	return nil
}

// settleCollision renames user loser, whose address user kept keeps, revokes its sessions and
// notifies operators.
func settleCollision(ctx context.Context, tx *sql.Tx, loser, kept int64, email string) error {
	renamed := fmt.Sprintf("duplicate-%d@invalid", loser)
	_, err := tx.ExecContext(ctx, `INSERT INTO notifications (kind, message, context)
		SELECT 'email-collision',
		       format('Users %s and %s had one email with its domain in two spellings (%s); user %s was renamed to %s. Merge them by hand.',
		              $2::bigint, u.id, $3::text, u.id, $4::text),
		       jsonb_build_object('email', $3::text, 'kept_user_id', $2::bigint, 'renamed_user_id', u.id, 'renamed_from', u.email, 'renamed_to', $4::text)
		FROM users u WHERE u.id = $1`, loser, kept, email, renamed)
	if err != nil {
		return fmt.Errorf("record the email collision of users %d and %d: %w", kept, loser, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, loser); err != nil {
		return fmt.Errorf("revoke the sessions of user %d: %w", loser, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET email = $2, updated_at = now() WHERE id = $1`, loser, renamed); err != nil {
		return fmt.Errorf("rename user %d: %w", loser, err)
	}
	return nil
}
