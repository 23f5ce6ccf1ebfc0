package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/gen/db"
)

const (
	notificationsUsage = `usage: planoauth notifications list [--limit N]`
	emailsUsage        = `usage: planoauth emails list [--limit N] | show ID`
	defaultListLimit   = 50
	// maxListLimit keeps a typo from printing a whole table.
	maxListLimit = 10000
)

// notifications is `planoauth notifications list`: what operators must look at, newest first.
func notifications(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "list" {
		return errors.New(notificationsUsage)
	}
	limit, err := parseLimit(args[1:], stderr)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, notificationsUsage)
	}
	return withDatabase(ctx, cfg, stderr, func(ctx context.Context, d *database) error {
		return listNotifications(ctx, d.q, limit, stdout)
	})
}

func listNotifications(ctx context.Context, q *db.Queries, limit int32, stdout io.Writer) error {
	rows, err := q.ListNotifications(ctx, limit)
	if err != nil {
		return fmt.Errorf("list notifications: %w", err)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tTIME\tKIND\tMESSAGE\tCONTEXT")
	for _, n := range rows {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", n.ID, formatTime(n.CreatedAt), n.Kind, n.Message, n.Context)
	}
	return w.Flush()
}

// emails is `planoauth emails list|show`: what the local mailer recorded instead of sending.
func emails(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	switch {
	case len(args) >= 1 && args[0] == "list":
		limit, err := parseLimit(args[1:], stderr)
		if err != nil {
			return fmt.Errorf("%w\n%s", err, emailsUsage)
		}
		return withDatabase(ctx, cfg, stderr, func(ctx context.Context, d *database) error {
			return listEmails(ctx, d.q, limit, stdout)
		})
	case len(args) == 2 && args[0] == "show":
		id, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil {
			return fmt.Errorf("email id %q is not a number\n%s", args[1], emailsUsage)
		}
		return withDatabase(ctx, cfg, stderr, func(ctx context.Context, d *database) error {
			return showEmail(ctx, d.q, id, stdout)
		})
	}
	return errors.New(emailsUsage)
}

func listEmails(ctx context.Context, q *db.Queries, limit int32, stdout io.Writer) error {
	rows, err := q.ListSentEmails(ctx, limit)
	if err != nil {
		return fmt.Errorf("list emails: %w", err)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tTIME\tKIND\tTO\tSUBJECT")
	for _, e := range rows {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", e.ID, formatTime(e.CreatedAt), e.Kind, e.Recipient, e.Subject)
	}
	return w.Flush()
}

func showEmail(ctx context.Context, q *db.Queries, id int64, stdout io.Writer) error {
	e, err := q.GetSentEmail(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("no email %d", id)
	}
	if err != nil {
		return fmt.Errorf("read email %d: %w", id, err)
	}
	fmt.Fprintf(stdout, "Date: %s\nKind: %s\nTo: %s\nSubject: %s\n\n%s", formatTime(e.CreatedAt), e.Kind, e.Recipient, e.Subject, e.BodyText)
	if !strings.HasSuffix(e.BodyText, "\n") {
		fmt.Fprintln(stdout)
	}
	return nil
}

// parseLimit reads the --limit flag of a list command.
func parseLimit(args []string, stderr io.Writer) (int32, error) {
	flags := flag.NewFlagSet("list", flag.ContinueOnError)
	flags.SetOutput(stderr)
	limit := flags.Int("limit", defaultListLimit, "how many rows to show, newest first")
	if err := flags.Parse(args); err != nil {
		return 0, err
	}
	if flags.NArg() > 0 {
		return 0, fmt.Errorf("unexpected argument %q", flags.Arg(0))
	}
	if *limit < 1 || *limit > maxListLimit {
		return 0, fmt.Errorf("--limit must be between 1 and %d, got %d", maxListLimit, *limit)
	}
	return int32(*limit), nil
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
