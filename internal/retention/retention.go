// Package retention deletes the rows that have outlived their use, on a schedule, so that no
// table grows with every stranger's request: limit counters, expired and revoked sessions,
// sign-in links, device tokens and known addresses, the local mailer's emails, notifications
// and the outbox's finished emails. Every instance runs a Worker; a session-level advisory lock
// lets one of them delete at a time (the others skip the round). Each table deletes in batches,
// so no statement holds many row locks for long.
package retention

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/gen/db"
)

// Config is how long each kind of row is kept past the moment it stopped being of use, and how
// often the worker runs.
type Config struct {
	Interval time.Duration
	// LimitCounters: after their window ended.
	LimitCounters time.Duration
	// Sessions: after their revocation, or after the latest they could expire (the bound of their
	// application's session policy when they were created: sessions.max_expires_at). Remember-me
	// sessions of an application without a cap that are never revoked stay.
	Sessions time.Duration
	// MagicLinks: after their expiry (used or not).
	MagicLinks time.Duration
	// SentEmails: the local mailer's records, after they were written.
	SentEmails time.Duration
	// Notifications: after they were written.
	Notifications time.Duration
	// Outbox: queued emails, after they were sent or given up on.
	Outbox time.Duration
	// DeviceTokens and KnownAddresses: after their expiry (their lifetime is set in limits).
	DeviceTokens   time.Duration
	KnownAddresses time.Duration
	// AuditEvents: the audit trail, after the event occurred (their deliveries go with them).
	AuditEvents time.Duration
	// WebhookDeliveries: after they were queued, once made or given up on; pending ones stay.
	WebhookDeliveries time.Duration
	// MFACeremonies: WebAuthn ceremonies and unconfirmed TOTP secrets, after their expiry.
	MFACeremonies time.Duration
}

// Defaults are the retention unless configured (README, configuration table).
var Defaults = Config{
	Interval:      time.Hour,
	LimitCounters: 0,
	Sessions:      30 * 24 * time.Hour,
	MagicLinks:    24 * time.Hour,
	SentEmails:    7 * 24 * time.Hour,
	Notifications: 90 * 24 * time.Hour,
	Outbox:        7 * 24 * time.Hour,
	// A year of audit trail, what audits commonly ask to see.
	AuditEvents:       365 * 24 * time.Hour,
	WebhookDeliveries: 7 * 24 * time.Hour,
}

// LockKey is the advisory lock key that one retention round holds.
const LockKey int64 = 0x706c616e6f726574 // "planoret"

// batchSize bounds the rows one statement deletes.
const batchSize = 1000

// Worker deletes what is past retention.
type Worker struct {
	pool *pgxpool.Pool
	cfg  Config
	now  func() time.Time
	log  *slog.Logger
}

// NewWorker returns a worker with cfg, used as it is (start from Defaults).
func NewWorker(pool *pgxpool.Pool, cfg Config, now func() time.Time, log *slog.Logger) *Worker {
	return &Worker{pool: pool, cfg: cfg, now: now, log: log}
}

// Run runs a round at once and then every Interval until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	ticker := time.NewTicker(w.cfg.Interval)
	defer ticker.Stop()
	for {
		if _, err := w.RunOnce(ctx); err != nil && ctx.Err() == nil {
			w.log.Error("retention round failed", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// Result is what one round did: whether it held the lock, and how many rows it deleted per table.
type Result struct {
	Ran     bool
	Deleted map[string]int64
}

// RunOnce deletes, table by table, every row past its retention, unless another instance holds
// the lock (then Ran is false and nothing is deleted).
func (w *Worker) RunOnce(ctx context.Context) (Result, error) {
	conn, err := w.pool.Acquire(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("acquire a connection for retention: %w", err)
	}
	defer conn.Release()
	q := db.New(conn)
	locked, err := q.TryRetentionLock(ctx, LockKey)
	if err != nil {
		return Result{}, fmt.Errorf("take the retention lock: %w", err)
	}
	if !locked {
		return Result{}, nil // another instance is at it
	}
	defer func() {
		if _, err := q.ReleaseRetentionLock(context.WithoutCancel(ctx), LockKey); err != nil {
			// A connection that may still hold the lock must not go back to the pool.
			_ = conn.Hijack().Close(context.WithoutCancel(ctx))
			w.log.Warn("release the retention lock; connection closed instead", slog.Any("error", err))
		}
	}()
	// DeleteOldSessions is estimated far above its cost (the rows of its recursive needed), which
	// turns JIT compilation on: at 200,000 sessions that took most of each batch (README,
	// Retention). The round's statements are simple; the connection gets its setting back after.
	if err := q.TurnOffJIT(ctx); err != nil {
		return Result{}, fmt.Errorf("turn JIT off for retention: %w", err)
	}
	defer func() {
		if err := q.ResetJIT(context.WithoutCancel(ctx)); err != nil {
			w.log.Warn("reset jit after retention", slog.Any("error", err))
		}
	}()
	res := Result{Ran: true, Deleted: map[string]int64{}}
	var total int64
	for _, task := range w.tasks() {
		n, err := deleteAll(ctx, func() (int64, error) { return task.delete(ctx, q) })
		res.Deleted[task.table] = n
		total += n
		if err != nil {
			return res, fmt.Errorf("delete old %s: %w", task.table, err)
		}
	}
	level := slog.LevelDebug
	if total > 0 {
		level = slog.LevelInfo
	}
	w.log.Log(ctx, level, "retention round", slog.Any("deleted", res.Deleted))
	return res, nil
}

// deleteAll repeats one batch until a batch deletes fewer than batchSize rows.
func deleteAll(ctx context.Context, batch func() (int64, error)) (int64, error) {
	var total int64
	for ctx.Err() == nil {
		n, err := batch()
		total += n
		if err != nil || n < batchSize {
			return total, err
		}
	}
	return total, ctx.Err()
}

type task struct {
	table  string
	delete func(context.Context, *db.Queries) (int64, error)
}

// tasks are the tables and their deletions, each with its cut-off computed now.
func (w *Worker) tasks() []task {
	now := w.now()
	before := func(keep time.Duration) time.Time { return now.Add(-keep) }
	outboxBefore := before(w.cfg.Outbox)
	return []task{
		{"limit_counters", func(ctx context.Context, q *db.Queries) (int64, error) {
			return q.DeleteExpiredLimitCounters(ctx, db.DeleteExpiredLimitCountersParams{Before: before(w.cfg.LimitCounters), BatchSize: batchSize})
		}},
		{"sessions", func(ctx context.Context, q *db.Queries) (int64, error) {
			cutoff := before(w.cfg.Sessions)
			return q.DeleteOldSessions(ctx, db.DeleteOldSessionsParams{RevokedBefore: &cutoff,
				ExpiredBefore: &cutoff, BatchSize: batchSize})
		}},
		{"magic_links", func(ctx context.Context, q *db.Queries) (int64, error) {
			return q.DeleteExpiredMagicLinks(ctx, db.DeleteExpiredMagicLinksParams{Before: before(w.cfg.MagicLinks), BatchSize: batchSize})
		}},
		{"device_tokens", func(ctx context.Context, q *db.Queries) (int64, error) {
			return q.DeleteExpiredDeviceTokens(ctx, db.DeleteExpiredDeviceTokensParams{Before: before(w.cfg.DeviceTokens), BatchSize: batchSize})
		}},
		{"known_addresses", func(ctx context.Context, q *db.Queries) (int64, error) {
			return q.DeleteExpiredKnownAddresses(ctx, db.DeleteExpiredKnownAddressesParams{Before: before(w.cfg.KnownAddresses), BatchSize: batchSize})
		}},
		{"sent_emails", func(ctx context.Context, q *db.Queries) (int64, error) {
			return q.DeleteOldSentEmails(ctx, db.DeleteOldSentEmailsParams{Before: before(w.cfg.SentEmails), BatchSize: batchSize})
		}},
		{"notifications", func(ctx context.Context, q *db.Queries) (int64, error) {
			return q.DeleteOldNotifications(ctx, db.DeleteOldNotificationsParams{Before: before(w.cfg.Notifications), BatchSize: batchSize})
		}},
		{"webauthn_challenges", func(ctx context.Context, q *db.Queries) (int64, error) {
			return q.DeleteExpiredWebAuthnChallenges(ctx, db.DeleteExpiredWebAuthnChallengesParams{Before: before(w.cfg.MFACeremonies), BatchSize: batchSize})
		}},
		{"totp_secrets", func(ctx context.Context, q *db.Queries) (int64, error) {
			pending := before(w.cfg.MFACeremonies)
			return q.DeleteExpiredTOTPEnrolments(ctx, db.DeleteExpiredTOTPEnrolmentsParams{Before: &pending, BatchSize: batchSize})
		}},
		{"email_outbox", func(ctx context.Context, q *db.Queries) (int64, error) {
			return q.DeleteFinishedOutboxEmails(ctx, db.DeleteFinishedOutboxEmailsParams{Before: &outboxBefore, BatchSize: batchSize})
		}},
		{"webhook_deliveries", func(ctx context.Context, q *db.Queries) (int64, error) {
			return q.DeleteFinishedWebhookDeliveries(ctx, db.DeleteFinishedWebhookDeliveriesParams{Before: before(w.cfg.WebhookDeliveries), BatchSize: batchSize})
		}},
		{"audit_events", func(ctx context.Context, q *db.Queries) (int64, error) {
			return q.DeleteOldAuditEvents(ctx, db.DeleteOldAuditEventsParams{Before: before(w.cfg.AuditEvents), BatchSize: batchSize})
		}},
	}
}
