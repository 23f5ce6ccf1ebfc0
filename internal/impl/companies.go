package impl

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/audit"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/views"
)

// Company membership (domain: companies) is granted, never claimed. clients.company_id is the
// one company a client is a member of; a company it names itself is a request
// (company_member_requests) that shows and grants nothing until an application token, an
// employee or the company's owner approves it. The owner of an enterprise company is the client
// whose registration created it (companies.owner_client_id). The exported functions are what
// operators' tools (`planoauth companies ...`) call, acting as an employee would.

// CompaniesMembers lists a company's members and requests. Answers: invalid-param (an
// application or employee naming no company), permission-denied (anyone else but the verified
// owner, whether or not the company exists).
func (s *Server) CompaniesMembers(ctx context.Context, r gen.CompaniesMembersRequestObject) (gen.CompaniesMembersResponseObject, error) {
	company, _, err := companyActor(ctx, s.q, auth.PrincipalFromContext(ctx), r.Params.CompanyId)
	if err != nil {
		return nil, err
	}
	members, err := listMembership(ctx, s.q, company)
	if err != nil {
		return nil, err
	}
	return gen.CompaniesMembers200JSONResponse(s.membershipResult(ctx, members, r.Params.View)), nil
}

// CompaniesApproveMember makes a client a member of a company. Answers: those of
// CompaniesMembers, and invalid-param on client_id (no pending request, for an owner; no such
// client, for the others; an unverified client; a client that owns another company).
func (s *Server) CompaniesApproveMember(ctx context.Context, r gen.CompaniesApproveMemberRequestObject) (gen.CompaniesApproveMemberResponseObject, error) {
	in := deref(r.Body)
	members, err := s.changeMembership(ctx, in, func(q *db.Queries, company db.Company, everything bool, by change) ([]audit.Event, error) {
		return approveMember(ctx, q, company, in.ClientId, !everything, by)
	})
	if err != nil {
		return nil, err
	}
	return gen.CompaniesApproveMember200JSONResponse(s.membershipResult(ctx, members, in.View)), nil
}

// CompaniesRemoveMember ends a membership or refuses a request. Answers: those of
// CompaniesMembers, and invalid-param on client_id (neither a member nor asking; the owner).
func (s *Server) CompaniesRemoveMember(ctx context.Context, r gen.CompaniesRemoveMemberRequestObject) (gen.CompaniesRemoveMemberResponseObject, error) {
	in := deref(r.Body)
	members, err := s.changeMembership(ctx, in, func(q *db.Queries, company db.Company, _ bool, by change) ([]audit.Event, error) {
		return removeMember(ctx, q, company, in.ClientId, by)
	})
	if err != nil {
		return nil, err
	}
	return gen.CompaniesRemoveMember200JSONResponse(s.membershipResult(ctx, members, in.View)), nil
}

// CompaniesRequestMember records the calling client's request to join a company, answered alike
// whether or not the company exists. Answers: permission-denied (an unverified caller, or one
// without a client record).
func (s *Server) CompaniesRequestMember(ctx context.Context, r gen.CompaniesRequestMemberRequestObject) (gen.CompaniesRequestMemberResponseObject, error) {
	p := auth.PrincipalFromContext(ctx)
	if !callerVerified(p) {
		return nil, errUnproven()
	}
	client, err := s.q.GetClientProfileByUserID(ctx, p.Session.UserID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &envelope.Error{Status: gen.StatusPermissionDenied, Message: "Only a client may ask to join a company."}
	}
	if err != nil {
		return nil, envelope.Internal("load client of user %d: %w", p.Session.UserID, err)
	}
	companyID := deref(r.Body).CompanyId
	err = s.inTx(ctx, "request membership", func(_ pgx.Tx, q *db.Queries) error {
		if err := checkGrantor(ctx, q, p); err != nil {
			return err
		}
		if err := q.RequestCompanyMembership(ctx, db.RequestCompanyMembershipParams{ClientID: client.ID, CompanyID: companyID}); err != nil {
			return err
		}
		// Recorded as asked, whether or not the company exists: the caller is answered alike.
		return audit.Append(ctx, q, s.now(), audit.Event{Kind: gen.AuditMembershipRequested, Actor: audit.Of(p),
			UserID: p.Session.UserID, ApplicationID: p.Application.ID,
			Details: gen.AuditDetails{ClientId: &client.ID, CompanyId: &companyID}})
	})
	if err != nil {
		return nil, err
	}
	return gen.CompaniesRequestMember200JSONResponse{
		Status: gen.MemberRequestedResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: gen.MemberRequested{Requested: true}, Session: envelope.CallerSession(ctx),
	}, nil
}

// change is who changes a membership, for the audit trail: the actor, and the application it
// happens in (0 for operators).
type change struct {
	actor audit.Actor
	appID int64
}

// changeMembership runs apply in one transaction after checking, inside it, that the caller may
// act on the company (and, for a user, that its email is proven and its session live; for an
// employee, that it still is one: lockEmployee), appends
// the events apply returns, and returns the company's membership as it is then.
func (s *Server) changeMembership(ctx context.Context, in gen.CompanyMemberInput,
	apply func(q *db.Queries, company db.Company, everything bool, by change) ([]audit.Event, error)) (CompanyMembership, error) {
	p := auth.PrincipalFromContext(ctx)
	var company db.Company
	err := s.inTx(ctx, "change company membership", func(_ pgx.Tx, q *db.Queries) error {
		if err := checkGrantor(ctx, q, p); err != nil {
			return err
		}
		var everything bool
		var err error
		if company, everything, err = companyActor(ctx, q, p, in.CompanyId); err != nil {
			return err
		}
		if everything {
			if err := lockEmployee(ctx, q, p); err != nil {
				return err
			}
		}
		events, err := apply(q, company, everything, change{actor: audit.Of(p), appID: p.Application.ID})
		if err != nil {
			return err
		}
		return audit.Append(ctx, q, s.now(), events...)
	})
	if err != nil {
		return CompanyMembership{}, err
	}
	return listMembership(ctx, s.q, company)
}

// companyActor returns the company a caller acts on and whether the caller may act on every
// company (an application token or a verified employee). A client may act only on the company it
// owns, once its email is verified; anyone else, and a client naming another company, is denied
// whether or not the company exists, so ids are not revealed. Only callers who may act on every
// company learn that an id names none (invalid-param).
func companyActor(ctx context.Context, q *db.Queries, p *auth.Principal, companyID int64) (db.Company, bool, error) {
	company, err := q.GetCompany(ctx, companyID)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return company, false, envelope.Internal("load company %d: %w", companyID, err)
	}
	missing := errors.Is(err, pgx.ErrNoRows)
	if p.Session != nil && !callerVerified(p) {
		return company, false, errUnproven()
	}
	denied := &envelope.Error{Status: gen.StatusPermissionDenied,
		Message: "Only the company's owner, an employee or an application may see and change its members."}
	if mayChooseCredentials(p) {
		held, err := holdsRole(ctx, q, p) // a former employee's session is refused
		switch {
		case err != nil:
			return company, false, envelope.Internal("%w", err)
		case !held:
			return company, false, denied
		case missing:
			return company, true, envelope.Param(gen.StatusInvalidParam, "company_id", "no company has the id "+strconv.FormatInt(companyID, 10))
		}
		return company, true, nil
	}
	if p.Session.Role != roleClient || missing || company.OwnerClientID == nil {
		return company, false, denied
	}
	client, err := q.GetClientProfileByUserID(ctx, p.Session.UserID)
	if errors.Is(err, pgx.ErrNoRows) {
		return company, false, denied
	}
	if err != nil {
		return company, false, envelope.Internal("load client of user %d: %w", p.Session.UserID, err)
	}
	if *company.OwnerClientID != client.ID {
		return company, false, denied
	}
	return company, false, nil
}

// approveMember makes a client a member of the company in q's transaction, taking its pending
// request; needsRequest (an owner approving) refuses a client without one. The client's user is
// share-locked first (before its request, in the order its email's first proof takes them), so
// that an approval and that proof never interleave.
// It returns the events of the change.
func approveMember(ctx context.Context, q *db.Queries, company db.Company, clientID int64, needsRequest bool, by change) ([]audit.Event, error) {
	noRequest := envelope.Param(gen.StatusInvalidParam, "client_id", "has no pending request to join the company")
	grantee, err := q.LockClientUser(ctx, clientID)
	switch {
	case errors.Is(err, pgx.ErrNoRows) && needsRequest:
		return nil, noRequest // as for a client that did not ask: ids of other clients are not revealed
	case errors.Is(err, pgx.ErrNoRows):
		return nil, envelope.Param(gen.StatusInvalidParam, "client_id", "no client has the id "+strconv.FormatInt(clientID, 10))
	case err != nil:
		return nil, fmt.Errorf("lock the user of client %d: %w", clientID, err)
	}
	taken, err := q.TakeCompanyMemberRequest(ctx, db.TakeCompanyMemberRequestParams{ClientID: clientID, CompanyID: company.ID})
	if err != nil {
		return nil, fmt.Errorf("take the request of client %d: %w", clientID, err)
	}
	switch {
	case needsRequest && taken == 0:
		return nil, noRequest
	case !grantee.EmailVerified:
		return nil, envelope.Param(gen.StatusInvalidParam, "client_id",
			"the client's email is not verified yet: it may be made a member once it is proven")
	case grantee.OwnedCompanyID != 0 && grantee.OwnedCompanyID != company.ID:
		return nil, envelope.Param(gen.StatusInvalidParam, "client_id",
			"owns another company, and stays a member of the company it owns")
	}
	if err := q.SetClientCompany(ctx, db.SetClientCompanyParams{ID: clientID, CompanyID: company.ID}); err != nil {
		return nil, fmt.Errorf("make client %d a member of company %d: %w", clientID, company.ID, err)
	}
	events := []audit.Event{membershipEvent(gen.AuditMembershipApproved, by, grantee.UserID, clientID, company.ID)}
	if left := grantee.CompanyID; left != nil && *left != company.ID {
		// Moving from another company is leaving it: what the client granted of it goes.
		gone, err := q.DeleteGrantsOfCompanyBy(ctx, db.DeleteGrantsOfCompanyByParams{CompanyID: *left, UserID: &grantee.UserID})
		if err != nil {
			return nil, fmt.Errorf("take back the grants of company %d by user %d: %w", *left, grantee.UserID, err)
		}
		events = append(events, membershipEvent(gen.AuditMembershipRemoved, by, grantee.UserID, clientID, *left))
		events = append(events, companyGrantsRevoked(by, gone)...)
	}
	return events, nil
}

// removeMember ends a client's membership of the company, or refuses its request, in q's
// transaction. What the member granted liaisons of the company goes with it. It returns the
// events of the change.
func removeMember(ctx context.Context, q *db.Queries, company db.Company, clientID int64, by change) ([]audit.Event, error) {
	if company.OwnerClientID != nil && *company.OwnerClientID == clientID {
		return nil, envelope.Param(gen.StatusInvalidParam, "client_id", "is the company's owner, who stays its member")
	}
	refused, err := q.TakeCompanyMemberRequest(ctx, db.TakeCompanyMemberRequestParams{ClientID: clientID, CompanyID: company.ID})
	if err != nil {
		return nil, fmt.Errorf("refuse the request of client %d: %w", clientID, err)
	}
	userID, err := q.RemoveClientFromCompany(ctx, db.RemoveClientFromCompanyParams{ID: clientID, CompanyID: company.ID})
	switch {
	case errors.Is(err, pgx.ErrNoRows) && refused == 0:
		return nil, envelope.Param(gen.StatusInvalidParam, "client_id", "is neither a member of the company nor asking to join it")
	case errors.Is(err, pgx.ErrNoRows): // a request refused
		client, err := q.GetClientProfile(ctx, clientID)
		if err != nil {
			return nil, fmt.Errorf("read client %d: %w", clientID, err)
		}
		return []audit.Event{membershipEvent(gen.AuditMembershipRemoved, by, client.UserID, clientID, company.ID)}, nil
	case err != nil:
		return nil, fmt.Errorf("remove client %d from company %d: %w", clientID, company.ID, err)
	}
	gone, err := q.DeleteGrantsOfCompanyBy(ctx, db.DeleteGrantsOfCompanyByParams{CompanyID: company.ID, UserID: &userID})
	if err != nil {
		return nil, fmt.Errorf("take back the grants of company %d by user %d: %w", company.ID, userID, err)
	}
	return append([]audit.Event{membershipEvent(gen.AuditMembershipRemoved, by, userID, clientID, company.ID)},
		companyGrantsRevoked(by, gone)...), nil
}

// membershipEvent is a membership change of kind for the client clientID (of user userID) in the
// company companyID.
func membershipEvent(kind gen.AuditKind, by change, userID, clientID, companyID int64) audit.Event {
	return audit.Event{Kind: kind, Actor: by.actor, UserID: userID, ApplicationID: by.appID,
		Details: gen.AuditDetails{ClientId: &clientID, CompanyId: &companyID}}
}

// companyGrantsRevoked are the grant.revoked events of grants of a company taken back.
func companyGrantsRevoked(by change, gone []db.DeleteGrantsOfCompanyByRow) []audit.Event {
	return grantsRevoked(by.actor, by.appID, nil,
		byLiaison(gone, func(r db.DeleteGrantsOfCompanyByRow) (int64, int64) { return r.LiaisonUserID, r.GrantedID }))
}

// CompanyMembership is a company with its members (the owner first) and the clients asking to
// join it, at most maxListed of each.
type CompanyMembership struct {
	Company  db.Company
	Members  []db.ListCompanyMembersRow
	Requests []db.ListCompanyMemberRequestsRow
}

func listMembership(ctx context.Context, q *db.Queries, company db.Company) (CompanyMembership, error) {
	members, err := q.ListCompanyMembers(ctx, db.ListCompanyMembersParams{CompanyID: company.ID, MaxRows: maxListed})
	if err != nil {
		return CompanyMembership{}, envelope.Internal("list members of company %d: %w", company.ID, err)
	}
	requests, err := q.ListCompanyMemberRequests(ctx, db.ListCompanyMemberRequestsParams{CompanyID: company.ID, MaxRows: maxListed})
	if err != nil {
		return CompanyMembership{}, envelope.Internal("list requests to join company %d: %w", company.ID, err)
	}
	return CompanyMembership{Company: company, Members: members, Requests: requests}, nil
}

// membershipResult is the answer showing a company's members and requests, their clients in
// view (nil: default).
func (s *Server) membershipResult(ctx context.Context, m CompanyMembership, view *gen.ClientView) gen.CompanyMembersResult {
	data := gen.CompanyMembers{Company: renderCompanies([]db.Company{m.Company})[0],
		Members: make([]gen.CompanyMember, 0, len(m.Members)), Requests: make([]gen.CompanyMember, 0, len(m.Requests))}
	for _, row := range m.Members {
		owner := row.Owner
		data.Members = append(data.Members, gen.CompanyMember{Client: views.RenderClient(clientView(row.ClientProfile), view),
			EmailVerified: row.EmailVerified, Owner: &owner})
	}
	for _, row := range m.Requests {
		at := row.RequestedAt.UTC()
		data.Requests = append(data.Requests, gen.CompanyMember{Client: views.RenderClient(clientView(row.ClientProfile), view),
			EmailVerified: row.EmailVerified, RequestedAt: &at})
	}
	return gen.CompanyMembersResult{Status: gen.CompanyMembersResultStatusActionSuccessful,
		Message: s.writer.Message(gen.StatusActionSuccessful), Data: data, Session: envelope.CallerSession(ctx)}
}

// operator is who operators' tools act as: like an application token, on every company.
func operator() *auth.Principal { return &auth.Principal{} }

// ListCompanyMembers is `planoauth companies members`: a company's membership. Its errors are
// *envelope.Error answers (invalid-param for a company that does not exist).
func ListCompanyMembers(ctx context.Context, q *db.Queries, companyID int64) (CompanyMembership, error) {
	company, _, err := companyActor(ctx, q, operator(), companyID)
	if err != nil {
		return CompanyMembership{}, err
	}
	return listMembership(ctx, q, company)
}

// ApproveCompanyMember is `planoauth companies approve`: it makes a client a member of a company
// as an employee would (with or without a request; the client's email must be verified).
func ApproveCompanyMember(ctx context.Context, pool *pgxpool.Pool, companyID, clientID int64) error {
	return operatorMembership(ctx, pool, "approve company member", companyID, func(q *db.Queries, company db.Company) ([]audit.Event, error) {
		return approveMember(ctx, q, company, clientID, false, change{actor: audit.Operator})
	})
}

// operatorMembership runs apply to a company for operators' tools, and appends its events, in
// one transaction.
func operatorMembership(ctx context.Context, pool *pgxpool.Pool, what string, companyID int64, apply func(*db.Queries, db.Company) ([]audit.Event, error)) error {
	return inTx(ctx, pool, what, func(_ pgx.Tx, q *db.Queries) error {
		company, _, err := companyActor(ctx, q, operator(), companyID)
		if err != nil {
			return err
		}
		events, err := apply(q, company)
		if err != nil {
			return err
		}
		return audit.Append(ctx, q, time.Now(), events...)
	})
}

// RemoveCompanyMember is `planoauth companies remove`: it ends a membership or refuses a request.
func RemoveCompanyMember(ctx context.Context, pool *pgxpool.Pool, companyID, clientID int64) error {
	return operatorMembership(ctx, pool, "remove company member", companyID, func(q *db.Queries, company db.Company) ([]audit.Event, error) {
		return removeMember(ctx, q, company, clientID, change{actor: audit.Operator})
	})
}
