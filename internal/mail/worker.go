package mail

import (
	"context"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/outbox"
	"github.com/plano/planoauth/internal/pages"
	"github.com/plano/planoauth/internal/password"
)

// WorkerConfig tunes the outbox worker: the queue's tuning (zero fields take the defaults of
// DefaultWorkerConfig) and where the links of queued emails point.
type WorkerConfig struct {
	outbox.Config
	// PublicURL is the service's public URL (PLANOAUTH_PUBLIC_URL): the links that queued emails
	// carry open the page of their kind under it (/verify, /invite; see internal/pages), which
	// uses the link only when its button is pressed. It has no default here: a worker without
	// one fails the emails that carry a link.
	PublicURL string
}

// codeHasher is the worker's own argon2id hasher of links' codes: one hash at a time (19 MiB),
// waiting as long as a send may take. The worker's sends are few and may wait, where the
// handlers' hasher sheds a login rather than let it queue.
func codeHasher(c WorkerConfig) *password.Hasher {
	return password.New(password.Config{Slots: 1, QueueBudget: c.SendTimeout()})
}

// DefaultWorkerConfig: a due email is picked up within a second and tried 8 times over about an
// hour (waiting 30s, 1m, 2m, 4m, 8m, 16m, 32m in between); a dead worker's claims return after
// 2 minutes.
var DefaultWorkerConfig = WorkerConfig{Config: outbox.Config{
	BatchSize: 10, PollInterval: time.Second, MaxAttempts: 8,
	BackoffBase: 30 * time.Second, BackoffMax: time.Hour, Lease: 2 * time.Minute,
}}

func (c WorkerConfig) withDefaults() WorkerConfig {
	return WorkerConfig{Config: c.Config.WithDefaults(DefaultWorkerConfig.Config), PublicURL: c.PublicURL}
}

// Worker delivers the outbox. Any number of workers, in any number of instances, may run on one
// database (see package outbox for how, and why delivery is at least once). A second welcome
// email is a better failure than a lost one, and no protocol can close the gap without
// Mandrill deduplicating.
type Worker struct {
	pool   *pgxpool.Pool
	q      *db.Queries
	mailer Mailer
	log    *slog.Logger
	now    func() time.Time
	cfg    WorkerConfig
	codes  *password.Hasher
}

// NewWorker returns a worker sending the outbox of pool's database through mailer; now is its
// clock (nil: time.Now).
func NewWorker(pool *pgxpool.Pool, mailer Mailer, log *slog.Logger, now func() time.Time, cfg WorkerConfig) *Worker {
	if now == nil {
		now = time.Now
	}
	cfg = cfg.withDefaults()
	return &Worker{pool: pool, q: db.New(pool), mailer: mailer, log: log, now: now, cfg: cfg, codes: codeHasher(cfg)}
}

// Run delivers due emails until ctx is done, then returns once the sends in flight have ended
// and their outcomes are recorded.
func (w *Worker) Run(ctx context.Context) {
	outbox.Run(ctx, w.cfg.Config, w.log, "deliver the email outbox", w.DeliverDue)
}

// DeliverDue runs one round: it claims up to BatchSize due emails, sends them concurrently and
// records each outcome. It returns how many it claimed.
func (w *Worker) DeliverDue(ctx context.Context) (int, error) {
	return outbox.Round(ctx, w.cfg.Config, w.now(), w.claim, w.deliver)
}

func (w *Worker) claim(ctx context.Context, now, leaseUntil time.Time, batch int32) ([]db.ClaimDueEmailsRow, error) {
	claimed, err := w.q.ClaimDueEmails(ctx, db.ClaimDueEmailsParams{Now: now, LeaseUntil: leaseUntil, BatchSize: batch})
	if err != nil {
		return nil, fmt.Errorf("claim due emails: %w", err)
	}
	return claimed, nil
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
	sendCtx, cancel := context.WithTimeout(ctx, w.cfg.SendTimeout())
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
		NextAttemptAt: w.cfg.NextAttempt(w.now(), int(email.Attempts)),
	})
	if err != nil {
		return fmt.Errorf("schedule a retry of email %d: %w", email.ID, err)
	}
	return nil
}

// withLink mints a new token for the email's link, and a new code where the email shows one
// (CodePlaceholder: no code exists that no email shows), and puts them in its body. Each
// attempt mints anew, so only the token and code of the last email sent work; neither is
// stored, only their hashes (the token's SHA-256, the code's argon2id). usable is false when
// the link was used or expired meanwhile.
func (w *Worker) withLink(ctx context.Context, m Message, linkID int64) (_ Message, usable bool, _ error) {
	if w.cfg.PublicURL == "" {
		return m, false, fmt.Errorf("a %s email carries a link, and the worker has no PublicURL", m.Kind)
	}
	token, hash := auth.NewToken(auth.MagicLinkPrefix)
	var code string
	var codeHash *string
	if strings.Contains(m.Text, CodePlaceholder) || strings.Contains(m.HTML, CodePlaceholder) {
		code = auth.NewCode()
		phc, err := w.codes.Hash(ctx, code)
		if err != nil {
			return m, false, fmt.Errorf("hash the code of a %s email's link: %w", m.Kind, err)
		}
		codeHash = &phc
	}
	kind, err := w.q.MintLinkToken(ctx, db.MintLinkTokenParams{ID: linkID, TokenHash: hash, CodeHash: codeHash, Now: w.now()})
	if errors.Is(err, pgx.ErrNoRows) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("mint the link of a %s email: %w", m.Kind, err)
	}
	link := strings.TrimRight(w.cfg.PublicURL, "/") + pages.Path(pages.Kind(kind)) + "?token=" + token
	var shown string
	if code != "" {
		shown = ShowCode(code)
	}
	m.Text = strings.NewReplacer(LinkPlaceholder, link, CodePlaceholder, shown).Replace(m.Text)
	m.HTML = strings.NewReplacer(LinkPlaceholder, html.EscapeString(link), CodePlaceholder, shown).Replace(m.HTML)
	return m, true, nil
}

// giveUp marks the email failed and writes one NotifyGaveUp notification (unless one was written
// for the same recipient and kind of email within NotifyWindow), in one transaction.
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
		return notifyOnce(ctx, q, now, Message{Kind: email.Kind, To: email.Recipient}, Notification{
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
