package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/plano/planoauth/internal/webhooks"
)

var testWebhookKey = bytes.Repeat([]byte{4}, webhooks.KeySize)

// withWebhookKey gives the command line a PLANOAUTH_WEBHOOK_KEY.
func (d *testDB) withWebhookKey() *testDB {
	d.env = map[string]string{"PLANOAUTH_WEBHOOK_KEY": base64.StdEncoding.EncodeToString(testWebhookKey)}
	return d
}

// printedSecret is the whsec_ secret a command printed.
func printedSecret(t *testing.T, out string) string {
	t.Helper()
	for _, field := range strings.Fields(out) {
		if strings.HasPrefix(field, webhooks.SecretPrefix) {
			return field
		}
	}
	t.Fatalf("no signing secret in %q", out)
	return ""
}

// deliveries runs a delivery worker of the test's key until the queue is empty.
func (d *testDB) deliveries(t *testing.T) {
	t.Helper()
	sealer, err := webhooks.NewSealer(testWebhookKey)
	if err != nil {
		t.Fatal(err)
	}
	w := webhooks.NewWorker(d.pool, sealer, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, webhooks.WorkerConfig{})
	for {
		n, err := w.DeliverDue(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// kindsReceived is an endpoint that keeps the kinds of the deliveries that verify with secret.
type kindsReceived struct {
	mu     sync.Mutex
	secret string
	kinds  []string
	ids    []string
}

func (k *kindsReceived) handler(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		k.mu.Lock()
		defer k.mu.Unlock()
		wh, err := standardwebhooks.NewWebhook(k.secret)
		if err != nil || wh.Verify(body, r.Header) != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var p struct{ Type string }
		_ = json.Unmarshal(body, &p)
		k.kinds = append(k.kinds, p.Type)
		k.ids = append(k.ids, r.Header.Get(webhooks.HeaderID))
	})
}

func TestWebhooksCommands(t *testing.T) {
	t.Parallel()
	d := newTestDB(t, false).withWebhookKey()
	received := &kindsReceived{}
	srv := httptest.NewServer(received.handler(t))
	t.Cleanup(srv.Close)

	t.Run("Set", func(t *testing.T) {
		out := d.mustCLI(t, "webhooks", "set", "planoorder", srv.URL+"/hook")
		received.secret = printedSecret(t, out)
		var sealed []byte
		if err := d.pool.QueryRow(context.Background(), "SELECT secret_sealed FROM webhooks").Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, []byte(strings.TrimPrefix(received.secret, webhooks.SecretPrefix))) {
			t.Error("the secret is stored in clear")
		}
		d.deliveries(t)
		if strings.Join(received.kinds, ",") != "webhook.set" {
			t.Errorf("the new endpoint received %v, want its own webhook.set, signed with the printed secret", received.kinds)
		}
		// Moving it keeps the secret.
		out = d.mustCLI(t, "webhooks", "set", "planoorder", srv.URL+"/moved")
		if strings.Contains(out, webhooks.SecretPrefix) || !strings.Contains(out, "unchanged") {
			t.Errorf("moving the webhook printed %q, want no new secret", out)
		}
	})
	t.Run("List", func(t *testing.T) {
		out := d.mustCLI(t, "webhooks", "list")
		if !strings.Contains(out, "planoorder") || !strings.Contains(out, srv.URL+"/moved") || strings.Contains(out, webhooks.SecretPrefix) {
			t.Errorf("webhooks list = %q, want planoorder's endpoint and no secret", out)
		}
	})
	t.Run("RotateSecret", func(t *testing.T) {
		old := received.secret
		out := d.mustCLI(t, "webhooks", "rotate-secret", "planoorder")
		received.secret = printedSecret(t, out)
		if received.secret == old || !strings.Contains(out, "previous secret also signs until") {
			t.Fatalf("rotate-secret printed %q", out)
		}
		d.deliveries(t)                                     // the set (moved) and the rotation, signed with both: the new secret verifies
		got := slices.Sorted(slices.Values(received.kinds)) // deliveries are unordered
		if strings.Join(got, ",") != "webhook.secret_rotated,webhook.set,webhook.set" {
			t.Errorf("received %v, want both sets and the rotation", got)
		}
	})
	t.Run("Replay", func(t *testing.T) {
		var first int64
		if err := d.pool.QueryRow(context.Background(), "SELECT min(id) FROM audit_events").Scan(&first); err != nil {
			t.Fatal(err)
		}
		out := d.mustCLI(t, "webhooks", "replay", "planoorder", "--after", "0")
		if !strings.Contains(out, "queued 3 events") {
			t.Fatalf("replay printed %q, want 3 events queued", out)
		}
		before := len(received.ids)
		d.deliveries(t)
		if got := received.ids[before:]; len(got) != 3 || !slices.Contains(got, webhooks.MessageID(first)) {
			t.Errorf("the replay delivered %v, want the 3 events again with their ids", got)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		if out := d.mustCLI(t, "webhooks", "delete", "planoorder"); !strings.Contains(out, "deleted") {
			t.Errorf("delete printed %q", out)
		}
		if _, err := d.cli(t, "webhooks", "delete", "planoorder"); err == nil || !strings.Contains(err.Error(), "has no webhook") {
			t.Errorf("deleting again: %v, want has no webhook", err)
		}
		if _, err := d.cli(t, "webhooks", "replay", "planoorder", "--after", "0"); err == nil || !strings.Contains(err.Error(), "has no webhook") {
			t.Errorf("replay without a webhook: %v", err)
		}
		audit := d.mustCLI(t, "audit", "list", "--application", "planoorder", "--kind", "webhook.deleted")
		if strings.Count(audit, "webhook.deleted") != 1 || !strings.Contains(audit, "operator") {
			t.Errorf("audit list = %q, want the operator's webhook.deleted", audit)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"webhooks", "set", "planoorder", "http://hooks.plano.example/"}, "must use https"},
			{[]string{"webhooks", "set", "planoorder", "https://user:pw@hooks.plano.example/"}, "credentials"},
			{[]string{"webhooks", "set", "planoz", "https://hooks.plano.example/"}, `unknown application "planoz"`},
			{[]string{"webhooks", "rotate-secret", "planox2"}, "has no webhook"},
			{[]string{"webhooks", "replay", "planoorder"}, "--after"},
			{[]string{"webhooks", "replay", "planoorder", "--after", "-3"}, "--after"},
			{[]string{"webhooks", "frobnicate"}, "usage: planoauth webhooks"},
		} {
			if _, err := d.cli(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("planoauth %v: err = %v, want %q", tc.args, err, tc.want)
			}
		}
		noKey := newTestDB(t, false)
		if _, err := noKey.cli(t, "webhooks", "set", "planoorder", "https://hooks.plano.example/"); err == nil || !strings.Contains(err.Error(), "PLANOAUTH_WEBHOOK_KEY") {
			t.Errorf("set without a key: %v, want a refusal naming PLANOAUTH_WEBHOOK_KEY", err)
		}
	})
}

func TestAuditCommands(t *testing.T) {
	t.Parallel()
	d := newTestDB(t, false)
	ada := d.newSessions(t, "ada@example.com", 2)
	d.mustCLI(t, "sessions", "revoke", "--user", "ada@example.com")
	d.mustCLI(t, "applications", "rotate-token", "planox2")

	out := d.mustCLI(t, "audit", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "application.token_rotated") || !strings.Contains(lines[2], "sessions.revoked") {
		t.Fatalf("audit list = %q, want the header, the rotation, then the revocation (newest first)", out)
	}
	if !strings.Contains(lines[2], `"revoked":2`) || !strings.Contains(lines[2], "operator") || !strings.Contains(lines[2], "planoorder") {
		t.Errorf("the revocation line %q, want 2 sessions of planoorder revoked by an operator", lines[2])
	}
	byUser := d.mustCLI(t, "audit", "list", "--user", "ada@example.com", "--after", "0")
	if strings.Count(byUser, "\n") != 2 || !strings.Contains(byUser, "sessions.revoked") {
		t.Errorf("audit list --user = %q, want ada's one event", byUser)
	}
	if byID := d.mustCLI(t, "audit", "list", "--user", itoa(ada)); byID != d.mustCLI(t, "audit", "list", "--user", "ada@example.com") {
		t.Errorf("--user by id and by email differ")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "list", "--kind", "login.maybe"}, "unknown kind"},
		{[]string{"audit", "list", "--after", "1", "--before", "5"}, "cannot be combined"},
		{[]string{"audit", "list", "--limit", "0"}, "--limit"},
		{[]string{"audit", "list", "--user", "nobody@example.com"}, "no user"},
		{[]string{"audit", "list", "--application", "planoz"}, "unknown application"},
		{[]string{"audit"}, "usage: planoauth audit"},
	} {
		if _, err := d.cli(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("planoauth %v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
