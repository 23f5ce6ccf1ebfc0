package impl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/audit"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/mail"
	"github.com/plano/planoauth/internal/params"
	"github.com/plano/planoauth/internal/peer"
	"github.com/plano/planoauth/internal/pgerr"
	"github.com/plano/planoauth/internal/views"
)

// LiaisonsRegister invites a liaison to act for clients and companies the caller may grant.
// Answers: client-validation-failed, invalid-param (nothing granted, an id that names nothing,
// or the caller's own email or a granted client's as the liaison), permission-denied (an
// unverified caller, or something it may not grant).
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

// registerLiaison is liaisons/register without HTTP. After the checks it counts the
// registration for the caller and its address (limitCaller). In one transaction, with the
// caller's right to grant checked inside it (checkGrantor), it creates the user without a
// password when the email has none, gives it a liaison record waiting for acceptance when it has
// none, records the grants with their grantor, and queues an invitation while the role is not
// accepted. It returns the liaison with what it acts for among what the caller may grant.
func (s *Server) registerLiaison(ctx context.Context, p *auth.Principal, in gen.LiaisonsRegisterInput) (gen.Liaison, error) {
	if p.Session == nil || !callerVerified(p) {
		return gen.Liaison{}, errUnproven() // answered early; checkGrantor decides in the transaction
	}
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
	// A liaison that has not accepted yet is sent an invitation: its use is taken before the
	// email, and given back when none was sent.
	invitation, err := s.limits.Action(ctx, limits.Invitation, callerKey(p), peer.FromContext(ctx))
	if err != nil {
		return gen.Liaison{}, err
	}
	var out gen.Liaison
	var invited bool
	err = s.inTx(ctx, "register liaison", func(_ pgx.Tx, q *db.Queries) error {
		if err := checkGrantor(ctx, q, p); err != nil {
			return err
		}
		user, existed, err := createUserUnlessExists(ctx, q, liaisonAccount(in.Liaison))
		if err != nil {
			return err
		}
		if existed {
			if err := checkNotOwnLiaison(ctx, q, p.Session.UserID, user.ID, clientIDs); err != nil {
				return err
			}
		}
		liaison, becameLiaison, err := ensureLiaison(ctx, q, user, p.Session.UserID)
		if err != nil {
			return err
		}
		if err := grant(ctx, q, liaison.ID, p.Session.UserID, clientIDs, companyIDs); err != nil {
			return err
		}
		if liaison.AcceptedAt == nil {
			if err := s.inviteLiaison(ctx, q, p, user, liaison.ID); err != nil {
				return err
			}
		}
		invited = liaison.AcceptedAt == nil
		clients, companies, err := actsFor(ctx, q, liaison.ID)
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
		out = gen.Liaison{Id: liaison.ID, User: rendered, Accepted: liaison.AcceptedAt != nil,
			Clients: renderClients(clients, in.View), Companies: renderCompanies(companies)}
		return audit.Append(ctx, q, s.now(), liaisonEvents(audit.Of(p), user, p.Application.ID, existed, becameLiaison,
			clientIDs, companyIDs)...)
	})
	if err != nil || !invited {
		s.giveBack(ctx, invitation) // no invitation was sent
	}
	return out, err
}

// validateNewLiaison checks what the contract cannot (the same rules as validateNewClient),
// returning every failing field by its path under liaison.
func validateNewLiaison(l gen.NewLiaison) fieldProblems {
	var problems fieldProblems
	problems.add("liaison.email", emailProblem(l.Email))
	problems.add("liaison.phone", phoneProblem(deref(l.Phone)))
	return problems
}

// liaisonAccount is the user of a new liaison: never with a password, which nobody chooses for
// someone else. The invitation link signs it in.
func liaisonAccount(l gen.NewLiaison) newAccount {
	return newAccount{email: l.Email, firstName: deref(l.FirstName), lastName: deref(l.LastName), phone: deref(l.Phone)}
}

// checkNotOwnLiaison answers invalid-param on liaison.email when the liaison would be the caller
// itself (whatever the spelling of its email) or the user of a client being granted: nobody
// makes itself a liaison, and a client is not its own liaison, so no one reaches an application
// that accepts only liaisons and employees (planox2) by its own grant.
func checkNotOwnLiaison(ctx context.Context, q *db.Queries, callerID, liaisonUserID int64, clientIDs []int64) error {
	if liaisonUserID == callerID {
		return envelope.Param(gen.StatusInvalidParam, "liaison.email", "is your own email: a liaison is someone else, whom you grant")
	}
	clients, err := q.ListClientProfilesByID(ctx, clientIDs)
	if err != nil {
		return fmt.Errorf("look up the clients granted: %w", err)
	}
	if slices.ContainsFunc(clients, func(c db.ClientProfile) bool { return c.UserID == liaisonUserID }) {
		return envelope.Param(gen.StatusInvalidParam, "liaison.email", "is the email of a client granted: a client is not its own liaison")
	}
	return nil
}

// inviteLiaison queues the invitation whose link (in the caller's application) signs the
// invitee in, proves its email and accepts the liaison role. Each registration of a liaison that
// has not accepted sends one, since an earlier one may have expired.
func (s *Server) inviteLiaison(ctx context.Context, q *db.Queries, p *auth.Principal, user db.User, liaisonID int64) error {
	// Invitations are emails sent to an address the caller chose: each one took a use of
	// limits.Invitation for the caller and its address before this transaction.
	linkID, err := s.queueLink(ctx, q, user.ID, p.Application.ID, linkInvitation, &liaisonID)
	if err != nil {
		return err
	}
	return mail.Enqueue(ctx, q, s.now(), invitationMessage(user, inviterName(*p.User), true, linkID))
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

// liaisonEvents are the events of liaisons/register by actor: the user created unless it existed,
// the liaison role when it was given now (it takes effect once accepted), and the grants made.
func liaisonEvents(actor audit.Actor, user db.User, appID int64, existed, becameLiaison bool, clientIDs, companyIDs []int64) []audit.Event {
	var events []audit.Event
	if !existed {
		events = append(events, audit.Event{Kind: gen.AuditUserCreated, Actor: actor, UserID: user.ID, ApplicationID: appID})
	}
	if becameLiaison {
		events = append(events, roleGranted(actor, user.ID, appID, roleLiaison))
	}
	clients, companies := append([]int64{}, clientIDs...), append([]int64{}, companyIDs...) // [] rather than absent
	return append(events, audit.Event{Kind: gen.AuditGrantMade, Actor: actor, UserID: user.ID, ApplicationID: appID,
		Details: gen.AuditDetails{ClientIds: &clients, CompanyIds: &companies}})
}

// ensureLiaison returns the user's liaison record, creating it waiting for acceptance (invited by
// inviterID) when the user has none; created says it did.
func ensureLiaison(ctx context.Context, q *db.Queries, user db.User, inviterID int64) (db.GetLiaisonByUserIDRow, bool, error) {
	created, err := q.CreateLiaisonUnlessExists(ctx, db.CreateLiaisonUnlessExistsParams{UserID: user.ID, InvitedByUserID: &inviterID})
	if err == nil {
		return db.GetLiaisonByUserIDRow(created), true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return db.GetLiaisonByUserIDRow{}, false, fmt.Errorf("create liaison of user %d: %w", user.ID, err)
	}
	existing, err := q.GetLiaisonByUserID(ctx, user.ID)
	if err != nil {
		return existing, false, fmt.Errorf("read liaison of user %d: %w", user.ID, err)
	}
	return existing, false, nil
}

// grant lets a liaison act for the clients and companies, recording who granted them. A row
// deleted since the ids were checked answers invalid-param, as if it had been missing then.
func grant(ctx context.Context, q *db.Queries, liaisonID, grantorID int64, clientIDs, companyIDs []int64) error {
	err := q.GrantLiaisonClients(ctx, db.GrantLiaisonClientsParams{LiaisonID: liaisonID, ClientIds: clientIDs, GrantedByUserID: &grantorID})
	if pgerr.IsForeignKeyViolation(err, liaisonClientsFKey) {
		return envelope.Param(gen.StatusInvalidParam, "client_ids", "names a client that does not exist")
	}
	if err != nil {
		return fmt.Errorf("grant clients to liaison %d: %w", liaisonID, err)
	}
	err = q.GrantLiaisonCompanies(ctx, db.GrantLiaisonCompaniesParams{LiaisonID: liaisonID, CompanyIds: companyIDs, GrantedByUserID: &grantorID})
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
