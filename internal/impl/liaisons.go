package impl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/mail"
	"github.com/plano/planoauth/internal/params"
	"github.com/plano/planoauth/internal/pgerr"
	"github.com/plano/planoauth/internal/views"
)

// LiaisonsRegister registers a liaison acting for clients and companies the caller may grant.
// Answers: client-validation-failed, invalid-param (nothing granted, or an id that names nothing),
// permission-denied (something the caller may not grant).
func (s *Server) LiaisonsRegister(ctx context.Context, r gen.LiaisonsRegisterRequestObject) (gen.LiaisonsRegisterResponseObject, error) {
	in, err := params.Sensitive[gen.LiaisonsRegisterInput](r.Body)
	if err != nil {
		return nil, err
	}
	liaison, err := s.registerLiaison(ctx, auth.PrincipalFromContext(ctx), in)
	if err != nil {
		return nil, err
	}
	return gen.LiaisonsRegister200JSONResponse{
		Status: gen.LiaisonResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: liaison, Session: envelope.CallerSession(ctx),
	}, nil
}

// registerLiaison is liaisons/register without HTTP. After the checks, and before the hash and
// the email, it counts the registration for the caller and its address (limitCaller). In one
// transaction it creates the user when the email has none, gives it the liaison role when it
// lacks it (with a welcome email), and adds the grants. It returns the liaison with everything
// it now acts for.
func (s *Server) registerLiaison(ctx context.Context, p *auth.Principal, in gen.LiaisonsRegisterInput) (gen.Liaison, error) {
	if err := validateNewLiaison(in.Liaison).err(); err != nil {
		return gen.Liaison{}, err
	}
	clientIDs, companyIDs := uniqueIDs(deref(in.ClientIds)), uniqueIDs(deref(in.CompanyIds))
	scope, err := s.checkGrants(ctx, p, clientIDs, companyIDs)
	if err != nil {
		return gen.Liaison{}, err
	}
	if err := s.limitCaller(ctx, p, limits.LiaisonRegistration); err != nil {
		return gen.Liaison{}, err
	}
	hash, err := s.hashOptional(ctx, in.Liaison.Password)
	if err != nil {
		return gen.Liaison{}, err
	}
	var out gen.Liaison
	err = s.inTx(ctx, "register liaison", func(_ pgx.Tx, q *db.Queries) error {
		user, existed, err := createUserUnlessExists(ctx, q, liaisonAccount(in.Liaison, hash))
		if err != nil {
			return err
		}
		liaisonID, err := ensureLiaison(ctx, q, user)
		if err != nil {
			return err
		}
		if err := grant(ctx, q, liaisonID, clientIDs, companyIDs); err != nil {
			return err
		}
		clients, companies, err := actsFor(ctx, q, liaisonID)
		if err != nil {
			return err
		}
		// The answer shows only what the caller could see anyway: of an existing user, its id and
		// email; of the liaison's grants, those the caller may grant (others granted the rest).
		rendered := views.RenderUser(*userView(user))
		if existed {
			rendered = gen.User{Id: user.ID, Email: user.Email}
		}
		clients, companies = scope.visible(clients, companies)
		out = gen.Liaison{Id: liaisonID, User: rendered, Clients: renderClients(clients), Companies: renderCompanies(companies)}
		return nil
	})
	return out, err
}

// validateNewLiaison checks what the contract cannot (the same rules as validateNewClient),
// returning every failing field by its path under liaison.
func validateNewLiaison(l gen.NewLiaison) fieldProblems {
	var problems fieldProblems
	problems.add("liaison.email", emailProblem(l.Email))
	if l.Password != nil {
		problems.add("liaison.password", passwordProblem(*l.Password))
	}
	problems.add("liaison.phone", phoneProblem(deref(l.Phone)))
	return problems
}

func liaisonAccount(l gen.NewLiaison, passwordHash *string) newAccount {
	return newAccount{email: l.Email, passwordHash: passwordHash, firstName: deref(l.FirstName),
		lastName: deref(l.LastName), phone: deref(l.Phone)}
}

// checkGrants answers invalid-param when nothing is granted, permission-denied when something is
// outside what the caller may grant, and invalid-param when an id names nothing. Only callers who
// may grant everything learn that an id names nothing: the others are denied whether it exists or
// not, so they cannot probe for other clients' ids.
// It returns what the caller may grant.
func (s *Server) checkGrants(ctx context.Context, p *auth.Principal, clientIDs, companyIDs []int64) (grantScope, error) {
	if len(clientIDs)+len(companyIDs) == 0 {
		return grantScope{}, envelope.Param(gen.StatusInvalidParam, "client_ids", "grant at least one client or company (client_ids or company_ids)")
	}
	scope, err := s.grantScopeOf(ctx, p)
	if err != nil {
		return scope, err
	}
	if !scope.everything {
		if !scope.allows(clientIDs, companyIDs) {
			return scope, &envelope.Error{Status: gen.StatusPermissionDenied,
				Message: "You may grant a liaison only the clients and companies listed by scopes/liaison_register."}
		}
		return scope, nil
	}
	return scope, s.checkGrantsExist(ctx, clientIDs, companyIDs)
}

// checkGrantsExist answers invalid-param naming the client and company ids that name nothing.
func (s *Server) checkGrantsExist(ctx context.Context, clientIDs, companyIDs []int64) error {
	clients, err := s.q.ListClientProfilesByID(ctx, clientIDs)
	if err != nil {
		return envelope.Internal("look up clients to grant: %w", err)
	}
	companies, err := s.q.ListCompaniesByID(ctx, companyIDs)
	if err != nil {
		return envelope.Internal("look up companies to grant: %w", err)
	}
	var problems []gen.ParamError
	if missing := missingIDs(clientIDs, clients, func(c db.ClientProfile) int64 { return c.ID }); missing != "" {
		problems = append(problems, gen.ParamError{Param: "client_ids", Message: "no client has the id " + missing})
	}
	if missing := missingIDs(companyIDs, companies, func(c db.Company) int64 { return c.ID }); missing != "" {
		problems = append(problems, gen.ParamError{Param: "company_ids", Message: "no company has the id " + missing})
	}
	if len(problems) > 0 {
		return &envelope.Error{Status: gen.StatusInvalidParam, Params: problems}
	}
	return nil
}

// missingIDs lists, comma separated, the ids that no row has ("" when all are found).
func missingIDs[R any](ids []int64, rows []R, id func(R) int64) string {
	var missing []string
	for _, want := range ids {
		if !slices.ContainsFunc(rows, func(r R) bool { return id(r) == want }) {
			missing = append(missing, strconv.FormatInt(want, 10))
		}
	}
	return strings.Join(missing, ", ")
}

// ensureLiaison returns the user's liaison record, creating it and queuing its welcome email
// when the user has none.
func ensureLiaison(ctx context.Context, q *db.Queries, user db.User) (int64, error) {
	id, err := q.CreateLiaisonUnlessExists(ctx, user.ID)
	if err == nil {
		return id, mail.Enqueue(ctx, q, liaisonWelcomeMessage(user))
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("create liaison of user %d: %w", user.ID, err)
	}
	if id, err = q.GetLiaisonByUserID(ctx, user.ID); err != nil {
		return 0, fmt.Errorf("read liaison of user %d: %w", user.ID, err)
	}
	return id, nil
}

// grant lets a liaison act for the clients and companies. A row deleted since the ids were
// checked answers invalid-param, as if it had been missing then.
func grant(ctx context.Context, q *db.Queries, liaisonID int64, clientIDs, companyIDs []int64) error {
	err := q.GrantLiaisonClients(ctx, db.GrantLiaisonClientsParams{LiaisonID: liaisonID, ClientIds: clientIDs})
	if pgerr.IsForeignKeyViolation(err, liaisonClientsFKey) {
		return envelope.Param(gen.StatusInvalidParam, "client_ids", "names a client that does not exist")
	}
	if err != nil {
		return fmt.Errorf("grant clients to liaison %d: %w", liaisonID, err)
	}
	err = q.GrantLiaisonCompanies(ctx, db.GrantLiaisonCompaniesParams{LiaisonID: liaisonID, CompanyIds: companyIDs})
	if pgerr.IsForeignKeyViolation(err, liaisonCompaniesFKey) {
		return envelope.Param(gen.StatusInvalidParam, "company_ids", "names a company that does not exist")
	}
	if err != nil {
		return fmt.Errorf("grant companies to liaison %d: %w", liaisonID, err)
	}
	return nil
}

// uniqueIDs returns ids sorted without repeats.
func uniqueIDs(ids []int64) []int64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}
