package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/audit"
	"github.com/plano/planoauth/internal/emailaddr"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
)

const auditUsage = `usage: planoauth audit list [--user EMAIL|ID] [--kind KIND] [--application SLUG] [--after ID | --before ID] [--limit N]`

// auditQuery is what `audit list` was asked for.
type auditQuery struct {
	user, kind, application string
	after, before           int64
	limit                   int
}

// auditList is `planoauth audit list`: the trail newest first (or after an id, oldest first),
// every application's events.
func auditList(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "list" {
		return errors.New(auditUsage)
	}
	fs := flag.NewFlagSet("audit list", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the error returned says it all, with the usage
	var in auditQuery
	fs.StringVar(&in.user, "user", "", "only the events about this user (email or id)")
	fs.StringVar(&in.kind, "kind", "", "only the events of this kind")
	fs.StringVar(&in.application, "application", "", "only the events of this application")
	fs.Int64Var(&in.after, "after", -1, "the events after this id, oldest first")
	fs.Int64Var(&in.before, "before", 0, "the events before this id, newest first")
	fs.IntVar(&in.limit, "limit", defaultListLimit, "how many events")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("audit list: %w\n%s", err, auditUsage)
	}
	if err := in.check(fs.NArg()); err != nil {
		return fmt.Errorf("audit list: %w\n%s", err, auditUsage)
	}
	return withDatabase(ctx, cfg, stderr, func(ctx context.Context, d *database) error {
		return printAudit(ctx, d.q, in, stdout)
	})
}

func (in auditQuery) check(extra int) error {
	switch {
	case extra > 0:
		return errors.New("unexpected arguments")
	case in.kind != "" && !gen.AuditKind(in.kind).Valid():
		return fmt.Errorf("unknown kind %q (the contract's AuditKind lists them)", in.kind)
	case in.after >= 0 && in.before > 0:
		return errors.New("--after and --before cannot be combined")
	case in.limit < 1 || in.limit > maxListLimit:
		return fmt.Errorf("--limit must be between 1 and %d, got %d", maxListLimit, in.limit)
	}
	return nil
}

// filter resolves the query's user and application into the trail's filter.
func (in auditQuery) filter(ctx context.Context, q *db.Queries) (audit.Filter, error) {
	f := audit.Filter{Limit: int32(in.limit)}
	if in.kind != "" {
		kind := gen.AuditKind(in.kind)
		f.Kind = &kind
	}
	if in.user != "" {
		id, err := userID(ctx, q, in.user)
		if err != nil {
			return f, err
		}
		f.User = &id
	}
	if in.application != "" {
		app, err := q.GetApplicationBySlug(ctx, in.application)
		if errors.Is(err, pgx.ErrNoRows) {
			return f, fmt.Errorf("unknown application %q (`planoauth applications list` shows them)", in.application)
		}
		if err != nil {
			return f, fmt.Errorf("look up application %s: %w", in.application, err)
		}
		f.Application = &app.ID
	}
	return f, nil
}

// userID reads a user given by email or id.
func userID(ctx context.Context, q *db.Queries, user string) (int64, error) {
	if id, err := strconv.ParseInt(user, 10, 64); err == nil {
		return id, nil
	}
	u, err := q.GetUserByEmail(ctx, emailaddr.Normalize(user))
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("no user with email %q", user)
	}
	if err != nil {
		return 0, fmt.Errorf("look up user %q: %w", user, err)
	}
	return u.ID, nil
}

func printAudit(ctx context.Context, q *db.Queries, in auditQuery, stdout io.Writer) error {
	f, err := in.filter(ctx, q)
	if err != nil {
		return err
	}
	var after, before *int64
	if in.after >= 0 {
		after = &in.after
	}
	if in.before > 0 {
		before = &in.before
	}
	trail, err := audit.Read(ctx, q, f, after, before)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tTIME\tKIND\tACTOR\tUSER\tAPPLICATION\tADDRESS\tREQUEST\tDETAILS")
	for _, e := range trail.Results {
		details, err := json.Marshal(e.Details)
		if err != nil {
			return fmt.Errorf("encode the details of event %d: %w", e.Id, err)
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Id, formatTime(e.OccurredAt), e.Kind, actorText(e.Actor),
			optional(e.UserId), optional(e.Application), orDash(e.ClientAddress), orDash(e.RequestId), details)
	}
	return w.Flush()
}

func actorText(a gen.AuditActor) string {
	if a.UserId != nil {
		return fmt.Sprintf("%s %d", a.Type, *a.UserId)
	}
	return string(a.Type)
}

func optional[T any](v *T) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(*v)
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
