package impl_test

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
)

// The harness serves at the default public URL, http://127.0.0.1:8080: a loopback address, so
// the relying party is localhost and pages run ceremonies at http://localhost:8080.
const passkeyOrigin = "http://localhost:8080"

// options reads a begin's data.options.
func options(t *testing.T, res *apitest.Response) map[string]any {
	t.Helper()
	var c struct {
		Options map[string]any `json:"options"`
	}
	res.Data(t, &c)
	return c.Options
}

// registerPasskey registers a new passkey of a on the session's user and returns the answer.
func registerPasskey(t *testing.T, env *apitest.Env, a *apitest.Authenticator, token string) gen.MFAChange {
	t.Helper()
	opts := options(t, mfaPost(env, "", passkeyRegisterBegin, map[string]any{}, token).Expect(t, 200, gen.StatusActionSuccessful))
	var change gen.MFAChange
	mfaPost(env, "", passkeyRegisterEnd, map[string]any{"credential": a.Register(t, opts), "name": "Laptop"}, token).
		Expect(t, 200, gen.StatusActionSuccessful).Data(t, &change)
	return change
}

// passkeySignIn signs in with a passkey of a from address and returns the answer.
func passkeySignIn(t *testing.T, env *apitest.Env, a *apitest.Authenticator, address string) *apitest.Response {
	t.Helper()
	opts := options(t, mfaPost(env, address, passkeySignInBegin, map[string]any{"application": "planoorder"}, "").Expect(t, 200, gen.StatusActionSuccessful))
	return mfaPost(env, address, passkeySignInEnd, map[string]any{"credential": a.Assert(t, opts), "application": "planoorder"}, "")
}

func TestPasskeyRegistration(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	token := env.Login("ada@example.com", password, "planoorder")
	a := apitest.NewAuthenticator(passkeyOrigin)

	opts := options(t, mfaPost(env, "", passkeyRegisterBegin, map[string]any{}, token).Expect(t, 200, gen.StatusActionSuccessful))
	pk := opts["publicKey"].(map[string]any)
	if rp := pk["rp"].(map[string]any); rp["id"] != "localhost" {
		t.Errorf("relying party %v, want localhost", rp)
	}
	if sel, _ := pk["authenticatorSelection"].(map[string]any); sel["residentKey"] != "preferred" {
		t.Errorf("authenticator selection %v, want a discoverable credential preferred", sel)
	}
	credential := a.Register(t, opts)

	t.Run("ErrOtherSession", func(t *testing.T) {
		other := env.Login("ada@example.com", password, "planoorder")
		mfaPost(env, "", passkeyRegisterEnd, map[string]any{"credential": credential}, other).Expect(t, 400, gen.StatusInvalidPasskey)
	})
	t.Run("ErrOtherOrigin", func(t *testing.T) {
		evil := apitest.NewAuthenticator("http://localhost.evil.example:8080")
		opts := options(t, mfaPost(env, "", passkeyRegisterBegin, map[string]any{}, token).Expect(t, 200, gen.StatusActionSuccessful))
		mfaPost(env, "", passkeyRegisterEnd, map[string]any{"credential": evil.Register(t, opts)}, token).Expect(t, 400, gen.StatusInvalidPasskey)
	})
	t.Run("ErrGarbage", func(t *testing.T) {
		mfaPost(env, "", passkeyRegisterEnd, map[string]any{"credential": map[string]any{
			"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": map[string]any{"clientDataJSON": "e30", "attestationObject": "oA"}}}, token).
			Expect(t, 400, gen.StatusInvalidPasskey)
	})
	// The begin above replaced the first ceremony of this session: begin again for the real one.
	opts = options(t, mfaPost(env, "", passkeyRegisterBegin, map[string]any{}, token).Expect(t, 200, gen.StatusActionSuccessful))
	credential = a.Register(t, opts)
	var change gen.MFAChange
	mfaPost(env, "", passkeyRegisterEnd, map[string]any{"credential": credential, "name": "Laptop"}, token).
		Expect(t, 200, gen.StatusActionSuccessful).Data(t, &change)
	t.Run("OK", func(t *testing.T) {
		if len(change.Factors.Passkeys) != 1 || change.Factors.Passkeys[0].Name != "Laptop" || !change.Factors.Required {
			t.Errorf("factors %+v", change.Factors)
		}
		if change.RecoveryCodes == nil || len(*change.RecoveryCodes) != 10 {
			t.Error("a first factor answered no recovery codes")
		}
		wantLevel(t, change.Session, gen.AAL2, gen.MethodPwd, gen.MethodWebauthn)
	})
	t.Run("ErrReplay", func(t *testing.T) {
		mfaPost(env, "", passkeyRegisterEnd, map[string]any{"credential": credential}, token).Expect(t, 400, gen.StatusInvalidPasskey)
	})
	t.Run("ErrRegisteredAlready", func(t *testing.T) {
		// A second begin excludes the passkey the user has.
		opts := options(t, mfaPost(env, "", passkeyRegisterBegin, map[string]any{}, token).Expect(t, 200, gen.StatusActionSuccessful))
		excluded, _ := opts["publicKey"].(map[string]any)["excludeCredentials"].([]any)
		if len(excluded) != 1 {
			t.Errorf("excludeCredentials %v, want the registered passkey", excluded)
		}
	})
	t.Run("ErrExpired", func(t *testing.T) {
		opts := options(t, mfaPost(env, "", passkeyRegisterBegin, map[string]any{}, token).Expect(t, 200, gen.StatusActionSuccessful))
		env.Clock.Advance(5 * time.Minute)
		mfaPost(env, "", passkeyRegisterEnd, map[string]any{"credential": a.Register(t, opts)}, token).Expect(t, 400, gen.StatusInvalidPasskey)
	})
}

func TestPasskeySignIn(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	a := apitest.NewAuthenticator(passkeyOrigin)
	registerPasskey(t, env, a, env.Login("ada@example.com", password, "planoorder"))

	t.Run("OK", func(t *testing.T) {
		res := passkeySignIn(t, env, a, addr(2)).Expect(t, 200, gen.StatusActionSuccessful)
		var s gen.Session
		res.Data(t, &s)
		wantLevel(t, s, gen.AAL2, gen.MethodWebauthn)
		if s.Token == nil || s.DeviceToken == nil || s.User == nil || s.User.Email != "ada@example.com" {
			t.Errorf("sign-in answered %s", res.Raw)
		}
		env.Get(scopesLiaisonRegister, *s.Token).Expect(t, 200, gen.StatusActionSuccessful)
	})
	t.Run("the begin asks for a discoverable credential, verified", func(t *testing.T) {
		opts := options(t, mfaPost(env, "", passkeySignInBegin, map[string]any{"application": "planoorder"}, "").Expect(t, 200, gen.StatusActionSuccessful))
		pk := opts["publicKey"].(map[string]any)
		if pk["userVerification"] != "required" || pk["allowCredentials"] != nil || pk["rpId"] != "localhost" {
			t.Errorf("sign-in options %v", pk)
		}
	})
	t.Run("ErrUserNotVerified", func(t *testing.T) {
		a.UserVerified = false
		defer func() { a.UserVerified = true }()
		passkeySignIn(t, env, a, addr(3)).Expect(t, 400, gen.StatusInvalidPasskey)
	})
	t.Run("ErrReplay", func(t *testing.T) {
		opts := options(t, mfaPost(env, "", passkeySignInBegin, map[string]any{"application": "planoorder"}, "").Expect(t, 200, gen.StatusActionSuccessful))
		assertion := a.Assert(t, opts)
		mfaPost(env, "", passkeySignInEnd, map[string]any{"credential": assertion, "application": "planoorder"}, "").Expect(t, 200, gen.StatusActionSuccessful)
		mfaPost(env, "", passkeySignInEnd, map[string]any{"credential": assertion, "application": "planoorder"}, "").Expect(t, 400, gen.StatusInvalidPasskey)
	})
	t.Run("ErrOtherApplication", func(t *testing.T) {
		opts := options(t, mfaPost(env, "", passkeySignInBegin, map[string]any{"application": "planoorder"}, "").Expect(t, 200, gen.StatusActionSuccessful))
		mfaPost(env, "", passkeySignInEnd, map[string]any{"credential": a.Assert(t, opts), "application": "planoauth"}, "").Expect(t, 400, gen.StatusInvalidPasskey)
	})
	t.Run("ErrBadSignature", func(t *testing.T) {
		opts := options(t, mfaPost(env, "", passkeySignInBegin, map[string]any{"application": "planoorder"}, "").Expect(t, 200, gen.StatusActionSuccessful))
		assertion := a.Assert(t, opts)
		response := assertion["response"].(map[string]any)
		sig, _ := base64.RawURLEncoding.DecodeString(response["signature"].(string))
		sig[len(sig)-1] ^= 1
		response["signature"] = base64.RawURLEncoding.EncodeToString(sig)
		mfaPost(env, "", passkeySignInEnd, map[string]any{"credential": assertion, "application": "planoorder"}, "").Expect(t, 400, gen.StatusInvalidPasskey)
	})
	t.Run("ErrUnknownPasskey", func(t *testing.T) {
		stranger := apitest.NewAuthenticator(passkeyOrigin)
		env.User("grace@example.com", password, "client")
		registerPasskey(t, env, stranger, env.Login("grace@example.com", password, "planoorder"))
		// grace's authenticator claims to be ada's (her user handle) with its own key.
		opts := options(t, mfaPost(env, "", passkeySignInBegin, map[string]any{"application": "planoorder"}, "").Expect(t, 200, gen.StatusActionSuccessful))
		forged := stranger.Assert(t, opts)
		adaOpts := options(t, mfaPost(env, "", passkeySignInBegin, map[string]any{"application": "planoorder"}, "").Expect(t, 200, gen.StatusActionSuccessful))
		forged["response"].(map[string]any)["userHandle"] = a.Assert(t, adaOpts)["response"].(map[string]any)["userHandle"]
		mfaPost(env, "", passkeySignInEnd, map[string]any{"credential": forged, "application": "planoorder"}, "").Expect(t, 400, gen.StatusInvalidPasskey)
	})
}

// Failed passkey sign-ins cost the address a sign-in attempt each (the begin's), given back when
// the finish signs someone in.
func TestPasskeySignInLimitedPerAddress(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) { d.Limits.SignIn.PerAddress = 3 }))
	env.User("ada@example.com", password, "client")
	a := apitest.NewAuthenticator(passkeyOrigin)
	registerPasskey(t, env, a, env.Login("ada@example.com", password, "planoorder"))
	for range 5 { // successes give their use back
		passkeySignIn(t, env, a, addr(2)).Expect(t, 200, gen.StatusActionSuccessful)
	}
	got := concurrently(6, func(int) *apitest.Response {
		return mfaPost(env, addr(3), passkeySignInBegin, map[string]any{"application": "planoorder"}, "")
	})
	if got.counts["200 action-successful"] != 3 || got.counts["429 rate-limited"] != 3 {
		t.Errorf("begins from one address: %v, want 3 and then rate-limited", got)
	}
}

func TestPasskeyAsSecondFactor(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	a := apitest.NewAuthenticator(passkeyOrigin)
	registerPasskey(t, env, a, env.Login("ada@example.com", password, "planoorder"))

	limited := *limitedSignIn(t, env, addr(2), "ada@example.com", gen.StatusMfaRequired).Token
	opts := options(t, mfaPost(env, "", passkeyVerifyBegin, map[string]any{}, limited).Expect(t, 200, gen.StatusActionSuccessful))
	if allowed, _ := opts["publicKey"].(map[string]any)["allowCredentials"].([]any); len(allowed) != 1 {
		t.Errorf("allowCredentials %v, want the user's passkey", allowed)
	}
	assertion := a.Assert(t, opts)
	t.Run("ErrOtherSession", func(t *testing.T) {
		other := *limitedSignIn(t, env, addr(3), "ada@example.com", gen.StatusMfaRequired).Token
		mfaPost(env, "", passkeyVerifyEnd, map[string]any{"credential": assertion}, other).Expect(t, 400, gen.StatusInvalidPasskey)
	})
	var s gen.Session
	mfaPost(env, addr(2), passkeyVerifyEnd, map[string]any{"credential": assertion}, limited).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
	wantLevel(t, s, gen.AAL2, gen.MethodPwd, gen.MethodWebauthn)
	if s.DeviceToken == nil {
		t.Error("completing the sign-in answered no device token")
	}
	env.Get(scopesLiaisonRegister, limited).Expect(t, 200, gen.StatusActionSuccessful)

	t.Run("ErrNoPasskey", func(t *testing.T) {
		env.User("grace@example.com", password, "client")
		grace := env.Login("grace@example.com", password, "planoorder")
		mfaPost(env, "", passkeyVerifyBegin, map[string]any{}, grace).Expect(t, 400, gen.StatusInvalidParam)
	})
}

func TestPasskeyDelete(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	token := env.Login("ada@example.com", password, "planoorder")
	a := apitest.NewAuthenticator(passkeyOrigin)
	first := registerPasskey(t, env, a, token)
	second := registerPasskey(t, env, a, token)
	if second.RecoveryCodes != nil || len(second.Factors.Passkeys) != 2 {
		t.Errorf("a second passkey answered recovery codes, or %d passkeys", len(second.Factors.Passkeys))
	}
	env.User("grace@example.com", password, "client")
	grace := env.Login("grace@example.com", password, "planoorder")
	mfaPost(env, "", passkeyDelete, map[string]any{"id": first.Factors.Passkeys[0].Id, "password": password}, grace).Expect(t, 400, gen.StatusInvalidParam)
	// A limited session of ada's may not remove one.
	limited := *limitedSignIn(t, env, "", "ada@example.com", gen.StatusMfaRequired).Token
	mfaPost(env, "", passkeyDelete, map[string]any{"id": first.Factors.Passkeys[0].Id, "password": password}, limited).Expect(t, 401, gen.StatusMfaRequired)

	var change gen.MFAChange
	res := mfaPost(env, "", passkeyDelete, map[string]any{"id": second.Factors.Passkeys[1].Id, "password": password}, token).Expect(t, 200, gen.StatusActionSuccessful)
	if res.Data(t, &change); len(change.Factors.Passkeys) != 1 || change.Factors.RecoveryCodes.Remaining != 10 || sessionEnded(t, res) {
		t.Errorf("after removing one of two: %+v, session_ended %v", change.Factors, sessionEnded(t, res))
	}
	// The session became aal2 on the first passkey, which it registered: it ends with it, as the
	// session that confirms a first authenticator app ends when the app is turned off.
	res = mfaPost(env, "", passkeyDelete, map[string]any{"id": first.Factors.Passkeys[0].Id, "password": password}, token).Expect(t, 200, gen.StatusActionSuccessful)
	if res.Data(t, &change); len(change.Factors.Passkeys) != 0 || change.Factors.Required || change.Factors.RecoveryCodes.Remaining != 0 || !sessionEnded(t, res) {
		t.Errorf("after removing the last: %+v, session_ended %v", change.Factors, sessionEnded(t, res))
	}
	env.Get(sessionsRead, token).Expect(t, 401, gen.StatusInvalidToken)
	signIn(env, "", "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful)
	// The removed passkey no longer signs in.
	passkeySignIn(t, env, a, "").Expect(t, 400, gen.StatusInvalidPasskey)
}

func TestPasskeysWithoutDomain(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) { d.PublicURL = "https://192.0.2.7" }))
	env.User("ada@example.com", password, "client")
	token := env.Login("ada@example.com", password, "planoorder")
	mfaPost(env, "", passkeyRegisterBegin, map[string]any{}, token).Expect(t, 503, gen.StatusMfaMethodUnavailable)
	mfaPost(env, "", passkeySignInBegin, map[string]any{"application": "planoorder"}, "").Expect(t, 503, gen.StatusMfaMethodUnavailable)
	// With a relying party id configured, they work.
	env = apitest.New(t, apitest.WithDeps(func(d *impl.Deps) {
		d.PublicURL = "https://192.0.2.7"
		d.WebAuthn = impl.WebAuthnConfig{RPID: "auth.plano.example", Origins: []string{"https://auth.plano.example"}}
	}))
	env.User("ada@example.com", password, "client")
	change := registerPasskey(t, env, apitest.NewAuthenticator("https://auth.plano.example"), env.Login("ada@example.com", password, "planoorder"))
	if len(change.Factors.Passkeys) != 1 {
		t.Errorf("factors %+v", change.Factors)
	}
}
