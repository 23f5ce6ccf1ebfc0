package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/webhooks"
)

const webhooksUsage = `usage: planoauth webhooks set SLUG URL | list | delete SLUG | rotate-secret SLUG | replay SLUG --after ID`

// webhooksCommand is `planoauth webhooks`: each application's endpoint for its audit events.
func webhooksCommand(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(webhooksUsage)
	}
	var run func(context.Context, *database) error
	switch {
	case args[0] == "set" && len(args) == 3:
		if err := webhooks.CheckURL(args[2]); err != nil {
			return fmt.Errorf("the URL %w", err)
		}
		run = func(ctx context.Context, d *database) error { return setWebhook(ctx, d, cfg, args[1], args[2], stdout) }
	case args[0] == "list" && len(args) == 1:
		run = func(ctx context.Context, d *database) error { return listWebhooks(ctx, d.q, stdout) }
	case args[0] == "delete" && len(args) == 2:
		run = func(ctx context.Context, d *database) error { return deleteWebhook(ctx, d, args[1], stdout) }
	case args[0] == "rotate-secret" && len(args) == 2:
		run = func(ctx context.Context, d *database) error { return rotateWebhookSecret(ctx, d, cfg, args[1], stdout) }
	case args[0] == "replay" && len(args) >= 2:
		after, err := parseReplay(args[2:])
		if err != nil {
			return fmt.Errorf("webhooks replay: %w\n%s", err, webhooksUsage)
		}
		run = func(ctx context.Context, d *database) error { return replayWebhook(ctx, d, args[1], after, stdout) }
	default:
		return errors.New(webhooksUsage)
	}
	return withDatabase(ctx, cfg, stderr, run)
}

func parseReplay(args []string) (int64, error) {
	fs := flag.NewFlagSet("webhooks replay", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	after := fs.Int64("after", -1, "send the events after this id again")
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	if *after < 0 || fs.NArg() > 0 {
		return 0, errors.New("needs --after ID (0 for every event kept) and nothing else")
	}
	return *after, nil
}

// sealer is the Sealer of PLANOAUTH_WEBHOOK_KEY, which signing secrets need.
func sealer(cfg config) (*webhooks.Sealer, error) {
	if cfg.webhookKeys == nil {
		return nil, errors.New("PLANOAUTH_WEBHOOK_KEY is not set: signing secrets are sealed with it (make one with `openssl rand -base64 32`, and give every instance the same)")
	}
	return webhooks.NewSealer(cfg.webhookKeys...)
}

// setWebhook registers an application's endpoint with a new signing secret, printed once, or
// moves an existing one to url (keeping its secret). The webhook.set event is the endpoint's
// first delivery.
func setWebhook(ctx context.Context, d *database, cfg config, slug, url string, stdout io.Writer) error {
	seal, err := sealer(cfg)
	if err != nil {
		return err
	}
	secret := webhooks.NewSecret()
	created := false
	err = operatorChange(ctx, d, slug, gen.AuditWebhookSet, func(q *db.Queries, app db.Application) error {
		_, err := q.CreateWebhook(ctx, db.CreateWebhookParams{ApplicationID: app.ID, Url: url, SecretSealed: seal.Seal(secret, app.ID)})
		if err == nil {
			created = true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		_, err = q.UpdateWebhookURL(ctx, db.UpdateWebhookURLParams{ApplicationID: app.ID, Url: url})
		return err
	})
	if err != nil {
		return fmt.Errorf("set the webhook of %s: %w", slug, err)
	}
	fmt.Fprintf(stdout, "webhook of %s: %s\n", slug, url)
	if created {
		fmt.Fprintf(stdout, "signing secret (shown once, store it now): %s\n", secret)
	} else {
		fmt.Fprintln(stdout, "its signing secret is unchanged (webhooks rotate-secret gives it a new one)")
	}
	return nil
}

func listWebhooks(ctx context.Context, q *db.Queries, stdout io.Writer) error {
	rows, err := q.ListWebhooks(ctx)
	if err != nil {
		return fmt.Errorf("list webhooks: %w", err)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "APPLICATION\tURL\tPENDING\tDELIVERED\tFAILED\tUPDATED\tPREVIOUS SECRET UNTIL")
	for _, h := range rows {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", h.Application, h.Url, h.Pending, h.Delivered, h.Failed,
			formatTime(h.UpdatedAt), previousUntil(h.PreviousUntil))
	}
	return w.Flush()
}

func previousUntil(t *time.Time) string {
	if t == nil || time.Now().After(*t) {
		return "-"
	}
	return formatTime(*t)
}

// errNoWebhook is an application without a webhook.
func errNoWebhook(slug string) error {
	return fmt.Errorf("%s has no webhook (`planoauth webhooks list` shows them)", slug)
}

func deleteWebhook(ctx context.Context, d *database, slug string, stdout io.Writer) error {
	err := operatorChange(ctx, d, slug, gen.AuditWebhookDeleted, func(q *db.Queries, app db.Application) error {
		n, err := q.DeleteWebhook(ctx, app.ID)
		if err == nil && n == 0 {
			return errNoWebhook(slug)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete the webhook of %s: %w", slug, err)
	}
	fmt.Fprintf(stdout, "deleted the webhook of %s and its pending deliveries\n", slug)
	return nil
}

// rotateWebhookSecret gives an application's webhook a new secret, printed once; the previous
// one keeps signing beside it for webhooks.RotationOverlap, so the receiver can switch.
func rotateWebhookSecret(ctx context.Context, d *database, cfg config, slug string, stdout io.Writer) error {
	seal, err := sealer(cfg)
	if err != nil {
		return err
	}
	secret := webhooks.NewSecret()
	until := time.Now().Add(webhooks.RotationOverlap)
	err = operatorChange(ctx, d, slug, gen.AuditWebhookSecretRotated, func(q *db.Queries, app db.Application) error {
		n, err := q.RotateWebhookSecret(ctx, db.RotateWebhookSecretParams{ApplicationID: app.ID,
			SecretSealed: seal.Seal(secret, app.ID), PreviousUntil: &until})
		if err == nil && n == 0 {
			return errNoWebhook(slug)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("rotate the webhook secret of %s: %w", slug, err)
	}
	fmt.Fprintf(stdout, "signing secret of %s (shown once, store it now): %s\n", slug, secret)
	fmt.Fprintf(stdout, "the previous secret also signs until %s\n", formatTime(until))
	return nil
}

// replayWebhook queues again every event of the application after the id given.
func replayWebhook(ctx context.Context, d *database, slug string, after int64, stdout io.Writer) error {
	app, err := d.q.GetApplicationBySlug(ctx, slug)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("unknown application %q (`planoauth applications list` shows them)", slug)
	}
	if err != nil {
		return fmt.Errorf("look up application %s: %w", slug, err)
	}
	if _, err := d.q.GetWebhookID(ctx, app.ID); errors.Is(err, pgx.ErrNoRows) {
		return errNoWebhook(slug)
	} else if err != nil {
		return fmt.Errorf("look up the webhook of %s: %w", slug, err)
	}
	queued, err := d.q.ReplayWebhookEvents(ctx, db.ReplayWebhookEventsParams{ApplicationID: app.ID, After: after, Now: time.Now()})
	if err != nil {
		return fmt.Errorf("replay the webhook of %s: %w", slug, err)
	}
	fmt.Fprintf(stdout, "queued %d %s of %s after %d\n", queued, plural(queued, "event", "events"), slug, after)
	return nil
}
