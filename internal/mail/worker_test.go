package mail_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/dbtest"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/mail"
	"github.com/plano/planoauth/internal/migrate"
	"github.com/plano/planoauth/internal/outbox"
	"github.com/plano/planoauth/internal/password"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m, migrate.Up)) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newPool opens a pool on databaseURL, closed when t ends.
func newPool(t *testing.T, databaseURL string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// recordingMailer counts what it sends by subject, failing while fail says so.
type recordingMailer struct {
	mu   sync.Mutex
	sent map[string]int
	fail func(m mail.Message) error
}

func newRecordingMailer() *recordingMailer { return &recordingMailer{sent: map[string]int{}} }

func (r *recordingMailer) Send(_ context.Context, m mail.Message) error {
	runtime.Gosched() // let the other worker interleave
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(m); err != nil {
			return err
		}
	}
	r.sent[m.Subject]++
	return nil
}

func (r *recordingMailer) count(subject string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent[subject]
}

// clock is a controllable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// enqueue queues n emails with subjects "<prefix> 0", "<prefix> 1", ...
func enqueue(t *testing.T, q *db.Queries, prefix string, n int) {
	t.Helper()
	for i := range n {
		m := mail.Message{Kind: "welcome", To: fmt.Sprintf("user%d@example.com", i), Subject: fmt.Sprintf("%s %d", prefix, i), Text: "Welcome"}
		if err := mail.Enqueue(context.Background(), q, time.Now(), m); err != nil {
			t.Fatal(err)
		}
	}
}

// clockAfterEnqueue starts a clock at the present, which is past the due time of the emails
// just queued (enqueue stamped them with the time then).
func clockAfterEnqueue() *clock { return &clock{now: time.Now()} }

func deliver(t *testing.T, w *mail.Worker) int {
	t.Helper()
	n, err := w.DeliverDue(context.Background())
	if err != nil {
		t.Fatalf("DeliverDue: %v", err)
	}
	return n
}

func scalar[T any](t *testing.T, pool *pgxpool.Pool, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func TestWorkerTwoWorkersSendEachEmailOnce(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	pools := []*pgxpool.Pool{newPool(t, url), newPool(t, url)} // two instances
	const total = 500
	enqueue(t, db.New(pools[0]), "message", total)
	mailer := newRecordingMailer()
	cfg := mail.WorkerConfig{Config: outbox.Config{BatchSize: 7}}
	var wg sync.WaitGroup
	claimed := make([]int, len(pools))
	for i, pool := range pools {
		worker := mail.NewWorker(pool, mailer, quiet, nil, cfg)
		wg.Go(func() {
			for {
				n, err := worker.DeliverDue(context.Background())
				if err != nil {
					t.Errorf("worker %d: %v", i, err)
					return
				}
				if n == 0 {
					return
				}
				claimed[i] += n
			}
		})
	}
	wg.Wait()
	for i := range total {
		if got := mailer.count(fmt.Sprintf("message %d", i)); got != 1 {
			t.Errorf("message %d sent %d times, want once", i, got)
		}
	}
	if got := scalar[int](t, pools[0], "SELECT count(*) FROM email_outbox WHERE sent_at IS NOT NULL AND attempts = 1"); got != total {
		t.Errorf("%d emails marked sent after one attempt, want %d", got, total)
	}
	if claimed[0]+claimed[1] != total {
		t.Errorf("claims per worker %v add up to %d, want %d", claimed, claimed[0]+claimed[1], total)
	}
}

func TestWorkerRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	pool := newPool(t, dbtest.NewDatabase(t))
	enqueue(t, db.New(pool), "flaky", 1)
	failures := 2
	mailer := newRecordingMailer()
	mailer.fail = func(mail.Message) error {
		if failures > 0 {
			failures--
			return &mail.SendError{Reason: "Mandrill answered HTTP 500"}
		}
		return nil
	}
	c := clockAfterEnqueue()
	w := mail.NewWorker(pool, mailer, quiet, c.Now, mail.WorkerConfig{Config: outbox.Config{BackoffBase: time.Minute, BackoffMax: time.Hour}})

	if n := deliver(t, w); n != 1 {
		t.Fatalf("first round claimed %d, want 1", n)
	}
	if got := scalar[string](t, pool, "SELECT last_error FROM email_outbox"); got != "Mandrill answered HTTP 500" {
		t.Errorf("last_error = %q, want the reason", got)
	}
	// After the first failure the email waits 1 minute, after the second 2 minutes.
	for _, wait := range []time.Duration{time.Minute, 2 * time.Minute} {
		c.Advance(wait - time.Second)
		if n := deliver(t, w); n != 0 {
			t.Fatalf("claimed %d a second before the backoff of %s ended, want 0", n, wait)
		}
		c.Advance(time.Second)
		if n := deliver(t, w); n != 1 {
			t.Fatalf("claimed %d when the backoff of %s ended, want 1", n, wait)
		}
	}
	if mailer.count("flaky 0") != 1 {
		t.Errorf("sent %d times, want once after two failures", mailer.count("flaky 0"))
	}
	if got := scalar[int](t, pool, "SELECT attempts FROM email_outbox WHERE sent_at IS NOT NULL AND last_error = ''"); got != 3 {
		t.Errorf("attempts = %d, want 3", got)
	}
	if got := scalar[int](t, pool, "SELECT count(*) FROM notifications"); got != 0 {
		t.Errorf("%d notifications for an email that was sent in the end, want 0", got)
	}
}

func TestWorkerGivesUp(t *testing.T) {
	t.Parallel()
	failing := func(permanent bool) *recordingMailer {
		m := newRecordingMailer()
		m.fail = func(mail.Message) error {
			return &mail.SendError{Reason: "Mandrill rejected the recipient: hard-bounce", Permanent: permanent}
		}
		return m
	}
	t.Run("AfterMaxAttempts", func(t *testing.T) {
		t.Parallel()
		pool := newPool(t, dbtest.NewDatabase(t))
		enqueue(t, db.New(pool), "doomed", 1)
		c := clockAfterEnqueue()
		w := mail.NewWorker(pool, failing(false), quiet, c.Now, mail.WorkerConfig{Config: outbox.Config{MaxAttempts: 3, BackoffBase: time.Minute, BackoffMax: time.Minute}})
		for attempt := 1; attempt <= 3; attempt++ {
			if n := deliver(t, w); n != 1 {
				t.Fatalf("attempt %d claimed %d, want 1", attempt, n)
			}
			c.Advance(time.Hour)
		}
		if n := deliver(t, w); n != 0 {
			t.Errorf("claimed %d after the worker gave up, want 0", n)
		}
		assertGaveUp(t, pool, 3)
	})
	t.Run("AtOnceWhenPermanent", func(t *testing.T) {
		t.Parallel()
		pool := newPool(t, dbtest.NewDatabase(t))
		enqueue(t, db.New(pool), "doomed", 1)
		c := clockAfterEnqueue()
		w := mail.NewWorker(pool, failing(true), quiet, c.Now, mail.WorkerConfig{Config: outbox.Config{MaxAttempts: 5}})
		deliver(t, w)
		c.Advance(24 * time.Hour)
		if n := deliver(t, w); n != 0 {
			t.Errorf("claimed %d after a permanent failure, want 0", n)
		}
		assertGaveUp(t, pool, 1)
	})
}

// assertGaveUp checks that the one queued email failed for good after attempts, with exactly
// one notification saying so.
func assertGaveUp(t *testing.T, pool *pgxpool.Pool, attempts int) {
	t.Helper()
	if got := scalar[int](t, pool, "SELECT attempts FROM email_outbox WHERE failed_at IS NOT NULL AND sent_at IS NULL"); got != attempts {
		t.Errorf("attempts = %d, want %d", got, attempts)
	}
	if got := scalar[int](t, pool, "SELECT count(*) FROM notifications"); got != 1 {
		t.Fatalf("%d notifications, want 1", got)
	}
	var kind, message string
	var details map[string]any
	if err := pool.QueryRow(context.Background(), "SELECT kind, message, context FROM notifications").Scan(&kind, &message, &details); err != nil {
		t.Fatal(err)
	}
	if kind != mail.NotifyGaveUp || !strings.Contains(message, "hard-bounce") ||
		details["recipient"] != "user0@example.com" || details["email_kind"] != "welcome" {
		t.Errorf("notification = %s %q %v, want %s with the reason, kind and recipient", kind, message, details, mail.NotifyGaveUp)
	}
}

func TestWorkerLeaseOfADeadWorker(t *testing.T) {
	t.Parallel()
	pool := newPool(t, dbtest.NewDatabase(t))
	q := db.New(pool)
	enqueue(t, q, "orphan", 1)
	c := clockAfterEnqueue()
	lease := 2 * time.Minute
	// A worker claims the email and dies before recording anything.
	if _, err := q.ClaimDueEmails(context.Background(), db.ClaimDueEmailsParams{Now: c.Now(), LeaseUntil: c.Now().Add(lease), BatchSize: 10}); err != nil {
		t.Fatal(err)
	}
	mailer := newRecordingMailer()
	w := mail.NewWorker(pool, mailer, quiet, c.Now, mail.WorkerConfig{Config: outbox.Config{Lease: lease}})
	c.Advance(lease - time.Second)
	if n := deliver(t, w); n != 0 {
		t.Fatalf("claimed %d while the dead worker's lease ran, want 0", n)
	}
	c.Advance(time.Second)
	if n := deliver(t, w); n != 1 || mailer.count("orphan 0") != 1 {
		t.Fatalf("claimed %d and sent %d once the lease ran out, want 1 and 1", n, mailer.count("orphan 0"))
	}
}

func TestWorkerRun(t *testing.T) {
	t.Parallel()
	pool := newPool(t, dbtest.NewDatabase(t))
	sent := make(chan string, 1)
	w := mail.NewWorker(pool, mailerFunc(func(_ context.Context, m mail.Message) error {
		sent <- m.Subject
		return nil
	}), quiet, nil, mail.WorkerConfig{Config: outbox.Config{PollInterval: 10 * time.Millisecond}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	enqueue(t, db.New(pool), "later", 1) // queued while the worker polls
	select {
	case got := <-sent:
		if got != "later 0" {
			t.Errorf("sent %q, want later 0", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the running worker did not send the queued email")
	}
	cancel()
	<-done // Run returns once cancelled
}

type mailerFunc func(context.Context, mail.Message) error

func (f mailerFunc) Send(ctx context.Context, m mail.Message) error { return f(ctx, m) }

func TestSendNow(t *testing.T) {
	t.Parallel()
	pool := newPool(t, dbtest.NewDatabase(t))
	q := db.New(pool)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	link := mail.Message{Kind: "magic_link", To: "ada@example.com", Subject: "Your link", Text: "secret pam_link"}

	t.Run("OK", func(t *testing.T) {
		if err := mail.SendNow(context.Background(), mail.NewLocal(q, func() time.Time { return now }), q, now, link); err != nil {
			t.Fatal(err)
		}
		got, err := q.ListSentEmails(context.Background(), 10)
		if err != nil || len(got) != 1 || got[0].Recipient != "ada@example.com" || !got[0].CreatedAt.Equal(now) {
			t.Fatalf("sent_emails = %+v, %v; want the one email", got, err)
		}
		if n := scalar[int](t, pool, "SELECT count(*) FROM notifications"); n != 0 {
			t.Errorf("%d notifications after a successful send", n)
		}
	})
	t.Run("ErrMailerFails", func(t *testing.T) {
		failing := mailerFunc(func(context.Context, mail.Message) error {
			return &mail.SendError{Reason: "Mandrill found the recipient invalid", Permanent: true}
		})
		err := mail.SendNow(context.Background(), failing, q, now, link)
		if _, ok := err.(*mail.SendError); !ok {
			t.Fatalf("SendNow = %v, want the mailer's *SendError", err)
		}
		rows, err := q.ListNotifications(context.Background(), 10)
		if err != nil || len(rows) != 1 {
			t.Fatalf("notifications = %+v, %v; want exactly one", rows, err)
		}
		var details map[string]any
		if err := json.Unmarshal(rows[0].Context, &details); err != nil {
			t.Fatal(err)
		}
		if rows[0].Kind != mail.NotifySendFailed || details["reason"] != "Mandrill found the recipient invalid" || details["email_kind"] != "magic_link" {
			t.Errorf("notification = %s %s, want %s with the reason", rows[0].Kind, rows[0].Context, mail.NotifySendFailed)
		}
		if strings.Contains(rows[0].Message+string(rows[0].Context), "pam_link") {
			t.Errorf("the notification holds the message body")
		}
	})
}

// A queued email's link gets its token and code only as the email is sent, and each attempt mints
// new ones: the outbox never holds them, only the last email sent works, and the tries already
// taken of the code stay counted (a retried email buys a guesser nothing).
func TestWorkerMintsTheLinkAndCode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t, dbtest.NewDatabase(t))
	q := db.New(pool)
	userID := scalar[int64](t, pool, "INSERT INTO users (email) VALUES ('ada@example.com') RETURNING id")
	appID := scalar[int64](t, pool, "SELECT id FROM applications WHERE slug = 'planoorder'")
	linkID, err := q.CreateLink(ctx, db.CreateLinkParams{Kind: "verification", UserID: userID, ApplicationID: appID,
		ExpiresAt: time.Now().Add(time.Hour), Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "UPDATE magic_links SET code_tries = 2"); err != nil {
		t.Fatal(err)
	}
	body := "Link: " + mail.LinkPlaceholder + "\nCode: " + mail.CodePlaceholder + "\n"
	if err := mail.Enqueue(ctx, q, time.Now(), mail.Message{Kind: "welcome", To: "ada@example.com", Subject: "Welcome",
		Text: body, HTML: "<p>" + mail.LinkPlaceholder + " " + mail.CodePlaceholder + "</p>", LinkID: linkID}); err != nil {
		t.Fatal(err)
	}
	var sent []mail.Message
	mailer := newRecordingMailer()
	mailer.fail = func(m mail.Message) error {
		sent = append(sent, m)
		if len(sent) == 1 {
			return &mail.SendError{Reason: "Mandrill answered HTTP 500"}
		}
		return nil
	}
	c := clockAfterEnqueue()
	w := mail.NewWorker(pool, mailer, quiet, c.Now, mail.WorkerConfig{PublicURL: "http://127.0.0.1:8080",
		Config: outbox.Config{BackoffBase: time.Minute, BackoffMax: time.Hour}})
	deliver(t, w)
	c.Advance(time.Minute)
	deliver(t, w)
	if len(sent) != 2 {
		t.Fatalf("%d attempts, want 2", len(sent))
	}
	shown := regexp.MustCompile(`(?m)^Link: (http://127\.0\.0\.1:8080/verify\?token=(pam_\S+))\nCode: (\d{4}) (\d{4})$`)
	var tokens, codes []string
	for _, m := range sent {
		got := shown.FindStringSubmatch(m.Text)
		if got == nil || !strings.Contains(m.HTML, html.EscapeString(got[1])+" "+got[3]+" "+got[4]) {
			t.Fatalf("the email shows no link and code:\n%s\n%s", m.Text, m.HTML)
		}
		tokens, codes = append(tokens, got[2]), append(codes, got[3]+got[4])
	}
	var tokenHash []byte
	var codeHash string
	var tries int
	if err := pool.QueryRow(ctx, "SELECT token_hash, code_hash, code_tries FROM magic_links").Scan(&tokenHash, &codeHash, &tries); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tokenHash, auth.HashToken(tokens[1])) || tokens[0] == tokens[1] {
		t.Errorf("the stored token is not the last email's alone")
	}
	hasher := password.NewHasher()
	if _, err := hasher.Verify(ctx, codes[1], codeHash); err != nil {
		t.Errorf("the last email's code does not verify: %v", err)
	}
	if _, err := hasher.Verify(ctx, codes[0], codeHash); codes[0] != codes[1] && !errors.Is(err, password.ErrMismatch) {
		t.Errorf("the first attempt's code still verifies (%v)", err)
	}
	if tries != 2 {
		t.Errorf("code_tries = %d, want the 2 taken before", tries)
	}
	if got := scalar[string](t, pool, "SELECT body_text FROM email_outbox"); got != body {
		t.Errorf("the outbox holds %q, want the placeholders only", got)
	}
}

// An email that shows no code gets none: no guessable secret exists that nobody was sent.
func TestWorkerMintsNoCodeNoEmailShows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t, dbtest.NewDatabase(t))
	q := db.New(pool)
	userID := scalar[int64](t, pool, "INSERT INTO users (email) VALUES ('ada@example.com') RETURNING id")
	appID := scalar[int64](t, pool, "SELECT id FROM applications WHERE slug = 'planoorder'")
	linkID, err := q.CreateLink(ctx, db.CreateLinkParams{Kind: "invitation", UserID: userID, ApplicationID: appID,
		ExpiresAt: time.Now().Add(time.Hour), Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := mail.Enqueue(ctx, q, time.Now(), mail.Message{Kind: "invitation", To: "ada@example.com", Subject: "Invited",
		Text: "Link: " + mail.LinkPlaceholder + "\n", LinkID: linkID}); err != nil {
		t.Fatal(err)
	}
	w := mail.NewWorker(pool, newRecordingMailer(), quiet, clockAfterEnqueue().Now, mail.WorkerConfig{PublicURL: "http://127.0.0.1:8080"})
	if n := deliver(t, w); n != 1 {
		t.Fatalf("delivered %d, want 1", n)
	}
	if minted := scalar[bool](t, pool, "SELECT token_hash IS NOT NULL AND code_hash IS NULL FROM magic_links"); !minted {
		t.Error("the link got a code that its email does not show (or no token)")
	}
}
