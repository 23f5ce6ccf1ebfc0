package mail_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/mail"
)

var welcome = mail.Message{Kind: "welcome", To: "ada@example.com", Subject: "Welcome", Text: "Hello Ada", HTML: "<p>Hello Ada</p>"}

// fakeMandrill answers messages/send.json with answer and records the requests it got.
func fakeMandrill(t *testing.T, answer http.HandlerFunc) (*httptest.Server, <-chan map[string]any) {
	t.Helper()
	requests := make(chan map[string]any, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/1.0/messages/send.json" {
			t.Errorf("Mandrill got %s %s, want POST /api/1.0/messages/send.json", r.Method, r.URL.Path)
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("Mandrill got a body that is not JSON: %v", err)
		}
		requests <- body
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, requests
}

func answerJSON(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

func newMandrill(baseURL string, timeout time.Duration) *mail.Mandrill {
	return mail.NewMandrill(mail.MandrillConfig{APIKey: "test-key", BaseURL: baseURL + "/api/1.0/",
		From: "no-reply@plano.example", FromName: "PlanoAuth", Timeout: timeout})
}

func TestMandrillSend(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		srv, requests := fakeMandrill(t, answerJSON(200, `[{"email":"ada@example.com","status":"sent","_id":"abc","reject_reason":null}]`))
		if err := newMandrill(srv.URL, time.Second).Send(context.Background(), welcome); err != nil {
			t.Fatalf("Send: %v", err)
		}
		got := <-requests
		msg, _ := got["message"].(map[string]any)
		if got["key"] != "test-key" || msg["subject"] != "Welcome" || msg["text"] != "Hello Ada" ||
			msg["from_email"] != "no-reply@plano.example" || msg["from_name"] != "PlanoAuth" {
			t.Errorf("request = %v, want the key, subject, text and sender", got)
		}
		to, _ := msg["to"].([]any)
		if len(to) != 1 || to[0].(map[string]any)["email"] != "ada@example.com" {
			t.Errorf("to = %v, want ada@example.com", msg["to"])
		}
	})
	t.Run("Queued", func(t *testing.T) {
		srv, _ := fakeMandrill(t, answerJSON(200, `[{"email":"ada@example.com","status":"queued"}]`))
		if err := newMandrill(srv.URL, time.Second).Send(context.Background(), welcome); err != nil {
			t.Fatalf("Send: %v", err)
		}
	})
	for _, tc := range []struct {
		name, answer string
		code         int
		reason       string
		permanent    bool
	}{
		{"ErrRejected", `[{"email":"ada@example.com","status":"rejected","reject_reason":"hard-bounce"}]`, 200, "rejected the recipient: hard-bounce", true},
		{"ErrInvalid", `[{"email":"ada@example.com","status":"invalid"}]`, 200, "recipient invalid", true},
		{"ErrNoStatus", `[]`, 200, "no recipient status", false},
		{"ErrHTTP500", `{"status":"error","code":-1,"name":"Invalid_Key","message":"Invalid API key"}`, 500, "HTTP 500: Invalid_Key: Invalid API key", false},
		{"ErrHTTP502", `<html>bad gateway</html>`, 502, "HTTP 502", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := fakeMandrill(t, answerJSON(tc.code, tc.answer))
			err := newMandrill(srv.URL, time.Second).Send(context.Background(), welcome)
			sendErr := mustSendError(t, err)
			if !strings.Contains(sendErr.Reason, tc.reason) || sendErr.Permanent != tc.permanent {
				t.Errorf("got reason %q permanent %t, want %q permanent %t", sendErr.Reason, sendErr.Permanent, tc.reason, tc.permanent)
			}
		})
	}
	t.Run("ErrTimeout", func(t *testing.T) {
		release := make(chan struct{})
		srv, _ := fakeMandrill(t, func(w http.ResponseWriter, r *http.Request) {
			select { // hang until the client gives up
			case <-r.Context().Done():
			case <-release:
			}
		})
		defer close(release)
		sendErr := mustSendError(t, newMandrill(srv.URL, 50*time.Millisecond).Send(context.Background(), welcome))
		if !strings.Contains(sendErr.Reason, "did not answer within 50ms") {
			t.Errorf("reason = %q, want a timeout", sendErr.Reason)
		}
	})
	t.Run("ErrUnreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		sendErr := mustSendError(t, newMandrill(srv.URL, time.Second).Send(context.Background(), welcome))
		if !strings.Contains(sendErr.Reason, "could not be reached") {
			t.Errorf("reason = %q, want unreachable", sendErr.Reason)
		}
	})
}

func mustSendError(t *testing.T, err error) *mail.SendError {
	t.Helper()
	var sendErr *mail.SendError
	if !errors.As(err, &sendErr) {
		t.Fatalf("Send = %v, want a *mail.SendError", err)
	}
	if strings.Contains(sendErr.Error(), "Hello Ada") {
		t.Errorf("the error shows the message body: %v", sendErr)
	}
	return sendErr
}
