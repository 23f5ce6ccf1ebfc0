package impl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/audit"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/mfa"
	"github.com/plano/planoauth/internal/peer"
	"github.com/plano/planoauth/internal/views"
)

// newSession is what every way of logging in asks of startSession.
type newSession struct {
	application gen.ApplicationSlug
	// methods are what the sign-in proved (pwd, link, google, webauthn): they make the session's
	// assurance level (mfa.Level). A session below what is required of its user answers
	// mfa-required or mfa-enrolment-required (see auth.Limitation).
	methods []gen.SessionMethod
	// method is how the user signed in, for the audit trail's login.succeeded or login.failed.
	method gen.LoginMethod
	// also are events the caller's transaction records with the session (registration's user,
	// password and role), appended last together with login.succeeded.
	also            []audit.Event
	rememberMe      *bool
	redirectURL     *string
	view            *gen.SessionView
	applicationView *gen.ApplicationView
	// checkCredential: the session is made from a credential (a password, a passkey) checked
	// against the user as it was read, so it is created only if the user's credential_version
	// is still that one (a first proof of the email, a password change or reset moves it).
	checkCredential bool
	// passkeyID is the passkey a passkey sign-in checked: the session records it (its removal
	// ends the session, endFactorSessions) and is created only while the user still has it.
	passkeyID *int64
	// trust, for a sign-in, is its caller: the session comes with a new device token, and the
	// caller's address becomes known to the account (limits.Limiter.Trust). Nil for a session
	// that proves nothing about its caller (registration).
	trust *limits.Client
}

// errCredentialChanged is startSession's answer when the credential a log-in checked changed
// before its session could be created (its password set, replaced or dropped; the email's first
// proof, which takes back the passkeys the unverified account set up; its passkey removed): no
// session was made.
var errCredentialChanged = errors.New("the credential checked changed before the session was created")

// rolePreference is the order in which a user's roles are chosen for a session when the
// application accepts several of them: the broadest first.
var rolePreference = []string{roleEmployee, roleClient, roleLiaison}

// dbConn is where queries run and transactions begin: the pool, or a transaction (whose Begin
// starts a savepoint).
type dbConn interface {
	db.DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}

// startSession creates a session for an authenticated user in an application and renders it
// with its new token. A sign-in below the level required of the user (it has a second factor,
// or the application requires one) gets mfa-required or mfa-enrolment-required with a session
// limited to completing or enrolling one, and no device token until it does. A user with no
// role at all, in an application that lets users register as clients, gets client-required
// with a session limited to users/client_register; a user with no role the application accepts
// gets user-requires-role and no session.
func (s *Server) startSession(ctx context.Context, user db.User, req newSession) (gen.Session, error) {
	return s.startSessionIn(ctx, s.pool, user, req)
}

// startSessionIn is startSession on conn. Registration passes its transaction, so that it sees
// the roles just given to the user, and so that the user, its role and its session are created
// together or not at all.
func (s *Server) startSessionIn(ctx context.Context, conn dbConn, user db.User, req newSession) (gen.Session, error) {
	app, err := s.apps.BySlug(ctx, string(req.application))
	if err != nil {
		return gen.Session{}, envelope.Internal("load application %s: %w", req.application, err)
	}
	signIn := req.trust != nil
	q := db.New(conn)
	role, err := sessionRole(ctx, q, user.ID, app)
	if err != nil && !errors.Is(err, errNoRole) {
		return gen.Session{}, envelope.Internal("choose the role of a session: %w", err)
	}
	var session views.Session
	var limitation gen.Status
	if err == nil {
		session, limitation, err = s.insertSession(ctx, conn, user, app, role, req)
	}
	if errors.Is(err, errNoRole) {
		return gen.Session{}, s.loginFailed(ctx, q, loginAttempt{method: req.method, applicationID: app.ID, userID: user.ID},
			envelope.New(gen.StatusUserRequiresRole))
	}
	if err != nil {
		return gen.Session{}, err
	}
	rendered := views.RenderSession(session, req.view, req.applicationView)
	if limitation != "" && signIn { // a registration answers its session, limited from its first use
		return gen.Session{}, &envelope.Error{Status: limitation, Session: &rendered, Data: rendered}
	}
	if session.Role == auth.RoleNone {
		return gen.Session{}, &envelope.Error{Status: gen.StatusClientRequired, Session: &rendered, Data: rendered}
	}
	return rendered, nil
}

// errNoRole is the answer of sessionRole and insertSession when the user has no role the
// application accepts (and may not register as a client there): no session was made.
var errNoRole = errors.New("the user has no role the application accepts")

// sessionRole reads the user's roles and returns the one its session in app acts with:
// auth.RoleNone for a user with no role at all where app lets users register as clients,
// errNoRole when there is none.
func sessionRole(ctx context.Context, q *db.Queries, userID int64, app db.Application) (string, error) {
	roles, err := q.GetUserRoles(ctx, userID)
	if err != nil {
		return "", fmt.Errorf("load roles of user %d: %w", userID, err)
	}
	role := chooseRole(roles, app.Roles)
	hasNoRole := !roles.IsClient && !roles.IsEmployee && !roles.IsLiaison
	switch {
	case role == "" && hasNoRole && app.AllowsClientRegistration:
		return auth.RoleNone, nil
	case role == "":
		return "", errNoRole
	}
	return role, nil
}

func chooseRole(has db.GetUserRolesRow, accepted []string) string {
	held := map[string]bool{roleEmployee: has.IsEmployee, roleClient: has.IsClient, roleLiaison: has.IsLiaison}
	for _, role := range rolePreference {
		if held[role] && slices.Contains(accepted, role) {
			return role
		}
	}
	return ""
}

// applyRememberWish saves the remember_me that the sign-in of session asked for before it was
// complete, on the user and on the session (with its bounds), in q's transaction: a sign-in
// that proved one factor of two changes nothing of the account until the second completes it.
func (s *Server) applyRememberWish(ctx context.Context, q *db.Queries, session db.Session, app db.Application) (db.Session, error) {
	if session.RememberMeWish == nil {
		return session, nil
	}
	remember := *session.RememberMeWish
	if err := q.SetRememberMe(ctx, db.SetRememberMeParams{ID: session.UserID, RememberMe: remember}); err != nil {
		return session, fmt.Errorf("save remember_me of user %d: %w", session.UserID, err)
	}
	maxExpiresAt, idle := auth.NewSessionBounds(app, remember, session.CreatedAt)
	applied, err := q.ApplyRememberWish(ctx, db.ApplyRememberWishParams{ID: session.ID, RememberMe: remember,
		MaxExpiresAt: maxExpiresAt, IdleTimeoutSeconds: idle})
	if err != nil {
		return session, fmt.Errorf("apply remember_me to session %s: %w", session.ID, err)
	}
	return applied, nil
}

// insertSession saves the remember_me preference (unless the session is limited: see
// applyRememberWish), the session (with the caller's trust, unless it is limited) and its
// login.succeeded event (with the events the caller asked for) in one transaction (a savepoint
// when conn is already a transaction), and returns it with its new token and its limitation
// (auth.Limitation, "" for a complete sign-in). The session acts with role, read before, or with
// the one the user's roles give once its row is held (holdUser): a proof that takes a role back
// (a liaison's, RevokeRoleSessions) locks the row before it revokes the role's sessions, so
// either this sign-in waits for it and acts with what it left (errNoRole when nothing), or the
// proof waits for this session and revokes it. The limitation is decided on the held row too: a
// first second factor added while the sign-in was being checked (which forgets the callers the
// account knew, limits.Forget) leaves it limited, with no device token and its address unknown.
// Answers errNoRole and errCredentialChanged as they are.
func (s *Server) insertSession(ctx context.Context, conn dbConn, user db.User, app db.Application, role string, req newSession) (views.Session, gen.Status, error) {
	token, hash := auth.NewToken(auth.SessionPrefix)
	from := peer.FromContext(ctx)
	now := s.now()
	var created db.Session
	var deviceToken string
	var limitation gen.Status
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		scopes, err := q.GetRoleScopes(ctx, db.GetRoleScopesParams{ApplicationID: app.ID, Role: role})
		if err != nil {
			return fmt.Errorf("scopes of role %s in %s: %w", role, app.Slug, err)
		}
		// The user's row before the roles are read again, and before CreateSession, which then
		// also sees a removal of the passkey committed since the check.
		if user.MfaEnabled, err = holdUser(ctx, q, user.ID, req.rememberMe != nil); err != nil {
			return err
		}
		limitation = auth.Limitation(string(mfa.Level(req.methods)), user, app)
		if limitation != "" {
			req.trust = nil // the sign-in is complete, and its caller trusted, with the second factor
		}
		wish, err := rememberNow(ctx, q, &user, req.rememberMe, limitation)
		if err != nil {
			return err
		}
		if role, scopes, err = roleNow(ctx, q, user.ID, app, role, scopes); err != nil {
			return err
		}
		maxExpiresAt, idle := auth.NewSessionBounds(app, user.RememberMe, now)
		created, err = q.CreateSession(ctx, db.CreateSessionParams{
			TokenHash: hash, UserID: user.ID, ApplicationID: app.ID, Role: role, Scopes: scopes,
			RedirectUrl: deref(req.redirectURL), ClientAddress: from.Address, UserAgent: from.UserAgent,
			RememberMe: user.RememberMe, MaxExpiresAt: maxExpiresAt, IdleTimeoutSeconds: idle, Now: now,
			CheckCredential: req.checkCredential, CredentialVersion: user.CredentialVersion,
			Aal: string(mfa.Level(req.methods)), Methods: mfa.Strings(req.methods), RememberMeWish: wish, PasskeyID: req.passkeyID,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return errCredentialChanged
		}
		if err != nil {
			return err
		}
		if req.trust != nil {
			if deviceToken, err = s.limits.Trust(ctx, q, user.ID, created.ID, limits.Credential(string(req.method), req.passkeyID), *req.trust); err != nil {
				return err
			}
		}
		loggedIn := audit.Event{Kind: gen.AuditLoginSucceeded, Actor: audit.User(user.ID), UserID: user.ID, ApplicationID: app.ID,
			Details: gen.AuditDetails{Method: &req.method, SessionId: &created.ID, Role: (*gen.Role)(&role)}}
		return audit.Append(ctx, q, now, append(slices.Clone(req.also), loggedIn)...)
	})
	if errors.Is(err, errCredentialChanged) || errors.Is(err, errNoRole) {
		return views.Session{}, "", err
	}
	if err != nil {
		return views.Session{}, "", envelope.Internal("create session for user %d: %w", user.ID, err)
	}
	if req.rememberMe != nil {
		s.sessions.ForgetUser(user.ID) // the user this instance keeps may show the remember_me before
	}
	session := sessionView(created, app, &user)
	session.Token, session.DeviceToken = token, deviceToken
	return session, limitation, nil
}

// holdUser holds the user's row for a sign-in (HoldUserForSession, or HoldUserToRemember when it
// may save remember_me on it) and returns whether the user has a second factor now.
func holdUser(ctx context.Context, q *db.Queries, userID int64, remember bool) (bool, error) {
	hold := q.HoldUserForSession
	if remember {
		hold = q.HoldUserToRemember
	}
	mfaEnabled, err := hold(ctx, userID)
	if err != nil {
		return false, fmt.Errorf("hold user %d: %w", userID, err)
	}
	return mfaEnabled, nil
}

// rememberNow saves the remember_me a sign-in asked for on user (its row held) when the session
// is complete, and returns nil; for a limited session it changes nothing of the account and
// returns the wish, which the second factor applies (applyRememberWish).
func rememberNow(ctx context.Context, q *db.Queries, user *db.User, rememberMe *bool, limitation gen.Status) (*bool, error) {
	switch {
	case rememberMe == nil:
		return nil, nil
	case limitation != "":
		return rememberMe, nil
	}
	user.RememberMe = *rememberMe
	if err := q.SetRememberMe(ctx, db.SetRememberMeParams{ID: user.ID, RememberMe: user.RememberMe}); err != nil {
		return nil, fmt.Errorf("save remember_me: %w", err)
	}
	return nil, nil
}

// roleNow is the role and scopes a session of the user in app acts with, read again in q's
// transaction once the user's row is held: role and scopes, read before, unless a role was
// taken back (or given) meanwhile. Answers errNoRole.
func roleNow(ctx context.Context, q *db.Queries, userID int64, app db.Application, role string, scopes []string) (string, []string, error) {
	now, err := sessionRole(ctx, q, userID, app)
	if err != nil || now == role {
		return role, scopes, err
	}
	if scopes, err = q.GetRoleScopes(ctx, db.GetRoleScopesParams{ApplicationID: app.ID, Role: now}); err != nil {
		return "", nil, fmt.Errorf("scopes of role %s in %s: %w", now, app.Slug, err)
	}
	return now, scopes, nil
}

func hasPassword(hash *string) bool { return hash != nil && strings.TrimSpace(*hash) != "" }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// loginAttempt is a sign-in that was refused, for the audit trail.
type loginAttempt struct {
	method        gen.LoginMethod
	applicationID int64
	userID        int64 // 0 when no user was found
}

// recordedRefusal is the reason of a refused sign-in that the audit trail records, if it is one:
// the contract's LoginFailureReason lists them (those that count against the rate limits, or
// follow proof of a password or an email, so that a flood of requests grows the trail no faster
// than the limits allow; rate-limited refusals and malformed requests cost a caller nothing and
// are not recorded one by one).
func recordedRefusal(refusal error) (gen.LoginFailureReason, bool) {
	answer, ok := errors.AsType[*envelope.Error](refusal)
	if !ok {
		return "", false
	}
	if (answer.Status == gen.StatusMissingParam || answer.Status == gen.StatusInvalidParam) && !isVerifierRefusal(answer) {
		return "", false // a malformed request; a hand-over's PKCE verifier is a guess
	}
	reason := gen.LoginFailureReason(answer.Status)
	return reason, reason.Valid()
}

// loginFailed records a refused sign-in as login.failed with the slug answered, in one statement
// of q (a failed sign-in changes nothing else), and returns the refusal as it is. A failure to
// record it is logged: the caller still gets the refusal, not a crash.
func (s *Server) loginFailed(ctx context.Context, q *db.Queries, a loginAttempt, refusal error) error {
	reason, ok := recordedRefusal(refusal)
	if !ok {
		return refusal
	}
	err := audit.Append(ctx, q, s.now(), audit.Event{Kind: gen.AuditLoginFailed, Actor: audit.Anonymous,
		UserID: a.userID, ApplicationID: a.applicationID, Details: gen.AuditDetails{Method: &a.method, Reason: &reason}})
	if err != nil {
		s.log.ErrorContext(ctx, "record a failed log-in", slog.Any("error", err))
	}
	return refusal
}

// applicationID is the id of the application with slug, for the events of requests that name it.
func (s *Server) applicationID(ctx context.Context, slug gen.ApplicationSlug) (int64, error) {
	app, err := s.apps.BySlug(ctx, string(slug))
	if err != nil {
		return 0, envelope.Internal("load application %s: %w", slug, err)
	}
	return app.ID, nil
}
