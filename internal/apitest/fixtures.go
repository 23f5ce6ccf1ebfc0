package apitest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/emailaddr"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/mail"
	"github.com/plano/planoauth/internal/outbox"
	"github.com/plano/planoauth/internal/password"
)

// fixtureHasher hashes fixture passwords; one per process is plenty.
var fixtureHasher = password.NewHasher()

// AllowRedirectOrigin puts origin on the application's redirect allow-list, as
// `planoauth applications redirects add` does.
func (e *Env) AllowRedirectOrigin(application, origin string) {
	e.T.Helper()
	n, err := e.Q.AddRedirectOrigin(context.Background(), db.AddRedirectOriginParams{Slug: application, Origin: origin})
	if err != nil || n != 1 {
		e.T.Fatalf("allow %s for %s: %d rows, %v", origin, application, n, err)
	}
}

// User creates a user with the given roles ("client", "employee", "liaison", the last one
// accepted) straight in the database, with its email verified: an established account. An empty
// password leaves password_hash NULL, as for a Google sign-up.
func (e *Env) User(email, password string, roles ...string) int64 {
	e.T.Helper()
	now := e.Clock.Now()
	return e.newUser(email, password, &now, roles)
}

// UnverifiedUser is User for an account whose email was never proven (registered, or created
// by someone else).
func (e *Env) UnverifiedUser(email, password string, roles ...string) int64 {
	e.T.Helper()
	return e.newUser(email, password, nil, roles)
}

func (e *Env) newUser(email, password string, verifiedAt *time.Time, roles []string) int64 {
	e.T.Helper()
	ctx := context.Background()
	var hash *string
	if password != "" {
		phc, err := fixtureHasher.Hash(ctx, password)
		if err != nil {
			e.T.Fatal(err)
		}
		hash = &phc
	}
	user, err := e.Q.CreateUser(ctx, db.CreateUserParams{Email: emailaddr.Normalize(email), PasswordHash: hash,
		FirstName: "Test", LastName: strings.Split(email, "@")[0], EmailVerifiedAt: verifiedAt})
	if err != nil {
		e.T.Fatalf("create user %s: %v", email, err)
	}
	for _, role := range roles {
		switch role {
		case "client":
			_, err = e.Q.CreateClient(ctx, db.CreateClientParams{UserID: user.ID})
		case "employee":
			_, err = e.Q.CreateEmployee(ctx, user.ID)
		case "liaison":
			_, err = e.Q.CreateLiaison(ctx, user.ID)
		default:
			e.T.Fatalf("unknown role %q", role)
		}
		if err != nil {
			e.T.Fatalf("give %s the %s role: %v", email, role, err)
		}
	}
	return user.ID
}

// Login logs in through the API and returns the new session's token.
func (e *Env) Login(email, password, application string) string {
	e.T.Helper()
	res := e.PostSensitive("/api/v1/sessions/create", map[string]any{
		"email": email, "password": password, "application": application,
	}, "").Expect(e.T, http.StatusOK, gen.StatusActionSuccessful)
	var session gen.Session
	res.Data(e.T, &session)
	if session.Token == nil {
		e.T.Fatalf("login answered no token: %s", res.Raw)
	}
	return *session.Token
}

// Session gives a user a session in an application, with the role's scopes and the
// application's session policy, straight in the database, and returns its token: what a log-in
// gives, without hashing a password, for tests that need many tokens.
func (e *Env) Session(userID int64, application, role string) string {
	e.T.Helper()
	ctx := context.Background()
	app, err := e.Q.GetApplicationBySlug(ctx, application)
	if err != nil {
		e.T.Fatalf("application %s: %v", application, err)
	}
	scopes, err := e.Q.GetRoleScopes(ctx, db.GetRoleScopesParams{ApplicationID: app.ID, Role: role})
	if err != nil {
		e.T.Fatalf("scopes of %s in %s: %v", role, application, err)
	}
	token, hash := auth.NewToken(auth.SessionPrefix)
	maxExpiresAt, idle := auth.NewSessionBounds(app, false, e.Clock.Now())
	_, err = e.Q.CreateSession(ctx, db.CreateSessionParams{TokenHash: hash, UserID: userID, ApplicationID: app.ID,
		Role: role, Scopes: scopes, MaxExpiresAt: maxExpiresAt, IdleTimeoutSeconds: idle, Now: e.Clock.Now()})
	if err != nil {
		e.T.Fatalf("create a session: %v", err)
	}
	return token
}

// DeliverEmails sends every queued email as the outbox worker of `planoauth serve` does (minting
// their links), through the local mailer, which records them in sent_emails; it returns how
// many it sent. The worker runs by the Env's clock, like the handlers.
func (e *Env) DeliverEmails() int {
	e.T.Helper()
	worker := mail.NewWorker(e.Pool, mail.NewLocal(e.Q, e.Clock.Now), slog.New(slog.NewJSONHandler(io.Discard, nil)),
		e.Clock.Now, mail.WorkerConfig{Config: outbox.Config{BatchSize: 100}, PublicURL: impl.DefaultPublicURL})
	sent := 0
	for {
		n, err := worker.DeliverDue(context.Background())
		if err != nil {
			e.T.Fatalf("deliver the outbox: %v", err)
		}
		if n == 0 {
			return sent
		}
		sent += n
	}
}
