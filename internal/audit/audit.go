// Package audit writes the audit trail: security events appended in the transaction of the
// change they record (Append), and rendered as the contract's AuditEvent for audit/index, the
// command line and webhooks (Render). An event names who acted, whom it is about, where, and
// what the kind needs (gen.AuditDetails), never a password, a token or a request body: the
// details are a type of the contract, not a free-form map, so nothing else can slip in.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/peer"
	"github.com/plano/planoauth/internal/requestid"
)

// Actor is who acted.
type Actor struct {
	Type   gen.AuditActorType
	UserID int64 // the acting user for ActorUser; 0 otherwise
}

var (
	// Operator is the command line.
	Operator = Actor{Type: gen.ActorOperator}
	// Anonymous is a caller who proved nothing (a failed log-in, a sign-in link request).
	Anonymous = Actor{Type: gen.ActorAnonymous}
	// Application is an application's token (the event's application says which).
	Application = Actor{Type: gen.ActorApplication}
)

// User is a user acting: with a session, or signing in or registering.
func User(id int64) Actor { return Actor{Type: gen.ActorUser, UserID: id} }

// Of is the caller of an authenticated request: its session's user, or its application.
func Of(p *auth.Principal) Actor {
	if p.Session != nil {
		return User(p.Session.UserID)
	}
	return Application
}

// Event is one entry of the trail. Ids start at 1, so 0 means none.
type Event struct {
	Kind          gen.AuditKind
	Actor         Actor
	UserID        int64 // whom the event is about
	ApplicationID int64 // where it happened: an application reads (and is sent) its own events
	Details       gen.AuditDetails
}

// Append writes events, in order, at now, with the request's client address and id (empty
// outside a request). Pass the Queries of the transaction making the change, and append last in
// it: each append takes the trail's lock (see AppendAuditEvent), held until commit. With the
// pool's Queries each event is one statement of its own, itself never half-written (the event
// and its webhook delivery are one statement).
func Append(ctx context.Context, q *db.Queries, now time.Time, events ...Event) error {
	from := peer.FromContext(ctx)
	for _, e := range events {
		details, err := json.Marshal(e.Details)
		if err != nil {
			return fmt.Errorf("encode the details of a %s event: %w", e.Kind, err)
		}
		if _, err := q.AppendAuditEvent(ctx, db.AppendAuditEventParams{
			OccurredAt: now, Kind: string(e.Kind), ActorType: string(e.Actor.Type), ActorUserID: id(e.Actor.UserID),
			UserID: id(e.UserID), ApplicationID: id(e.ApplicationID), ClientAddress: from.Address,
			RequestID: requestid.FromContext(ctx), Details: details,
		}); err != nil {
			return fmt.Errorf("append a %s event to the audit trail: %w", e.Kind, err)
		}
	}
	return nil
}

// id is a row id for a nullable column: NULL for 0.
func id(v int64) *int64 {
	if v == 0 {
		return nil
	}
	return &v
}

// Render is a row of the trail as the contract shows it; application is its application's
// slug (nil for none).
func Render(e db.AuditEvent, application *string) (gen.AuditEvent, error) {
	out := gen.AuditEvent{
		Id: e.ID, Kind: gen.AuditKind(e.Kind), OccurredAt: e.OccurredAt.UTC(),
		Actor:         gen.AuditActor{Type: gen.AuditActorType(e.ActorType), UserId: e.ActorUserID},
		UserId:        e.UserID,
		ClientAddress: e.ClientAddress, RequestId: e.RequestID,
	}
	if application != nil {
		slug := gen.ApplicationSlug(*application)
		out.Application = &slug
	}
	if err := json.Unmarshal(e.Details, &out.Details); err != nil {
		return out, fmt.Errorf("decode the details of audit event %d: %w", e.ID, err)
	}
	return out, nil
}

// SessionsRevoked are the events of revoking a user's sessions by actor: one per application
// whose sessions were revoked (applications are the application of each revoked session, as
// RevokeUserSessionsInApplications returns them), so that each application reads, and is sent,
// what happened to its own sessions. When none was revoked, one event without an application
// still records that actor did it.
func SessionsRevoked(actor Actor, userID int64, applications []int64) []Event {
	counts := map[int64]int{}
	var order []int64
	for _, app := range applications {
		if counts[app] == 0 {
			order = append(order, app)
		}
		counts[app]++
	}
	slices.Sort(order)
	if len(order) == 0 {
		order = []int64{0}
	}
	events := make([]Event, 0, len(order))
	for _, app := range order {
		n := counts[app]
		events = append(events, Event{Kind: gen.AuditSessionsRevoked, Actor: actor, UserID: userID, ApplicationID: app,
			Details: gen.AuditDetails{Revoked: &n}})
	}
	return events
}

// Filter confines a page of the trail; nil fields do not filter.
type Filter struct {
	Application *int64 // an application's token reads its own application's events only
	User        *int64
	Kind        *gen.AuditKind
	Limit       int32
}

// Read reads one page of the trail: with after, the events after it, oldest first (following
// the trail); otherwise newest first, before the cursor before when given. The page's
// next_cursor is its last id, or the cursor given when it is empty.
func Read(ctx context.Context, q *db.Queries, f Filter, after, before *int64) (gen.AuditTrail, error) {
	var kind *string
	if f.Kind != nil {
		k := string(*f.Kind)
		kind = &k
	}
	trail := gen.AuditTrail{Results: []gen.AuditEvent{}, NextCursor: after}
	var rows []db.ListAuditEventsAfterRow
	var err error
	if after != nil {
		rows, err = q.ListAuditEventsAfter(ctx, db.ListAuditEventsAfterParams{After: *after,
			ApplicationID: f.Application, UserID: f.User, Kind: kind, MaxResults: f.Limit})
	} else {
		trail.NextCursor = before
		var newest []db.ListAuditEventsNewestRow
		newest, err = q.ListAuditEventsNewest(ctx, db.ListAuditEventsNewestParams{Before: before,
			ApplicationID: f.Application, UserID: f.User, Kind: kind, MaxResults: f.Limit})
		for _, row := range newest {
			rows = append(rows, db.ListAuditEventsAfterRow(row))
		}
	}
	if err != nil {
		return trail, fmt.Errorf("read the audit trail: %w", err)
	}
	for _, row := range rows {
		event, err := Render(row.AuditEvent, row.Application)
		if err != nil {
			return trail, err
		}
		trail.Results = append(trail.Results, event)
		trail.NextCursor = &event.Id
	}
	return trail, nil
}
