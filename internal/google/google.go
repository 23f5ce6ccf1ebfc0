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

// Why a Google ID token was refused. The first four are the caller's mistake about the
// parameter (invalid-param); ErrRejected means the token is not authentic or no longer
// valid (invalid-token).
var (
	ErrDisabled     = errors.New("Google sign-in is not enabled on this server")
	ErrMalformed    = errors.New("is not a well-formed JWT signed with RS256")
	ErrAudience     = errors.New("was issued for an application this server does not accept")
	ErrNoEmail      = errors.New("does not carry a verified email address")
	ErrRejected     = errors.New("Google ID token rejected")
	errKeysUnusable = errors.New("Google's signing keys could not be fetched")
)

// Config says which Google ID tokens are accepted.
type Config struct {
	Issuer  string // empty: DefaultIssuer
	JWKSURL string // empty: DefaultJWKSURL
	// ClientIDs are the OAuth client ids whose tokens are accepted (the token's audience).
	// None: Google sign-in is disabled.
	ClientIDs []string
}

// Identity is what a verified ID token says about its user.
type Identity struct {
	Subject   string
	Email     string
	FirstName string
	LastName  string
}

// Verifier verifies Google ID tokens with go-oidc against Google's published keys, which
// it caches and fetches again when a token names a key it has not seen.
type Verifier struct {
	clientIDs []string
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
	// The audience is checked here against several client ids, which go-oidc's check cannot.
	verifier := oidc.NewVerifier(issuer, keys, &oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: algs, Now: now})
	return &Verifier{clientIDs: slices.Clone(cfg.ClientIDs), verifier: verifier}
}

// Verify checks a Google ID token's form, signature, issuer, expiry and audience, and that it
// carries a verified email. It returns ErrDisabled, ErrMalformed,
// ErrAudience, ErrNoEmail, ErrRejected (wrapping why), or another error
// when Google's keys could not be fetched.
func (g *Verifier) Verify(ctx context.Context, rawToken string) (Identity, error) {
	if len(g.clientIDs) == 0 {
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
	if !slices.ContainsFunc(token.Audience, func(aud string) bool { return slices.Contains(g.clientIDs, aud) }) {
		return Identity{}, ErrAudience
	}
	return identityOf(token)
}

// claims are the ID token claims PlanoAuth uses. Google has sent email_verified both as a
// boolean and as the string "true".
type claims struct {
	Email         string          `json:"email"`
	EmailVerified json.RawMessage `json:"email_verified"`
	GivenName     string          `json:"given_name"`
	FamilyName    string          `json:"family_name"`
}

func identityOf(token *oidc.IDToken) (Identity, error) {
	var c claims
	if err := token.Claims(&c); err != nil {
		return Identity{}, ErrMalformed
	}
	verified := string(c.EmailVerified) == "true" || string(c.EmailVerified) == `"true"`
	if c.Email == "" || !verified {
		return Identity{}, ErrNoEmail
	}
	return Identity{Subject: token.Subject, Email: c.Email, FirstName: c.GivenName, LastName: c.FamilyName}, nil
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
