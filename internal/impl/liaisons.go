package impl

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/audit"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/emailaddr"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/mail"
	"github.com/plano/planoauth/internal/params"
	"github.com/plano/planoauth/internal/peer"
	"github.com/plano/planoauth/internal/pgerr"
)

// LiaisonsRegister offers someone the clients and companies the caller may grant, as its
// liaison, and invites it to accept. Answers: client-validation-failed, invalid-param (nothing
// granted, an id that names nothing, or an email that reaches the caller's own mailbox or a
// granted client's), permission-denied (an unverified caller, or something it may not grant).
func (s *Server) LiaisonsRegister(ctx context.Context, r gen.LiaisonsRegisterRequestObject) (gen.LiaisonsRegisterResponseObject, error) {
	in, err := params.Sensitive[gen.LiaisonsRegisterInput](r.Body)
	if err != nil {
		return nil, err
	}
	invitation, err := s.registerLiaison(ctx, auth.PrincipalFromContext(ctx), in)
	if err != nil {
		return nil, err
	}
	return gen.LiaisonsRegister200JSONResponse{
		Status: gen.LiaisonResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: invitation, Session: envelope.CallerSession(ctx),
	}, nil
}

// registerLiaison is liaisons/register without HTTP. After the checks it counts the
// registration for the caller and its address (limitCaller), and an invitation for the caller,
// its address and the recipient. In one transaction, with what the caller's right to grant
// rests on share-locked inside it (lockGrantSource), it creates the user without a password
// when the email has none, gives it a liaison record waiting for acceptance when it has none,
// records the offers with their grantor and source, and queues the caller's invitation unless
// one is waiting already. Nothing takes effect until the invitee accepts (its invitation link).
// The answer is the offer alone, alike whatever the email's account: whether it has a user, its
// id, whether it is anyone's liaison or accepted anything are not the caller's to learn.
func (s *Server) registerLiaison(ctx context.Context, p *auth.Principal, in gen.LiaisonsRegisterInput) (gen.LiaisonInvitation, error) {
	if p.Session == nil || !callerVerified(p) {
		return gen.LiaisonInvitation{}, errUnproven() // answered early; lockGrantSource decides in the transaction
	}
	if err := validateNewLiaison(in.Liaison).err(); err != nil {
		return gen.LiaisonInvitation{}, err
	}
	clientIDs, companyIDs := uniqueIDs(deref(in.ClientIds)), uniqueIDs(deref(in.CompanyIds))
	if _, err := s.checkGrants(ctx, p, clientIDs, companyIDs); err != nil {
		return gen.LiaisonInvitation{}, err
	}
	email := emailaddr.Normalize(in.Liaison.Email)
	if err := s.checkNotOwnLiaison(ctx, p.User.Email, email, clientIDs); err != nil {
		return gen.LiaisonInvitation{}, err
	}
	if err := s.limitCaller(ctx, p, limits.LiaisonRegistration); err != nil {
		return gen.LiaisonInvitation{}, err
	}
	// An invitation is sent unless the caller's is waiting already: its uses (the caller's and
	// its address's, then the recipient's from everyone) are taken before the email, and given
	// back when none was sent. Past the recipient's allowance the offer is recorded and nothing
	// is sent, answered alike.
	invitation, err := s.limits.Action(ctx, limits.Invitation, callerKey(p), peer.FromContext(ctx))
	if err != nil {
		return gen.LiaisonInvitation{}, err
	}
	// Counted per mailbox, not per address: a +tag, Gmail's dots or the domain's other spelling
	// reach the same inbox, which the allowance protects.
	received, mayReceive, err := s.limits.InvitationTo(ctx, emailaddr.Mailbox(email))
	if err != nil {
		s.giveBack(ctx, invitation)
		return gen.LiaisonInvitation{}, err
	}
	var out gen.LiaisonInvitation
	var invited bool
	err = s.inTx(ctx, "register liaison", func(_ pgx.Tx, q *db.Queries) error {
		source, err := lockGrantSource(ctx, q, p, clientIDs, companyIDs)
		if err != nil {
			return err
		}
		if err := source.allowing(clientIDs, companyIDs); err != nil {
			return err
		}
		user, existed, err := createUserUnlessExists(ctx, q, liaisonAccount(in.Liaison))
		if err != nil {
			return err
		}
		liaisonID, becameLiaison, err := ensureLiaison(ctx, q, user, p.Session.UserID)
		if err != nil {
			return err
		}
		if err := s.offer(ctx, q, liaisonID, p.Session.UserID, source.via, clientIDs, companyIDs); err != nil {
			return err
		}
		waiting, err := q.HasLiveInvitation(ctx, db.HasLiveInvitationParams{LiaisonID: &liaisonID, InviterID: &p.Session.UserID, Now: s.now()})
		if err != nil {
			return fmt.Errorf("look for a waiting invitation of liaison %d: %w", liaisonID, err)
		}
		if !waiting && mayReceive {
			if err := s.inviteLiaison(ctx, q, p, user, liaisonID); err != nil {
				return err
			}
			invited = true
		}
		out, err = offered(ctx, q, email, clientIDs, companyIDs, in.View)
		if err != nil {
			return err
		}
		return audit.Append(ctx, q, s.now(), liaisonEvents(audit.Of(p), user, p.Application.ID, existed, becameLiaison,
			clientIDs, companyIDs)...)
	})
	if err != nil || !invited {
		s.giveBack(ctx, invitation) // no invitation was sent
		s.giveBack(ctx, received)
	}
	return out, err
}

// offered is liaisons/register's answer: the email and what was offered to it, as the caller may
// see them (it may grant all of them), the clients rendered with view.
func offered(ctx context.Context, q *db.Queries, email string, clientIDs, companyIDs []int64, view *gen.ClientView) (gen.LiaisonInvitation, error) {
	clients, err := q.ListClientProfilesByID(ctx, clientIDs)
	if err != nil {
		return gen.LiaisonInvitation{}, fmt.Errorf("read the clients offered: %w", err)
	}
	companies, err := q.ListCompaniesByID(ctx, companyIDs)
	if err != nil {
		return gen.LiaisonInvitation{}, fmt.Errorf("read the companies offered: %w", err)
	}
	return gen.LiaisonInvitation{Email: email, Clients: renderClients(clients, view), Companies: renderCompanies(companies)}, nil
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

// checkNotOwnLiaison answers invalid-param on liaison.email when the liaison's email reaches
// the caller's own mailbox or a granted client's (emailaddr.SameMailbox: the same address, or
// one with a "+tag", or at Gmail with other dots): nobody makes itself a liaison, and a client is
// not its own liaison, so no one reaches an application that accepts only liaisons and employees
// (planox2) by its own grant. A second mailbox of one person cannot be seen in its address; what
// a liaison made so acts for is what its maker may grant, its own record.
func (s *Server) checkNotOwnLiaison(ctx context.Context, callerEmail, liaisonEmail string, clientIDs []int64) error {
	if emailaddr.SameMailbox(callerEmail, liaisonEmail) {
		return envelope.Param(gen.StatusInvalidParam, "liaison.email", "reaches your own mailbox: a liaison is someone else, whom you grant")
	}
	clients, err := s.q.ListClientProfilesByID(ctx, clientIDs)
	if err != nil {
		return envelope.Internal("look up the clients granted: %w", err)
	}
	if slices.ContainsFunc(clients, func(c db.ClientProfile) bool { return emailaddr.SameMailbox(c.Email, liaisonEmail) }) {
		return envelope.Param(gen.StatusInvalidParam, "liaison.email", "reaches the mailbox of a client granted: a client is not its own liaison")
	}
	return nil
}

// inviteLiaison queues the caller's invitation, whose link (in the caller's application) signs
// the invitee in, proves its email, accepts the liaison role and accepts what the caller offered
// it (until the link is used).
func (s *Server) inviteLiaison(ctx context.Context, q *db.Queries, p *auth.Principal, user db.User, liaisonID int64) error {
	// Invitations are emails sent to an address the caller chose: each one took a use of
	// limits.Invitation for the caller and its address, and of the recipient's allowance, before
	// this transaction.
	linkID, err := s.queueLink(ctx, q, user.ID, p.Application.ID, linkInvitation, &invite{liaisonID: liaisonID, inviterID: p.Session.UserID})
	if err != nil {
		return err
	}
	return mail.Enqueue(ctx, q, s.now(), invitationMessage(user, p.Application.Name, inviterName(*p.User), true, linkID))
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
			return scope, errGrantDenied()
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

// errGrantDenied answers a grant of something the caller may not grant (any more).
func errGrantDenied() error {
	return &envelope.Error{Status: gen.StatusPermissionDenied,
		Message: "You may grant a liaison only the clients and companies listed by scopes/liaison_register."}
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
// the liaison role when it was given now (it takes effect once accepted), and the offer made (it
// takes effect once accepted: grant.made then).
func liaisonEvents(actor audit.Actor, user db.User, appID int64, existed, becameLiaison bool, clientIDs, companyIDs []int64) []audit.Event {
	var events []audit.Event
	if !existed {
		events = append(events, audit.Event{Kind: gen.AuditUserCreated, Actor: actor, UserID: user.ID, ApplicationID: appID})
	}
	if becameLiaison {
		events = append(events, roleGranted(actor, user.ID, appID, roleLiaison))
	}
	clients, companies := append([]int64{}, clientIDs...), append([]int64{}, companyIDs...) // [] rather than absent
	return append(events, audit.Event{Kind: gen.AuditGrantOffered, Actor: actor, UserID: user.ID, ApplicationID: appID,
		Details: gen.AuditDetails{ClientIds: &clients, CompanyIds: &companies}})
}

// ensureLiaison returns the id of the user's liaison record, creating one waiting for
// acceptance (and recording who invited it) when the user has none (created says so). The
// record stays locked until the transaction ends, so that registrations of one liaison decide
// one after another whether an invitation is waiting.
func ensureLiaison(ctx context.Context, q *db.Queries, user db.User, inviterID int64) (id int64, created bool, err error) {
	n, err := q.CreateLiaisonUnlessExists(ctx, db.CreateLiaisonUnlessExistsParams{UserID: user.ID, InvitedByUserID: &inviterID})
	if err != nil {
		return 0, false, fmt.Errorf("create liaison of user %d: %w", user.ID, err)
	}
	liaison, err := q.LockLiaisonByUserID(ctx, user.ID)
	if err != nil {
		return 0, false, fmt.Errorf("lock liaison of user %d: %w", user.ID, err)
	}
	return liaison.ID, n == 1, nil
}

// offer offers a liaison the clients and companies, recording who granted them and the liaison
// grant of the grantor's they were granted through (via: nil when the grantor holds them on its
// own account). A row deleted since the ids were checked answers invalid-param, as if it had been
// missing then; a source grant taken back meanwhile answers permission-denied.
func (s *Server) offer(ctx context.Context, q *db.Queries, liaisonID, grantorID int64, via *int64, clientIDs, companyIDs []int64) error {
	now := s.now()
	err := q.GrantLiaisonClients(ctx, db.GrantLiaisonClientsParams{LiaisonID: liaisonID, ClientIds: clientIDs,
		GrantedByUserID: &grantorID, ViaLiaisonID: via, Now: now})
	switch {
	case pgerr.IsForeignKeyViolation(err, liaisonClientsFKey):
		return envelope.Param(gen.StatusInvalidParam, "client_ids", "names a client that does not exist")
	case pgerr.IsForeignKeyViolation(err, liaisonClientsSourceFKey):
		return errGrantDenied()
	case err != nil:
		return fmt.Errorf("offer clients to liaison %d: %w", liaisonID, err)
	}
	err = q.GrantLiaisonCompanies(ctx, db.GrantLiaisonCompaniesParams{LiaisonID: liaisonID, CompanyIds: companyIDs,
		GrantedByUserID: &grantorID, ViaLiaisonID: via, Now: now})
	switch {
	case pgerr.IsForeignKeyViolation(err, liaisonCompaniesFKey):
		return envelope.Param(gen.StatusInvalidParam, "company_ids", "names a company that does not exist")
	case pgerr.IsForeignKeyViolation(err, liaisonCompaniesSourceFKey):
		return errGrantDenied()
	case err != nil:
		return fmt.Errorf("offer companies to liaison %d: %w", liaisonID, err)
	}
	return nil
}

// uniqueIDs returns ids sorted without repeats.
func uniqueIDs(ids []int64) []int64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}
