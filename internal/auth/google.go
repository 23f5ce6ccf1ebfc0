package auth

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
	DefaultGoogleIssuer  = "https://accounts.google.com"
	DefaultGoogleJWKSURL = "https://www.googleapis.com/oauth2/v3/certs"
	// googleKeysTimeout bounds one fetch of Google's signing keys.
	googleKeysTimeout = 10 * time.Second
)

// googleSigningAlgs are the algorithms Google signs ID tokens with.
var googleSigningAlgs = []jose.SignatureAlgorithm{jose.RS256}

// Why a Google ID token was refused. The first four are the caller's mistake about the
// parameter (invalid-param); ErrIDTokenRejected means the token is not authentic or no longer
// valid (invalid-token).
var (
	ErrGoogleDisabled     = errors.New("Google sign-in is not enabled on this server")
	ErrIDTokenMalformed   = errors.New("is not a well-formed JWT signed with RS256")
	ErrIDTokenAudience    = errors.New("was issued for an application this server does not accept")
	ErrIDTokenNoEmail     = errors.New("does not carry a verified email address")
	ErrIDTokenRejected    = errors.New("Google ID token rejected")
	errGoogleKeysUnusable = errors.New("Google's signing keys could not be fetched")
)

// GoogleConfig says which Google ID tokens are accepted.
type GoogleConfig struct {
	Issuer  string // empty: DefaultGoogleIssuer
	JWKSURL string // empty: DefaultGoogleJWKSURL
	// ClientIDs are the OAuth client ids whose tokens are accepted (the token's audience).
	// None: Google sign-in is disabled.
	ClientIDs []string
}

// GoogleIdentity is what a verified ID token says about its user.
type GoogleIdentity struct {
	Subject   string
	Email     string
	FirstName string
	LastName  string
}

// GoogleVerifier verifies Google ID tokens with go-oidc against Google's published keys, which
// it caches and fetches again when a token names a key it has not seen.
type GoogleVerifier struct {
	clientIDs []string
	verifier  *oidc.IDTokenVerifier
}

// NewGoogleVerifier returns a verifier for cfg judging expiry by now.
func NewGoogleVerifier(cfg GoogleConfig, now func() time.Time) *GoogleVerifier {
	issuer, jwksURL := cfg.Issuer, cfg.JWKSURL
	if issuer == "" {
		issuer = DefaultGoogleIssuer
	}
	if jwksURL == "" {
		jwksURL = DefaultGoogleJWKSURL
	}
	client := &http.Client{Timeout: googleKeysTimeout, Transport: okOnlyTransport{http.DefaultTransport}}
	keys := keySetProbe{oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), client), jwksURL)}
	algs := make([]string, len(googleSigningAlgs))
	for i, alg := range googleSigningAlgs {
		algs[i] = string(alg)
	}
	// The audience is checked here against several client ids, which go-oidc's check cannot.
	verifier := oidc.NewVerifier(issuer, keys, &oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: algs, Now: now})
	return &GoogleVerifier{clientIDs: slices.Clone(cfg.ClientIDs), verifier: verifier}
}

// Verify checks a Google ID token's form, signature, issuer, expiry and audience, and that it
// carries a verified email. It returns ErrGoogleDisabled, ErrIDTokenMalformed,
// ErrIDTokenAudience, ErrIDTokenNoEmail, ErrIDTokenRejected (wrapping why), or another error
// when Google's keys could not be fetched.
func (g *GoogleVerifier) Verify(ctx context.Context, rawToken string) (GoogleIdentity, error) {
	if len(g.clientIDs) == 0 {
		return GoogleIdentity{}, ErrGoogleDisabled
	}
	// Parsed first so that garbage is told apart from a token that fails verification.
	if _, err := jose.ParseSigned(rawToken, googleSigningAlgs); err != nil {
		return GoogleIdentity{}, ErrIDTokenMalformed
	}
	var keysErr error
	token, err := g.verifier.Verify(context.WithValue(ctx, keysErrKey, &keysErr), rawToken)
	switch {
	case keysErr != nil:
		return GoogleIdentity{}, fmt.Errorf("%w: %w", errGoogleKeysUnusable, keysErr)
	case err != nil:
		return GoogleIdentity{}, fmt.Errorf("%w: %w", ErrIDTokenRejected, err)
	}
	if !slices.ContainsFunc(token.Audience, func(aud string) bool { return slices.Contains(g.clientIDs, aud) }) {
		return GoogleIdentity{}, ErrIDTokenAudience
	}
	return identityOf(token)
}

// googleClaims are the ID token claims PlanoAuth uses. Google has sent email_verified both as a
// boolean and as the string "true".
type googleClaims struct {
	Email         string          `json:"email"`
	EmailVerified json.RawMessage `json:"email_verified"`
	GivenName     string          `json:"given_name"`
	FamilyName    string          `json:"family_name"`
}

func identityOf(token *oidc.IDToken) (GoogleIdentity, error) {
	var c googleClaims
	if err := token.Claims(&c); err != nil {
		return GoogleIdentity{}, ErrIDTokenMalformed
	}
	verified := string(c.EmailVerified) == "true" || string(c.EmailVerified) == `"true"`
	if c.Email == "" || !verified {
		return GoogleIdentity{}, ErrIDTokenNoEmail
	}
	return GoogleIdentity{Subject: token.Subject, Email: c.Email, FirstName: c.GivenName, LastName: c.FamilyName}, nil
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
