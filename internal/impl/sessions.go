package impl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/audit"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/emailaddr"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/params"
	"github.com/plano/planoauth/internal/password"
	"github.com/plano/planoauth/internal/peer"
	"github.com/plano/planoauth/internal/views"
)

// SessionsCreate logs a user in with email and password. Answers: invalid-param (redirect_url),
// email-not-found, user-has-no-password, invalid-password, rate-limited, and those of
// startSession.
func (s *Server) SessionsCreate(ctx context.Context, r gen.SessionsCreateRequestObject) (gen.SessionsCreateResponseObject, error) {
	in, err := params.Sensitive[gen.SessionsCreateInput](r.Body)
	if err != nil {
		return nil, err
	}
	if err := s.redirects.Check(ctx, string(in.Application), deref(in.RedirectUrl)); err != nil {
		return nil, err
	}
	client := limits.Client{Peer: peer.FromContext(ctx), DeviceToken: deref(in.DeviceToken)}
	user, try, err := s.checkPassword(ctx, in.Email, in.Password, client)
	if err != nil {
		return nil, s.passwordLoginFailed(ctx, in.Application, user.ID, err)
	}
	session, err := s.startSession(ctx, user, newSession{
		application: in.Application, method: gen.LoginPassword, methods: []gen.SessionMethod{gen.MethodPwd}, rememberMe: in.RememberMe, redirectURL: in.RedirectUrl,
		view: chooseSessionView(in.SessionView, in.View), applicationView: in.ApplicationView, trust: &client, checkCredential: true,
	})
	s.settle(ctx, try, err) // a right password that opened no session (user-requires-role) was no success
	if errors.Is(err, errCredentialChanged) {
		return nil, s.passwordLoginFailed(ctx, in.Application, user.ID, s.credentialChanged(ctx, user.ID))
	}
	if err != nil {
		return nil, err
	}
	return gen.SessionsCreate200JSONResponse{NewSessionJSONResponse: s.sessionResult(session)}, nil
}

// passwordLoginFailed records a refused password log-in (see loginFailed) and returns the refusal.
func (s *Server) passwordLoginFailed(ctx context.Context, slug gen.ApplicationSlug, userID int64, refusal error) error {
	if _, ok := recordedRefusal(refusal); !ok {
		return refusal
	}
	appID, err := s.applicationID(ctx, slug)
	if err != nil {
		return err
	}
	return s.loginFailed(ctx, s.q, loginAttempt{method: gen.LoginPassword, applicationID: appID, userID: userID}, refusal)
}

// credentialChanged answers a log-in whose password was dropped or replaced while it was being
// checked, as the log-in would be answered now: user-has-no-password, or invalid-password.
func (s *Server) credentialChanged(ctx context.Context, userID int64) error {
	user, err := s.q.GetUser(ctx, userID)
	if err != nil {
		return envelope.Internal("reload user %d: %w", userID, err)
	}
	if !hasPassword(user.PasswordHash) {
		return envelope.New(gen.StatusUserHasNoPassword)
	}
	return envelope.New(gen.StatusInvalidPassword)
}

// checkPassword finds the user of email and verifies password (verifyPassword: the caller
// settles the try it returns once it knows what the password did); an unknown email costs the
// address one attempt and no hash.
func (s *Server) checkPassword(ctx context.Context, email, plain string, client limits.Client) (db.User, signInTry, error) {
	user, err := s.q.GetUserByEmail(ctx, emailaddr.Normalize(email))
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := s.limits.AttemptFromAddress(ctx, limits.SignIn, client.Peer); err != nil {
			return user, signInTry{}, err
		}
		return user, signInTry{}, envelope.New(gen.StatusEmailNotFound)
	}
	if err != nil {
		return user, signInTry{}, envelope.Internal("look up user: %w", err)
	}
	if !hasPassword(user.PasswordHash) {
		return user, signInTry{}, envelope.New(gen.StatusUserHasNoPassword)
	}
	try, err := s.verifyPassword(ctx, user, plain, client)
	return user, try, err
}

// signInTry is what a sign-in took of the limits before its work (a password's hash, a
// session): the use a failed sign-in spends (a guess at the account, limits.Attempt, or the
// address's use for a token checked), and a use of the account's successful sign-ins
// (limits.Limiter.SignedIn). Once the sign-in ended, settle keeps one of them.
type signInTry struct {
	failure, success limits.Ticket
}

// tryPassword takes a signInTry for an evaluation of a password at the account of userID,
// before anything is evaluated. Answers: rate-limited.
func (s *Server) tryPassword(ctx context.Context, userID int64, client limits.Client) (signInTry, error) {
	guess, err := s.limits.Attempt(ctx, limits.SignIn, userID, client)
	if err != nil {
		return signInTry{}, err
	}
	success, err := s.limits.SignedIn(ctx, userID, client)
	if err != nil {
		s.giveBack(ctx, guess) // nothing was evaluated
		return signInTry{}, err
	}
	return signInTry{failure: guess, success: success}, nil
}

// settle gives back the use that a sign-in (or password change) which ended in err did not
// spend: its failure's when it succeeded (err nil, or an answer that carries the session it
// opened: client-required, mfa-required), both when the service failed it (a hash shed by the
// queue, a crash), else its success's. So a right password whose application then refuses the
// user's role costs a guess, as a wrong one does. Settle a try once.
func (s *Server) settle(ctx context.Context, try signInTry, err error) {
	answer, isAnswer := errors.AsType[*envelope.Error](err)
	switch {
	case err == nil || (isAnswer && answer.Session != nil):
		s.giveBack(ctx, try.failure)
	case !isAnswer || answer.Status == gen.StatusApplicationCrash || errors.Is(err, password.ErrBusy):
		s.giveBack(ctx, try.failure)
		s.giveBack(ctx, try.success)
	default:
		s.giveBack(ctx, try.success)
	}
}

// verifyPassword checks plain against the password of user (who has one), counted first
// (tryPassword). A wrong password answers invalid-password and keeps its guess; a right one
// returns the try for the caller to settle once it knows what the password did (a session
// opened, a password changed). Answers: invalid-password, rate-limited.
func (s *Server) verifyPassword(ctx context.Context, user db.User, plain string, client limits.Client) (signInTry, error) {
	try, err := s.tryPassword(ctx, user.ID, client)
	if err != nil {
		return try, err
	}
	if err := s.matchPassword(ctx, user, plain); err != nil {
		s.settle(ctx, try, err)
		return signInTry{}, err
	}
	return try, nil
}

// matchPassword checks plain against the password of user, whose evaluation the caller counted;
// a hash made with weaker parameters is then upgraded. Answers: invalid-password, rate-limited
// (the hash queue is full).
func (s *Server) matchPassword(ctx context.Context, user db.User, plain string) error {
	rehash, err := s.hasher.Verify(ctx, plain, *user.PasswordHash)
	if errors.Is(err, password.ErrMismatch) {
		return envelope.New(gen.StatusInvalidPassword)
	}
	if err != nil {
		return hashFailure(err, "verify password of user %d", user.ID)
	}
	if rehash {
		s.upgradePasswordHash(ctx, user, plain)
	}
	return nil
}

// upgradePasswordHash replaces a hash made with weaker parameters, as long as the user's
// credential is still the one checked (a proof or a reset that committed since the user was read
// wins: the password it dropped or replaced is not written back); a failure only delays it.
func (s *Server) upgradePasswordHash(ctx context.Context, user db.User, plain string) {
	phc, err := s.hasher.Hash(ctx, plain)
	if err == nil {
		_, err = s.q.SetPasswordHash(ctx, db.SetPasswordHashParams{ID: user.ID, PasswordHash: &phc, CredentialVersion: user.CredentialVersion})
	}
	if err != nil {
		s.log.WarnContext(ctx, "upgrade password hash", "user_id", user.ID, "error", err)
		return
	}
	s.sessions.ForgetUser(user.ID)
}

// SessionsRead returns the caller's session (its use was recorded by the authenticator).
func (s *Server) SessionsRead(ctx context.Context, r gen.SessionsReadRequestObject) (gen.SessionsReadResponseObject, error) {
	data := views.RenderSession(loadSession(auth.PrincipalFromContext(ctx)), chooseSessionView(r.Params.SessionView, r.Params.View), r.Params.ApplicationView)
	return sessionsReadOK{gen.SessionsRead200JSONResponse{CurrentSessionJSONResponse: gen.CurrentSessionJSONResponse{
		Status: gen.SessionResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: data, Session: envelope.CallerSession(ctx),
	}}}, nil
}

// SessionsDelete logs the caller out, or revokes one session of its user (id), the others
// (others) or all of them (all). Answers: invalid-param (more than one of those, or an id that is
// not one of the user's sessions).
func (s *Server) SessionsDelete(ctx context.Context, r gen.SessionsDeleteRequestObject) (gen.SessionsDeleteResponseObject, error) {
	p, in := auth.PrincipalFromContext(ctx), deref(r.Body)
	if err := endsOnlyItself(p, in); err != nil {
		return nil, err
	}
	revoked, err := s.revokeOwnSessions(ctx, p, in)
	if err != nil {
		return nil, err
	}
	return gen.SessionsDelete200JSONResponse{
		Status: gen.RevokedResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: gen.Revoked{Revoked: int(revoked)}, Session: envelope.CallerSession(ctx),
	}, nil
}

// endsOnlyItself answers permission-denied when an incomplete session (auth.Incomplete: it
// proved one factor of two, or its user has no role) would end sessions other than itself:
// whoever has only the password would otherwise log the owner out everywhere, again and again.
func endsOnlyItself(p *auth.Principal, in gen.SessionsDeleteInput) error {
	limitation := auth.Incomplete(p)
	if limitation == "" || !(deref(in.All) || deref(in.Others) || (in.Id != nil && *in.Id != p.Session.ID)) {
		return nil
	}
	return &envelope.Error{Status: gen.StatusPermissionDenied, Message: fmt.Sprintf(
		"This session has not completed its sign-in (%s): it may end only itself.", limitation)}
}

// revokeOwnSessions is sessions/delete without HTTP: it revokes sessions of the user of the
// caller's session, and returns how many. The audit trail records it (sessions.revoked by the
// user, one event per application) in the same transaction. It forgets no device or address of
// the sessions it ends (unlike a factor's removal, limits.ForgetEnded): a session token alone
// may call it, and a thief holding a copy would otherwise make the owner's devices strangers.
// It takes the user's row first, as a change of its factors or password does (lockFactorsOf):
// such a change in flight on a session signed out commits before the answer (and the session
// ends after it), or waits and is refused (invalid-token); and a sign-out admitted on a session
// that such a change ended meanwhile (a password change ends the others) ends nothing.
func (s *Server) revokeOwnSessions(ctx context.Context, p *auth.Principal, in gen.SessionsDeleteInput) (int64, error) {
	caller := p.Session
	all, others := deref(in.All), deref(in.Others)
	if err := atMostOne(map[string]bool{"id": in.Id != nil, "all": all, "others": others}); err != nil {
		return 0, err
	}
	now := s.now()
	var revoked []int64 // the application of each session revoked
	var one *uuid.UUID  // the session revoked, when one was named
	// One statement each, so one notification reaches the other instances (see
	// sessions_notify); this instance evicts at once, so a revoked token is refused from the
	// next request on.
	err := s.inTx(ctx, "revoke sessions", func(_ pgx.Tx, q *db.Queries) error {
		if _, err := lockFactorsOf(ctx, q, p); err != nil {
			return err
		}
		var err error
		switch {
		case all:
			revoked, err = q.RevokeUserSessionsInApplications(ctx, db.RevokeUserSessionsInApplicationsParams{UserID: caller.UserID, Now: &now})
		case others:
			revoked, err = q.RevokeOtherUserSessions(ctx, db.RevokeOtherUserSessionsParams{UserID: caller.UserID, Keep: caller.ID, Now: &now})
		case in.Id != nil:
			var row db.RevokeUserSessionRow
			row, err = q.RevokeUserSession(ctx, db.RevokeUserSessionParams{ID: *in.Id, UserID: caller.UserID, Now: &now})
			if err == nil && !row.Found {
				return envelope.Param(gen.StatusInvalidParam, "id", "is not one of your sessions")
			}
			if row.Revoked > 0 {
				revoked, one = []int64{row.ApplicationID}, in.Id
			}
		default:
			var n int64
			n, err = q.RevokeSession(ctx, db.RevokeSessionParams{ID: caller.ID, Now: &now})
			if n > 0 {
				revoked, one = []int64{caller.ApplicationID}, &caller.ID
			}
		}
		if err != nil {
			return fmt.Errorf("revoke sessions of user %d: %w", caller.UserID, err)
		}
		return audit.Append(ctx, q, now, sessionsRevokedBy(caller.UserID, revoked, one)...)
	})
	switch {
	case all, others:
		s.sessions.ForgetUser(caller.UserID)
	case in.Id != nil:
		s.sessions.ForgetSession(*in.Id)
	default:
		s.sessions.ForgetSession(caller.ID)
	}
	return int64(len(revoked)), err
}

// sessionsRevokedBy are the events of a user revoking its own sessions (of the applications
// given, one a session): none when nothing was revoked (a concurrent request did, and recorded
// it), and the session's id when one was named.
func sessionsRevokedBy(userID int64, applications []int64, one *uuid.UUID) []audit.Event {
	if len(applications) == 0 {
		return nil
	}
	events := audit.SessionsRevoked(audit.User(userID), userID, applications)
	if one != nil {
		events[0].Details.SessionId = one
	}
	return events
}

// atMostOne answers invalid-param, naming each one, when more than one of the parameters that
// exclude each other is given.
func atMostOne(given map[string]bool) error {
	var names []string
	for name, ok := range given {
		if ok {
			names = append(names, name)
		}
	}
	if len(names) < 2 {
		return nil
	}
	slices.Sort(names)
	problems := make([]gen.ParamError, 0, len(names))
	for _, name := range names {
		problems = append(problems, gen.ParamError{Param: name, Message: "give at most one of " + strings.Join(names, ", ")})
	}
	return &envelope.Error{Status: gen.StatusInvalidParam, Params: problems}
}

// MaxSessionsListed caps sessions/index (the SessionList schema's maxItems).
const MaxSessionsListed = 100

// SessionsIndex lists the caller's user's live sessions, never with their tokens.
func (s *Server) SessionsIndex(ctx context.Context, r gen.SessionsIndexRequestObject) (gen.SessionsIndexResponseObject, error) {
	p := auth.PrincipalFromContext(ctx)
	rows, err := s.q.ListUserSessions(ctx, db.ListUserSessionsParams{UserID: p.Session.UserID, MaxRows: MaxSessionsListed})
	if err != nil {
		return nil, envelope.Internal("list sessions of user %d: %w", p.Session.UserID, err)
	}
	now := s.now()
	results := make([]gen.Session, 0, len(rows))
	for _, row := range rows {
		app, err := s.apps.ByID(ctx, row.ApplicationID)
		if err != nil {
			return nil, envelope.Internal("load application %d: %w", row.ApplicationID, err)
		}
		session := sessionView(row, app, nil)
		if session.ExpiresAt != nil && !now.Before(*session.ExpiresAt) {
			continue
		}
		current := row.ID == p.Session.ID
		session.Current = &current
		results = append(results, views.RenderSession(session, chooseSessionView(r.Params.SessionView, r.Params.View), r.Params.ApplicationView))
	}
	return sessionsIndexOK{gen.SessionsIndex200JSONResponse{
		Status: gen.SessionListResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: gen.SessionList{Results: results}, Session: envelope.CallerSession(ctx),
	}}, nil
}

// chooseSessionView picks session_view, falling back to its documented alias view.
func chooseSessionView(sessionView, view *gen.SessionView) *gen.SessionView {
	if sessionView != nil {
		return sessionView
	}
	return view
}

// sessionResult is the success answer carrying a new session.
func (s *Server) sessionResult(session gen.Session) gen.NewSessionJSONResponse {
	return gen.NewSessionJSONResponse{
		Status: gen.SessionResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: session,
	}
}

// CallerSession renders the caller's session, with the views asked for (the common
// session_view and application_view parameters), for the `session` field repeated in every
// answer to a session token (the authenticator is given it, so that it renders no API type
// itself).
func CallerSession(p *auth.Principal, view *gen.SessionView, applicationView *gen.ApplicationView) *gen.Session {
	out := views.RenderSession(sessionView(*p.Session, p.Application, nil), view, applicationView)
	return &out
}

// loadSession is the caller's session with its user, from what the authenticator loaded.
func loadSession(p *auth.Principal) views.Session {
	return sessionView(*p.Session, p.Application, p.User)
}

// sessionView is what the session views show of a session row, in its application, with its
// user when given (lists of sessions leave it out).
func sessionView(row db.Session, app db.Application, user *db.User) views.Session {
	out := views.Session{
		ID: row.ID, Role: row.Role, Scopes: row.Scopes, AAL: row.Aal, Methods: row.Methods, CreatedAt: row.CreatedAt, LastUsedAt: row.LastUsedAt,
		ExpiresAt: auth.ExpiresAt(row, app), RedirectURL: row.RedirectUrl, ClientAddress: row.ClientAddress,
		UserAgent: row.UserAgent, Application: applicationView(app),
	}
	if user != nil {
		out.User = userView(*user)
	}
	return out
}

// applicationView is what the application views show of an application row.
func applicationView(a db.Application) views.Application {
	return views.Application{Slug: a.Slug, Name: a.Name, Roles: a.Roles, AllowsClientRegistration: a.AllowsClientRegistration, Scopes: a.Scopes,
		LifetimeSeconds: a.SessionMaxAgeSeconds, IdleTimeoutSeconds: a.SessionIdleTimeoutSeconds, RememberMeMaxAgeSeconds: a.RememberMeMaxAgeSeconds,
		RequireMFA: a.RequireMfa}
}
