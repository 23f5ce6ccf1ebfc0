package impl

import (
	"context"

	"github.com/plano/planoauth/internal/audit"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/params"
)

// AuditIndex reads the audit trail: newest first (before a cursor), or oldest first after a
// cursor. An application token reads the events of its own application; an employee's session
// reads every event (the scope is granted to no other role). Answers: invalid-param (after and
// before together).
func (s *Server) AuditIndex(ctx context.Context, r gen.AuditIndexRequestObject) (gen.AuditIndexResponseObject, error) {
	in := r.Params
	if in.After != nil && in.Before != nil {
		return nil, envelope.Param(gen.StatusInvalidParam, "before", "cannot be combined with after: after reads oldest first, before newest first")
	}
	scope, err := auditScope(ctx, s.q, auth.PrincipalFromContext(ctx))
	if err != nil {
		return nil, err
	}
	trail, err := audit.Read(ctx, s.q, audit.Filter{Application: scope, User: in.UserId, Kind: in.Kind,
		Limit: params.Default(ctx, "limit", in.Limit)}, in.After, in.Before)
	if err != nil {
		return nil, envelope.Internal("%w", err)
	}
	return gen.AuditIndex200JSONResponse{
		Status: gen.AuditTrailResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: trail, Session: envelope.CallerSession(ctx),
	}, nil
}

// auditScope is the application whose events the caller may read, nil for every event: an
// application token reads its own application's, an employee everything. Only employees' roles
// are granted audit.index; a session of another role is refused here too, should one be. An
// employee whose email is not verified is refused as well: whoever registered the email before
// its owner was made an employee may not be its owner, and the trail names every user's
// addresses and sign-ins. So is a former employee (holdsRole: its record is gone).
func auditScope(ctx context.Context, q *db.Queries, p *auth.Principal) (*int64, error) {
	if p.Session == nil {
		id := p.Application.ID
		return &id, nil
	}
	denied := &envelope.Error{Status: gen.StatusPermissionDenied, Message: "Only employees and applications read the audit trail."}
	if p.Session.Role != roleEmployee {
		return nil, denied
	}
	if !callerVerified(p) {
		return nil, errUnproven()
	}
	held, err := holdsRole(ctx, q, p)
	if err != nil {
		return nil, envelope.Internal("%w", err)
	}
	if !held {
		return nil, denied
	}
	return nil, nil
}
