// Package impl holds the hand-written handlers of the generated strict server interface, one
// file per domain (sessions.go, clients.go, ...). The sessions domain is split by way of
// signing in: sessions.go (password, and the session routes), login.go (starting a session),
// signin.go (links and Google), control.go (introspection and revoking a user's sessions for
// applications and employees); accounts.go holds what creating users shares, notices.go the
// security emails that changes of a user's password and second factors send. Each handler takes
// the validated request, calls the domain rule, and maps rows to the generated response type.
package impl

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/google"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/mail"
	"github.com/plano/planoauth/internal/mfa"
	"github.com/plano/planoauth/internal/pages"
	"github.com/plano/planoauth/internal/password"
	"github.com/plano/planoauth/internal/redirect"
	"github.com/plano/planoauth/internal/seal"
)

// Server implements every operation of the contract.
type Server struct {
	pool      *pgxpool.Pool
	q         *db.Queries
	writer    *envelope.Writer
	log       *slog.Logger
	now       func() time.Time
	hasher    *password.Hasher
	limits    *limits.Limiter
	redirects *redirect.Checker
	// Sign-in without a password.
	mailer       mail.Mailer
	magicLinkURL string
	google       *google.Verifier
	sessions     *auth.SessionCache
	apps         *auth.Applications
	inspector    Inspector
	// Recovery: where links point, the breach check of new passwords, and the emails sent after
	// their request was answered.
	publicURL  string
	pwned      *password.Pwned
	background sync.WaitGroup
	// Second factors: sealer seals TOTP secrets (nil: no key, TOTP unavailable); rp is the
	// WebAuthn relying party (nil: passkeys unavailable).
	sealer *seal.Sealer
	rp     *mfa.RelyingParty
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
	// Limits are every rate limit; zero fields mean limits.Defaults.
	Limits limits.Config
	// Hasher sizes the argon2id hashing and its queue; zero fields mean the defaults.
	Hasher password.Config
	// PublicURL is where the service is reached (scheme, host and port, no path): every emailed
	// link opens a page under it, and its origin is the redirect origin of an application without
	// an allow-list. Empty means DefaultPublicURL.
	PublicURL string
	// Mailer sends the emails that are the point of a request (sign-in links); nil means the
	// local mailer, which records them in the sent_emails table.
	Mailer mail.Mailer
	// MagicLinkURL is the start of a sign-in link; the token is appended. Empty means the
	// service's own page, PublicURL + "/magic?token=".
	MagicLinkURL string
	// Pwned checks new passwords against Have I Been Pwned; an empty URL turns it off.
	Pwned password.PwnedConfig
	// Google says which Google ID tokens sessions/google accepts, per application.
	Google google.Config
	// MFAKeys seal TOTP secrets (PLANOAUTH_MFA_KEY; the first seals, all open); none makes
	// TOTP unavailable (mfa-method-unavailable).
	MFAKeys [][]byte
	// WebAuthn overrides the relying party derived from PublicURL (see mfa.NewRelyingParty).
	WebAuthn WebAuthnConfig
}

// WebAuthnConfig is the WebAuthn relying party when it is not the public URL's: its id (a
// domain that the origins' hosts end with) and the origins whose pages run ceremonies.
type WebAuthnConfig struct {
	RPID    string
	Origins []string
}

// DefaultPublicURL is the service's public URL unless configured: `make run`'s address.
const DefaultPublicURL = "http://127.0.0.1:8080"

// New returns the handlers; it fails on a public URL that is no http(s) origin.
func New(d Deps) (*Server, error) {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	q := db.New(d.Pool)
	publicURL := strings.TrimRight(cmp.Or(d.PublicURL, DefaultPublicURL), "/")
	redirects, err := redirect.NewChecker(q, publicURL)
	if err != nil {
		return nil, err
	}
	mailer := d.Mailer
	if mailer == nil {
		mailer = mail.NewLocal(q, now)
	}
	apps := d.Applications
	if apps == nil {
		apps = auth.NewApplications(q)
	}
	sealer, rp, err := secondFactors(d, cmp.Or(d.PublicURL, DefaultPublicURL))
	if err != nil {
		return nil, err
	}
	return &Server{sealer: sealer, rp: rp, pool: d.Pool, q: q, writer: d.Writer, log: d.Logger, now: now, sessions: d.SessionCache, apps: apps,
		hasher: password.New(d.Hasher), limits: limits.New(q, d.Limits, now), redirects: redirects,
		mailer: mailer, magicLinkURL: cmp.Or(d.MagicLinkURL, publicURL+pages.Path(pages.SignIn)+"?token="),
		google: google.NewVerifier(d.Google, now), inspector: d.Inspector,
		publicURL: publicURL, pwned: password.NewPwned(d.Pwned),
	}, nil
}

// secondFactors builds the TOTP sealer and the WebAuthn relying party. Either may be nil: no
// key, or a public URL whose host is an IP address other than loopback (then passkeys are off,
// with a warning).
func secondFactors(d Deps, publicURL string) (*seal.Sealer, *mfa.RelyingParty, error) {
	var sealer *seal.Sealer
	if len(d.MFAKeys) > 0 {
		var err error
		if sealer, err = seal.New(d.MFAKeys...); err != nil {
			return nil, nil, fmt.Errorf("PLANOAUTH_MFA_KEY: %w", err)
		}
	}
	rp, err := mfa.NewRelyingParty(publicURL, d.WebAuthn.RPID, d.WebAuthn.Origins, totpIssuer)
	if errors.Is(err, mfa.ErrNoRelyingParty) {
		if d.Logger != nil {
			d.Logger.Warn("passkeys are off: the public URL's host is an IP address (set PLANOAUTH_PUBLIC_URL with a domain, or PLANOAUTH_WEBAUTHN_RP_ID)", "public_url", publicURL)
		}
		return sealer, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return sealer, rp, nil
}

// Now returns the handlers' clock, which the authenticator shares.
func (s *Server) Now() time.Time { return s.now() }

// Collectors are the handlers' own metrics (password hashing), for a Prometheus registry.
func (s *Server) Collectors() []prometheus.Collector { return s.hasher.Collectors() }

// Wait returns when the work the handlers left running after their answers (emails sent after
// a reset request was answered) is done; call it before closing the database.
func (s *Server) Wait() { s.background.Wait() }
