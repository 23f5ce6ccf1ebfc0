package impl_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/emailaddr"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/google"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
)

const (
	testIssuerURL = "https://accounts.test.example"
	clientA       = "client-a.apps.test.example"  // planoorder's web client
	clientA2      = "client-a2.apps.test.example" // planoorder's Android client
	clientB       = "client-b.apps.test.example"  // planox2's
	clientC       = "client-c.apps.test.example"  // planoauth's
)

// testIssuer stands in for Google: a key pair of the test's own, its public half served as a
// JWKS on loopback, and ID tokens signed by the test.
type testIssuer struct {
	key      *rsa.PrivateKey
	jwks     *httptest.Server
	fetches  atomic.Int32
	jwksDown atomic.Bool
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	iss := &testIssuer{key: newRSAKey(t)}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &iss.key.PublicKey, KeyID: "key-1", Algorithm: "RS256", Use: "sig"}}}
	iss.jwks = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		iss.fetches.Add(1)
		if iss.jwksDown.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(iss.jwks.Close)
	return iss
}

func newRSAKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// config is the google.Config that trusts this issuer, with two client ids for planoorder and
// one each for planox2 and planoauth.
func (iss *testIssuer) config() google.Config {
	return google.Config{Issuer: testIssuerURL, JWKSURL: iss.jwks.URL, ClientIDs: map[string][]string{
		"planoorder": {clientA, clientA2}, "planox2": {clientB}, "planoauth": {clientC}}}
}

// claims are valid ID token claims for email at now, issued to planoorder (clientA) by a Google
// account Google is authoritative for: a Gmail address, or else one of a Google Workspace
// account of the address's domain (hd); tests change them to break one rule.
func claims(email string, now time.Time) map[string]any {
	c := map[string]any{
		"iss": testIssuerURL, "aud": clientA, "sub": "google-" + email, "email": email, "email_verified": true,
		"given_name": "Grace", "family_name": "Hopper", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	if domain := strings.ToLower(email[strings.LastIndexByte(email, '@')+1:]); domain != "gmail.com" && domain != "googlemail.com" {
		c["hd"] = domain
	}
	return c
}

// sign signs claims with the issuer's key, or another key and key id when given.
func (iss *testIssuer) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	return signWith(t, iss.key, "key-1", jose.RS256, claims)
}

func signWith(t *testing.T, key any, kid string, alg jose.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func googleLogin(env *apitest.Env, idToken, application string) *apitest.Response {
	env.T.Helper()
	return env.PostSensitive(sessionsGoogle, map[string]any{"id_token": idToken, "application": application}, "")
}

func TestSessionsGoogle(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) { d.Google = iss.config() }))
	env.User("client@example.com", password, "client")

	t.Run("NewUserIsClientRequired", func(t *testing.T) {
		token := iss.sign(t, claims("grace@example.com", env.Clock.Now()))
		res := googleLogin(env, token, "planoorder").Expect(t, 401, gen.StatusClientRequired)
		s := res.Envelope.Session
		if s == nil || s.Token == nil || *s.Role != gen.RoleNone {
			t.Fatalf("client-required answered no limited session: %s", res.Raw)
		}
		var first, last string
		var hash *string
		err := env.Pool.QueryRow(context.Background(),
			"SELECT first_name, last_name, password_hash FROM users WHERE email = 'grace@example.com'").Scan(&first, &last, &hash)
		if err != nil {
			t.Fatal(err)
		}
		if first != "Grace" || last != "Hopper" || hash != nil {
			t.Errorf("user = %s %s with password hash %v, want Grace Hopper without a password", first, last, hash)
		}
		// The same Google account again: the same user, no second one.
		googleLogin(env, token, "planoorder").Expect(t, 401, gen.StatusClientRequired)
		if n := countUsers(t, env, "grace@example.com"); n != 1 {
			t.Errorf("%d users for grace@example.com, want 1", n)
		}
		// A password log-in is refused: the user has none.
		login(env, map[string]any{"email": "grace@example.com", "password": password, "application": "planoorder"}).
			Expect(t, 400, gen.StatusUserHasNoPassword)
	})
	t.Run("ErrUserRequiresRole", func(t *testing.T) {
		c := claims("grace@example.com", env.Clock.Now())
		c["aud"] = clientB
		googleLogin(env, iss.sign(t, c), "planox2").Expect(t, 400, gen.StatusUserRequiresRole)
	})
	t.Run("ExistingClient", func(t *testing.T) {
		c := claims("CLIENT@example.com", env.Clock.Now())
		c["aud"], c["azp"] = clientA2, clientA // each of planoorder's client ids is accepted, as aud or azp
		res := googleLogin(env, iss.sign(t, c), "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
		var s gen.Session
		res.Data(t, &s)
		if s.Token == nil || *s.Role != gen.RoleClient || s.User.Email != "client@example.com" {
			t.Errorf("session = %s, want the existing client's session", res.Envelope.Data)
		}
	})
	t.Run("EmailVerifiedAsString", func(t *testing.T) {
		c := claims("client@example.com", env.Clock.Now())
		c["email_verified"] = "true"
		googleLogin(env, iss.sign(t, c), "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	})

	invalidParam := map[string]func() string{
		"ErrWrongAudience": func() string {
			c := claims("client@example.com", env.Clock.Now())
			c["aud"] = "someone-else.apps.test.example"
			return iss.sign(t, c)
		},
		"ErrOtherApplicationsAudience": func() string {
			c := claims("client@example.com", env.Clock.Now())
			c["aud"] = clientB // planox2's
			return iss.sign(t, c)
		},
		"ErrAlsoAnotherApplicationsAudience": func() string {
			c := claims("client@example.com", env.Clock.Now())
			c["aud"], c["azp"] = []string{clientA, clientB}, clientA // also issued to planox2's client
			return iss.sign(t, c)
		},
		"ErrOtherApplicationsAuthorizedParty": func() string {
			c := claims("client@example.com", env.Clock.Now())
			c["azp"] = clientB // planox2's client asked for a token for planoorder's
			return iss.sign(t, c)
		},
		"ErrNoAudience": func() string {
			c := claims("client@example.com", env.Clock.Now())
			delete(c, "aud")
			return iss.sign(t, c)
		},
		"ErrEmailNotVerified": func() string {
			c := claims("client@example.com", env.Clock.Now())
			c["email_verified"] = false
			return iss.sign(t, c)
		},
		"ErrNoEmail": func() string {
			c := claims("client@example.com", env.Clock.Now())
			delete(c, "email")
			return iss.sign(t, c)
		},
		"ErrNotAJWT":         func() string { return "not-a-jwt" },
		"ErrGarbageSegments": func() string { return "abc.def.ghi" },
		"ErrHS256": func() string {
			return signWith(t, []byte("a shared secret of thirty-two bytes!"), "key-1", jose.HS256, claims("client@example.com", env.Clock.Now()))
		},
	}
	for name, token := range invalidParam {
		t.Run(name, func(t *testing.T) {
			res := googleLogin(env, token(), "planoorder").Expect(t, 400, gen.StatusInvalidParam)
			if got := res.Params(); len(got) != 1 || got[0] != "id_token" {
				t.Errorf("errors = %v, want [id_token]", got)
			}
		})
	}

	invalidToken := map[string]func() string{
		"ErrExpired": func() string {
			c := claims("client@example.com", env.Clock.Now())
			c["exp"] = env.Clock.Now().Add(-time.Second).Unix()
			return iss.sign(t, c)
		},
		"ErrBadSignature": func() string { // the issuer's key id, another key
			return signWith(t, newRSAKey(t), "key-1", jose.RS256, claims("client@example.com", env.Clock.Now()))
		},
		"ErrUnknownKey": func() string {
			return signWith(t, newRSAKey(t), "key-2", jose.RS256, claims("client@example.com", env.Clock.Now()))
		},
		"ErrOtherIssuer": func() string {
			c := claims("client@example.com", env.Clock.Now())
			c["iss"] = "https://evil.test.example"
			return iss.sign(t, c)
		},
		"ErrTamperedPayload": func() string {
			token := iss.sign(t, claims("client@example.com", env.Clock.Now()))
			other := iss.sign(t, claims("grace@example.com", env.Clock.Now()))
			return splice(token, other) // header and signature of one, payload of the other
		},
	}
	for name, token := range invalidToken {
		t.Run(name, func(t *testing.T) {
			googleLogin(env, token(), "planoorder").Expect(t, 401, gen.StatusInvalidToken)
		})
	}
	t.Run("ExpiresWithTheClock", func(t *testing.T) {
		token := iss.sign(t, claims("client@example.com", env.Clock.Now()))
		env.Clock.Advance(time.Hour + time.Second)
		googleLogin(env, token, "planoorder").Expect(t, 401, gen.StatusInvalidToken)
	})
}

// splice returns a's header and signature around b's payload.
func splice(a, b string) string {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	return pa[0] + "." + pb[1] + "." + pa[2]
}

func countUsers(t *testing.T, env *apitest.Env, email string) int {
	t.Helper()
	var n int
	if err := env.Pool.QueryRow(context.Background(), "SELECT count(*) FROM users WHERE email = $1", emailaddr.Normalize(email)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSessionsGoogleDisabled: without client ids, or without ids of its own, an application
// answers every ID token invalid-param (Google sign-in disabled) without fetching the keys.
func TestSessionsGoogleDisabled(t *testing.T) {
	t.Parallel()
	for name, ids := range map[string]map[string][]string{
		"NoClientIDs":          nil,
		"OtherApplicationsIDs": {"planox2": {clientA}}, // planoorder's own client id given to planox2 alone
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			iss := newTestIssuer(t)
			env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
				d.Google = google.Config{Issuer: testIssuerURL, JWKSURL: iss.jwks.URL, ClientIDs: ids}
			}))
			res := googleLogin(env, iss.sign(t, claims("grace@example.com", env.Clock.Now())), "planoorder").Expect(t, 400, gen.StatusInvalidParam)
			if len(res.Envelope.Errors) != 1 || res.Envelope.Errors[0].Param != "id_token" || res.Envelope.Errors[0].Message != google.ErrDisabled.Error() {
				t.Errorf("errors = %+v, want id_token: %s", res.Envelope.Errors, google.ErrDisabled)
			}
			if n := iss.fetches.Load(); n != 0 {
				t.Errorf("the keys were fetched %d times although Google sign-in is disabled", n)
			}
			if n := countUsers(t, env, "grace@example.com"); n != 0 {
				t.Errorf("a refused ID token created %d users", n)
			}
		})
	}
}

func TestSessionsGoogleKeysUnavailable(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	iss.jwksDown.Store(true)
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) { d.Google = iss.config() }))
	token := iss.sign(t, claims("grace@example.com", env.Clock.Now()))
	googleLogin(env, token, "planoorder").Expect(t, 500, gen.StatusApplicationCrash)
	iss.jwksDown.Store(false)
	googleLogin(env, token, "planoorder").Expect(t, 401, gen.StatusClientRequired)
}

func TestSessionsGoogleRateLimited(t *testing.T) {
	t.Parallel()
	iss := newTestIssuer(t)
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.Google = iss.config()
		d.Limits.SignIn = limits.Throttle{PerAccount: 10, PerKnown: 10, PerAddress: 2, Window: time.Minute}
	}))
	expired := claims("grace@example.com", env.Clock.Now())
	expired["exp"] = env.Clock.Now().Add(-time.Minute).Unix()
	for range 2 {
		googleLogin(env, iss.sign(t, expired), "planoorder").Expect(t, 401, gen.StatusInvalidToken)
	}
	googleLogin(env, iss.sign(t, claims("grace@example.com", env.Clock.Now())), "planoorder").Expect(t, 429, gen.StatusRateLimited)
}
