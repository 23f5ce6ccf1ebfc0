package impl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/webhooks"
)

// hookReceiver is an application's endpoint on loopback: it verifies each delivery with the
// Standard Webhooks library (signature and timestamp tolerance) and keeps the events it accepted.
type hookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []gen.AuditEvent
	bad    int
}

func newHookReceiver(t *testing.T, secret string) *hookReceiver {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	r := &hookReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		var payload gen.WebhookPayload
		if err := wh.Verify(body, req.Header); err != nil || json.Unmarshal(body, &payload) != nil {
			r.bad++
			http.Error(w, "refused", http.StatusUnauthorized)
			return
		}
		r.events = append(r.events, payload.Data)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// setWebhook registers app's endpoint with secret, as `planoauth webhooks set` does.
func setWebhook(t *testing.T, env *apitest.Env, sealer *webhooks.Sealer, app, secret, url string) {
	t.Helper()
	a, err := env.Q.GetApplicationBySlug(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Q.CreateWebhook(context.Background(), db.CreateWebhookParams{ApplicationID: a.ID, Url: url, SecretSealed: sealer.Seal(secret, a.ID)}); err != nil {
		t.Fatal(err)
	}
}

// TestWebhooksCarryEachApplicationItsOwnEvents signs in through the API in two applications
// from several addresses: each application's receiver gets, signed with its own secret, exactly
// the events its token reads from audit/index, and never another application's.
func TestWebhooksCarryEachApplicationItsOwnEvents(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	sealer, err := webhooks.NewSealer(bytes.Repeat([]byte{5}, webhooks.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	receivers := map[gen.ApplicationSlug]*hookReceiver{}
	for _, app := range []gen.ApplicationSlug{gen.Planoorder, gen.Planox2} {
		secret := webhooks.NewSecret()
		receivers[app] = newHookReceiver(t, secret)
		setWebhook(t, env, sealer, string(app), secret, receivers[app].srv.URL)
	}
	env.User("ada@example.com", password, "employee")
	var wg sync.WaitGroup
	for i, app := range []string{"planoorder", "planox2", "planoorder", "planoauth"} {
		wg.Go(func() {
			address := fmt.Sprintf("127.0.0.%d", 2+i)
			from(env, address, sessionsCreate, map[string]any{"email": "ada@example.com", "password": password, "application": app}, "")
			from(env, address, sessionsCreate, map[string]any{"email": "nobody@example.com", "password": password, "application": app}, "")
		})
	}
	wg.Wait()
	worker := webhooks.NewWorker(env.Pool, sealer, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, webhooks.WorkerConfig{})
	for {
		n, err := worker.DeliverDue(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	for app, r := range receivers {
		readable := readTrail(t, env, env.AppTokens[string(app)], "?after=0&limit=500")
		if r.bad != 0 {
			t.Errorf("%s's receiver refused %d deliveries", app, r.bad)
		}
		if got, want := eventIDsOf(r.events), eventIDsOf(readable.Results); !sameSet(got, want) || len(want) == 0 {
			t.Errorf("%s's receiver got events %v, want those its token reads: %v", app, got, want)
		}
		for _, e := range r.events {
			if *e.Application != app {
				t.Errorf("%s's receiver got event %d of %s", app, e.Id, *e.Application)
			}
		}
	}
}

func eventIDsOf(events []gen.AuditEvent) map[int64]int {
	out := map[int64]int{}
	for _, e := range events {
		out[e.Id]++
	}
	return out
}

func sameSet(a, b map[int64]int) bool { return jsonOf(a) == jsonOf(b) }
