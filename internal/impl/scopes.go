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
	"github.com/plano/planoauth/internal/views"
)

// maxListed caps each list of clients or companies that one answer holds (documented on
// scopes/liaison_register).
const maxListed = 500

// ScopesLiaisonRegister lists the clients and companies the caller may grant a liaison.
func (s *Server) ScopesLiaisonRegister(ctx context.Context, r gen.ScopesLiaisonRegisterRequestObject) (gen.ScopesLiaisonRegisterResponseObject, error) {
	grants, err := s.grantScopeOf(ctx, auth.PrincipalFromContext(ctx))
	if err != nil {
		return nil, err
	}
	if grants, err = s.listed(ctx, grants); err != nil {
		return nil, err
	}
	return scopesLiaisonRegisterOK{gen.ScopesLiaisonRegister200JSONResponse{
		Status: gen.LiaisonGrantsResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data:    gen.LiaisonGrants{Clients: renderClients(grants.clients, r.Params.View), Companies: renderCompanies(grants.companies)},
		Session: envelope.CallerSession(ctx),
	}}, nil
}

// grantScope is what a caller may grant a liaison.
type grantScope struct {
	everything bool // employees and applications may grant every client and company
	clients    []db.ClientProfile
	companies  []db.Company
}

// grantScopeOf returns what the caller may grant: an application or an employee everything, a
// client its own client record and the company it is a member of, a liaison what it acts for. A
// user whose email is not verified may grant nothing.
func (s *Server) grantScopeOf(ctx context.Context, p *auth.Principal) (grantScope, error) {
	if p.Session == nil {
		return grantScope{everything: true}, nil
	}
	if !callerVerified(p) {
		return grantScope{}, nil
	}
	switch p.Session.Role {
	case roleEmployee:
		held, err := holdsRole(ctx, s.q, p)
		if err != nil {
			return grantScope{}, envelope.Internal("%w", err)
		}
		if !held {
			return grantScope{}, nil // a former employee grants nothing
		}
		return grantScope{everything: true}, nil
	case roleClient:
		return s.clientGrantScope(ctx, p.Session.UserID)
	case roleLiaison:
		return s.liaisonGrantScope(ctx, p.Session.UserID)
	}
	return grantScope{}, nil // the limited session lacks the scopes of the operations that ask
}

func (s *Server) clientGrantScope(ctx context.Context, userID int64) (grantScope, error) {
	client, err := s.q.GetClientProfileByUserID(ctx, userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return grantScope{}, nil // the client record was deleted after the session began
	}
	if err != nil {
		return grantScope{}, envelope.Internal("load client of user %d: %w", userID, err)
	}
	g := grantScope{clients: []db.ClientProfile{client}}
	if client.CompanyID != nil && client.CompanyTitle != nil { // a member of the company
		g.companies = []db.Company{{ID: *client.CompanyID, Name: *client.CompanyTitle, Enterprise: client.Enterprise}}
	}
	return g, nil
}

func (s *Server) liaisonGrantScope(ctx context.Context, userID int64) (grantScope, error) {
	liaison, err := s.q.GetLiaisonByUserID(ctx, userID)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && liaison.AcceptedAt == nil) {
		return grantScope{}, nil // the liaison record was deleted after the session began
	}
	if err != nil {
		return grantScope{}, envelope.Internal("load liaison of user %d: %w", userID, err)
	}
	clients, companies, err := actsFor(ctx, s.q, liaison.ID)
	if err != nil {
		return grantScope{}, envelope.Internal("grants of user %d: %w", userID, err)
	}
	return grantScope{clients: clients, companies: companies}, nil
}

// grantSource is what a caller's right to grant rests on, read again inside the grant's
// transaction with share locks (lockGrantSource): the caller's client record and its company
// membership, the liaison grants it passes on, or its employee record. Taking any of them away
// updates or deletes the row, so it waits for the grant to commit and then takes the grant back
// with it (a member leaving its company takes back its grants of the company; a liaison grant
// taken back cascades to the grants made through it).
type grantSource struct {
	everything bool // an application, or an employee
	clients    []int64
	companies  []int64
	via        *int64 // the caller's liaison record, when it grants as a liaison
}

// lockGrantSource checks, in q's transaction, that the caller may still grant (checkGrantor:
// a proven email and a live session) and returns what it may grant of clientIDs and companyIDs,
// share-locked until the transaction ends.
func lockGrantSource(ctx context.Context, q *db.Queries, p *auth.Principal, clientIDs, companyIDs []int64) (grantSource, error) {
	if p.Session == nil {
		return grantSource{everything: true}, nil
	}
	if err := checkGrantor(ctx, q, p); err != nil {
		return grantSource{}, err
	}
	userID := p.Session.UserID
	switch p.Session.Role {
	case roleEmployee:
		if err := lockEmployee(ctx, q, p); err != nil {
			return grantSource{}, err
		}
		return grantSource{everything: true}, nil
	case roleClient:
		client, err := q.LockClientOfUser(ctx, userID)
		if err != nil {
			return grantSource{}, noSource(err, "client", userID)
		}
		source := grantSource{clients: []int64{client.ID}}
		if client.CompanyID != nil {
			source.companies = []int64{*client.CompanyID}
		}
		return source, nil
	case roleLiaison:
		liaisonID, err := q.LockAcceptedLiaisonByUserID(ctx, userID)
		if err != nil {
			return grantSource{}, noSource(err, "liaison", userID)
		}
		source := grantSource{via: &liaisonID}
		if source.clients, err = q.LockAcceptedLiaisonClients(ctx, db.LockAcceptedLiaisonClientsParams{LiaisonID: liaisonID, ClientIds: clientIDs}); err != nil {
			return grantSource{}, fmt.Errorf("lock the client grants of liaison %d: %w", liaisonID, err)
		}
		if source.companies, err = q.LockAcceptedLiaisonCompanies(ctx, db.LockAcceptedLiaisonCompaniesParams{LiaisonID: liaisonID, CompanyIds: companyIDs}); err != nil {
			return grantSource{}, fmt.Errorf("lock the company grants of liaison %d: %w", liaisonID, err)
		}
		return source, nil
	}
	return grantSource{}, errGrantDenied() // the limited session lacks the scopes of the operations that ask
}

// lockEmployeeOrApplication lets a caller that may act on everything act, in q's transaction
// (set a new user's password, make any client a member of any company, revoke anyone's sessions,
// look users up): an application, or an employee whose email is proven and whose session is
// still live (checkGrantor: its user's row locked), with its employee record share-locked until
// the transaction ends (lockEmployee). A proof of the email in flight, which revokes an unverified
// account's sessions, therefore finishes first or waits. Answers: permission-denied,
// invalid-token.
func lockEmployeeOrApplication(ctx context.Context, q *db.Queries, p *auth.Principal) error {
	if err := checkGrantor(ctx, q, p); err != nil {
		return err
	}
	return lockEmployee(ctx, q, p)
}

// lockEmployee share-locks the calling employee's record in q's transaction, answering
// permission-denied when the caller is no employee (any more); an application passes.
func lockEmployee(ctx context.Context, q *db.Queries, p *auth.Principal) error {
	denied := errNotController()
	if p.Session == nil {
		return nil
	}
	if p.Session.Role != roleEmployee {
		return denied
	}
	_, err := q.LockEmployee(ctx, p.Session.UserID)
	if errors.Is(err, pgx.ErrNoRows) {
		return denied
	}
	if err != nil {
		return fmt.Errorf("lock the employee record of user %d: %w", p.Session.UserID, err)
	}
	return nil
}

// holdsRole reports whether p's session may still act with its role: an application token, or
// a session whose user still has the role record (a client's, an accepted liaison's, an
// employee's) and, for an employee, a proven email (whoever registered the address before an
// operator made it an employee's may not be its owner). Records deleted outside PlanoAuth revoke
// their sessions (00095_role_records_revoke); this guards what reads on the role alone against
// a session loaded before (an instance's cache not yet told). A session without a role
// (client-required) holds what it is limited to.
func holdsRole(ctx context.Context, q *db.Queries, p *auth.Principal) (bool, error) {
	if p.Session == nil || p.Session.Role == auth.RoleNone {
		return true, nil
	}
	roles, err := q.GetUserRoles(ctx, p.Session.UserID)
	if err != nil {
		return false, fmt.Errorf("load roles of user %d: %w", p.Session.UserID, err)
	}
	switch p.Session.Role {
	case roleEmployee:
		return roles.IsEmployee && callerVerified(p), nil
	case roleClient:
		return roles.IsClient, nil
	case roleLiaison:
		return roles.IsLiaison, nil
	}
	return false, nil
}

// errNotController is the answer to a caller that is neither an application token nor an
// employee whose email is verified, of what only those may do.
func errNotController() error {
	return &envelope.Error{Status: gen.StatusPermissionDenied,
		Message: "Only an application token or an employee whose email is verified may do this."}
}

// noSource is the answer when the caller's role record is gone: it grants nothing any more.
func noSource(err error, role string, userID int64) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return errGrantDenied()
	}
	return fmt.Errorf("lock the %s record of user %d: %w", role, userID, err)
}

// allowing answers permission-denied unless the source allows every client and company id.
func (g grantSource) allowing(clientIDs, companyIDs []int64) error {
	if g.everything {
		return nil
	}
	for _, id := range clientIDs {
		if !slices.Contains(g.clients, id) {
			return errGrantDenied()
		}
	}
	for _, id := range companyIDs {
		if !slices.Contains(g.companies, id) {
			return errGrantDenied()
		}
	}
	return nil
}

// actsFor returns the clients and companies a liaison acts for (at most maxListed of each).
func actsFor(ctx context.Context, q *db.Queries, liaisonID int64) ([]db.ClientProfile, []db.Company, error) {
	clients, err := q.ListLiaisonClientProfiles(ctx, db.ListLiaisonClientProfilesParams{LiaisonID: liaisonID, MaxRows: maxListed})
	if err != nil {
		return nil, nil, fmt.Errorf("list clients of liaison %d: %w", liaisonID, err)
	}
	companies, err := q.ListLiaisonCompanies(ctx, db.ListLiaisonCompaniesParams{LiaisonID: liaisonID, MaxRows: maxListed})
	if err != nil {
		return nil, nil, fmt.Errorf("list companies of liaison %d: %w", liaisonID, err)
	}
	return clients, companies, nil
}

// listed returns g with its lists filled: for everything, the first maxListed of each.
func (s *Server) listed(ctx context.Context, g grantScope) (grantScope, error) {
	if !g.everything {
		return g, nil
	}
	var err error
	if g.clients, err = s.q.ListClientProfiles(ctx, maxListed); err != nil {
		return g, envelope.Internal("list clients: %w", err)
	}
	if g.companies, err = s.q.ListCompanies(ctx, maxListed); err != nil {
		return g, envelope.Internal("list companies: %w", err)
	}
	return g, nil
}

// allows reports whether every client and company id is within g (for a g that is not
// everything).
func (g grantScope) allows(clientIDs, companyIDs []int64) bool {
	for _, id := range clientIDs {
		if !slices.ContainsFunc(g.clients, func(c db.ClientProfile) bool { return c.ID == id }) {
			return false
		}
	}
	for _, id := range companyIDs {
		if !slices.ContainsFunc(g.companies, func(c db.Company) bool { return c.ID == id }) {
			return false
		}
	}
	return true
}

func renderClients(rows []db.ClientProfile, view *gen.ClientView) []gen.ClientProfile {
	out := make([]gen.ClientProfile, 0, len(rows))
	for _, row := range rows {
		out = append(out, views.RenderClient(clientView(row), view))
	}
	return out
}

func renderCompanies(rows []db.Company) []gen.Company {
	out := make([]gen.Company, 0, len(rows))
	for _, row := range rows {
		out = append(out, views.RenderCompany(views.Company{ID: row.ID, Name: row.Name, Enterprise: row.Enterprise}))
	}
	return out
}
