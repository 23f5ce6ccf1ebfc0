package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/pgerr"
)

const applicationsUsage = `usage: planoauth applications list | create SLUG NAME | rotate-token SLUG | session-policy SLUG [flags]`

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
			return rotateApplicationToken(ctx, d.q, args[1], stdout)
		})
	}
	return errors.New(applicationsUsage)
}

func listApplications(ctx context.Context, q *db.Queries, stdout io.Writer) error {
	apps, err := q.ListApplications(ctx)
	if err != nil {
		return fmt.Errorf("list applications: %w", err)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SLUG\tNAME\tTOKEN\tROLES\tSELF-REGISTRATION\tLIFETIME\tIDLE\tREMEMBER-ME\tSCOPES")
	for _, a := range apps {
		token := "none"
		if a.TokenHash != nil {
			token = "issued"
		}
		lifetime, idle, rememberMe := policyColumns(a)
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%t\t%s\t%s\t%s\t%s\n", a.Slug, a.Name, token,
			strings.Join(a.Roles, ","), a.AllowsClientRegistration, lifetime, idle, rememberMe, strings.Join(a.Scopes, ","))
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
// stops working at once on every instance, since tokens are looked up in the database.
func rotateApplicationToken(ctx context.Context, q *db.Queries, slug string, stdout io.Writer) error {
	token, hash := auth.NewToken(auth.ApplicationPrefix)
	n, err := q.RotateApplicationToken(ctx, db.RotateApplicationTokenParams{Slug: slug, TokenHash: hash})
	if err != nil {
		return fmt.Errorf("rotate the token of %s: %w", slug, err)
	}
	if n == 0 {
		return fmt.Errorf("unknown application %q (`planoauth applications list` shows them)", slug)
	}
	fmt.Fprintf(stdout, "application %s token (shown once, store it now): %s\n", slug, token)
	fmt.Fprintln(stdout, "the previous token no longer works")
	return nil
}
