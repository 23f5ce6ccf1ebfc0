package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/plano/planoauth/internal/impl"
)

const usersUsage = `usage: planoauth users reset-mfa EMAIL --by NAME --reason TEXT [--keep-password]`

// users is `planoauth users ...`: support's way back in for an account's owner.
func users(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "reset-mfa" {
		return errors.New(usersUsage)
	}
	fs := flag.NewFlagSet("users reset-mfa", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the error returned says it all, with the usage
	keep := fs.Bool("keep-password", false, "keep the password (the owner lost her factor; nobody else knows it)")
	by := fs.String("by", "", "who resets the account (the audit trail records it)")
	reason := fs.String("reason", "", "why, such as the support ticket (the audit trail records it)")
	// The email comes first, the flag may follow it: parse what follows the email too.
	rest := args[1:]
	var email string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		email, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return fmt.Errorf("users reset-mfa: %w\n%s", err, usersUsage)
	}
	if email == "" && fs.NArg() == 1 {
		email = fs.Arg(0)
	} else if fs.NArg() != 0 {
		return fmt.Errorf("users reset-mfa takes one EMAIL\n%s", usersUsage)
	}
	if strings.TrimSpace(email) == "" {
		return fmt.Errorf("users reset-mfa needs an EMAIL\n%s", usersUsage)
	}
	publicURL := cmp.Or(cfg.publicURL, defaultPublicURL(cfg.addr))
	return withDatabase(ctx, cfg, stderr, func(ctx context.Context, d *database) error {
		reset, err := impl.ResetSecondFactors(ctx, d.pool, time.Now(), impl.MFAResetRequest{
			Email: email, KeepPassword: *keep, By: *by, Reason: *reason, PublicURL: publicURL})
		if err != nil {
			return answerError("reset-mfa", err)
		}
		printReset(stdout, reset)
		return nil
	})
}

// printReset says what reset-mfa did, one line each.
func printReset(w io.Writer, r impl.MFAReset) {
	email := r.User.Email
	if r.HadSecondFactor {
		fmt.Fprintf(w, "removed every second factor and recovery code of %s\n", email)
	} else {
		fmt.Fprintf(w, "%s had no second factor (recovery codes, if any, removed)\n", email)
	}
	if r.PasswordDropped {
		fmt.Fprintf(w, "dropped the password of %s: the owner signs in with an emailed link or a password reset\n", email)
	}
	n := int64(r.SessionsRevoked)
	fmt.Fprintf(w, "revoked %d %s of %s\n", n, plural(n, "session", "sessions"), email)
	if r.Emailed {
		fmt.Fprintf(w, "queued a notification email to %s\n", email)
	} else {
		fmt.Fprintf(w, "sent no email: the email of %s is not verified\n", email)
	}
}
