// Package google verifies Google ID tokens (Sign in with Google) with go-oidc against the
// issuer's published keys.
package google

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/plano/planoauth/internal/emailaddr"
)

// Google's issuer and signing keys; tests and other deployments point them elsewhere.
const (
	DefaultIssuer  = "https://accounts.google.com"
	DefaultJWKSURL = "https://www.googleapis.com/oauth2/v3/certs"
	// keysTimeout bounds one fetch of Google's signing keys.
	keysTimeout = 10 * time.Second
)

// signingAlgs are the algorithms Google signs ID tokens with.
var signingAlgs = []jose.SignatureAlgorithm{jose.RS256}

// Why a Google ID token was refused. The first five are the caller's mistake about the
// parameter (invalid-param; ErrUnvouched: an authentic token whose address Google is not
// authoritative for, see authoritative); ErrRejected means the token is not authentic or no
// longer valid (invalid-token).
var (
	ErrDisabled     = errors.New("Google sign-in is not enabled for this application")
	ErrMalformed    = errors.New("is not a well-formed JWT signed with RS256")
	ErrAudience     = errors.New("was not issued for this application (an aud or the azp is not one of its Google client ids)")
	ErrNoEmail      = errors.New("does not carry a verified email address")
	ErrUnvouched    = errors.New("is from a Google account that Google does not vouch for as this address's owner (the address is neither a Gmail one nor of the account's Google Workspace domain, hd): sign in with an emailed link or a password instead")
	ErrRejected     = errors.New("Google ID token rejected")
	errKeysUnusable = errors.New("Google's signing keys could not be fetched")
)

// Config says which Google ID tokens are accepted.
type Config struct {
	Issuer  string // empty: DefaultIssuer
	JWKSURL string // empty: DefaultJWKSURL
	// ClientIDs are, per application slug, the OAuth client ids of that application: it accepts
	// only tokens issued to them (see Verify). An application without any: Google sign-in is
	// disabled for it. No client id may belong to two applications, or each would accept the
	// other's tokens (PLANOAUTH_GOOGLE_CLIENT_IDS is refused so).
	ClientIDs map[string][]string
}

// Identity is what a verified ID token says about its user. Verify returns only identities whose
// Email Google is authoritative for (see authoritative): Email's mailbox is the user's today.
type Identity struct {
	Subject   string
	Email     string
	FirstName string
	LastName  string
}

// Verifier verifies Google ID tokens with go-oidc against Google's published keys, which
// it caches and fetches again when a token names a key it has not seen.
type Verifier struct {
	clientIDs map[string][]string // per application slug
	verifier  *oidc.IDTokenVerifier
}

// NewVerifier returns a verifier for cfg judging expiry by now.
func NewVerifier(cfg Config, now func() time.Time) *Verifier {
	issuer, jwksURL := cfg.Issuer, cfg.JWKSURL
	if issuer == "" {
		issuer = DefaultIssuer
	}
	if jwksURL == "" {
		jwksURL = DefaultJWKSURL
	}
	client := &http.Client{Timeout: keysTimeout, Transport: okOnlyTransport{http.DefaultTransport}}
	keys := keySetProbe{oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), client), jwksURL)}
	algs := make([]string, len(signingAlgs))
	for i, alg := range signingAlgs {
		algs[i] = string(alg)
	}
	// The audience is checked here against the application's client ids (boundTo), which
	// go-oidc's check of one client id cannot; one verifier serves every application.
	verifier := oidc.NewVerifier(issuer, keys, &oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: algs, Now: now})
	clientIDs := make(map[string][]string, len(cfg.ClientIDs))
	for application, ids := range cfg.ClientIDs {
		clientIDs[application] = slices.Clone(ids)
	}
	return &Verifier{clientIDs: clientIDs, verifier: verifier}
}

// Verify checks a Google ID token sent to application (its slug): its form, signature,
// issuer, expiry, that it was issued to one of the application's client ids (boundTo), and
// that it carries a verified email that Google is authoritative for. It returns ErrDisabled (the
// application has no client ids), ErrMalformed, ErrAudience, ErrNoEmail, ErrUnvouched,
// ErrRejected (wrapping why), or another error when Google's keys could not be fetched.
func (g *Verifier) Verify(ctx context.Context, application, rawToken string) (Identity, error) {
	clientIDs := g.clientIDs[application]
	if len(clientIDs) == 0 {
		return Identity{}, ErrDisabled
	}
	// Parsed first so that garbage is told apart from a token that fails verification.
	if _, err := jose.ParseSigned(rawToken, signingAlgs); err != nil {
		return Identity{}, ErrMalformed
	}
	var keysErr error
	token, err := g.verifier.Verify(context.WithValue(ctx, keysErrKey, &keysErr), rawToken)
	switch {
	case keysErr != nil:
		return Identity{}, fmt.Errorf("%w: %w", errKeysUnusable, keysErr)
	case err != nil:
		return Identity{}, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	var c claims
	if err := token.Claims(&c); err != nil {
		return Identity{}, ErrMalformed
	}
	if !boundTo(token.Audience, c.AuthorizedParty, clientIDs) {
		return Identity{}, ErrAudience
	}
	return identityOf(token, c)
}

// boundTo reports whether a token was issued to the application whose client ids are clientIDs:
// every audience is one of them (a token also issued to another application's client would sign
// in there too), and so is the authorized party (azp) when the token names one. Google sets azp
// to the client that asked for the token, which differs from aud when an Android or iOS client
// asks for a token for its backend's web client: both must then be the application's.
func boundTo(audience []string, azp string, clientIDs []string) bool {
	for _, aud := range audience {
		if !slices.Contains(clientIDs, aud) {
			return false
		}
	}
	return len(audience) > 0 && (azp == "" || slices.Contains(clientIDs, azp))
}

// claims are the ID token claims PlanoAuth uses. Google has sent email_verified both as a
// boolean and as the string "true".
type claims struct {
	AuthorizedParty string          `json:"azp"`
	Email           string          `json:"email"`
	EmailVerified   json.RawMessage `json:"email_verified"`
	HostedDomain    string          `json:"hd"`
	GivenName       string          `json:"given_name"`
	FamilyName      string          `json:"family_name"`
}

func identityOf(token *oidc.IDToken, c claims) (Identity, error) {
	verified := string(c.EmailVerified) == "true" || string(c.EmailVerified) == `"true"`
	if c.Email == "" || !verified {
		return Identity{}, ErrNoEmail
	}
	if !authoritative(c.Email, c.HostedDomain) {
		return Identity{}, ErrUnvouched
	}
	return Identity{Subject: token.Subject, Email: c.Email, FirstName: c.GivenName, LastName: c.FamilyName}, nil
}

// authoritative reports whether Google vouches for the current owner of a verified email of an
// account whose hosted domain is hd: when the address is a Gmail one (Google's own mailboxes),
// or when hd, the account's Google Workspace domain, is the address's domain (the domain's
// organisation manages its accounts with Google). email_verified alone only says that Google
// checked the address once, when a personal Google account was made with it: whoever made it
// (a former employee, the address's previous owner) keeps the account after losing the
// mailbox. Domains are compared in emailaddr's form (normalized, IDNA ASCII).
func authoritative(email, hd string) bool {
	domain := emailaddr.Domain(email)
	switch {
	case domain == "gmail.com", domain == "googlemail.com":
		return true
	case hd == "" || domain == "":
		return false
	}
	return emailaddr.DomainForm(hd) == domain
}

// keysErrKey carries, through go-oidc, where keySetProbe reports that the keys were unavailable.
type keysErrKeyType struct{}

var keysErrKey keysErrKeyType

// keySetProbe tells "the keys could not be fetched" apart from "the signature is wrong", which
// go-oidc reports alike: a fetch failure surfaces here as a *url.Error (okOnlyTransport turns
// error answers into one) or a context error.
type keySetProbe struct{ keys oidc.KeySet }

func (p keySetProbe) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := p.keys.VerifySignature(ctx, jwt)
	if err != nil && keysUnavailable(err) {
		if report, ok := ctx.Value(keysErrKey).(*error); ok {
			*report = err
		}
	}
	return payload, err
}

func keysUnavailable(err error) bool {
	_, transport := errors.AsType[*url.Error](err)
	return transport || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// okOnlyTransport makes an answer other than 200 a transport error, so that keySetProbe sees it.
type okOnlyTransport struct{ base http.RoundTripper }

func (t okOnlyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(req)
	if err != nil || res.StatusCode == http.StatusOK {
		return res, err
	}
	res.Body.Close()
	return nil, fmt.Errorf("the key set answered %s", res.Status)
}
