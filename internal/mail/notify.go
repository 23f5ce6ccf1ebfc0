package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/plano/planoauth/internal/gen/db"
)

// Notification kinds.
const (
	// NotifySendFailed: an email that was the point of a request could not be sent, and the
	// request answered mandrill-email-failed.
	NotifySendFailed = "mandrill-email-failed"
	// NotifyGaveUp: the outbox worker gave up on a queued email.
	NotifyGaveUp = "outbox-email-failed"
)

// Notification is something operators must look at ("the production notifications tab").
// Context holds the details to investigate with; never secrets, tokens or message bodies.
type Notification struct {
	Kind    string
	Message string
	Context map[string]any
}

// Notify writes n; pass the Queries of a transaction to write it with a change.
func Notify(ctx context.Context, q *db.Queries, now time.Time, n Notification) error {
	details, err := json.Marshal(n.Context)
	if err != nil {
		return fmt.Errorf("encode %s notification: %w", n.Kind, err)
	}
	if n.Context == nil {
		details = []byte("{}")
	}
	if _, err := q.CreateNotification(ctx, db.CreateNotificationParams{
		Kind: n.Kind, Message: n.Message, Context: details, Now: now,
	}); err != nil {
		return fmt.Errorf("write %s notification: %w", n.Kind, err)
	}
	return nil
}

// reasonOf is the operator-facing reason of a mailer's failure.
func reasonOf(err error) string {
	if sendErr, ok := errors.AsType[*SendError](err); ok {
		return sendErr.Detail()
	}
	return err.Error()
}
