// Package webhooks delivers the audit trail's events to each application's webhook, signed by
// the Standard Webhooks scheme. AppendAuditEvent queues a delivery for each event of an
// application that has a webhook, in the event's own statement; the Worker sends them, any
// number of workers in any number of instances sharing the queue (package outbox: claims with
// FOR UPDATE SKIP LOCKED, leases, exponential backoff, at least once), and writes a
// notification when it gives up on one.
package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/audit"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/mail"
	"github.com/plano/planoauth/internal/outbox"
)

// WorkerConfig tunes the delivery worker; zero fields take DefaultWorkerConfig's.
type WorkerConfig = outbox.Config

// DefaultWorkerConfig: a due delivery is picked up within a second and tried 12 times over
// about six hours (30s, 1m, 2m, ... then hourly), since receivers' outages outlast a mail
// provider's; each attempt may take 15 seconds (half the lease).
var DefaultWorkerConfig = WorkerConfig{
	BatchSize: 10, PollInterval: time.Second, MaxAttempts: 12,
	BackoffBase: 30 * time.Second, BackoffMax: time.Hour, Lease: 30 * time.Second,
}

// NotifyGaveUp is the notification written when the worker gives up on a delivery.
const NotifyGaveUp = "webhook-delivery-failed"

// RotationOverlap is how long a rotated secret keeps signing beside the new one, so that a
// receiver can switch without losing a delivery.
const RotationOverlap = 24 * time.Hour

// Worker delivers the webhook queue.
type Worker struct {
	pool   *pgxpool.Pool
	q      *db.Queries
	sealer *Sealer
	client *http.Client
	log    *slog.Logger
	now    func() time.Time
	cfg    WorkerConfig
}

// NewWorker returns a worker delivering pool's queue, opening secrets with sealer; now is its
// clock (nil: time.Now), which also stamps webhook-timestamp.
func NewWorker(pool *pgxpool.Pool, sealer *Sealer, log *slog.Logger, now func() time.Time, cfg WorkerConfig) *Worker {
	if now == nil {
		now = time.Now
	}
	cfg = cfg.WithDefaults(DefaultWorkerConfig)
	client := &http.Client{
		Timeout: cfg.SendTimeout(),
		// A receiver must answer itself: following a redirect would let it send PlanoAuth on to
		// any address it names.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Worker{pool: pool, q: db.New(pool), sealer: sealer, client: client, log: log, now: now, cfg: cfg}
}

// Run delivers due webhooks until ctx is done, then returns once the sends in flight have ended
// and their outcomes are recorded.
func (w *Worker) Run(ctx context.Context) {
	outbox.Run(ctx, w.cfg, w.log, "deliver webhooks", w.DeliverDue)
}

// DeliverDue runs one round: it claims up to BatchSize due deliveries, sends them concurrently
// and records each outcome. It returns how many it claimed.
func (w *Worker) DeliverDue(ctx context.Context) (int, error) {
	return outbox.Round(ctx, w.cfg, w.now(), w.claim, w.deliver)
}

func (w *Worker) claim(ctx context.Context, now, leaseUntil time.Time, batch int32) ([]db.ClaimDueWebhookDeliveriesRow, error) {
	claimed, err := w.q.ClaimDueWebhookDeliveries(ctx, db.ClaimDueWebhookDeliveriesParams{Now: now, LeaseUntil: leaseUntil, BatchSize: batch})
	if err != nil {
		return nil, fmt.Errorf("claim due webhook deliveries: %w", err)
	}
	return claimed, nil
}

// deliver sends one claimed delivery and records the outcome.
func (w *Worker) deliver(ctx context.Context, claim db.ClaimDueWebhookDeliveriesRow) error {
	row, err := w.q.GetWebhookDelivery(ctx, claim.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // its webhook was deleted since the claim, and the delivery with it
	}
	if err != nil {
		return fmt.Errorf("read webhook delivery %d: %w", claim.ID, err)
	}
	sendErr := w.send(ctx, row)
	if sendErr == nil {
		if _, err := w.q.MarkWebhookDelivered(ctx, db.MarkWebhookDeliveredParams{ID: claim.ID, Now: w.now()}); err != nil {
			return fmt.Errorf("mark webhook delivery %d made: %w", claim.ID, err)
		}
		return nil
	}
	reason := sendErr.Error()
	if int(claim.Attempts) >= w.cfg.MaxAttempts {
		return w.giveUp(ctx, claim, row, reason)
	}
	w.log.WarnContext(ctx, "webhook not delivered; will retry", slog.Int64("delivery_id", claim.ID),
		slog.String("application", row.Application), slog.Int("attempt", int(claim.Attempts)), slog.String("reason", reason))
	_, err = w.q.RetryWebhookDeliveryLater(ctx, db.RetryWebhookDeliveryLaterParams{
		ID: claim.ID, Attempts: claim.Attempts, LastError: reason, NextAttemptAt: w.cfg.NextAttempt(w.now(), int(claim.Attempts)),
	})
	if err != nil {
		return fmt.Errorf("schedule a retry of webhook delivery %d: %w", claim.ID, err)
	}
	return nil
}

// MessageID is a delivery's webhook-id: the same for every attempt and replay of one event, so
// that a receiver can deduplicate.
func MessageID(eventID int64) string { return "evt_" + strconv.FormatInt(eventID, 10) }

// send makes one attempt: the event as a WebhookPayload, signed, POSTed to the endpoint. Only a
// 2xx answer is a delivery. The error says why in words fit for a notification (never the
// body of either side).
func (w *Worker) send(ctx context.Context, row db.GetWebhookDeliveryRow) error {
	if err := CheckURL(row.Url); err != nil { // set through the CLI, but it is read back from a table
		return fmt.Errorf("the delivery URL %w", err)
	}
	event, err := audit.Render(row.AuditEvent, &row.Application)
	if err != nil {
		return err
	}
	body, err := json.Marshal(gen.WebhookPayload{Type: event.Kind, Timestamp: event.OccurredAt, Data: event})
	if err != nil {
		return fmt.Errorf("encode event %d: %w", event.Id, err)
	}
	secrets, err := w.secrets(row)
	if err != nil {
		return err
	}
	sendCtx, cancel := context.WithTimeout(ctx, w.cfg.SendTimeout())
	defer cancel()
	req, err := http.NewRequestWithContext(sendCtx, http.MethodPost, row.Url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "PlanoAuth-Webhooks")
	if err := SetHeaders(req.Header, secrets, MessageID(event.Id), w.now(), body); err != nil {
		return err
	}
	res, err := w.client.Do(req)
	if urlErr, ok := errors.AsType[*url.Error](err); ok {
		err = urlErr.Err // its message repeats the URL, whose path or query may hold a receiver's credentials
	}
	if err != nil {
		return fmt.Errorf("POST to %s: %w", hostOf(row.Url), err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10)) // lets the connection be reused
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("%s answered %d", hostOf(row.Url), res.StatusCode)
	}
	return nil
}

// secrets are the secrets that sign a delivery now: the current one, and the previous one
// during the day after a rotation.
func (w *Worker) secrets(row db.GetWebhookDeliveryRow) ([]string, error) {
	appID := *row.AuditEvent.ApplicationID // a delivery is only ever queued for an event of an application
	current, err := w.sealer.Open(row.SecretSealed, appID)
	if err != nil {
		return nil, err
	}
	secrets := []string{current}
	if row.PreviousSealed != nil && row.PreviousUntil != nil && w.now().Before(*row.PreviousUntil) {
		previous, err := w.sealer.Open(row.PreviousSealed, appID)
		if err != nil {
			return nil, err
		}
		secrets = append(secrets, previous)
	}
	return secrets, nil
}

// giveUp marks the delivery failed and writes one NotifyGaveUp notification, in one transaction.
func (w *Worker) giveUp(ctx context.Context, claim db.ClaimDueWebhookDeliveriesRow, row db.GetWebhookDeliveryRow, reason string) error {
	now := w.now()
	var marked int64
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		q := w.q.WithTx(tx)
		var err error
		marked, err = q.GiveUpWebhookDelivery(ctx, db.GiveUpWebhookDeliveryParams{ID: claim.ID, Attempts: claim.Attempts, LastError: reason, Now: now})
		if err != nil || marked == 0 { // 0: another worker took it over after this one's lease ran out
			return err
		}
		return mail.Notify(ctx, q, now, mail.Notification{
			Kind: NotifyGaveUp,
			Message: fmt.Sprintf("Gave up on delivering %s event %d to the webhook of %s after %d attempts: %s",
				row.AuditEvent.Kind, row.AuditEvent.ID, row.Application, claim.Attempts, reason),
			Context: map[string]any{"delivery_id": claim.ID, "event_id": row.AuditEvent.ID, "application": row.Application,
				"host": hostOf(row.Url), "attempts": claim.Attempts, "reason": reason},
		})
	})
	if err != nil {
		return fmt.Errorf("give up on webhook delivery %d: %w", claim.ID, err)
	}
	if marked > 0 {
		w.log.ErrorContext(ctx, "gave up on a webhook delivery", slog.Int64("delivery_id", claim.ID),
			slog.String("application", row.Application), slog.Int("attempts", int(claim.Attempts)), slog.String("reason", reason))
	}
	return nil
}
