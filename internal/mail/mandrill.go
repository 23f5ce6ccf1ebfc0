package mail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Mandrill defaults.
const (
	DefaultMandrillBaseURL = "https://mandrillapp.com/api/1.0"
	DefaultMandrillTimeout = 10 * time.Second
)

// maxMandrillAnswer bounds how much of Mandrill's answer is read.
const maxMandrillAnswer = 1 << 20

// MandrillConfig configures the Mandrill mailer.
type MandrillConfig struct {
	APIKey   string
	BaseURL  string        // empty: DefaultMandrillBaseURL
	From     string        // sender address
	FromName string        // sender display name; may be empty
	Timeout  time.Duration // per message, the whole exchange; zero: DefaultMandrillTimeout
}

// Mandrill sends through Mandrill's HTTP API (messages/send).
type Mandrill struct {
	cfg    MandrillConfig
	client *http.Client
}

// NewMandrill returns a Mandrill mailer.
func NewMandrill(cfg MandrillConfig) *Mandrill {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultMandrillBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultMandrillTimeout
	}
	return &Mandrill{cfg: cfg, client: &http.Client{Timeout: cfg.Timeout}}
}

// mandrillSend is the body of messages/send.
type mandrillSend struct {
	Key     string          `json:"key"`
	Message mandrillMessage `json:"message"`
}

type mandrillMessage struct {
	Subject   string              `json:"subject"`
	Text      string              `json:"text"`
	HTML      string              `json:"html,omitempty"`
	FromEmail string              `json:"from_email"`
	FromName  string              `json:"from_name,omitempty"`
	To        []mandrillRecipient `json:"to"`
	Tags      []string            `json:"tags,omitempty"`
	// Sign-in links must not be rewritten into click-tracking redirects.
	TrackClicks bool `json:"track_clicks"`
}

type mandrillRecipient struct {
	Email string `json:"email"`
	Type  string `json:"type"`
}

// mandrillStatus is Mandrill's verdict on one recipient.
type mandrillStatus struct {
	Email        string `json:"email"`
	Status       string `json:"status"` // sent, queued, scheduled, rejected, invalid
	RejectReason string `json:"reject_reason"`
}

// mandrillError is the body of a failed call.
type mandrillError struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

// Send posts m to messages/send. It fails with a *SendError when Mandrill cannot be reached
// or answers an error, and when it rejects the recipient or finds it invalid (Permanent).
func (md *Mandrill) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(mandrillSend{Key: md.cfg.APIKey, Message: mandrillMessage{
		Subject: m.Subject, Text: m.Text, HTML: m.HTML, FromEmail: md.cfg.From, FromName: md.cfg.FromName,
		To: []mandrillRecipient{{Email: m.To, Type: "to"}}, Tags: []string{m.Kind},
	}})
	if err != nil {
		return &SendError{Reason: "encode the Mandrill request", Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, md.cfg.BaseURL+"/messages/send.json", bytes.NewReader(body))
	if err != nil {
		return &SendError{Reason: "build the Mandrill request", Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := md.client.Do(req)
	if err != nil {
		return md.transportFailure(err)
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, maxMandrillAnswer))
	if err != nil {
		return &SendError{Reason: "read Mandrill's answer", Err: err}
	}
	if res.StatusCode != http.StatusOK {
		return &SendError{Reason: httpFailure(res.StatusCode, answer)}
	}
	return recipientVerdict(answer)
}

// httpFailure describes an error answer: Mandrill's error name and message when it sent them.
func httpFailure(code int, answer []byte) string {
	var e mandrillError
	if json.Unmarshal(answer, &e) == nil && e.Name != "" {
		return fmt.Sprintf("Mandrill answered HTTP %d: %s: %s", code, e.Name, e.Message)
	}
	return fmt.Sprintf("Mandrill answered HTTP %d", code)
}

// recipientVerdict reads the per-recipient statuses of a 200 answer; one message has one.
func recipientVerdict(answer []byte) error {
	var statuses []mandrillStatus
	if err := json.Unmarshal(answer, &statuses); err != nil {
		return &SendError{Reason: "Mandrill's answer is not a list of recipient statuses", Err: err}
	}
	if len(statuses) == 0 {
		return &SendError{Reason: "Mandrill answered no recipient status"}
	}
	for _, s := range statuses {
		switch s.Status {
		case "sent", "queued", "scheduled":
		case "rejected":
			return &SendError{Reason: "Mandrill rejected the recipient: " + orUnknown(s.RejectReason), Permanent: true}
		case "invalid":
			return &SendError{Reason: "Mandrill found the recipient invalid", Permanent: true}
		default:
			return &SendError{Reason: fmt.Sprintf("Mandrill answered the unknown status %q", s.Status)}
		}
	}
	return nil
}

func orUnknown(reason string) string {
	if reason == "" {
		return "no reason given"
	}
	return reason
}

// transportFailure describes a call that got no answer: too slow, or no connection.
func (md *Mandrill) transportFailure(err error) error {
	var netErr interface{ Timeout() bool }
	if errors.As(err, &netErr) && netErr.Timeout() {
		return &SendError{Reason: fmt.Sprintf("Mandrill did not answer within %s", md.cfg.Timeout), Err: err}
	}
	return &SendError{Reason: "Mandrill could not be reached", Err: err}
}
