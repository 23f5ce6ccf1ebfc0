package impl

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/audit"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/params"
	"github.com/plano/planoauth/internal/views"
)

// Inspector resolves a session token without recording its use (auth.Authenticator.Inspect):
// introspection judges a token by the rules of every request, from the one place that has them.
type Inspector interface {
	Inspect(ctx context.Context, token string) (*auth.Principal, error)
}

// SessionsIntrospect tells an application's backend whether a session token it was handed is a
// live session of its application, and whose. It answers only active: false for anything else.
func (s *Server) SessionsIntrospect(ctx context.Context, r gen.SessionsIntrospectRequestObject) (gen.SessionsIntrospectResponseObject, error) {
	in, err := params.Sensitive[gen.SessionsIntrospectInput](r.Body)
	if err != nil {
		return nil, err
	}
	data, err := s.introspect(ctx, auth.PrincipalFromContext(ctx).Application, in.SessionToken, in.ApplicationView)
	if err != nil {
		return nil, err
	}
	return gen.SessionsIntrospect200JSONResponse{
		Status: gen.IntrospectionResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: data,
	}, nil
}

// introspect is sessions/introspect without HTTP, for the calling application app. A token that
// is no live session of app is inactive, and the answer then says nothing else: an application
// sees only its own application's sessions.
func (s *Server) introspect(ctx context.Context, app db.Application, token string, appView *gen.ApplicationView) (gen.Introspection, error) {
	p, err := s.inspector.Inspect(ctx, token)
	var refused *envelope.Error
	switch {
	case errors.As(err, &refused) && (refused.Status == gen.StatusInvalidToken || refused.Status == gen.StatusSessionExpired):
		return gen.Introspection{Active: false}, nil
	case err != nil:
		return gen.Introspection{}, err
	case p.Application.ID != app.ID:
		return gen.Introspection{Active: false}, nil
	}
	if limitation := auth.Incomplete(p); limitation != "" {
		// Usable only to complete its sign-in: no application may take it.
		l := gen.IntrospectionLimitation(limitation)
		return gen.Introspection{Active: false, Limitation: &l}, nil
	}
	// What PlanoAuth refuses to act on is vouched for to nobody: a session whose role record is
	// gone, or an employee's whose email is not proven.
	held, err := holdsRole(ctx, s.q, p)
	if err != nil {
		return gen.Introspection{}, envelope.Internal("%w", err)
	}
	if !held {
		return gen.Introspection{Active: false}, nil
	}
	session := sessionView(*p.Session, p.Application, p.User)
	application := views.RenderApplication(session.Application, appView)
	user := views.RenderUser(*session.User)
	role := gen.Role(session.Role)
	aal := gen.AAL(session.AAL)
	methods := make([]gen.SessionMethod, len(session.Methods))
	for i, m := range session.Methods {
		methods[i] = gen.SessionMethod(m)
	}
	return gen.Introspection{
		Active: true, Id: &session.ID, Role: &role, Scopes: &session.Scopes, CreatedAt: &session.CreatedAt,
		ExpiresAt: session.ExpiresAt, Application: &application, User: &user, Aal: &aal, Methods: &methods,
	}, nil
}

// SessionsRevoke revokes a user's sessions for an application token (in its application) or an
// employee whose email is verified (everywhere), and records sessions.revoked. Answers:
// invalid-param (no such user), permission-denied (an unverified employee).
func (s *Server) SessionsRevoke(ctx context.Context, r gen.SessionsRevokeRequestObject) (gen.SessionsRevokeResponseObject, error) {
	revoked, err := s.revokeUserSessions(ctx, auth.PrincipalFromContext(ctx), r.Body.UserId)
	if err != nil {
		return nil, err
	}
	return gen.SessionsRevoke200JSONResponse{
		Status: gen.RevokedResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: gen.Revoked{Revoked: int(revoked)}, Session: envelope.CallerSession(ctx),
	}, nil
}

// revokeUserSessions is sessions/revoke without HTTP, in one transaction that records who did it
// (sessions.revoked, one event per application). Least privilege: only an employee ends a
// user's sessions in every application; an application token ends those in its own application.
// It locks the user's row before revoking, as a sign-out does (revokeOwnSessions): a change of
// the user's factors or password in flight on a session it ends commits before the answer, or
// is refused (lockRevocation).
func (s *Server) revokeUserSessions(ctx context.Context, p *auth.Principal, userID int64) (int64, error) {
	if err := refuseUnverified(p); err != nil {
		return 0, err
	}
	if p.Session != nil && p.Session.Role != roleEmployee {
		return 0, errNotController() // before any lock: no one else holds a user's row here
	}
	now := s.now()
	var revoked []int64 // the application of each session revoked
	err := s.inTx(ctx, "revoke a user's sessions", func(_ pgx.Tx, q *db.Queries) error {
		if err := lockRevocation(ctx, q, p, userID); err != nil {
			return err
		}
		var err error
		if p.Session != nil { // an employee (lockEmployee): every application
			revoked, err = q.RevokeUserSessionsInApplications(ctx, db.RevokeUserSessionsInApplicationsParams{UserID: userID, Now: &now})
		} else {
			revoked, err = q.RevokeUserSessionsInApplication(ctx, db.RevokeUserSessionsInApplicationParams{
				UserID: userID, ApplicationID: p.Application.ID, Now: &now})
		}
		if err != nil {
			return fmt.Errorf("revoke sessions of user %d: %w", userID, err)
		}
		return audit.Append(ctx, q, now, sessionsRevokedByController(p, userID, revoked)...)
	})
	if err != nil {
		return 0, err
	}
	s.sessions.ForgetUser(userID)
	return int64(len(revoked)), nil
}

// lockRevocation takes, in q's transaction, the rows sessions/revoke of userID's sessions rests
// on: the user's row for update (LockUserMFA), and the calling employee's for share with its
// employee record (lockEmployeeOrApplication). The users' rows come before any session's (the
// revocation after them), each as strongly as the transaction needs it, and those of two users in
// the order of their ids. Otherwise an employee revoking herself from two sessions at once had each
// share-lock her row and then wait to update it, for the other (a deadlock: one answered
// application-crash), and two employees revoking each other held each their own row and waited
// for the other's. Answers: invalid-param (no such user), permission-denied, invalid-token.
func lockRevocation(ctx context.Context, q *db.Queries, p *auth.Principal, userID int64) error {
	callerFirst := p.Session != nil && p.Session.UserID < userID
	if callerFirst {
		if err := lockEmployeeOrApplication(ctx, q, p); err != nil {
			return err
		}
	}
	if _, err := q.LockUserMFA(ctx, userID); errors.Is(err, pgx.ErrNoRows) {
		return envelope.Param(gen.StatusInvalidParam, "user_id", "no user has this id")
	} else if err != nil {
		return fmt.Errorf("lock user %d: %w", userID, err)
	}
	if callerFirst {
		return nil
	}
	return lockEmployeeOrApplication(ctx, q, p) // her own row, for one who revokes herself: held already
}

// sessionsRevokedByController are the events of sessions/revoke: one per application whose
// sessions were revoked, by the employee or the application. An application that revoked none
// still reads, in its own trail, that it asked.
func sessionsRevokedByController(p *auth.Principal, userID int64, applications []int64) []audit.Event {
	events := audit.SessionsRevoked(audit.Of(p), userID, applications)
	if p.Session == nil && len(applications) == 0 {
		events[0].ApplicationID = p.Application.ID
	}
	return events
}

// refuseUnverified answers permission-denied, before any work, to an employee whose email is
// not verified (as its session was loaded; lockEmployeeOrApplication decides again in the
// transaction): whoever registered the email before its owner was made an employee may not be its owner, and
// must not end others' sessions or read their accounts.
func refuseUnverified(p *auth.Principal) error {
	if p.Session != nil && !callerVerified(p) {
		return errUnproven()
	}
	return nil
}
