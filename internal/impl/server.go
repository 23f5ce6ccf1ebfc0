// Package impl holds the hand-written handlers of the generated strict server interface, one
// file per domain (sessions.go, clients.go, ...). Each handler takes the validated request, calls
// the domain rule, and maps rows to the generated response type.
package impl

import (
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
)

// Server implements every operation of the contract.
type Server struct {
	pool    *pgxpool.Pool
	q       *db.Queries
	writer  *envelope.Writer
	log     *slog.Logger
	now     func() time.Time
	hasher  *auth.Hasher
	limiter *auth.LoginLimiter
}

var _ gen.StrictServerInterface = (*Server)(nil)

// Deps are what the handlers need.
type Deps struct {
	Pool   *pgxpool.Pool
	Writer *envelope.Writer
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests pass a controllable one.
	Now func() time.Time
	// LoginLimits bound failed log-ins; zero means auth.DefaultLoginLimits.
	LoginLimits auth.LoginLimits
}

// New returns the handlers.
func New(d Deps) *Server {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	limits := d.LoginLimits
	if limits == (auth.LoginLimits{}) {
		limits = auth.DefaultLoginLimits
	}
	q := db.New(d.Pool)
	return &Server{pool: d.Pool, q: q, writer: d.Writer, log: d.Logger, now: now,
		hasher: auth.NewHasher(), limiter: auth.NewLoginLimiter(q, limits, now)}
}

// Now returns the handlers' clock, which the authenticator shares.
func (s *Server) Now() time.Time { return s.now() }
