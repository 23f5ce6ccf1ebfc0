package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/audit"
	"github.com/plano/planoauth/internal/emailaddr"
	"github.com/plano/planoauth/internal/gen/db"
)

const sessionsUsage = `usage: planoauth sessions revoke --user EMAIL`

func sessions(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "revoke" {
		return errors.New(sessionsUsage)
	}
	fs := flag.NewFlagSet("sessions revoke", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the error returned says it all, with the usage
	email := fs.String("user", "", "the email of the user whose sessions to revoke")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("sessions revoke: %w\n%s", err, sessionsUsage)
	}
	if strings.TrimSpace(*email) == "" || fs.NArg() != 0 {
		return fmt.Errorf("sessions revoke needs --user EMAIL and nothing else\n%s", sessionsUsage)
	}
	return withDatabase(ctx, cfg, stderr, func(ctx context.Context, d *database) error {
		return revokeUserSessions(ctx, d, *email, stdout)
	})
}

// revokeUserSessions revokes every live session of the user with email (normalized as at log-in,
// see emailaddr): their tokens answer invalid-token from the next request on, on every instance,
// since sessions are looked up in the database on each request. The audit trail records it
// (sessions.revoked by an operator) in the same transaction, which locks the user's row first,
// as every revocation of a user's sessions does (LockUserMFA): a change of the user's factors or
// password in flight on a session it ends commits before it, or is refused.
func revokeUserSessions(ctx context.Context, d *database, email string, stdout io.Writer) error {
	user, err := d.q.GetUserByEmail(ctx, emailaddr.Normalize(email))
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("no user with email %q", email)
	}
	if err != nil {
		return fmt.Errorf("look up user %q: %w", email, err)
	}
	now := time.Now()
	var revoked int64
	err = pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		q := d.q.WithTx(tx)
		if _, err := q.LockUserMFA(ctx, user.ID); err != nil {
			return err
		}
		apps, err := q.RevokeUserSessionsInApplications(ctx, db.RevokeUserSessionsInApplicationsParams{UserID: user.ID, Now: &now})
		if err != nil {
			return err
		}
		revoked = int64(len(apps))
		return audit.Append(ctx, q, now, audit.SessionsRevoked(audit.Operator, user.ID, apps)...)
	})
	if err != nil {
		return fmt.Errorf("revoke sessions of %s: %w", user.Email, err)
	}
	fmt.Fprintf(stdout, "revoked %d %s of %s\n", revoked, plural(revoked, "session", "sessions"), user.Email)
	return nil
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
