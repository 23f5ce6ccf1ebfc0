// Package impl holds the hand-written handlers of the generated strict server interface, one
// file per domain (sessions.go, clients.go, ...). The sessions domain is split by way of
// signing in: sessions.go (password, and the session routes), login.go (starting a session),
// signin.go (links and Google), control.go (introspection and revoking a user's sessions for
// applications and employees); accounts.go holds what creating users shares. Each handler takes
// the validated request, calls the domain rule, and maps rows to the generated response type.
package impl

import (
	"cmp"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/google"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/mail"
	"github.com/plano/planoauth/internal/password"
)

// Server implements every operation of the contract.
type Server struct {
	pool    *pgxpool.Pool
	q       *db.Queries
	writer  *envelope.Writer
	log     *slog.Logger
	now     func() time.Time
	hasher  *password.Hasher
	limiter *limits.LoginLimiter
	// Sign-in without a password.
	mailer        mail.Mailer
	magicLinks    *limits.MagicLinkLimiter
	magicLinkURL  string
	google        *google.Verifier
	sessions      *auth.SessionCache
	apps          *auth.Applications
	registrations *limits.RegistrationLimiter
	inspector     Inspector
}

var _ gen.StrictServerInterface = (*Server)(nil)

// Deps are what the handlers need.
type Deps struct {
	Pool   *pgxpool.Pool
	Writer *envelope.Writer
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests pass a controllable one.
	Now func() time.Time
	// SessionCache is the authenticator's token cache (nil when off); handlers that change a
	// session evict it here at once, before NOTIFY reaches the other instances.
	SessionCache *auth.SessionCache
	// Applications are the applications kept in memory (read from the database when nil).
	Applications *auth.Applications
	// Inspector resolves the session tokens that sessions/introspect is handed: the
	// authenticator, whose rules every token is judged by.
	Inspector Inspector
	// RegistrationLimits bound accounts registered per address; zero means the defaults.
	RegistrationLimits limits.RegistrationLimits
	// LoginLimits bound failed log-ins; zero means limits.DefaultLoginLimits.
	LoginLimits limits.LoginLimits
	// Mailer sends the emails that are the point of a request (sign-in links); nil means the
	// local mailer, which records them in the sent_emails table.
	Mailer mail.Mailer
	// MagicLinkURL is the start of a sign-in link; the token is appended. Empty means
	// DefaultMagicLinkURL.
	MagicLinkURL string
	// MagicLinkLimits bound the links sent to one email; zero means limits.DefaultMagicLinkLimits.
	MagicLinkLimits limits.MagicLinkLimits
	// Google says which Google ID tokens sessions/google accepts.
	Google google.Config
}

// DefaultMagicLinkURL is where sign-in links point unless configured: the page that exchanges
// the token with sessions/magic_link_create.
const DefaultMagicLinkURL = "http://127.0.0.1:8080/magic?token="

// New returns the handlers.
func New(d Deps) *Server {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	loginLimits := cmp.Or(d.LoginLimits, limits.DefaultLoginLimits)
	q := db.New(d.Pool)
	mailer := d.Mailer
	if mailer == nil {
		mailer = mail.NewLocal(q, now)
	}
	apps := d.Applications
	if apps == nil {
		apps = auth.NewApplications(q)
	}
	return &Server{pool: d.Pool, q: q, writer: d.Writer, log: d.Logger, now: now, sessions: d.SessionCache, apps: apps,
		registrations: limits.NewRegistrationLimiter(q, cmp.Or(d.RegistrationLimits, limits.DefaultRegistrationLimits), now),
		hasher:        password.NewHasher(), limiter: limits.NewLoginLimiter(q, loginLimits, now),
		mailer:       mailer,
		magicLinks:   limits.NewMagicLinkLimiter(q, cmp.Or(d.MagicLinkLimits, limits.DefaultMagicLinkLimits), now),
		magicLinkURL: cmp.Or(d.MagicLinkURL, DefaultMagicLinkURL),
		google:       google.NewVerifier(d.Google, now),
		inspector:    d.Inspector,
	}
}

// Now returns the handlers' clock, which the authenticator shares.
func (s *Server) Now() time.Time { return s.now() }
