// Package mail sends PlanoAuth's emails and writes the notifications operators read.
//
// Every email goes through one Mailer: Mandrill in production, Local (which records messages in
// the sent_emails table) in development. Emails that are the point of a request (a sign-in link)
// are sent at once with SendNow, which writes a mandrill-email-failed notification when the
// mailer fails. Emails that follow a change (a welcome on registration) are queued with Enqueue
// in the change's own transaction, so they exist exactly when the change commits; the Worker
// delivers them with retries and backoff.
package mail

import (
	"context"
	"fmt"
	"time"

	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/limits"
)

// Message is one email.
type Message struct {
	Kind    string // what it is, e.g. "welcome"; for logs and notifications
	To      string
	Subject string
	Text    string
	HTML    string
	// LinkID is the magic_links row of the link a queued email carries (0: none). Its token and
	// code are minted only when the worker sends the email, which puts the link where Text and
	// HTML hold LinkPlaceholder, and the code (ShowCode) where they hold CodePlaceholder: neither
	// ever rests in email_outbox.
	LinkID int64
}

// LinkPlaceholder and CodePlaceholder stand in a queued email's body for its link and its code
// until the worker sends it.
const (
	LinkPlaceholder = "{{link}}"
	CodePlaceholder = "{{code}}"
)

// ShowCode is how an email shows a link's code: in two groups, easier to read and type
// ("0481 7293").
func ShowCode(code string) string {
	return code[:len(code)/2] + " " + code[len(code)/2:]
}

// Mailer delivers one message. A failure is a *SendError carrying the reason.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// SendError is a message the mail provider refused or could not be reached for. Reason is fit
// for an operator's notification: it never holds the message's body.
type SendError struct {
	Reason string
	// Permanent is set when sending the same message again cannot succeed (the provider rejected
	// the recipient), so the outbox worker gives up at once instead of retrying.
	Permanent bool
	Err       error // the underlying failure, if any
}

func (e *SendError) Error() string { return "send email: " + e.Detail() }

// Detail is the reason with the underlying failure, for notifications.
func (e *SendError) Detail() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *SendError) Unwrap() error { return e.Err }

// Enqueue queues m for delivery, due at now; pass the Queries of the transaction making the
// change, and the clock the worker runs by.
func Enqueue(ctx context.Context, q *db.Queries, now time.Time, m Message) error {
	var link *int64
	if m.LinkID != 0 {
		link = &m.LinkID
	}
	if _, err := q.EnqueueEmail(ctx, db.EnqueueEmailParams{
		Kind: m.Kind, Recipient: m.To, Subject: m.Subject, BodyText: m.Text, BodyHtml: m.HTML, MagicLinkID: link, Now: now,
	}); err != nil {
		return fmt.Errorf("enqueue %s email: %w", m.Kind, err)
	}
	return nil
}

// NotifyWindow is the window in which one recipient's failures of one kind of email write one
// notification: an address that Mandrill rejects, or an outage, must not bury the list in rows
// (nor grow the table) however often its emails are asked for.
const NotifyWindow = time.Hour

// SendNow sends m at once, for a request whose point is the email. When the mailer fails it
// writes one NotifySendFailed notification, unless one was written for the same recipient and
// kind of email within NotifyWindow, and returns the mailer's error (joined with the
// notification's own failure, if writing it failed too).
func SendNow(ctx context.Context, mailer Mailer, q *db.Queries, now time.Time, m Message) error {
	sendErr := mailer.Send(ctx, m)
	if sendErr == nil {
		return nil
	}
	// The notification is written even when the caller has hung up meanwhile.
	err := notifyOnce(context.WithoutCancel(ctx), q, now, m, Notification{
		Kind:    NotifySendFailed,
		Message: fmt.Sprintf("A %s email could not be sent: %s", m.Kind, reasonOf(sendErr)),
		Context: map[string]any{"email_kind": m.Kind, "recipient": m.To, "reason": reasonOf(sendErr)},
	})
	if err != nil {
		return fmt.Errorf("%w (and %w)", sendErr, err)
	}
	return sendErr
}

// notifyOnce writes n about m unless a notification of its kind was written about the same
// recipient and kind of email within NotifyWindow (limits.Once, atomic on q).
func notifyOnce(ctx context.Context, q *db.Queries, now time.Time, m Message, n Notification) error {
	first, err := limits.Once(ctx, q, "notify:"+n.Kind+":"+m.Kind+":"+limits.EmailKey(m.To), now, NotifyWindow)
	if err != nil || !first {
		return err
	}
	return Notify(ctx, q, now, n)
}
