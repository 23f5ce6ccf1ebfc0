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
	return gen.ScopesLiaisonRegister200JSONResponse{
		Status: gen.LiaisonGrantsResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data:    gen.LiaisonGrants{Clients: renderClients(grants.clients, r.Params.View), Companies: renderCompanies(grants.companies)},
		Session: envelope.CallerSession(ctx),
	}, nil
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

// visible keeps, of a liaison's clients and companies, those within this scope.
func (g grantScope) visible(clients []db.ClientProfile, companies []db.Company) ([]db.ClientProfile, []db.Company) {
	if g.everything {
		return clients, companies
	}
	clients = slices.DeleteFunc(clients, func(c db.ClientProfile) bool { return !g.allows([]int64{c.ID}, nil) })
	companies = slices.DeleteFunc(companies, func(c db.Company) bool { return !g.allows(nil, []int64{c.ID}) })
	return clients, companies
}

// renderClients renders clients in view (nil: default).
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
