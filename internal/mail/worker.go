package mail

import (
	"context"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/pages"
)

// WorkerConfig tunes the outbox worker. Zero fields take the defaults of DefaultWorkerConfig.
type WorkerConfig struct {
	// BatchSize is how many due emails one round claims (and sends concurrently).
	BatchSize int
	// PollInterval is the pause after a round that found fewer than BatchSize due emails.
	PollInterval time.Duration
	// MaxAttempts is how many times an email is tried before the worker gives up on it.
	MaxAttempts int
	// After the n-th failed attempt the next one waits BackoffBase * 2^(n-1), at most BackoffMax.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Lease is how long a claimed email stays invisible to other workers. A send is cut off at
	// half of it, so a live worker always records the outcome before anyone else may claim the
	// email; a worker that dies leaves its claims to be picked up when the lease runs out.
	Lease time.Duration
	// PublicURL is the service's public URL (PLANOAUTH_PUBLIC_URL): the links that queued emails
	// carry open the page of their kind under it (/verify, /invite; see internal/pages), which
	// uses the link only when its button is pressed. It has no default here: a worker without
	// one fails the emails that carry a link.
	PublicURL string
}

// DefaultWorkerConfig: a due email is picked up within a second and tried 8 times over about an
// hour (waiting 30s, 1m, 2m, 4m, 8m, 16m, 32m in between); a dead worker's claims return after
// 2 minutes.
var DefaultWorkerConfig = WorkerConfig{
	BatchSize: 10, PollInterval: time.Second, MaxAttempts: 8,
	BackoffBase: 30 * time.Second, BackoffMax: time.Hour, Lease: 2 * time.Minute,
}

func (c WorkerConfig) withDefaults() WorkerConfig {
	d := DefaultWorkerConfig
	if c.BatchSize > 0 {
		d.BatchSize = c.BatchSize
	}
	if c.PollInterval > 0 {
		d.PollInterval = c.PollInterval
	}
	if c.MaxAttempts > 0 {
		d.MaxAttempts = c.MaxAttempts
	}
	if c.BackoffBase > 0 {
		d.BackoffBase = c.BackoffBase
	}
	if c.BackoffMax > 0 {
		d.BackoffMax = c.BackoffMax
	}
	if c.Lease > 0 {
		d.Lease = c.Lease
	}
	if c.PublicURL != "" {
		d.PublicURL = c.PublicURL
	}
	return d
}

// Worker delivers the outbox. Any number of workers, in any number of instances, may run on one
// database: each round claims due emails with FOR UPDATE SKIP LOCKED and leases them, so two
// workers never hold the same email.
//
// Delivery is at least once, not exactly once. While workers live, each email is sent once:
// a claim hides it for the lease, the send is cut off well before the lease ends, and the
// outcome is recorded even during shutdown. But if a process dies (or stalls past the lease)
// after Mandrill accepted an email and before the worker recorded it, the email is sent again
// when the lease runs out. No protocol can close that gap without Mandrill deduplicating, and
// a second welcome email is a better failure than a lost one.
type Worker struct {
	pool   *pgxpool.Pool
	q      *db.Queries
	mailer Mailer
	log    *slog.Logger
	now    func() time.Time
	cfg    WorkerConfig
}

// NewWorker returns a worker sending the outbox of pool's database through mailer; now is its
// clock (nil: time.Now).
func NewWorker(pool *pgxpool.Pool, mailer Mailer, log *slog.Logger, now func() time.Time, cfg WorkerConfig) *Worker {
	if now == nil {
		now = time.Now
	}
	return &Worker{pool: pool, q: db.New(pool), mailer: mailer, log: log, now: now, cfg: cfg.withDefaults()}
}

// Run delivers due emails until ctx is done, then returns once the sends in flight have ended
// and their outcomes are recorded.
func (w *Worker) Run(ctx context.Context) {
	pause := time.NewTimer(0)
	defer pause.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-pause.C:
		}
		claimed, err := w.DeliverDue(ctx)
		if err != nil && ctx.Err() == nil {
			w.log.ErrorContext(ctx, "deliver the email outbox", slog.Any("error", err))
		}
		if err == nil && claimed == w.cfg.BatchSize {
			pause.Reset(0) // there may be more due right now
		} else {
			pause.Reset(w.cfg.PollInterval)
		}
	}
}

// DeliverDue runs one round: it claims up to BatchSize due emails, sends them concurrently and
// records each outcome. It returns how many it claimed.
func (w *Worker) DeliverDue(ctx context.Context) (int, error) {
	now := w.now()
	claimed, err := w.q.ClaimDueEmails(ctx, db.ClaimDueEmailsParams{
		Now: now, LeaseUntil: now.Add(w.cfg.Lease), BatchSize: int32(w.cfg.BatchSize),
	})
	if err != nil {
		return 0, fmt.Errorf("claim due emails: %w", err)
	}
	// Sends and their records outlive ctx: a send cut off by shutdown might have been accepted
	// and would then go out twice. Each is bounded by half the lease instead.
	detached := context.WithoutCancel(ctx)
	errs := make([]error, len(claimed))
	var wg sync.WaitGroup
	for i, email := range claimed {
		wg.Go(func() { errs[i] = w.deliver(detached, email) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return len(claimed), err
		}
	}
	return len(claimed), nil
}

// deliver sends one claimed email and records the outcome.
func (w *Worker) deliver(ctx context.Context, email db.ClaimDueEmailsRow) error {
	m := Message{Kind: email.Kind, To: email.Recipient, Subject: email.Subject, Text: email.BodyText, HTML: email.BodyHtml}
	if email.MagicLinkID != nil {
		withLink, usable, err := w.withLink(ctx, m, *email.MagicLinkID)
		if err != nil {
			return err
		}
		if !usable {
			return w.giveUp(ctx, email, "its link was used or expired before the email could be sent")
		}
		m = withLink
	}
	sendCtx, cancel := context.WithTimeout(ctx, w.cfg.Lease/2)
	sendErr := w.mailer.Send(sendCtx, m)
	cancel()
	if sendErr == nil {
		if _, err := w.q.MarkEmailSent(ctx, db.MarkEmailSentParams{ID: email.ID, Now: w.now()}); err != nil {
			return fmt.Errorf("mark email %d sent: %w", email.ID, err)
		}
		return nil
	}
	if sendFailure, ok := errors.AsType[*SendError](sendErr); (ok && sendFailure.Permanent) || int(email.Attempts) >= w.cfg.MaxAttempts {
		return w.giveUp(ctx, email, reasonOf(sendErr))
	}
	w.log.WarnContext(ctx, "email not sent; will retry", slog.Int64("outbox_id", email.ID),
		slog.String("kind", email.Kind), slog.Int("attempt", int(email.Attempts)), slog.String("reason", reasonOf(sendErr)))
	_, err := w.q.RetryEmailLater(ctx, db.RetryEmailLaterParams{
		ID: email.ID, Attempts: email.Attempts, LastError: reasonOf(sendErr),
		NextAttemptAt: w.now().Add(Backoff(int(email.Attempts), w.cfg.BackoffBase, w.cfg.BackoffMax)),
	})
	if err != nil {
		return fmt.Errorf("schedule a retry of email %d: %w", email.ID, err)
	}
	return nil
}

// withLink mints a new token for the email's link and puts the link in its body. Each attempt
// mints anew, so only the token of the last email sent works; the token is never stored, only
// its hash. usable is false when the link was used or expired meanwhile.
func (w *Worker) withLink(ctx context.Context, m Message, linkID int64) (_ Message, usable bool, _ error) {
	if w.cfg.PublicURL == "" {
		return m, false, fmt.Errorf("a %s email carries a link, and the worker has no PublicURL", m.Kind)
	}
	token, hash := auth.NewToken(auth.MagicLinkPrefix)
	kind, err := w.q.MintLinkToken(ctx, db.MintLinkTokenParams{ID: linkID, TokenHash: hash, Now: w.now()})
	if errors.Is(err, pgx.ErrNoRows) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("mint the link of a %s email: %w", m.Kind, err)
	}
	link := strings.TrimRight(w.cfg.PublicURL, "/") + pages.Path(pages.Kind(kind)) + "?token=" + token
	m.Text = strings.ReplaceAll(m.Text, LinkPlaceholder, link)
	m.HTML = strings.ReplaceAll(m.HTML, LinkPlaceholder, html.EscapeString(link))
	return m, true, nil
}

// giveUp marks the email failed and writes one NotifyGaveUp notification, in one transaction.
func (w *Worker) giveUp(ctx context.Context, email db.ClaimDueEmailsRow, reason string) error {
	now := w.now()
	var marked int64
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		q := w.q.WithTx(tx)
		var err error
		marked, err = q.GiveUpEmail(ctx, db.GiveUpEmailParams{ID: email.ID, Attempts: email.Attempts, LastError: reason, Now: now})
		if err != nil || marked == 0 { // 0: another worker took the email over after our lease ran out
			return err
		}
		return Notify(ctx, q, now, Notification{
			Kind:    NotifyGaveUp,
			Message: fmt.Sprintf("Gave up on a %s email after %d attempts: %s", email.Kind, email.Attempts, reason),
			Context: map[string]any{"outbox_id": email.ID, "email_kind": email.Kind, "recipient": email.Recipient,
				"attempts": email.Attempts, "reason": reason},
		})
	})
	if err != nil {
		return fmt.Errorf("give up on email %d: %w", email.ID, err)
	}
	if marked == 0 {
		return nil
	}
	w.log.ErrorContext(ctx, "gave up on an email", slog.Int64("outbox_id", email.ID),
		slog.String("kind", email.Kind), slog.Int("attempts", int(email.Attempts)), slog.String("reason", reason))
	return nil
}

// Backoff is the wait after the n-th failed attempt (n >= 1): base * 2^(n-1), at most limit.
func Backoff(n int, base, limit time.Duration) time.Duration {
	wait := base
	for i := 1; i < n && wait < limit; i++ {
		wait *= 2
	}
	return min(wait, limit)
}
