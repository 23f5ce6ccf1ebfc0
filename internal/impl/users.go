package impl

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/audit"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/emailaddr"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/views"
)

// UsersClientRegister makes the caller's user a client and its limited session a client
// session. Answers: permission-denied (not the limited session of client-required),
// client-validation-failed, email-already-client.
func (s *Server) UsersClientRegister(ctx context.Context, r gen.UsersClientRegisterRequestObject) (gen.UsersClientRegisterResponseObject, error) {
	in := deref(r.Body)
	p := auth.PrincipalFromContext(ctx)
	client, promoted, err := s.becomeClient(ctx, p, in)
	if err != nil {
		return nil, err
	}
	// The user's names may have just changed: render them as they are now.
	user, err := s.q.GetUser(ctx, promoted.Session.UserID)
	if err != nil {
		return nil, envelope.Internal("load user %d: %w", promoted.Session.UserID, err)
	}
	promoted.User = &user
	data := gen.ClientSession{
		Client:  views.RenderClient(client, in.View),
		Session: views.RenderSession(loadSession(promoted), in.SessionView, in.ApplicationView),
	}
	// The answer's `session` is the caller's session as it is now, with its client role.
	return gen.UsersClientRegister200JSONResponse{ClientAndSessionJSONResponse: s.clientSessionResult(data, CallerSession(promoted, in.SessionView, in.ApplicationView))}, nil
}

// becomeClient is users/client_register without HTTP: in one transaction it applies the given
// names and phone to the user, creates its client (and enterprise company, and welcome email),
// and gives the session the client role and that role's scopes. It returns the client and the
// caller as it is now.
func (s *Server) becomeClient(ctx context.Context, p *auth.Principal, in gen.UsersClientRegisterInput) (views.Client, *auth.Principal, error) {
	if p.Session.Role != auth.RoleNone {
		return views.Client{}, nil, &envelope.Error{Status: gen.StatusPermissionDenied,
			Message: "Only the session that came with client-required can register its user as a client."}
	}
	fields := deref(in.Client)
	if err := checkClientFields(fields); err != nil {
		return views.Client{}, nil, err
	}
	app, err := s.apps.BySlug(ctx, p.Application.Slug)
	if err != nil {
		return views.Client{}, nil, envelope.Internal("load application %s: %w", p.Application.Slug, err)
	}
	if !slices.Contains(app.Roles, roleClient) {
		return views.Client{}, nil, &envelope.Error{Status: gen.StatusPermissionDenied,
			Message: fmt.Sprintf("%s does not accept clients.", app.Name)}
	}
	var client views.Client
	var scopes []string
	err = s.inTx(ctx, "register user as client", func(_ pgx.Tx, q *db.Queries) error {
		profile, err := s.makeClient(ctx, q, p, fields, in.Enterprise)
		if err != nil {
			return err
		}
		client = clientView(profile)
		if scopes, err = promoteSession(ctx, q, p.Session, app.ID); err != nil {
			return err
		}
		return audit.Append(ctx, q, s.now(), roleGranted(audit.Of(p), p.Session.UserID, app.ID, roleClient))
	})
	if err != nil {
		return views.Client{}, nil, err
	}
	s.sessions.ForgetUser(p.Session.UserID) // its next request must see the client role and the names it gave
	return client, withRole(p, roleClient, scopes), nil
}

// checkClientFields answers client-validation-failed with every failing field of a user who is
// registering as a client (the user's email and password were checked when it was created). A
// company id is a membership request, answered alike whether or not the company exists.
func checkClientFields(c gen.ClientFields) error {
	var problems fieldProblems
	problems.add("client.phone", phoneProblem(deref(c.Phone)))
	return problems.err()
}

// makeClient applies the given names and phone to the caller's user and gives it a client, in
// q's transaction; a company it names is a membership request.
func (s *Server) makeClient(ctx context.Context, q *db.Queries, p *auth.Principal, c gen.ClientFields, enterprise *bool) (db.ClientProfile, error) {
	userID := p.Session.UserID
	err := q.UpdateUserProfile(ctx, db.UpdateUserProfileParams{ID: userID, FirstName: c.FirstName, LastName: c.LastName, Phone: c.Phone})
	if err != nil {
		return db.ClientProfile{}, fmt.Errorf("update user %d: %w", userID, err)
	}
	user, err := q.GetUser(ctx, userID)
	if err != nil {
		return db.ClientProfile{}, fmt.Errorf("read user %d: %w", userID, err)
	}
	return s.insertClient(ctx, q, user, clientRecord{requested: c.CompanyId,
		companyName: deref(c.CompanyName), enterprise: deref(enterprise), applicationID: p.Application.ID})
}

// promoteSession gives a limited session the client role and its scopes in the application. It
// answers invalid-token when the session was revoked meanwhile.
func promoteSession(ctx context.Context, q *db.Queries, session *db.Session, appID int64) ([]string, error) {
	scopes, err := q.GetRoleScopes(ctx, db.GetRoleScopesParams{ApplicationID: appID, Role: roleClient})
	if err != nil {
		return nil, fmt.Errorf("scopes of the client role in application %d: %w", appID, err)
	}
	n, err := q.PromoteSession(ctx, db.PromoteSessionParams{ID: session.ID, Role: roleClient, Scopes: scopes})
	if err != nil {
		return nil, fmt.Errorf("promote session %s: %w", session.ID, err)
	}
	if n == 0 {
		return nil, envelope.New(gen.StatusInvalidToken)
	}
	return scopes, nil
}

// withRole is the caller after its session was given a new role and scopes.
func withRole(p *auth.Principal, role string, scopes []string) *auth.Principal {
	session := *p.Session
	session.Role, session.Scopes = role, scopes
	out := *p
	out.Session = &session
	return &out
}

// userView is what the user views show of a user row.
func userView(u db.User) *views.User {
	return &views.User{ID: u.ID, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName,
		RememberMe: u.RememberMe, HasPassword: hasPassword(u.PasswordHash), EmailVerified: u.EmailVerifiedAt != nil}
}

// UsersLookup finds a user by email for an application token or an employee whose email is
// verified. Answers: email-not-found, permission-denied (an unverified employee).
func (s *Server) UsersLookup(ctx context.Context, r gen.UsersLookupRequestObject) (gen.UsersLookupResponseObject, error) {
	user, err := s.lookupUser(ctx, auth.PrincipalFromContext(ctx), r.Body.Email)
	if err != nil {
		return nil, err
	}
	return gen.UsersLookup200JSONResponse{
		Status: gen.UserResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: views.RenderUser(*userView(user)), Session: envelope.CallerSession(ctx),
	}, nil
}

// lookupUser is users/lookup without HTTP: the caller is checked (lockEmployeeOrApplication) in
// the transaction that reads the user, so that a proof of an unverified employee's email cannot
// commit between the check and the read.
func (s *Server) lookupUser(ctx context.Context, p *auth.Principal, email string) (db.User, error) {
	if err := refuseUnverified(p); err != nil {
		return db.User{}, err
	}
	var user db.User
	err := s.inTx(ctx, "look up a user", func(_ pgx.Tx, q *db.Queries) error {
		if err := lockEmployeeOrApplication(ctx, q, p); err != nil {
			return err
		}
		var err error
		user, err = q.GetUserByEmail(ctx, emailaddr.Normalize(email))
		if errors.Is(err, pgx.ErrNoRows) {
			return envelope.New(gen.StatusEmailNotFound)
		}
		return err
	})
	return user, err
}
