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
	"github.com/plano/planoauth/internal/spec"
)

// The session lifetime: a session expires SessionMaxAge after it was created or
// SessionIdleTimeout after it was last used, unless its user had saved remember_me when it was
// created (the session keeps that choice; a later change of preference does not revive it).
const (
	SessionMaxAge      = 7 * 24 * time.Hour
	SessionIdleTimeout = 72 * time.Hour
	// TouchInterval is how stale last use may get before a request records it, so that a busy
	// session costs one write a minute rather than one per request.
	TouchInterval = time.Minute
	// RoleNone is the role of the session that comes with client-required.
	RoleNone = string(gen.RoleNone)
)

// ExpiresAt returns when a session expires if unused from now on, or nil for remember_me.
func ExpiresAt(s db.Session) *time.Time {
	if s.RememberMe {
		return nil
	}
	at := s.CreatedAt.Add(SessionMaxAge)
	if idle := s.LastUsedAt.Add(SessionIdleTimeout); idle.Before(at) {
		at = idle
	}
	return &at
}

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

const principalKey contextKey = iota + 1

// PrincipalFromContext returns the authenticated caller, or nil on public operations.
func PrincipalFromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey).(*Principal)
	return p
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
// the data of client-required). The handlers' package supplies it: this one does not render.
type RenderSession func(*Principal) *gen.Session

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
// missing-param (no token), invalid-token, session-expired, mfa-required or
// mfa-enrolment-required (a session that must complete or enrol a second factor, outside the
// operations that admit it: see Limitation), client-required (a session without a role, outside
// users/client_register) or permission-denied (wrong kind of token, or a scope
// the caller lacks). It must run after params, which reads the body's token parameter.
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
		p, err := a.authenticate(ctx, token, op)
		if p != nil && p.Session != nil {
			ctx = envelope.NewContextCallerSession(ctx, a.render(p))
		}
		if err != nil {
			a.writer.Error(w, r.WithContext(ctx), err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, principalKey, p)))
	})
}

func (a *Authenticator) authenticate(ctx context.Context, token string, op *spec.Operation) (*Principal, error) {
	var p *Principal
	var err error
	switch {
	case strings.HasPrefix(token, ApplicationPrefix):
		p, err = a.application(ctx, token, op)
	case strings.HasPrefix(token, SessionPrefix):
		p, err = a.session(ctx, token, op)
	default:
		return nil, envelope.New(gen.StatusInvalidToken)
	}
	if err != nil {
		return p, err
	}
	if !slices.Contains(p.Scopes(), op.Scope) {
		return p, &envelope.Error{Status: gen.StatusPermissionDenied,
			Message: fmt.Sprintf("This token does not have the %s scope.", op.Scope)}
	}
	return p, nil
}

func (a *Authenticator) application(ctx context.Context, token string, op *spec.Operation) (*Principal, error) {
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
	if !op.Accepts(spec.SchemeApplication) {
		return nil, &envelope.Error{Status: gen.StatusPermissionDenied, Message: "This operation needs a session token."}
	}
	return &Principal{Application: app}, nil
}

func (a *Authenticator) session(ctx context.Context, token string, op *spec.Operation) (*Principal, error) {
	if !WellFormed(token, SessionPrefix) {
		return nil, envelope.New(gen.StatusInvalidToken)
	}
	hash := HashToken(token)
	now := a.now()
	row, cached := a.cached(hash)
	if cached && expired(row, now) {
		// Another instance may have recorded a use this one has not seen: ask the database.
		a.cache.forget(hash)
		cached = false
	}
	if !cached {
		var err error
		if row, err = a.load(ctx, hash); err != nil {
			return nil, err
		}
	}
	if row.Session.RevokedAt != nil {
		return nil, envelope.New(gen.StatusInvalidToken)
	}
	if expired(row, now) {
		return nil, envelope.New(gen.StatusSessionExpired)
	}
	if err := a.touch(ctx, hash, &row.Session, now); err != nil {
		return nil, err
	}
	app, err := a.applications.ByID(ctx, row.Session.ApplicationID)
	if err != nil {
		return nil, envelope.Internal("load application %d of a session: %w", row.Session.ApplicationID, err)
	}
	p := &Principal{Application: app, Session: &row.Session, User: &row.User}
	if !op.Accepts(spec.SchemeSession) {
		return p, &envelope.Error{Status: gen.StatusPermissionDenied, Message: "This operation needs an application token."}
	}
	if err := a.limited(p, op); err != nil {
		return p, err
	}
	if p.Session.Role == RoleNone && !slices.Contains(p.Session.Scopes, op.Scope) {
		session := a.render(p)
		return p, &envelope.Error{Status: gen.StatusClientRequired, Session: session, Data: session}
	}
	return p, nil
}

func expired(row db.GetSessionByTokenHashRow, now time.Time) bool {
	expires := ExpiresAt(row.Session)
	return expires != nil && !now.Before(*expires)
}

func (a *Authenticator) cached(hash []byte) (db.GetSessionByTokenHashRow, bool) {
	if a.cache == nil {
		return db.GetSessionByTokenHashRow{}, false
	}
	return a.cache.get(hash)
}

// load reads a session token from the database and caches what it read.
func (a *Authenticator) load(ctx context.Context, hash []byte) (db.GetSessionByTokenHashRow, error) {
	var generation uint64
	if a.cache != nil {
		generation = a.cache.generationNow()
	}
	row, err := a.q.GetSessionByTokenHash(ctx, hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return row, envelope.New(gen.StatusInvalidToken)
	}
	if err != nil {
		return row, envelope.Internal("look up session token: %w", err)
	}
	if a.cache != nil {
		a.cache.put(hash, row, generation)
	}
	return row, nil
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
