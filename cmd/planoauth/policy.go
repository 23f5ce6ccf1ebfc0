package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/gen/db"
)

const sessionPolicyUsage = `usage: planoauth applications session-policy SLUG [--lifetime D] [--idle-timeout D] [--remember-me-max-age D|none]
  durations like 7d, 72h or 90m, from 5m to 3650d; with no flag, the policy is shown`

// sessionPolicyChange is what `applications session-policy` was asked to change.
type sessionPolicyChange struct {
	slug             string
	lifetime, idle   *int64 // seconds; nil: unchanged
	setRememberMe    bool
	rememberMeMaxAge *int64 // nil with setRememberMe: no cap
}

// parseSessionPolicy reads the arguments after `applications session-policy`.
func parseSessionPolicy(args []string) (sessionPolicyChange, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return sessionPolicyChange{}, errors.New(sessionPolicyUsage)
	}
	change := sessionPolicyChange{slug: args[0]}
	fs := flag.NewFlagSet("applications session-policy", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the error returned says it all, with the usage
	lifetime := fs.String("lifetime", "", "how long a session lives after its creation")
	idle := fs.String("idle-timeout", "", "how long a session lives after its last use")
	rememberMe := fs.String("remember-me-max-age", "", "how long a remember_me session lives after its creation, or none")
	if err := fs.Parse(args[1:]); err != nil {
		return change, fmt.Errorf("applications session-policy: %w\n%s", err, sessionPolicyUsage)
	}
	if fs.NArg() != 0 {
		return change, fmt.Errorf("applications session-policy: unexpected %q\n%s", fs.Arg(0), sessionPolicyUsage)
	}
	var err error
	if change.lifetime, err = policySeconds("--lifetime", *lifetime); err != nil {
		return change, err
	}
	if change.idle, err = policySeconds("--idle-timeout", *idle); err != nil {
		return change, err
	}
	fs.Visit(func(f *flag.Flag) { change.setRememberMe = change.setRememberMe || f.Name == "remember-me-max-age" })
	if change.setRememberMe && *rememberMe != "none" {
		if change.rememberMeMaxAge, err = policySeconds("--remember-me-max-age", *rememberMe); err != nil {
			return change, err
		}
		if change.rememberMeMaxAge == nil {
			return change, fmt.Errorf("--remember-me-max-age needs a duration or none\n%s", sessionPolicyUsage)
		}
	}
	return change, nil
}

// policySeconds parses a policy duration ("" is none given): Go's units, and d for days.
func policySeconds(flagName, value string) (*int64, error) {
	if value == "" {
		return nil, nil
	}
	d, err := parseDays(value)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w\n%s", flagName, value, err, sessionPolicyUsage)
	}
	if d%time.Second != 0 || d < auth.MinPolicyDuration || d > auth.MaxPolicyDuration {
		return nil, fmt.Errorf("%s %q: want whole seconds from %s to %s\n%s", flagName, value,
			formatPolicy(auth.MinPolicyDuration), formatPolicy(auth.MaxPolicyDuration), sessionPolicyUsage)
	}
	seconds := int64(d / time.Second)
	return &seconds, nil
}

// parseDays is time.ParseDuration that also takes a whole number of days ("7d").
func parseDays(value string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(value, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 32)
		if err != nil {
			return 0, errors.New("not a whole number of days")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(value)
}

// setSessionPolicy changes an application's session policy (when asked to) and prints it. Every instance reloads
// its applications at once (the table notifies), so the change reaches live sessions everywhere:
// a shorter policy at once, and for good (the sessions' stored bounds are lowered in the same
// statement), a longer one for the sessions created from then on.
func setSessionPolicy(ctx context.Context, q *db.Queries, change sessionPolicyChange, stdout io.Writer) error {
	var app db.Application
	var err error
	if change.lifetime == nil && change.idle == nil && !change.setRememberMe {
		app, err = q.GetApplicationBySlug(ctx, change.slug) // only show it
	} else {
		var row db.SetApplicationSessionPolicyRow // the application's row (applications.*)
		row, err = q.SetApplicationSessionPolicy(ctx, db.SetApplicationSessionPolicyParams{
			Slug: change.slug, MaxAgeSeconds: change.lifetime, IdleTimeoutSeconds: change.idle,
			SetRememberMeMaxAge: change.setRememberMe, RememberMeMaxAgeSeconds: change.rememberMeMaxAge,
		})
		app = db.Application(row)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("unknown application %q (`planoauth applications list` shows them)", change.slug)
	}
	if err != nil {
		return fmt.Errorf("set the session policy of %s: %w", change.slug, err)
	}
	lifetime, idle, rememberMe := policyColumns(app)
	fmt.Fprintf(stdout, "application %s: lifetime %s, idle timeout %s, remember_me max age %s\n", app.Slug, lifetime, idle, rememberMe)
	return nil
}

// policyColumns renders an application's session policy as `applications list` shows it.
func policyColumns(app db.Application) (lifetime, idle, rememberMe string) {
	rememberMe = "none"
	if app.RememberMeMaxAgeSeconds != nil {
		rememberMe = formatPolicy(time.Duration(*app.RememberMeMaxAgeSeconds) * time.Second)
	}
	return formatPolicy(time.Duration(app.SessionMaxAgeSeconds) * time.Second),
		formatPolicy(time.Duration(app.SessionIdleTimeoutSeconds) * time.Second), rememberMe
}

// formatPolicy writes a duration in the largest unit that divides it, days from a week on: 7d,
// 72h, 90m or 301s (as the documentation says 7 days and 72 hours).
func formatPolicy(d time.Duration) string {
	for _, unit := range []struct {
		size, from time.Duration
		name       string
	}{{24 * time.Hour, 7 * 24 * time.Hour, "d"}, {time.Hour, 0, "h"}, {time.Minute, 0, "m"}} {
		if d%unit.size == 0 && d >= unit.from {
			return strconv.FormatInt(int64(d/unit.size), 10) + unit.name
		}
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}
