package impl_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/mfa"
	"github.com/plano/planoauth/internal/spec"
)

// Second factors from the HTTP API (issue 16): TOTP and recovery codes here, passkeys in
// passkeys_test.go. Codes are computed with pquerna/otp at the harness's clock.

const (
	mfaIndex             = "/api/v1/mfa/index"
	totpEnroll           = "/api/v1/mfa/totp_enroll"
	totpConfirm          = "/api/v1/mfa/totp_confirm"
	totpDisable          = "/api/v1/mfa/totp_disable"
	totpVerify           = "/api/v1/mfa/totp_verify"
	recoveryCodeVerify   = "/api/v1/mfa/recovery_code_verify"
	recoveryCodesCreate  = "/api/v1/mfa/recovery_codes_create"
	passkeyRegisterBegin = "/api/v1/mfa/passkey_register_begin"
	passkeyRegisterEnd   = "/api/v1/mfa/passkey_register_finish"
	passkeyVerifyBegin   = "/api/v1/mfa/passkey_verify_begin"
	passkeyVerifyEnd     = "/api/v1/mfa/passkey_verify_finish"
	passkeyDelete        = "/api/v1/mfa/passkey_delete"
	passkeySignInBegin   = "/api/v1/sessions/passkey_begin"
	passkeySignInEnd     = "/api/v1/sessions/passkey_finish"
)

// mfaPost posts params from a client address ("" for the harness's default), as the sensitive
// body of the routes that take one and as JSON to the others.
func mfaPost(env *apitest.Env, address, path string, params any, token string) *apitest.Response {
	env.T.Helper()
	return env.Do(mfaRequest(env, address, path, params, token))
}

// mfaRequest is the request mfaPost sends, to be started and held in flight (env.Start).
func mfaRequest(env *apitest.Env, address, path string, params any, token string) *http.Request {
	env.T.Helper()
	var req *http.Request
	if op := env.Spec.Lookup(http.MethodPost, path); op != nil && op.Sensitive != nil {
		req = apitest.Request(http.MethodPost, path, "text/plain", apitest.Sensitive(env.T, params), token)
	} else {
		b, err := json.Marshal(params)
		if err != nil {
			env.T.Fatal(err)
		}
		req = apitest.Request(http.MethodPost, path, "application/json", b, token)
	}
	if address != "" {
		req.RemoteAddr = address + ":1234"
	}
	return req
}

// totpCode is the code of secret at the harness's clock, steps later (or earlier).
func totpCode(t *testing.T, env *apitest.Env, secret string, steps int64) string {
	t.Helper()
	code, err := mfa.TOTPCode(secret, mfa.TOTPStep(env.Clock.Now())+steps)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// enrolTOTP sets up an authenticator app for the session's user and returns its secret and the
// recovery codes answered; the step of the clock's code is used up.
func enrolTOTP(t *testing.T, env *apitest.Env, token string) (secret string, codes []string) {
	t.Helper()
	var enrolment gen.TOTPEnrolment
	mfaPost(env, "", totpEnroll, map[string]any{}, token).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &enrolment)
	var change gen.MFAChange
	mfaPost(env, "", totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, 0)}, token).
		Expect(t, 200, gen.StatusActionSuccessful).Data(t, &change)
	if change.RecoveryCodes != nil {
		codes = *change.RecoveryCodes
	}
	return enrolment.Secret, codes
}

// signIn signs in with a password from address and returns the answer.
func signIn(env *apitest.Env, address, email string) *apitest.Response {
	env.T.Helper()
	return mfaPost(env, address, sessionsCreate, map[string]any{"email": email, "password": password, "application": "planoorder"}, "")
}

// limitedSession signs in with a password and expects the answer of a session limited to
// completing a second factor; it returns the session (its token in Token).
func limitedSignIn(t *testing.T, env *apitest.Env, address, email string, want gen.Status) gen.Session {
	t.Helper()
	res := signIn(env, address, email).Expect(t, 401, want)
	var s gen.Session
	res.Data(t, &s)
	if s.Token == nil || res.Envelope.Session == nil || res.Envelope.Session.Id != s.Id {
		t.Fatalf("%s without the session in data and session: %s", want, res.Raw)
	}
	if s.DeviceToken != nil {
		t.Errorf("%s answered a device token: the sign-in is not complete", want)
	}
	return s
}

func levelOf(s gen.Session) (gen.AAL, []gen.SessionMethod) {
	var aal gen.AAL
	if s.Aal != nil {
		aal = *s.Aal
	}
	var methods []gen.SessionMethod
	if s.Methods != nil {
		methods = *s.Methods
	}
	return aal, methods
}

func wantLevel(t *testing.T, s gen.Session, aal gen.AAL, methods ...gen.SessionMethod) {
	t.Helper()
	gotAAL, gotMethods := levelOf(s)
	if gotAAL != aal || strings.Join(mfa.Strings(gotMethods), ",") != strings.Join(mfa.Strings(methods), ",") {
		t.Errorf("session %s is %s %v, want %s %v", s.Id, gotAAL, gotMethods, aal, methods)
	}
}

func factorsOf(t *testing.T, env *apitest.Env, token string) gen.MFAFactors {
	t.Helper()
	var f gen.MFAFactors
	env.Get(mfaIndex, token).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &f)
	return f
}

func TestTOTPEnrolment(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	token := env.Login("ada@example.com", password, "planoorder")
	wantLevel(t, readSession(t, env, token), gen.AAL1, gen.MethodPwd)

	var enrolment gen.TOTPEnrolment
	mfaPost(env, "", totpEnroll, map[string]any{}, token).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &enrolment)
	t.Run("the secret in three forms", func(t *testing.T) {
		if !strings.HasPrefix(enrolment.OtpauthUri, "otpauth://totp/Plano:ada@example.com?") || !strings.Contains(enrolment.OtpauthUri, "secret="+enrolment.Secret) {
			t.Errorf("otpauth URI %q", enrolment.OtpauthUri)
		}
		raw, err := base64.StdEncoding.DecodeString(enrolment.QrPng)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.DecodeConfig(bytes.NewReader(raw))
		if err != nil || img.Width != 256 || img.Height != 256 {
			t.Errorf("QR code: %+v, %v; want a 256×256 PNG", img, err)
		}
		if enrolment.Digits != 6 || enrolment.Period != 30 || !enrolment.ExpiresAt.Equal(env.Clock.Now().Add(15*time.Minute)) {
			t.Errorf("enrolment %+v", enrolment)
		}
	})
	t.Run("sealed at rest", func(t *testing.T) {
		var sealed []byte
		if err := env.Pool.QueryRow(context.Background(), "SELECT sealed_secret FROM totp_secrets").Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		decoded, _ := base32Decode(enrolment.Secret)
		if bytes.Contains(sealed, []byte(enrolment.Secret)) || bytes.Contains(sealed, decoded) {
			t.Error("the stored secret holds the secret in clear")
		}
	})
	t.Run("ErrWrongCode", func(t *testing.T) {
		wrong := totpCode(t, env, enrolment.Secret, 5)
		mfaPost(env, "", totpConfirm, map[string]any{"code": wrong}, token).Expect(t, 400, gen.StatusInvalidCode)
		if f := factorsOf(t, env, token); f.Totp.Enabled || f.Required {
			t.Errorf("a wrong code confirmed the app: %+v", f)
		}
	})
	var change gen.MFAChange
	mfaPost(env, "", totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, -1)}, token).
		Expect(t, 200, gen.StatusActionSuccessful).Data(t, &change)
	t.Run("OK", func(t *testing.T) {
		if !change.Factors.Totp.Enabled || !change.Factors.Required || !change.Factors.Satisfied {
			t.Errorf("factors after confirming: %+v", change.Factors)
		}
		if change.RecoveryCodes == nil || len(*change.RecoveryCodes) != 10 || change.Factors.RecoveryCodes.Remaining != 10 {
			t.Fatalf("recovery codes %v, remaining %d: want ten", change.RecoveryCodes, change.Factors.RecoveryCodes.Remaining)
		}
		// The session proved the password, and now the app.
		wantLevel(t, change.Session, gen.AAL2, gen.MethodPwd, gen.MethodOtp)
		wantLevel(t, readSession(t, env, token), gen.AAL2, gen.MethodPwd, gen.MethodOtp)
	})
	t.Run("ErrConfirmedAlready", func(t *testing.T) {
		mfaPost(env, "", totpEnroll, map[string]any{}, token).Expect(t, 400, gen.StatusInvalidParam)
		mfaPost(env, "", totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, 0)}, token).Expect(t, 400, gen.StatusInvalidParam)
	})
	t.Run("recovery codes stored as hashes", func(t *testing.T) {
		var n int
		err := env.Pool.QueryRow(context.Background(), "SELECT count(*) FROM recovery_codes WHERE code_hash = $1 OR position($2::bytea IN code_hash) > 0",
			[]byte((*change.RecoveryCodes)[0]), []byte(strings.ReplaceAll((*change.RecoveryCodes)[0], "-", ""))).Scan(&n)
		if err != nil || n != 0 {
			t.Errorf("a recovery code is stored in clear (%d rows, %v)", n, err)
		}
	})
}

func TestTOTPEnrolmentExpires(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	token := env.Login("ada@example.com", password, "planoorder")
	var enrolment gen.TOTPEnrolment
	mfaPost(env, "", totpEnroll, map[string]any{}, token).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &enrolment)
	env.Clock.Advance(15 * time.Minute)
	mfaPost(env, "", totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, 0)}, token).Expect(t, 400, gen.StatusInvalidParam)
	// A new enrolment replaces the expired one.
	secret, codes := enrolTOTP(t, env, token)
	if secret == enrolment.Secret || len(codes) != 10 {
		t.Errorf("a new enrolment kept the old secret, or answered %d codes", len(codes))
	}
}

// A user with a second factor who signs in with a password gets a session limited to completing
// it; so do its sessions opened before the factor was added.
func TestSecondFactorRequired(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	before := env.Login("ada@example.com", password, "planoorder")
	enrolling := env.Login("ada@example.com", password, "planoorder")
	secret, _ := enrolTOTP(t, env, enrolling)

	limited := limitedSignIn(t, env, addr(2), "ada@example.com", gen.StatusMfaRequired)
	wantLevel(t, limited, gen.AAL1, gen.MethodPwd)
	token := *limited.Token
	t.Run("limited to completing it", func(t *testing.T) {
		for _, tc := range []struct {
			method, path string
		}{{http.MethodGet, scopesLiaisonRegister}, {http.MethodGet, "/api/v1/sessions/index"}, {http.MethodPost, totpEnroll},
			{http.MethodPost, recoveryCodesCreate}, {http.MethodPost, passkeyRegisterBegin}} {
			var res *apitest.Response
			if tc.method == http.MethodGet {
				res = env.Get(tc.path, token)
			} else {
				res = mfaPost(env, "", tc.path, map[string]any{}, token)
			}
			res.Expect(t, 401, gen.StatusMfaRequired)
			var s gen.Session
			res.Data(t, &s)
			if s.Id != limited.Id || s.Token != nil {
				t.Errorf("%s: data %s, want the session without its token", tc.path, res.Raw)
			}
		}
		mfaPost(env, "", totpDisable, map[string]any{"password": password}, token).Expect(t, 401, gen.StatusMfaRequired)
		// What it may do: read itself and its user's factors.
		wantLevel(t, readSession(t, env, token), gen.AAL1, gen.MethodPwd)
		if f := factorsOf(t, env, token); !f.Required || f.Satisfied || !f.Totp.Enabled {
			t.Errorf("factors seen by the limited session: %+v", f)
		}
	})
	t.Run("sessions opened before the factor are limited too", func(t *testing.T) {
		env.Get(scopesLiaisonRegister, before).Expect(t, 401, gen.StatusMfaRequired)
		env.Get(scopesLiaisonRegister, enrolling).Expect(t, 200, gen.StatusActionSuccessful) // it is aal2
	})
	t.Run("ErrReplay", func(t *testing.T) {
		// The confirmation used the current step's code.
		mfaPost(env, "", totpVerify, map[string]any{"code": totpCode(t, env, secret, 0)}, token).Expect(t, 400, gen.StatusInvalidCode)
		mfaPost(env, "", totpVerify, map[string]any{"code": totpCode(t, env, secret, -1)}, token).Expect(t, 400, gen.StatusInvalidCode)
	})
	t.Run("OK", func(t *testing.T) {
		res := mfaPost(env, addr(2), totpVerify, map[string]any{"code": totpCode(t, env, secret, 1)}, token).Expect(t, 200, gen.StatusActionSuccessful)
		var s gen.Session
		res.Data(t, &s)
		wantLevel(t, s, gen.AAL2, gen.MethodPwd, gen.MethodOtp)
		if s.DeviceToken == nil || !strings.HasPrefix(*s.DeviceToken, "pad_") || s.Token != nil {
			t.Errorf("completing the sign-in answered %s, want a new device token and no session token", res.Raw)
		}
		env.Get(scopesLiaisonRegister, token).Expect(t, 200, gen.StatusActionSuccessful)
		// The same code again, on another session: used.
		other := *limitedSignIn(t, env, addr(3), "ada@example.com", gen.StatusMfaRequired).Token
		mfaPost(env, "", totpVerify, map[string]any{"code": totpCode(t, env, secret, 1)}, other).Expect(t, 400, gen.StatusInvalidCode)
	})
	t.Run("one code, concurrent sessions: one succeeds", func(t *testing.T) {
		// Past the limits' window (the strangers' allowance earlier subtests spent is back) and
		// as many sessions as strangers may try codes together: every code is evaluated.
		env.Clock.Advance(time.Hour + 2*mfa.TOTPPeriod)
		tokens := make([]string, 5)
		for i := range tokens {
			tokens[i] = *limitedSignIn(t, env, addr(10+i), "ada@example.com", gen.StatusMfaRequired).Token
		}
		code := totpCode(t, env, secret, 0)
		got := concurrently(len(tokens), func(i int) *apitest.Response {
			return mfaPost(env, addr(10+i), totpVerify, map[string]any{"code": code}, tokens[i])
		})
		if got.counts["200 action-successful"] != 1 || got.counts["400 invalid-code"] != len(tokens)-1 {
			t.Errorf("answers %v, want one success", got)
		}
	})
	t.Run("logging out a limited session", func(t *testing.T) {
		s := limitedSignIn(t, env, addr(4), "ada@example.com", gen.StatusMfaRequired)
		mfaPost(env, "", "/api/v1/sessions/delete", map[string]any{}, *s.Token).Expect(t, 200, gen.StatusActionSuccessful)
		env.Get(sessionsRead, *s.Token).Expect(t, 401, gen.StatusInvalidToken)
	})
}

// Codes are guessed only after they were counted: strangers share 5 per account per hour,
// whatever their addresses, and the owner's device keeps its own allowance.
func TestTOTPGuessesLimited(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	owner := env.Login("ada@example.com", password, "planoorder")
	secret, _ := enrolTOTP(t, env, owner)
	// The owner completes a sign-in on its phone, which keeps the device token it gets.
	phone := limitedSignIn(t, env, addr(2), "ada@example.com", gen.StatusMfaRequired)
	var s gen.Session
	mfaPost(env, addr(2), totpVerify, map[string]any{"code": totpCode(t, env, secret, 1)}, *phone.Token).
		Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
	device := *s.DeviceToken

	// A thief with the password tries codes from ten addresses at once.
	thieves := make([]string, 10)
	for i := range thieves {
		thieves[i] = *limitedSignIn(t, env, addr(20+i), "ada@example.com", gen.StatusMfaRequired).Token
	}
	wrong := totpCode(t, env, secret, 7)
	got := concurrently(len(thieves)*2, func(i int) *apitest.Response {
		return mfaPost(env, addr(20+i%10), totpVerify, map[string]any{"code": wrong}, thieves[i%10])
	})
	if got.counts["400 invalid-code"] != 5 || got.counts["429 rate-limited"] != 15 {
		t.Errorf("answers %v, want 5 codes checked and 15 refused", got)
	}
	// Even the right code is not checked for a stranger now.
	mfaPost(env, addr(30), totpVerify, map[string]any{"code": totpCode(t, env, secret, 0)}, thieves[0]).Expect(t, 429, gen.StatusRateLimited)
	// The owner, with its device token, signs in on a new session meanwhile (a minute later: the
	// codes before were used).
	env.Clock.Advance(2 * mfa.TOTPPeriod)
	again := limitedSignIn(t, env, addr(40), "ada@example.com", gen.StatusMfaRequired)
	mfaPost(env, addr(40), totpVerify, map[string]any{"code": totpCode(t, env, secret, 0), "device_token": device}, *again.Token).
		Expect(t, 200, gen.StatusActionSuccessful)
	// An hour later the strangers' allowance is back.
	env.Clock.Advance(time.Hour)
	mfaPost(env, addr(30), totpVerify, map[string]any{"code": wrong}, thieves[0]).Expect(t, 400, gen.StatusInvalidCode)
}

func TestTOTPDisable(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	token := env.Login("ada@example.com", password, "planoorder")
	secret, _ := enrolTOTP(t, env, token)

	mfaPost(env, "", totpDisable, map[string]any{"device_token": "pad_none"}, token).Expect(t, 400, gen.StatusMissingParam)
	mfaPost(env, "", totpDisable, map[string]any{"password": "not the password"}, token).Expect(t, 400, gen.StatusInvalidPassword)
	mfaPost(env, "", totpDisable, map[string]any{"code": totpCode(t, env, secret, 3)}, token).Expect(t, 400, gen.StatusInvalidCode)
	if f := factorsOf(t, env, token); !f.Totp.Enabled {
		t.Fatal("a refused disable turned the app off")
	}
	var change gen.MFAChange
	res := mfaPost(env, "", totpDisable, map[string]any{"code": totpCode(t, env, secret, 1)}, token).Expect(t, 200, gen.StatusActionSuccessful)
	res.Data(t, &change)
	if change.Factors.Totp.Enabled || change.Factors.Required || change.Factors.RecoveryCodes.Remaining != 0 {
		t.Errorf("after disabling the last factor: %+v, want no app and no recovery codes", change.Factors)
	}
	// The session proved the app's first code when it set it up: it ends with the app.
	if !sessionEnded(t, res) {
		t.Errorf("the session that set the app up was not said to end: %s", res.Raw)
	}
	env.Get(sessionsRead, token).Expect(t, 401, gen.StatusInvalidToken)
	// One factor is enough again.
	token = tokenOf(t, signIn(env, "", "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful))
	mfaPost(env, "", totpDisable, map[string]any{"password": password}, token).Expect(t, 400, gen.StatusInvalidParam)
	mfaPost(env, "", totpVerify, map[string]any{"code": totpCode(t, env, secret, 0)}, token).Expect(t, 400, gen.StatusInvalidParam)

	t.Run("with the password", func(t *testing.T) {
		env.Clock.Advance(time.Minute)
		enrolTOTP(t, env, token)
		mfaPost(env, "", totpDisable, map[string]any{"password": password}, token).Expect(t, 200, gen.StatusActionSuccessful)
	})
}

func TestRecoveryCodes(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	token := env.Login("ada@example.com", password, "planoorder")
	_, codes := enrolTOTP(t, env, token)

	limited := *limitedSignIn(t, env, "", "ada@example.com", gen.StatusMfaRequired).Token
	mfaPost(env, "", recoveryCodeVerify, map[string]any{"code": "abcd-efgh-jkmn-pqrs"}, limited).Expect(t, 400, gen.StatusInvalidCode)
	// As typed from paper: capitals and spaces do not matter.
	typed := strings.ToUpper(strings.ReplaceAll(codes[0], "-", " "))
	var s gen.Session
	mfaPost(env, "", recoveryCodeVerify, map[string]any{"code": typed}, limited).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &s)
	wantLevel(t, s, gen.AAL2, gen.MethodPwd, gen.MethodRecoveryCode)
	if f := factorsOf(t, env, limited); f.RecoveryCodes.Remaining != 9 {
		t.Errorf("%d codes left, want 9", f.RecoveryCodes.Remaining)
	}
	t.Run("ErrUsed", func(t *testing.T) {
		other := *limitedSignIn(t, env, "", "ada@example.com", gen.StatusMfaRequired).Token
		mfaPost(env, "", recoveryCodeVerify, map[string]any{"code": codes[0]}, other).Expect(t, 400, gen.StatusInvalidCode)
	})
	t.Run("one code, concurrent sessions: one succeeds", func(t *testing.T) {
		tokens := make([]string, 4)
		for i := range tokens {
			tokens[i] = *limitedSignIn(t, env, addr(10+i), "ada@example.com", gen.StatusMfaRequired).Token
		}
		got := concurrently(len(tokens), func(i int) *apitest.Response {
			return mfaPost(env, addr(10+i), recoveryCodeVerify, map[string]any{"code": codes[1]}, tokens[i])
		})
		if got.counts["200 action-successful"] != 1 || got.counts["400 invalid-code"] != len(tokens)-1 {
			t.Errorf("answers %v, want one success", got)
		}
	})
	t.Run("a new set replaces the old", func(t *testing.T) {
		var set gen.RecoveryCodes
		mfaPost(env, "", recoveryCodesCreate, map[string]any{}, token).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &set)
		if len(set.Codes) != 10 {
			t.Fatalf("%d codes", len(set.Codes))
		}
		other := *limitedSignIn(t, env, "", "ada@example.com", gen.StatusMfaRequired).Token
		mfaPost(env, "", recoveryCodeVerify, map[string]any{"code": codes[2]}, other).Expect(t, 400, gen.StatusInvalidCode)
		mfaPost(env, "", recoveryCodeVerify, map[string]any{"code": set.Codes[9]}, other).Expect(t, 200, gen.StatusActionSuccessful)
	})
	t.Run("ErrNoSecondFactor", func(t *testing.T) {
		env.User("grace@example.com", password, "client")
		grace := env.Login("grace@example.com", password, "planoorder")
		mfaPost(env, "", recoveryCodesCreate, map[string]any{}, grace).Expect(t, 400, gen.StatusInvalidParam)
		mfaPost(env, "", recoveryCodeVerify, map[string]any{"code": codes[3]}, grace).Expect(t, 400, gen.StatusInvalidCode)
	})
}

// An application may require a second factor of every user: a user without one may only enrol
// one, and enrolling it completes the sign-in.
func TestApplicationRequiresSecondFactor(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	open := env.Login("ada@example.com", password, "planoorder")
	requireMFA(t, env, "planoorder", true)

	env.Get(scopesLiaisonRegister, open).Expect(t, 401, gen.StatusMfaEnrolmentRequired)
	limited := limitedSignIn(t, env, addr(2), "ada@example.com", gen.StatusMfaEnrolmentRequired)
	token := *limited.Token
	env.Get(scopesLiaisonRegister, token).Expect(t, 401, gen.StatusMfaEnrolmentRequired)
	// It may not complete a factor it does not have, nor anything but enrolling.
	mfaPost(env, "", totpVerify, map[string]any{"code": "123456"}, token).Expect(t, 401, gen.StatusMfaEnrolmentRequired)
	if f := factorsOf(t, env, token); !f.Required || f.Satisfied {
		t.Errorf("factors of the enrolment session: %+v", f)
	}
	var enrolment gen.TOTPEnrolment
	mfaPost(env, addr(2), totpEnroll, map[string]any{}, token).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &enrolment)
	var change gen.MFAChange
	mfaPost(env, addr(2), totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, 0)}, token).
		Expect(t, 200, gen.StatusActionSuccessful).Data(t, &change)
	wantLevel(t, change.Session, gen.AAL2, gen.MethodPwd, gen.MethodOtp)
	if change.Session.DeviceToken == nil {
		t.Error("enrolling completed the sign-in but answered no device token")
	}
	env.Get(scopesLiaisonRegister, token).Expect(t, 200, gen.StatusActionSuccessful)
	// Another application does not require it, but the user now has a factor.
	mfaPost(env, "", sessionsCreate, map[string]any{"email": "ada@example.com", "password": password, "application": "planoauth"}, "").
		Expect(t, 401, gen.StatusMfaRequired)

	t.Run("turned off", func(t *testing.T) {
		env.User("grace@example.com", password, "client")
		limitedSignIn(t, env, "", "grace@example.com", gen.StatusMfaEnrolmentRequired)
		requireMFA(t, env, "planoorder", false)
		signIn(env, "", "grace@example.com").Expect(t, 200, gen.StatusActionSuccessful)
	})
}

// requireMFA sets an application's requirement as `planoauth applications require-mfa` does.
func requireMFA(t *testing.T, env *apitest.Env, slug string, on bool) {
	t.Helper()
	exec(t, env, "UPDATE applications SET require_mfa = $2 WHERE slug = $1", slug, on)
	if err := env.Applications.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// The first proof of an email takes back the second factors the unverified account set up: a
// squatter's authenticator app must not stand between the owner and its account.
func TestFirstProofDropsSquattersFactors(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	squatter := register(t, env, registration("ada@example.com"))
	enrolTOTP(t, env, *squatter.Session.Token)
	limitedSignIn(t, env, "", "ada@example.com", gen.StatusMfaRequired)

	// The owner of the mailbox signs in with the welcome email's link.
	res := useEmailedLink(t, env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	var s gen.Session
	res.Data(t, &s)
	wantLevel(t, s, gen.AAL1, gen.MethodLink)
	if kinds := kindsOfRequest(t, env, res); !slices.Contains(kinds, gen.AuditMfaFactorsDropped) {
		t.Errorf("the proof recorded %v, without mfa.factors_dropped", kinds)
	}
	if f := factorsOf(t, env, *s.Token); f.Totp.Enabled || f.Required || f.RecoveryCodes.Remaining != 0 {
		t.Errorf("the squatter's factors survived the proof: %+v", f)
	}
}

// Every token kind on the mfa routes: a session is needed.
func TestSecondFactorRoutesTakeASession(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	token := env.Login("ada@example.com", password, "planoorder")
	for _, op := range env.Spec.Operations() {
		if op.Service != "mfa" {
			continue
		}
		t.Run(op.ID, func(t *testing.T) {
			send := func(tok string) *apitest.Response {
				if op.Method == http.MethodGet {
					return env.Get(op.Path, tok)
				}
				return mfaPost(env, "", op.Path, exampleParams(t, op), tok)
			}
			send("").Expect(t, 400, gen.StatusMissingParam)
			send("pas_nonsense").Expect(t, 401, gen.StatusInvalidToken)
			send(env.AppTokens["planoorder"]).Expect(t, 403, gen.StatusPermissionDenied)
			if res := send(token); res.Code == 401 || res.Code == 403 || res.Code >= 500 {
				t.Errorf("a session answered %d %s", res.Code, res.Status())
			}
		})
	}
	// An expired session is refused as everywhere.
	env.Clock.Advance(8 * 24 * time.Hour)
	env.Get(mfaIndex, token).Expect(t, 401, gen.StatusSessionExpired)
}

func TestTOTPWithoutKey(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithDeps(func(d *impl.Deps) { d.MFAKeys = [][]byte{} }))
	env.User("ada@example.com", password, "client")
	token := env.Login("ada@example.com", password, "planoorder")
	mfaPost(env, "", totpEnroll, map[string]any{}, token).Expect(t, 503, gen.StatusMfaMethodUnavailable)
	mfaPost(env, "", totpConfirm, map[string]any{"code": "123456"}, token).Expect(t, 503, gen.StatusMfaMethodUnavailable)
}

// base32Decode decodes a TOTP secret (base32 without padding).
func base32Decode(s string) ([]byte, error) {
	for len(s)%8 != 0 {
		s += "="
	}
	return base32.StdEncoding.DecodeString(s)
}

// exampleParams are the parameters of an operation's request example (decoded, for a sensitive
// body), or none.
func exampleParams(t *testing.T, op *spec.Operation) map[string]any {
	t.Helper()
	params := map[string]any{}
	if op.Operation.RequestBody == nil {
		return params
	}
	for _, media := range op.Operation.RequestBody.Value.Content {
		example := media.Example
		if text, ok := example.(string); ok && op.Sensitive != nil {
			raw, err := base64.StdEncoding.DecodeString(text)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &params); err != nil {
				t.Fatal(err)
			}
			return params
		}
		if m, ok := example.(map[string]any); ok {
			return m
		}
	}
	return params
}

// Proving the mailbox is one factor: neither a sign-in link nor a password reset skips the second.
func TestMailboxIsNotASecondFactor(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	secret, _ := enrolTOTP(t, env, env.Login("ada@example.com", password, "planoorder"))

	requestLink(env, "ada@example.com", "planoorder").Expect(t, 200, gen.StatusActionSuccessful)
	res := useLink(env, lastLinkToken(t, env, "ada@example.com"), "planoorder").Expect(t, 401, gen.StatusMfaRequired)
	var s gen.Session
	res.Data(t, &s)
	wantLevel(t, s, gen.AAL1, gen.MethodLink)

	requestReset(env, addr(2), "ada@example.com").Expect(t, 200, gen.StatusActionSuccessful)
	mail := lastReset(t, env, "ada@example.com")
	res = resetWith(env, map[string]any{"reset_token": mail.token}).Expect(t, 401, gen.StatusMfaRequired)
	res.Data(t, &s)
	wantLevel(t, s, gen.AAL1, gen.MethodLink)
	// The new password works, with the app.
	mfaPost(env, "", totpVerify, map[string]any{"code": totpCode(t, env, secret, 1)}, *s.Token).Expect(t, 200, gen.StatusActionSuccessful)
}

// A first factor limits the user's other sessions on every instance at once: the users trigger
// notifies the session caches, which hold the user's row with its session.
func TestSecondFactorReachesEveryInstance(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	other := env.SecondInstance()
	env.User("ada@example.com", password, "client")
	elsewhere := env.Login("ada@example.com", password, "planoorder")
	status := func() int {
		return env.DoOn(other, apitest.Request(http.MethodGet, scopesLiaisonRegister, "", nil, elsewhere)).Code
	}
	if code := status(); code != http.StatusOK { // cached on the other instance
		t.Fatalf("the other instance answered %d", code)
	}
	enrolTOTP(t, env, env.Login("ada@example.com", password, "planoorder"))
	eventually(t, time.Second, "the other instance limits the session", func() bool { return status() == http.StatusUnauthorized })
}

// An application introspecting the token of a limited session is told it is not active (and
// why): one that checks `active` alone never takes a session that has not completed its second
// factor.
func TestIntrospectionOfALimitedSession(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	secret, _ := enrolTOTP(t, env, env.Login("ada@example.com", password, "planoorder"))
	limited := *limitedSignIn(t, env, "", "ada@example.com", gen.StatusMfaRequired).Token
	_, data := introspect(t, env, env.AppTokens["planoorder"], limited, nil)
	if data.Active || data.Limitation == nil || *data.Limitation != gen.IntrospectionLimitationMfaRequired || data.User != nil || data.Scopes != nil {
		t.Errorf("introspection of a limited session: %+v", data)
	}
	mfaPost(env, "", totpVerify, map[string]any{"code": totpCode(t, env, secret, 1)}, limited).Expect(t, 200, gen.StatusActionSuccessful)
	_, data = introspect(t, env, env.AppTokens["planoorder"], limited, nil)
	if !data.Active || data.Limitation != nil || data.Aal == nil || *data.Aal != gen.AAL2 || data.Methods == nil || len(*data.Methods) != 2 {
		t.Errorf("introspection after the second factor: %+v", data)
	}
}

// A first second factor needs a recent proof: a stolen older token cannot turn one against the
// owner. Once the user has one, adding another takes aal2 and a recent proof too: an old aal2
// session proves its user again with a code.
func TestFirstFactorNeedsARecentProof(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	stolen := env.Login("ada@example.com", password, "planoorder")
	env.Clock.Advance(impl.RecentProof)
	mfaPost(env, "", totpEnroll, map[string]any{}, stolen).Expect(t, 403, gen.StatusPermissionDenied)
	mfaPost(env, "", passkeyRegisterBegin, map[string]any{}, stolen).Expect(t, 403, gen.StatusPermissionDenied)
	mfaPost(env, "", totpConfirm, map[string]any{"code": "123456"}, stolen).Expect(t, 403, gen.StatusPermissionDenied)

	fresh := env.Login("ada@example.com", password, "planoorder")
	secret, _ := enrolTOTP(t, env, fresh)
	env.Clock.Advance(impl.RecentProof)
	mfaPost(env, "", passkeyRegisterBegin, map[string]any{}, fresh).Expect(t, 403, gen.StatusPermissionDenied)
	mfaPost(env, "", totpVerify, map[string]any{"code": totpCode(t, env, secret, 0)}, fresh).Expect(t, 200, gen.StatusActionSuccessful)
	registerPasskey(t, env, apitest.NewAuthenticator(passkeyOrigin), fresh) // proven again: a second one
}
