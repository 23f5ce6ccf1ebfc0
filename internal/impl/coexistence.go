package impl

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/params"
	"github.com/plano/planoauth/internal/spec"
)

// touchers bump the update time of a record of each coexistence domain, returning its id
// (pgx.ErrNoRows when there is none). The domains themselves are the contract's
// CoexistenceDomain enum; a test fails when one has no toucher here.
var touchers = map[gen.CoexistenceDomain]func(*db.Queries, context.Context, int64) (int64, error){
	gen.Users:     (*db.Queries).TouchUser,
	gen.Clients:   (*db.Queries).TouchClient,
	gen.Employees: (*db.Queries).TouchEmployee,
	gen.Liaisons:  (*db.Queries).TouchLiaison,
	gen.Companies: (*db.Queries).TouchCompany,
}

// touch is one change to record in the feed.
type touch struct {
	domain        gen.CoexistenceDomain
	operation     gen.CoexistenceOperation
	recordID      int64
	applicationID int64
}

// CoexistenceTouch bumps a record's update time and appends the change to the feed. Answers:
// operation_invalid (an operation its domain does not accept), record_not_found; an unknown
// domain or operation never gets here (domain_invalid, operation_invalid from the contract).
func (s *Server) CoexistenceTouch(ctx context.Context, r gen.CoexistenceTouchRequestObject) (gen.CoexistenceTouchResponseObject, error) {
	in := r.Body
	if err := checkDomainOperation(spec.FromContext(ctx), in.Domain, in.Operation); err != nil {
		return nil, err
	}
	p := auth.PrincipalFromContext(ctx)
	event, err := s.appendTouch(ctx, touch{domain: in.Domain, operation: in.Operation, recordID: in.Id, applicationID: p.Application.ID})
	if err != nil {
		return nil, err
	}
	event.Application = gen.ApplicationSlug(p.Application.Slug)
	return gen.CoexistenceTouch200JSONResponse{
		Status: gen.CoexistenceEventResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: event,
	}, nil
}

// checkDomainOperation answers operation_invalid unless the contract's x-domain-operations lets
// the domain take the operation (activate is for clients only, for example).
func checkDomainOperation(op *spec.Operation, domain gen.CoexistenceDomain, operation gen.CoexistenceOperation) error {
	if op == nil {
		return envelope.Internal("coexistence/touch: the request was not identified as an operation")
	}
	accepted, ok := op.DomainOperations()[string(domain)]
	if !ok {
		return envelope.Param(gen.StatusDomainInvalid, "domain", "takes no touches")
	}
	if !slices.Contains(accepted, string(operation)) {
		return envelope.Param(gen.StatusOperationInvalid, "operation", fmt.Sprintf("%s accepts: %v", domain, accepted))
	}
	return nil
}

// appendTouch bumps the record and appends its event in one transaction, so the feed never
// names a change that did not happen. Answers record_not_found.
func (s *Server) appendTouch(ctx context.Context, t touch) (gen.CoexistenceEvent, error) {
	bump, ok := touchers[t.domain]
	if !ok {
		return gen.CoexistenceEvent{}, envelope.Internal("coexistence/touch: no toucher for domain %s", t.domain)
	}
	var appended db.AppendCoexistenceEventRow
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		if _, err := bump(q, ctx, t.recordID); err != nil {
			return fmt.Errorf("bump the record: %w", err) // pgx.ErrNoRows stays visible to errors.Is
		}
		// Taken after the record's row lock and held until commit: see LockCoexistenceFeed.
		if err := q.LockCoexistenceFeed(ctx); err != nil {
			return fmt.Errorf("lock the feed: %w", err)
		}
		var err error
		appended, err = q.AppendCoexistenceEvent(ctx, db.AppendCoexistenceEventParams{
			Domain: string(t.domain), Operation: string(t.operation), RecordID: t.recordID, ApplicationID: t.applicationID,
		})
		if err != nil {
			return fmt.Errorf("append the event: %w", err)
		}
		return nil
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return gen.CoexistenceEvent{}, envelope.Param(gen.StatusRecordNotFound, "id", fmt.Sprintf("no %s record %d", t.domain, t.recordID))
	}
	if err != nil {
		return gen.CoexistenceEvent{}, envelope.Internal("touch %s %d: %w", t.domain, t.recordID, err)
	}
	return gen.CoexistenceEvent{
		Id: appended.ID, Domain: t.domain, Operation: t.operation, RecordId: t.recordID, OccurredAt: appended.OccurredAt.UTC(),
	}, nil
}

// CoexistenceIndex returns the events after the cursor, oldest first. Ids commit in order (see
// LockCoexistenceFeed), so a follower that passes back next_cursor never skips an event.
func (s *Server) CoexistenceIndex(ctx context.Context, r gen.CoexistenceIndexRequestObject) (gen.CoexistenceIndexResponseObject, error) {
	after, limit := params.Default(ctx, "after", r.Params.After), params.Default(ctx, "limit", r.Params.Limit)
	rows, err := s.q.ListCoexistenceEvents(ctx, db.ListCoexistenceEventsParams{After: after, MaxResults: limit})
	if err != nil {
		return nil, envelope.Internal("list coexistence events after %d: %w", after, err)
	}
	feed := gen.CoexistenceFeed{Results: make([]gen.CoexistenceEvent, 0, len(rows)), NextCursor: after}
	for _, row := range rows {
		feed.Results = append(feed.Results, eventToAPI(row))
		feed.NextCursor = row.ID
	}
	return gen.CoexistenceIndex200JSONResponse{
		Status: gen.CoexistenceFeedResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: feed,
	}, nil
}

func eventToAPI(row db.ListCoexistenceEventsRow) gen.CoexistenceEvent {
	return gen.CoexistenceEvent{
		Id: row.ID, Domain: gen.CoexistenceDomain(row.Domain), Operation: gen.CoexistenceOperation(row.Operation),
		RecordId: row.RecordID, Application: gen.ApplicationSlug(row.Application), OccurredAt: row.OccurredAt.UTC(),
	}
}
