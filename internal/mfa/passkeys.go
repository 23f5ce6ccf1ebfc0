package mfa

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// CeremonyLifetime is how long a WebAuthn ceremony's challenge works: the timeout the browser is
// given, and the server's own expiry of the challenge (judged by the handlers' clock).
const CeremonyLifetime = 5 * time.Minute

// ErrNoRelyingParty is a public URL whose host cannot be a WebAuthn relying party id (an IP
// address other than loopback): passkeys are then unavailable.
var ErrNoRelyingParty = errors.New("the public URL's host is an IP address, which cannot be a WebAuthn relying party id")

// ErrPasskey is an answer of an authenticator (or what claims to be one) that is refused: it is
// malformed, or fails verification. Its cause says why, for logs.
var ErrPasskey = errors.New("the passkey's answer was refused")

// RelyingParty is the service as a WebAuthn relying party: its id (a domain) and the origins
// whose pages may run ceremonies.
type RelyingParty struct {
	ID      string
	Origins []string
	w       *webauthn.WebAuthn
}

// NewRelyingParty derives the relying party from the service's public URL: its host is the id
// and its origin the one allowed, unless id and origins are given. A loopback IP address (make
// run's 127.0.0.1) cannot be an id, so there it is localhost, with the origin
// http://localhost:PORT: passkeys then work on pages opened at localhost. Any other IP address
// answers ErrNoRelyingParty.
func NewRelyingParty(publicURL, id string, origins []string, displayName string) (*RelyingParty, error) {
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("public URL %q: %w", publicURL, err)
	}
	host := u.Hostname()
	defaultOrigins := []string{u.Scheme + "://" + u.Host}
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			if id == "" {
				return nil, ErrNoRelyingParty
			}
		} else {
			host = "localhost"
			local := u.Scheme + "://localhost"
			if u.Port() != "" {
				local += ":" + u.Port()
			}
			defaultOrigins = []string{local}
		}
	}
	if id == "" {
		id = host
	}
	if len(origins) == 0 {
		origins = defaultOrigins
	}
	w, err := webauthn.New(&webauthn.Config{
		RPID: id, RPDisplayName: displayName, RPOrigins: origins,
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementPreferred, UserVerification: protocol.VerificationPreferred},
		// The challenge's expiry is the server's (the stored ceremony), by its own clock.
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: CeremonyLifetime, TimeoutUVD: CeremonyLifetime},
			Registration: webauthn.TimeoutConfig{Timeout: CeremonyLifetime, TimeoutUVD: CeremonyLifetime},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("WebAuthn relying party %s for %v: %w", id, origins, err)
	}
	return &RelyingParty{ID: id, Origins: origins, w: w}, nil
}

// User is a user as a WebAuthn ceremony knows it.
type User struct {
	Handle      []byte // the WebAuthn user handle: random, stable
	Email       string
	DisplayName string
	Credentials []webauthn.Credential
}

// WebAuthnID implements webauthn.User.
func (u User) WebAuthnID() []byte { return u.Handle }

// WebAuthnName implements webauthn.User.
func (u User) WebAuthnName() string { return u.Email }

// WebAuthnDisplayName implements webauthn.User.
func (u User) WebAuthnDisplayName() string { return u.DisplayName }

// WebAuthnCredentials implements webauthn.User.
func (u User) WebAuthnCredentials() []webauthn.Credential { return u.Credentials }

// NewUserHandle returns a new random user handle (64 bytes, the most WebAuthn allows).
func NewUserHandle() []byte {
	b, _ := protocol.CreateChallenge() // 32 random bytes
	c, _ := protocol.CreateChallenge()
	return append(b, c...)
}

// Ceremony is a begun ceremony: Options go to the browser, Data and ChallengeHash stay on the
// server until the finish.
type Ceremony struct {
	Options       map[string]any
	Data          []byte // webauthn.SessionData as JSON
	ChallengeHash []byte
}

func newCeremony(options any, session *webauthn.SessionData) (Ceremony, error) {
	raw, err := json.Marshal(options)
	if err != nil {
		return Ceremony{}, fmt.Errorf("encode WebAuthn options: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return Ceremony{}, fmt.Errorf("decode WebAuthn options: %w", err)
	}
	data, err := json.Marshal(session)
	if err != nil {
		return Ceremony{}, fmt.Errorf("encode a WebAuthn ceremony: %w", err)
	}
	return Ceremony{Options: out, Data: data, ChallengeHash: ChallengeHash(session.Challenge)}, nil
}

// ChallengeHash is how a ceremony is found from the challenge an answer carries (base64url).
func ChallengeHash(challenge string) []byte {
	sum := sha256.Sum256([]byte(challenge))
	return sum[:]
}

// BeginRegistration begins registering a passkey for user: a discoverable credential if the
// authenticator can (so that it can sign in without a password), never one it holds already.
func (rp *RelyingParty) BeginRegistration(user User) (Ceremony, error) {
	exclude := webauthn.Credentials(user.Credentials).CredentialDescriptors()
	options, session, err := rp.w.BeginRegistration(user, webauthn.WithExclusions(exclude))
	if err != nil {
		return Ceremony{}, fmt.Errorf("begin a WebAuthn registration: %w", err)
	}
	return newCeremony(options, session)
}

// BeginSignIn begins a passwordless sign-in: any discoverable credential, with user
// verification required (which makes the passkey two factors).
func (rp *RelyingParty) BeginSignIn() (Ceremony, error) {
	options, session, err := rp.w.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return Ceremony{}, fmt.Errorf("begin a WebAuthn sign-in: %w", err)
	}
	return newCeremony(options, session)
}

// BeginVerification begins a second-factor check with one of user's passkeys.
func (rp *RelyingParty) BeginVerification(user User) (Ceremony, error) {
	options, session, err := rp.w.BeginLogin(user, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return Ceremony{}, fmt.Errorf("begin a WebAuthn verification: %w", err)
	}
	return newCeremony(options, session)
}

// Registration is a parsed registration answer, not verified yet.
type Registration struct {
	parsed *protocol.ParsedCredentialCreationData
	// ChallengeHash finds the ceremony it answers.
	ChallengeHash []byte
}

// ParseRegistration reads a PublicKeyCredential of navigator.credentials.create() as JSON.
func ParseRegistration(credentialJSON []byte) (Registration, error) {
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credentialJSON)
	if err != nil {
		return Registration{}, refused(err)
	}
	return Registration{parsed: parsed, ChallengeHash: ChallengeHash(parsed.Response.CollectedClientData.Challenge)}, nil
}

// FinishRegistration verifies a registration against its ceremony (data) for user and returns
// the new credential.
func (rp *RelyingParty) FinishRegistration(user User, data []byte, r Registration) (*webauthn.Credential, error) {
	session, err := sessionData(data)
	if err != nil {
		return nil, err
	}
	credential, err := rp.w.CreateCredential(user, session, r.parsed)
	if err != nil {
		return nil, refused(err)
	}
	return credential, nil
}

// Assertion is a parsed authentication answer, not verified yet.
type Assertion struct {
	parsed        *protocol.ParsedCredentialAssertionData
	ChallengeHash []byte
	// UserHandle is what a discoverable credential says its user is (to be verified).
	UserHandle []byte
}

// ParseAssertion reads a PublicKeyCredential of navigator.credentials.get() as JSON.
func ParseAssertion(credentialJSON []byte) (Assertion, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credentialJSON)
	if err != nil {
		return Assertion{}, refused(err)
	}
	return Assertion{parsed: parsed, ChallengeHash: ChallengeHash(parsed.Response.CollectedClientData.Challenge),
		UserHandle: parsed.Response.UserHandle}, nil
}

// FinishAssertion verifies an assertion against its ceremony (data) and user's credentials (for
// a sign-in, the user its handle names), and returns the credential used, with its sign count
// and flags updated for storing. An authenticator that looks cloned (its counter went back) is
// refused.
func (rp *RelyingParty) FinishAssertion(user User, data []byte, a Assertion) (*webauthn.Credential, error) {
	session, err := sessionData(data)
	if err != nil {
		return nil, err
	}
	var credential *webauthn.Credential
	if len(session.UserID) == 0 { // a discoverable sign-in
		_, credential, err = rp.w.ValidatePasskeyLogin(func(_, _ []byte) (webauthn.User, error) { return user, nil }, session, a.parsed)
	} else {
		credential, err = rp.w.ValidateLogin(user, session, a.parsed)
	}
	if err != nil {
		return nil, refused(err)
	}
	if credential.Authenticator.CloneWarning {
		return nil, fmt.Errorf("%w: the signature counter went back (a cloned authenticator?)", ErrPasskey)
	}
	return credential, nil
}

func sessionData(data []byte) (webauthn.SessionData, error) {
	var session webauthn.SessionData
	if err := json.Unmarshal(data, &session); err != nil {
		return session, fmt.Errorf("decode a stored WebAuthn ceremony: %w", err)
	}
	return session, nil
}

// refused wraps a refusal of the library as ErrPasskey, with its details for logs.
func refused(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return fmt.Errorf("%w: %s: %s %s", ErrPasskey, pe.Type, pe.Details, pe.DevInfo)
	}
	return fmt.Errorf("%w: %v", ErrPasskey, err)
}
