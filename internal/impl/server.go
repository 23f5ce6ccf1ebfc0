// Package impl holds the hand-written handlers of the generated strict server interface, one
// file per domain (sessions.go, clients.go, ...). Each handler takes the validated request, calls
// the domain rule, and maps rows to the generated response type.
package impl

import (
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
)

// Server implements every operation of the contract.
type Server struct {
	pool   *pgxpool.Pool
	q      *db.Queries
	writer *envelope.Writer
	log    *slog.Logger
	now    func() time.Time
}

var _ gen.StrictServerInterface = (*Server)(nil)

// Deps are what the handlers need.
type Deps struct {
	Pool   *pgxpool.Pool
	Writer *envelope.Writer
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests pass a controllable one.
	Now func() time.Time
}

// New returns the handlers.
func New(d Deps) *Server {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	return &Server{pool: d.Pool, q: db.New(d.Pool), writer: d.Writer, log: d.Logger, now: now}
}
