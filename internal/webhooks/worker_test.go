package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/audit"
	"github.com/plano/planoauth/internal/dbtest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/migrate"
	"github.com/plano/planoauth/internal/spec"
	"github.com/plano/planoauth/internal/webhooks"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m, migrate.Up)) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// receiver is an application's endpoint on loopback that verifies every delivery's signature
// with the secrets it was given, as a receiver following the scheme would, and counts what it
// accepted by webhook-id.
type receiver struct {
	t       *testing.T
	srv     *httptest.Server
	answer  atomic.Int32 // the HTTP code it answers; 204 unless set
	mu      sync.Mutex
	secrets []string
	got     map[string]int
	bodies  []gen.WebhookPayload
	headers []http.Header
	// accepted, when set, hears the webhook-id of each delivery accepted.
	accepted chan string
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, got: map[string]int{}}
	r.answer.Store(http.StatusNoContent)
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("delivery %s with Content-Type %q", req.Method, req.Header.Get("Content-Type"))
	}
	for _, secret := range r.secrets {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			r.t.Error(err)
			continue
		}
		// The timestamp is the worker's clock, which the tests move; its value is checked apart.
		if err := wh.VerifyIgnoringTimestamp(body, req.Header); err != nil {
			r.t.Errorf("delivery %s: signature does not verify with a secret the receiver holds: %v", req.Header.Get(webhooks.HeaderID), err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
	}
	if _, err := strconv.ParseInt(req.Header.Get(webhooks.HeaderTimestamp), 10, 64); err != nil {
		r.t.Errorf("webhook-timestamp %q is not Unix seconds", req.Header.Get(webhooks.HeaderTimestamp))
	}
	code := int(r.answer.Load())
	if code/100 == 2 {
		r.got[req.Header.Get(webhooks.HeaderID)]++
		var payload gen.WebhookPayload
		if err := json.Unmarshal(body, &payload); err != nil {
			r.t.Errorf("payload %s: %v", body, err)
		}
		r.bodies = append(r.bodies, payload)
		r.headers = append(r.headers, req.Header.Clone())
		checkPayload(r.t, body)
		if r.accepted != nil {
			r.accepted <- req.Header.Get(webhooks.HeaderID)
		}
	}
	w.WriteHeader(code)
}

func (r *receiver) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[id]
}

func (r *receiver) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.got {
		n += c
	}
	return n
}

// checkPayload validates a delivered body against the contract's WebhookPayload.
func checkPayload(t *testing.T, body []byte) {
	t.Helper()
	contract, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	if err := contract.Doc.Components.Schemas["WebhookPayload"].Value.VisitJSON(v); err != nil {
		t.Errorf("the payload breaks the contract's WebhookPayload: %v\n%s", err, body)
	}
}

// fixture is a database with a webhook of planoorder pointing at a receiver.
type fixture struct {
	url      string
	pool     *pgxpool.Pool
	q        *db.Queries
	sealer   *webhooks.Sealer
	appID    int64
	receiver *receiver
	clock    *apitest.Clock
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{url: dbtest.NewDatabase(t), clock: apitest.NewClock(time.Now()), receiver: newReceiver(t)}
	f.pool = f.newPool(t)
	f.q = db.New(f.pool)
	var err error
	if f.sealer, err = webhooks.NewSealer(bytes.Repeat([]byte{3}, webhooks.KeySize)); err != nil {
		t.Fatal(err)
	}
	app, err := f.q.GetApplicationBySlug(context.Background(), "planoorder")
	if err != nil {
		t.Fatal(err)
	}
	f.appID = app.ID
	secret := webhooks.NewSecret()
	f.receiver.secrets = []string{secret}
	if _, err := f.q.CreateWebhook(context.Background(), db.CreateWebhookParams{ApplicationID: app.ID,
		Url: f.receiver.srv.URL + "/planoauth?key=receivers-own", SecretSealed: f.sealer.Seal(secret, app.ID)}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), f.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func (f *fixture) worker(pool *pgxpool.Pool, cfg webhooks.WorkerConfig) *webhooks.Worker {
	return webhooks.NewWorker(pool, f.sealer, quiet, f.clock.Now, cfg)
}

// events appends n events of planoorder, and one of planox2 (which has no webhook).
func (f *fixture) events(t *testing.T, n int) []int64 {
	t.Helper()
	ctx := context.Background()
	planox2, err := f.q.GetApplicationBySlug(ctx, "planox2")
	if err != nil {
		t.Fatal(err)
	}
	before := f.lastEvent(t)
	for i := range n {
		if err := audit.Append(ctx, f.q, f.clock.Now(), audit.Event{Kind: gen.AuditLoginFailed, Actor: audit.Anonymous,
			UserID: int64(i + 1), ApplicationID: f.appID}); err != nil {
			t.Fatal(err)
		}
	}
	if err := audit.Append(ctx, f.q, f.clock.Now(), audit.Event{Kind: gen.AuditLoginFailed, Actor: audit.Anonymous, ApplicationID: planox2.ID}); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	rows, err := f.pool.Query(ctx, "SELECT id FROM audit_events WHERE id > $1 AND application_id = $2 ORDER BY id", before, f.appID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func (f *fixture) lastEvent(t *testing.T) int64 {
	return scalar[int64](t, f.pool, "SELECT coalesce(max(id), 0) FROM audit_events")
}

func scalar[T any](t *testing.T, pool *pgxpool.Pool, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func deliver(t *testing.T, w *webhooks.Worker) int {
	t.Helper()
	n, err := w.DeliverDue(context.Background())
	if err != nil {
		t.Fatalf("DeliverDue: %v", err)
	}
	return n
}

func TestWorkerDeliversSignedEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ids := f.events(t, 3)
	w := f.worker(f.pool, webhooks.WorkerConfig{})
	if n := deliver(t, w); n != 3 {
		t.Fatalf("claimed %d, want the 3 events of planoorder (planox2 has no webhook)", n)
	}
	for _, id := range ids {
		if got := f.receiver.count(webhooks.MessageID(id)); got != 1 {
			t.Errorf("event %d delivered %d times, want once", id, got)
		}
	}
	for i, p := range f.receiver.bodies {
		if p.Type != gen.AuditLoginFailed || p.Data.Kind != p.Type || *p.Data.Application != gen.Planoorder || !p.Timestamp.Equal(p.Data.OccurredAt) {
			t.Errorf("payload = %+v, want the planoorder event as data", p)
		}
		if ts := f.receiver.headers[i].Get(webhooks.HeaderTimestamp); ts != strconv.FormatInt(f.clock.Now().Unix(), 10) {
			t.Errorf("webhook-timestamp = %s, want the time of the attempt", ts)
		}
	}
	if n := scalar[int](t, f.pool, "SELECT count(*) FROM webhook_deliveries WHERE delivered_at IS NOT NULL AND attempts = 1"); n != 3 {
		t.Errorf("%d deliveries recorded as made at the first attempt, want 3", n)
	}
	if n := deliver(t, w); n != 0 {
		t.Errorf("a second round claimed %d, want nothing left", n)
	}
}

// Two instances' workers share the queue: every event reaches the receiver exactly once.
func TestWorkerTwoInstancesDeliverEachEventOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const total = 300
	ids := f.events(t, total)
	var wg sync.WaitGroup
	claimed := make([]int, 2)
	for i := range 2 {
		w := f.worker(f.newPool(t), webhooks.WorkerConfig{BatchSize: 7})
		wg.Go(func() {
			for {
				n, err := w.DeliverDue(context.Background())
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
	for _, id := range ids {
		if got := f.receiver.count(webhooks.MessageID(id)); got != 1 {
			t.Errorf("event %d delivered %d times, want once", id, got)
		}
	}
	if claimed[0]+claimed[1] != total || claimed[0] == 0 || claimed[1] == 0 {
		t.Errorf("the workers claimed %v, want %d in all, shared", claimed, total)
	}
}

// A failing receiver is retried with exponential backoff, and after the last attempt the worker
// gives up and writes one notification (naming the host, never the URL's path or query).
func TestWorkerBacksOffAndGivesUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.receiver.answer.Store(http.StatusServiceUnavailable)
	ids := f.events(t, 1)
	w := f.worker(f.pool, webhooks.WorkerConfig{MaxAttempts: 3, BackoffBase: time.Minute, BackoffMax: time.Hour})
	next := func() time.Time {
		return scalar[time.Time](t, f.pool, "SELECT next_attempt_at FROM webhook_deliveries WHERE event_id = $1", ids[0])
	}
	if n := deliver(t, w); n != 1 {
		t.Fatalf("claimed %d, want 1", n)
	}
	if got, want := next(), f.clock.Now().Add(time.Minute); !got.Equal(want.Truncate(time.Microsecond)) {
		t.Errorf("after the first failure the next attempt is at %s, want a minute later (%s)", got, want)
	}
	if n := deliver(t, w); n != 0 {
		t.Errorf("claimed %d before the backoff ended", n)
	}
	f.clock.Advance(time.Minute)
	deliver(t, w)
	if got, want := next(), f.clock.Now().Add(2*time.Minute); !got.Equal(want.Truncate(time.Microsecond)) {
		t.Errorf("after the second failure the next attempt is at %s, want two minutes later", got)
	}
	f.clock.Advance(2 * time.Minute)
	deliver(t, w)
	if n := scalar[int](t, f.pool, "SELECT count(*) FROM webhook_deliveries WHERE failed_at IS NOT NULL AND attempts = 3"); n != 1 {
		t.Fatalf("%d deliveries given up after 3 attempts, want 1", n)
	}
	rows, err := f.q.ListNotifications(context.Background(), 10)
	if err != nil || len(rows) != 1 || rows[0].Kind != webhooks.NotifyGaveUp {
		t.Fatalf("notifications = %+v, %v; want one %s", rows, err, webhooks.NotifyGaveUp)
	}
	text := rows[0].Message + string(rows[0].Context)
	if !strings.Contains(text, "503") || !strings.Contains(text, "planoorder") || strings.Contains(text, "receivers-own") {
		t.Errorf("notification %s %s: want the reason and the application, never the URL's query", rows[0].Message, rows[0].Context)
	}
	f.clock.Advance(24 * time.Hour)
	if n := deliver(t, w); n != 0 || f.receiver.total() != 0 {
		t.Errorf("a given-up delivery was claimed again")
	}
	if n := scalar[int](t, f.pool, "SELECT count(*) FROM notifications"); n != 1 {
		t.Errorf("%d notifications, want exactly one", n)
	}
}

// A worker that dies after claiming leaves its deliveries to be sent when the lease runs out:
// at least once, never lost.
func TestWorkerLeaseRunsOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ids := f.events(t, 1)
	const lease = time.Minute
	now := f.clock.Now()
	if _, err := f.q.ClaimDueWebhookDeliveries(context.Background(), db.ClaimDueWebhookDeliveriesParams{
		Now: now, LeaseUntil: now.Add(lease), BatchSize: 10}); err != nil { // the worker that died
		t.Fatal(err)
	}
	w := f.worker(f.pool, webhooks.WorkerConfig{Lease: lease})
	if n := deliver(t, w); n != 0 {
		t.Fatalf("claimed %d while another worker's lease holds", n)
	}
	f.clock.Advance(lease)
	if n := deliver(t, w); n != 1 || f.receiver.count(webhooks.MessageID(ids[0])) != 1 {
		t.Fatalf("claimed %d and delivered %d once the lease ran out, want 1 and 1", n, f.receiver.count(webhooks.MessageID(ids[0])))
	}
}

// After a rotation both secrets sign for a day, so a receiver holding either accepts; then only
// the new one does.
func TestWorkerSignsWithBothSecretsDuringRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	old := f.receiver.secrets[0]
	secret := webhooks.NewSecret()
	until := f.clock.Now().Add(webhooks.RotationOverlap)
	if _, err := f.q.RotateWebhookSecret(context.Background(), db.RotateWebhookSecretParams{ApplicationID: f.appID,
		SecretSealed: f.sealer.Seal(secret, f.appID), PreviousUntil: &until}); err != nil {
		t.Fatal(err)
	}
	f.receiver.secrets = []string{old, secret} // each one alone must verify
	f.events(t, 1)
	w := f.worker(f.pool, webhooks.WorkerConfig{})
	deliver(t, w)
	if got := strings.Count(f.receiver.headers[0].Get(webhooks.HeaderSignature), "v1,"); got != 2 {
		t.Errorf("during the overlap the header has %d signatures, want 2", got)
	}
	f.clock.Advance(webhooks.RotationOverlap)
	f.receiver.secrets = []string{secret}
	f.events(t, 1)
	deliver(t, w)
	if got := f.receiver.headers[1].Get(webhooks.HeaderSignature); strings.Count(got, "v1,") != 1 {
		t.Errorf("after the overlap the header is %q, want the new secret's signature alone", got)
	}
}

// A receiver's redirect is not followed: it is a failed attempt, and the other address is never
// reached.
func TestWorkerFollowsNoRedirect(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var reached atomic.Bool
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { reached.Store(true) }))
	t.Cleanup(elsewhere.Close)
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirecting.Close)
	if _, err := f.q.UpdateWebhookURL(context.Background(), db.UpdateWebhookURLParams{ApplicationID: f.appID, Url: redirecting.URL}); err != nil {
		t.Fatal(err)
	}
	f.events(t, 1)
	deliver(t, f.worker(f.pool, webhooks.WorkerConfig{}))
	if reached.Load() {
		t.Error("the worker followed the redirect")
	}
	if got := scalar[string](t, f.pool, "SELECT last_error FROM webhook_deliveries"); !strings.Contains(got, "307") {
		t.Errorf("last_error = %q, want the redirect's code", got)
	}
}

// A secret the key cannot open (the key changed) fails the attempt with a reason that says so.
func TestWorkerWithAnotherKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.events(t, 1)
	other, err := webhooks.NewSealer(bytes.Repeat([]byte{9}, webhooks.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, webhooks.NewWorker(f.pool, other, quiet, f.clock.Now, webhooks.WorkerConfig{}))
	if got := scalar[string](t, f.pool, "SELECT last_error FROM webhook_deliveries"); !strings.Contains(got, "PLANOAUTH_WEBHOOK_KEY") || f.receiver.total() != 0 {
		t.Errorf("last_error = %q after %d deliveries, want a refusal to sign naming the key", got, f.receiver.total())
	}
}

// Replay queues again, with the same webhook-ids, the events after a cursor that have no
// delivery pending.
func TestReplay(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ids := f.events(t, 3)
	w := f.worker(f.pool, webhooks.WorkerConfig{})
	deliver(t, w)
	queued, err := f.q.ReplayWebhookEvents(context.Background(), db.ReplayWebhookEventsParams{ApplicationID: f.appID, After: ids[0], Now: f.clock.Now()})
	if err != nil || queued != 2 {
		t.Fatalf("replay queued %d, %v; want the 2 events after the first", queued, err)
	}
	again, err := f.q.ReplayWebhookEvents(context.Background(), db.ReplayWebhookEventsParams{ApplicationID: f.appID, After: ids[0], Now: f.clock.Now()})
	if err != nil || again != 0 {
		t.Errorf("a second replay queued %d while the first is pending, want 0", again)
	}
	deliver(t, w)
	for i, want := range []int{1, 2, 2} {
		if got := f.receiver.count(webhooks.MessageID(ids[i])); got != want {
			t.Errorf("event %d delivered %d times, want %d", ids[i], got, want)
		}
	}
}

// Run delivers what is queued while it polls, and returns once cancelled.
func TestWorkerRun(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.receiver.accepted = make(chan string, 1)
	w := f.worker(f.pool, webhooks.WorkerConfig{PollInterval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	ids := f.events(t, 1) // queued while the worker polls
	select {
	case got := <-f.receiver.accepted:
		if got != webhooks.MessageID(ids[0]) {
			t.Errorf("delivered %s, want %s", got, webhooks.MessageID(ids[0]))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the running worker did not deliver the event")
	}
	cancel()
	<-done // Run returns once cancelled
}
