package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/params"
	"github.com/plano/planoauth/internal/reqstate"
	"github.com/plano/planoauth/internal/spec"
)

const (
	// TouchInterval is how stale last use may get before a request records it, so that a busy
	// session costs one write a minute rather than one per request.
	TouchInterval = time.Minute
	// RoleNone is the role of the session that comes with client-required.
	RoleNone = string(gen.RoleNone)
)

// Principal is who is calling: an application, or a user's session in an application.
type Principal struct {
	// Application is the calling application, or the application of the session.
	Application db.Application
	Session     *db.Session // nil for an application token
	User        *db.User    // the session's user; nil for an application token
}

// Scopes are what the caller may do: the application token's, or the session's.
func (p *Principal) Scopes() []string {
	if p.Session != nil {
		return p.Session.Scopes
	}
	return p.Application.Scopes
}

// PrincipalFromContext returns the authenticated caller, or nil on public operations.
func PrincipalFromContext(ctx context.Context) *Principal {
	return reqstate.Get[*Principal](ctx, reqstate.Principal)
}

// Authenticator resolves the request's token into a Principal and enforces the operation's
// security schemes and scope.
type Authenticator struct {
	q            *db.Queries
	now          func() time.Time
	writer       *envelope.Writer
	cache        *SessionCache // nil: every request reads the database
	applications *Applications
	render       RenderSession
}

// RenderSession renders a caller's session for the `session` field of the answers to it (and
// the data of client-required), with the views the request asked for (nil: default). The
// handlers' package supplies it: this one does not render.
type RenderSession func(p *Principal, sessionView *gen.SessionView, applicationView *gen.ApplicationView) *gen.Session

// Config is what an Authenticator works with.
type Config struct {
	Queries *db.Queries
	Now     func() time.Time // judges expiry
	Writer  *envelope.Writer
	// Cache keeps resolved sessions; nil means none.
	Cache        *SessionCache
	Applications *Applications
	Render       RenderSession
}

// NewAuthenticator returns an Authenticator.
func NewAuthenticator(cfg Config) *Authenticator {
	return &Authenticator{q: cfg.Queries, now: cfg.Now, writer: cfg.Writer, cache: cfg.Cache,
		applications: cfg.Applications, render: cfg.Render}
}

// Middleware authenticates requests to operations that declare security. It answers
// missing-param (no token), invalid-token, session-expired, permission-denied (an `application`
// parameter that is not the token's application, a wrong kind of token, or a scope the caller
// lacks), mfa-required or mfa-enrolment-required (a session that must complete or enrol a
// second factor, outside the operations that admit it: see Limitation) or client-required (a
// session without a role, outside users/client_register). It must run after params, which
// reads the body's token and the common parameters.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		op := spec.FromContext(ctx)
		if op == nil || len(op.Schemes) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		token := TokenFromRequest(r)
		if token == "" {
			a.writer.Error(w, r, envelope.Param(gen.StatusMissingParam, "token", "is required"))
			return
		}
		common := params.CommonFromContext(ctx)
		p, err := a.authenticate(ctx, token, op, common)
		if p != nil && p.Session != nil {
			r = reqstate.Record(r, reqstate.CallerSession, a.render(p, common.SessionView, common.ApplicationView))
		}
		if err != nil {
			a.writer.Error(w, r, err)
			return
		}
		next.ServeHTTP(w, reqstate.Record(r, reqstate.Principal, p))
	})
}

func (a *Authenticator) authenticate(ctx context.Context, token string, op *spec.Operation, common params.Common) (*Principal, error) {
	var p *Principal
	var err error
	switch {
	case strings.HasPrefix(token, ApplicationPrefix):
		p, err = a.application(ctx, token)
	case strings.HasPrefix(token, SessionPrefix):
		var hash []byte
		if p, hash, err = a.session(ctx, token); err == nil {
			err = a.touch(ctx, hash, p.Session, a.now())
		}
	default:
		err = envelope.New(gen.StatusInvalidToken)
	}
	if err != nil {
		return nil, err
	}
	if err := underApplication(p, common.Application); err != nil {
		return p, err
	}
	return p, a.admit(p, op, common)
}

// underApplication answers permission-denied when the request names an application (the
// `application` parameter) that is not the token's: a session's, or the calling application's.
// A token acts under its own application's role only; naming none means that one.
func underApplication(p *Principal, named *gen.ApplicationSlug) error {
	if named == nil || string(*named) == p.Application.Slug {
		return nil
	}
	return &envelope.Error{Status: gen.StatusPermissionDenied,
		Message: fmt.Sprintf("This token acts under the application %s, not %s.", p.Application.Slug, *named)}
}

// admit answers permission-denied when op does not take the kind of token p holds or p lacks
// op's scope, and client-required for the limited session of a user without a role outside the
// operations it may call.
func (a *Authenticator) admit(p *Principal, op *spec.Operation, common params.Common) error {
	switch {
	case p.Session == nil && !op.Accepts(spec.SchemeApplication):
		return &envelope.Error{Status: gen.StatusPermissionDenied, Message: "This operation needs a session token."}
	case p.Session != nil && !op.Accepts(spec.SchemeSession):
		return &envelope.Error{Status: gen.StatusPermissionDenied, Message: "This operation needs an application token."}
	case p.Session != nil && limitedOut(p, op):
		session := a.render(p, common.SessionView, common.ApplicationView)
		return &envelope.Error{Status: Limitation(p.Session.Aal, *p.User, p.Application), Session: session, Data: session}
	case p.Session != nil && p.Session.Role == RoleNone && !slices.Contains(p.Session.Scopes, op.Scope):
		session := a.render(p, common.SessionView, common.ApplicationView)
		return &envelope.Error{Status: gen.StatusClientRequired, Session: session, Data: session}
	case !slices.Contains(p.Scopes(), op.Scope):
		return &envelope.Error{Status: gen.StatusPermissionDenied,
			Message: fmt.Sprintf("This token does not have the %s scope.", op.Scope)}
	}
	return nil
}

// Inspect returns the live session of a session token, for a caller that checks a token it was
// handed (token introspection): the same rules as every request (invalid-token for a token that
// names no session or a revoked one, session-expired), but the token's use is not recorded, so
// that checking a session never keeps it alive. Any other kind of token answers invalid-token.
func (a *Authenticator) Inspect(ctx context.Context, token string) (*Principal, error) {
	if !strings.HasPrefix(token, SessionPrefix) {
		return nil, envelope.New(gen.StatusInvalidToken)
	}
	p, _, err := a.session(ctx, token)
	return p, err
}

func (a *Authenticator) application(ctx context.Context, token string) (*Principal, error) {
	if !WellFormed(token, ApplicationPrefix) {
		return nil, envelope.New(gen.StatusInvalidToken)
	}
	app, err := a.applications.ByTokenHash(ctx, HashToken(token))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, envelope.New(gen.StatusInvalidToken)
	}
	if err != nil {
		return nil, envelope.Internal("look up application token: %w", err)
	}
	return &Principal{Application: app}, nil
}

// session resolves a session token, from the cache when it holds it, and judges it: revoked
// (invalid-token) or expired by its application's session policy (session-expired). It returns
// the token's hash for touch.
func (a *Authenticator) session(ctx context.Context, token string) (*Principal, []byte, error) {
	if !WellFormed(token, SessionPrefix) {
		return nil, nil, envelope.New(gen.StatusInvalidToken)
	}
	hash := HashToken(token)
	now := a.now()
	session, user, cached := a.cached(hash)
	if cached {
		app, err := a.applicationOf(ctx, session)
		if err != nil {
			return nil, nil, err
		}
		if Expired(session, app, now) {
			// Another instance may have recorded a use this one has not seen: ask the database.
			a.cache.forget(hash)
			cached = false
		}
	}
	if !cached {
		var err error
		if session, user, err = a.load(ctx, hash); err != nil {
			return nil, nil, err
		}
	}
	if session.RevokedAt != nil {
		return nil, nil, envelope.New(gen.StatusInvalidToken)
	}
	app, err := a.applicationOf(ctx, session)
	if err != nil {
		return nil, nil, err
	}
	if Expired(session, app, now) {
		return nil, nil, envelope.New(gen.StatusSessionExpired)
	}
	return &Principal{Application: app, Session: &session, User: &user}, hash, nil
}

func (a *Authenticator) applicationOf(ctx context.Context, s db.Session) (db.Application, error) {
	app, err := a.applications.ByID(ctx, s.ApplicationID)
	if err != nil {
		return app, envelope.Internal("load application %d of a session: %w", s.ApplicationID, err)
	}
	return app, nil
}

func (a *Authenticator) cached(hash []byte) (db.Session, db.User, bool) {
	if a.cache == nil {
		return db.Session{}, db.User{}, false
	}
	return a.cache.get(hash)
}

// load reads a session token from the database and caches what it read. Its user comes from the
// cache when the cache kept it before this load began (then no newer than the session); else the
// session is read again with its user in one statement, so that the two are from one snapshot.
func (a *Authenticator) load(ctx context.Context, hash []byte) (db.Session, db.User, error) {
	var start loadStart
	if a.cache != nil {
		start = a.cache.begin()
	}
	session, err := a.q.GetSessionByTokenHash(ctx, hash)
	if err != nil {
		return session, db.User{}, tokenLookupError(err)
	}
	user, kept := db.User{}, false
	if a.cache != nil {
		user, kept = a.cache.user(session.UserID, start)
	}
	if !kept {
		row, err := a.q.GetSessionWithUserByTokenHash(ctx, hash)
		if err != nil { // no row: revoked and deleted, or its user deleted, since the first read
			return session, user, tokenLookupError(err)
		}
		session, user = row.Session, row.User
		if a.cache != nil {
			a.cache.putUser(user, start.generation)
		}
	}
	if a.cache != nil {
		a.cache.put(hash, session, user, start.generation)
	}
	return session, user, nil
}

// tokenLookupError is the answer to a failed read of a session token: invalid-token for no row.
func tokenLookupError(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return envelope.New(gen.StatusInvalidToken)
	}
	return envelope.Internal("look up session token: %w", err)
}

// touch records the session's use when the last record is older than TouchInterval.
func (a *Authenticator) touch(ctx context.Context, hash []byte, row *db.Session, now time.Time) error {
	if now.Sub(row.LastUsedAt) < TouchInterval {
		return nil
	}
	_, err := a.q.TouchSession(ctx, db.TouchSessionParams{ID: row.ID, Now: now, StaleBefore: now.Add(-TouchInterval)})
	if err != nil {
		return envelope.Internal("record session use: %w", err)
	}
	row.LastUsedAt = now
	if a.cache != nil {
		a.cache.touched(hash, now)
	}
	return nil
}
