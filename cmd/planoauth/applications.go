package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/audit"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/pgerr"
	"github.com/plano/planoauth/internal/redirect"
)

const applicationsUsage = `usage: planoauth applications list | create SLUG NAME | rotate-token SLUG |
       session-policy SLUG [flags] | redirects list SLUG | redirects add SLUG ORIGIN | redirects remove SLUG ORIGIN |
       require-mfa SLUG on|off`

func applications(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(applicationsUsage)
	}
	switch {
	case args[0] == "list" && len(args) == 1:
		return withDatabase(ctx, cfg, stderr, func(ctx context.Context, d *database) error {
			return listApplications(ctx, d.q, stdout)
		})
	case args[0] == "create" && len(args) == 3:
		return withDatabase(ctx, cfg, stderr, func(ctx context.Context, d *database) error {
			return createApplication(ctx, d, args[1], args[2], stdout)
		})
	case args[0] == "session-policy":
		change, err := parseSessionPolicy(args[1:])
		if err != nil {
			return err
		}
		return withDatabase(ctx, cfg, stderr, func(ctx context.Context, d *database) error {
			return setSessionPolicy(ctx, d.q, change, stdout)
		})
	case args[0] == "rotate-token" && len(args) == 2:
		return withDatabase(ctx, cfg, stderr, func(ctx context.Context, d *database) error {
			return rotateApplicationToken(ctx, d, args[1], stdout)
		})
	case args[0] == "require-mfa" && len(args) == 3 && (args[2] == "on" || args[2] == "off"):
		return withDatabase(ctx, cfg, stderr, func(ctx context.Context, d *database) error {
			return requireMFA(ctx, d, args[1], args[2] == "on", stdout)
		})
	case args[0] == "redirects" && (len(args) == 3 && args[1] == "list" || len(args) == 4 && (args[1] == "add" || args[1] == "remove")):
		return withDatabase(ctx, cfg, stderr, func(ctx context.Context, d *database) error {
			return redirectOrigins(ctx, d.q, args[1], args[2], args[3:], stdout)
		})
	}
	return errors.New(applicationsUsage)
}

// redirectOrigins lists, adds or removes an origin of an application's redirect allow-list.
// An application with none accepts redirect URLs to the service's own origin only.
func redirectOrigins(ctx context.Context, q *db.Queries, action, slug string, args []string, stdout io.Writer) error {
	if _, err := q.GetApplicationBySlug(ctx, slug); errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("unknown application %q (`planoauth applications list` shows them)", slug)
	} else if err != nil {
		return fmt.Errorf("look up application %s: %w", slug, err)
	}
	if action == "list" {
		origins, err := q.ListRedirectOrigins(ctx, slug)
		if err != nil {
			return fmt.Errorf("list the redirect origins of %s: %w", slug, err)
		}
		if len(origins) == 0 {
			fmt.Fprintf(stdout, "%s has no redirect origins: only the service's own origin is accepted\n", slug)
		}
		for _, origin := range origins {
			fmt.Fprintln(stdout, origin)
		}
		return nil
	}
	origin, err := redirect.ParseOrigin(args[0])
	if err != nil {
		return err
	}
	var n int64
	if action == "add" {
		n, err = q.AddRedirectOrigin(ctx, db.AddRedirectOriginParams{Slug: slug, Origin: origin})
	} else {
		n, err = q.RemoveRedirectOrigin(ctx, db.RemoveRedirectOriginParams{Slug: slug, Origin: origin})
	}
	if err != nil {
		return fmt.Errorf("%s redirect origin %s of %s: %w", action, origin, slug, err)
	}
	switch {
	case n == 0 && action == "add":
		fmt.Fprintf(stdout, "%s already allows %s\n", slug, origin)
	case n == 0:
		return fmt.Errorf("%s does not list %s", slug, origin)
	case action == "add":
		fmt.Fprintf(stdout, "%s now allows redirects to %s\n", slug, origin)
	default:
		fmt.Fprintf(stdout, "%s no longer allows redirects to %s\n", slug, origin)
	}
	return nil
}

func listApplications(ctx context.Context, q *db.Queries, stdout io.Writer) error {
	apps, err := q.ListApplications(ctx)
	if err != nil {
		return fmt.Errorf("list applications: %w", err)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SLUG\tNAME\tTOKEN\tROLES\tSELF-REGISTRATION\tLIFETIME\tIDLE\tREMEMBER-ME\tREQUIRE-MFA\tSCOPES")
	for _, a := range apps {
		token := "none"
		if a.TokenHash != nil {
			token = "issued"
		}
		lifetime, idle, rememberMe := policyColumns(a)
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%t\t%s\t%s\t%s\t%t\t%s\n", a.Slug, a.Name, token,
			strings.Join(a.Roles, ","), a.AllowsClientRegistration, lifetime, idle, rememberMe, a.RequireMfa, strings.Join(a.Scopes, ","))
	}
	return w.Flush()
}

// applicationTemplate is the application whose roles, self-registration and scopes a new one
// copies.
const applicationTemplate = "planoorder"

// createApplication adds an application shaped like the template and prints its token once.
// Its slug must be one the contract lists: answers name the application, and an SDK refuses a
// value its enum does not have.
func createApplication(ctx context.Context, d *database, slug, name string, stdout io.Writer) error {
	if !gen.ApplicationSlug(slug).Valid() {
		return fmt.Errorf("the contract does not list the application %q: add it to the ApplicationSlug enum of api/openapi.yaml first", slug)
	}
	token, hash := auth.NewToken(auth.ApplicationPrefix)
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		q := d.q.WithTx(tx)
		id, err := q.CreateApplicationLike(ctx, db.CreateApplicationLikeParams{
			Slug: slug, Name: name, TokenHash: hash, Template: applicationTemplate})
		if pgerr.IsUniqueViolation(err, "applications_slug_key") {
			return fmt.Errorf("application %s exists already (rotate its token with applications rotate-token)", slug)
		}
		if err != nil {
			return fmt.Errorf("create application %s like %s: %w", slug, applicationTemplate, err)
		}
		return q.CopyRoleScopes(ctx, db.CopyRoleScopesParams{ApplicationID: id, FromSlug: applicationTemplate})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "application %s token (shown once, store it now): %s\n", slug, token)
	return nil
}

// rotateApplicationToken gives an application a new token and prints it once. The old token
// stops working at once on every instance (they reload applications on NOTIFY). The audit trail
// records it in the same transaction.
func rotateApplicationToken(ctx context.Context, d *database, slug string, stdout io.Writer) error {
	token, hash := auth.NewToken(auth.ApplicationPrefix)
	err := operatorChange(ctx, d, slug, gen.AuditApplicationTokenRotated, func(q *db.Queries, _ db.Application) error {
		_, err := q.RotateApplicationToken(ctx, db.RotateApplicationTokenParams{Slug: slug, TokenHash: hash})
		return err
	})
	if err != nil {
		return fmt.Errorf("rotate the token of %s: %w", slug, err)
	}
	fmt.Fprintf(stdout, "application %s token (shown once, store it now): %s\n", slug, token)
	fmt.Fprintln(stdout, "the previous token no longer works")
	return nil
}

// requireMFA makes an application require a second factor (aal2) of every session, or not, and
// records it (application.mfa_required or application.mfa_optional). It reaches sessions already
// open at once, on every instance (applications notify): their users must complete a second
// factor, or enrol one, before anything else.
func requireMFA(ctx context.Context, d *database, slug string, on bool, stdout io.Writer) error {
	kind := gen.AuditApplicationMfaOptional
	if on {
		kind = gen.AuditApplicationMfaRequired
	}
	err := operatorChange(ctx, d, slug, kind, func(q *db.Queries, _ db.Application) error {
		if _, err := q.SetApplicationRequireMFA(ctx, db.SetApplicationRequireMFAParams{Slug: slug, RequireMfa: on}); err != nil {
			return fmt.Errorf("set require-mfa of %s: %w", slug, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if on {
		fmt.Fprintf(stdout, "%s now requires a second factor: a user without one may only enrol one\n", slug)
	} else {
		fmt.Fprintf(stdout, "%s no longer requires a second factor of users who have none\n", slug)
	}
	return nil
}

// operatorChange runs change to the application slug and appends its audit event (kind, by an
// operator) in one transaction. An unknown slug is an error that says how to list them.
func operatorChange(ctx context.Context, d *database, slug string, kind gen.AuditKind, change func(*db.Queries, db.Application) error) error {
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		q := d.q.WithTx(tx)
		app, err := q.GetApplicationBySlug(ctx, slug)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("unknown application %q (`planoauth applications list` shows them)", slug)
		}
		if err != nil {
			return fmt.Errorf("look up application %s: %w", slug, err)
		}
		if err := change(q, app); err != nil {
			return err
		}
		return audit.Append(ctx, q, time.Now(), audit.Event{Kind: kind, Actor: audit.Operator, ApplicationID: app.ID})
	})
}
