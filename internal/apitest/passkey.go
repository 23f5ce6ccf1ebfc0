package apitest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Authenticator is a software WebAuthn authenticator for tests: it answers the ceremonies the
// API begins (the `data.options` of a begin) as a browser with a platform authenticator would,
// with ES256 keys, "none" attestation and discoverable credentials.
type Authenticator struct {
	// Origin is the page's origin the browser reports in clientDataJSON.
	Origin string
	// UserVerified says whether the authenticator verified its user (PIN, biometrics).
	UserVerified bool
	creds        []*softCredential
}

type softCredential struct {
	id     []byte
	rpID   string
	user   []byte
	key    *ecdsa.PrivateKey
	counts uint32
}

// NewAuthenticator returns an authenticator for pages at origin, verifying its user.
func NewAuthenticator(origin string) *Authenticator {
	return &Authenticator{Origin: origin, UserVerified: true}
}

var b64 = base64.RawURLEncoding

// Register answers a registration ceremony's options with a new credential, as the JSON of the
// PublicKeyCredential that navigator.credentials.create() returns.
func (a *Authenticator) Register(tb testing.TB, options map[string]any) map[string]any {
	tb.Helper()
	pk := publicKeyOptions(tb, options)
	rp, _ := pk["rp"].(map[string]any)
	user, _ := pk["user"].(map[string]any)
	rpID, _ := rp["id"].(string)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	c := &softCredential{id: randomBytes(16), rpID: rpID, user: decodeB64(tb, user["id"]), key: key}
	a.creds = append(a.creds, c)
	clientData := a.clientData(tb, "webauthn.create", pk["challenge"])
	authData := c.authData(a.flags() | 0x40)
	x, y := make([]byte, 32), make([]byte, 32)
	key.PublicKey.X.FillBytes(x)
	key.PublicKey.Y.FillBytes(y)
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		tb.Fatal(err)
	}
	attested := make([]byte, 18, 18+len(c.id)+len(cose))
	binary.BigEndian.PutUint16(attested[16:], uint16(len(c.id))) // the zero AAGUID, then the id's length
	attested = append(append(attested, c.id...), cose...)
	object, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": append(authData, attested...)})
	if err != nil {
		tb.Fatal(err)
	}
	return map[string]any{
		"id": b64.EncodeToString(c.id), "rawId": b64.EncodeToString(c.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(clientData),
			"attestationObject": b64.EncodeToString(object), "transports": []string{"internal"}},
		"clientExtensionResults": map[string]any{}, "authenticatorAttachment": "platform",
	}
}

// Assert answers an authentication ceremony's options with one of its credentials for the
// relying party (one of allowCredentials when the options list some), as the JSON of what
// navigator.credentials.get() returns.
func (a *Authenticator) Assert(tb testing.TB, options map[string]any) map[string]any {
	tb.Helper()
	pk := publicKeyOptions(tb, options)
	rpID, _ := pk["rpId"].(string)
	allowed := map[string]bool{}
	if list, ok := pk["allowCredentials"].([]any); ok {
		for _, item := range list {
			d, _ := item.(map[string]any)
			id, _ := d["id"].(string)
			allowed[id] = true
		}
	}
	for _, c := range a.creds {
		if c.rpID == rpID && (len(allowed) == 0 || allowed[b64.EncodeToString(c.id)]) {
			return a.assert(tb, c, pk["challenge"])
		}
	}
	tb.Fatalf("the authenticator has no credential for %s among %v", rpID, allowed)
	return nil
}

func (a *Authenticator) assert(tb testing.TB, c *softCredential, challenge any) map[string]any {
	tb.Helper()
	c.counts++
	clientData := a.clientData(tb, "webauthn.get", challenge)
	authData := c.authData(a.flags())
	hash := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte{}, authData...), hash[:]...))
	signature, err := ecdsa.SignASN1(rand.Reader, c.key, digest[:])
	if err != nil {
		tb.Fatal(err)
	}
	return map[string]any{
		"id": b64.EncodeToString(c.id), "rawId": b64.EncodeToString(c.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(clientData), "authenticatorData": b64.EncodeToString(authData),
			"signature": b64.EncodeToString(signature), "userHandle": b64.EncodeToString(c.user)},
		"clientExtensionResults": map[string]any{}, "authenticatorAttachment": "platform",
	}
}

// flags are the authenticator data flags: user present, and user verified when it is.
func (a *Authenticator) flags() byte {
	if a.UserVerified {
		return 0x01 | 0x04
	}
	return 0x01
}

func (c *softCredential) authData(flags byte) []byte {
	rpHash := sha256.Sum256([]byte(c.rpID))
	out := append(rpHash[:], flags, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(out[33:], c.counts)
	return out
}

func (a *Authenticator) clientData(tb testing.TB, kind string, challenge any) []byte {
	tb.Helper()
	b, err := json.Marshal(map[string]any{"type": kind, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func publicKeyOptions(tb testing.TB, options map[string]any) map[string]any {
	tb.Helper()
	pk, ok := options["publicKey"].(map[string]any)
	if !ok {
		tb.Fatalf("options without publicKey: %v", options)
	}
	return pk
}

func decodeB64(tb testing.TB, v any) []byte {
	tb.Helper()
	s, _ := v.(string)
	b, err := b64.DecodeString(s)
	if err != nil {
		tb.Fatalf("decode %q: %v", s, err)
	}
	return b
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
