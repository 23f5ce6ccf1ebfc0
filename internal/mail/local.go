package mail

import (
	"context"
	"time"

	"github.com/plano/planoauth/internal/gen/db"
)

// Local is the development mailer: it sends nothing and records each message in the
// sent_emails table, where `planoauth emails list|show` reads them. It is the default when no
// Mandrill API key is configured.
type Local struct {
	q   *db.Queries
	now func() time.Time
}

// NewLocal returns a mailer recording into the database of q.
func NewLocal(q *db.Queries, now func() time.Time) *Local { return &Local{q: q, now: now} }

// Send records m; it fails only when the database does.
func (l *Local) Send(ctx context.Context, m Message) error {
	_, err := l.q.RecordSentEmail(ctx, db.RecordSentEmailParams{
		Kind: m.Kind, Recipient: m.To, Subject: m.Subject, BodyText: m.Text, BodyHtml: m.HTML, Now: l.now(),
	})
	if err != nil {
		return &SendError{Reason: "record the email locally", Err: err}
	}
	return nil
}
