// Package mail sends PlanoAuth's emails. Emails that follow a change (a welcome on registration)
// are queued in the outbox in the change's own transaction, so they are sent exactly when the
// change commits; the outbox worker delivers them.
package mail

import (
	"context"
	"fmt"

	"github.com/plano/planoauth/internal/gen/db"
)

// Message is one email.
type Message struct {
	Kind    string // what it is, e.g. "welcome"; for logs and notifications
	To      string
	Subject string
	Text    string
	HTML    string
}

// Enqueue queues m for delivery; pass the Queries of the transaction making the change.
func Enqueue(ctx context.Context, q *db.Queries, m Message) error {
	if _, err := q.EnqueueEmail(ctx, db.EnqueueEmailParams{
		Kind: m.Kind, Recipient: m.To, Subject: m.Subject, BodyText: m.Text, BodyHtml: m.HTML,
	}); err != nil {
		return fmt.Errorf("enqueue %s email: %w", m.Kind, err)
	}
	return nil
}
