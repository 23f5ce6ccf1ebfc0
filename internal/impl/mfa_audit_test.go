package impl_test

import (
	"slices"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
)

// Every enrolment, use and removal of a second factor is in the audit trail, in the request's
// transaction; refused codes and passkeys too, as failed sign-ins are.
func TestSecondFactorsAudited(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.User("ada@example.com", password, "client")
	token := env.Login("ada@example.com", password, "planoorder")
	want := func(t *testing.T, res *apitest.Response, kinds ...gen.AuditKind) []gen.AuditEvent {
		t.Helper()
		events := ofRequest(wholeTrail(t, env), res)
		if got := kindsOf(events); !slices.Equal(got, kinds) {
			t.Fatalf("recorded %v, want %v", got, kinds)
		}
		for _, e := range events {
			if e.Actor.Type != gen.ActorUser || e.UserId == nil || e.Application == nil || *e.Application != gen.Planoorder {
				t.Errorf("%s: actor %+v, user %v, application %v", e.Kind, e.Actor, e.UserId, e.Application)
			}
		}
		return events
	}

	var enrolment gen.TOTPEnrolment
	res := mfaPost(env, "", totpEnroll, map[string]any{}, token).Expect(t, 200, gen.StatusActionSuccessful)
	res.Data(t, &enrolment)
	want(t, res) // a pending secret is no factor yet
	res = mfaPost(env, "", totpConfirm, map[string]any{"code": totpCode(t, env, enrolment.Secret, 0)}, token).Expect(t, 200, gen.StatusActionSuccessful)
	events := want(t, res, gen.AuditMfaTotpEnrolled, gen.AuditMfaRecoveryCodesCreated, gen.AuditMfaVerified)
	if f := events[2].Details.Factor; f == nil || *f != gen.MethodOtp {
		t.Errorf("mfa.verified factor %v, want otp", f)
	}

	limited := *limitedSignIn(t, env, "", "ada@example.com", gen.StatusMfaRequired).Token
	res = mfaPost(env, "", totpVerify, map[string]any{"code": totpCode(t, env, enrolment.Secret, 0)}, limited).Expect(t, 400, gen.StatusInvalidCode)
	if e := want(t, res, gen.AuditMfaFailed); *e[0].Details.Reason != gen.ReasonInvalidCode || *e[0].Details.Factor != gen.MethodOtp {
		t.Errorf("mfa.failed details %+v", e[0].Details)
	}
	want(t, mfaPost(env, "", totpVerify, map[string]any{"code": totpCode(t, env, enrolment.Secret, 1)}, limited).Expect(t, 200, gen.StatusActionSuccessful),
		gen.AuditMfaVerified)

	a := apitest.NewAuthenticator(passkeyOrigin)
	opts := options(t, mfaPost(env, "", passkeyRegisterBegin, map[string]any{}, token).Expect(t, 200, gen.StatusActionSuccessful))
	res = mfaPost(env, "", passkeyRegisterEnd, map[string]any{"credential": a.Register(t, opts)}, token).Expect(t, 200, gen.StatusActionSuccessful)
	var change gen.MFAChange
	res.Data(t, &change)
	if e := want(t, res, gen.AuditMfaPasskeyRegistered); *e[0].Details.PasskeyId != change.Factors.Passkeys[0].Id {
		t.Errorf("passkey id %v", e[0].Details.PasskeyId)
	}
	res = passkeySignIn(t, env, a, "").Expect(t, 200, gen.StatusActionSuccessful)
	if e := want(t, res, gen.AuditLoginSucceeded); *e[0].Details.Method != gen.LoginPasskey {
		t.Errorf("login.succeeded method %v, want passkey", *e[0].Details.Method)
	}
	want(t, mfaPost(env, "", recoveryCodesCreate, map[string]any{}, token).Expect(t, 200, gen.StatusActionSuccessful), gen.AuditMfaRecoveryCodesCreated)
	// The session that signed in with the passkey ends with it.
	want(t, mfaPost(env, "", passkeyDelete, map[string]any{"id": change.Factors.Passkeys[0].Id, "password": password}, token).Expect(t, 200, gen.StatusActionSuccessful),
		gen.AuditMfaPasskeyRemoved, gen.AuditSessionsRevoked)
	// The sessions that proved a code of the app (token, which set it up, and limited) end with it.
	want(t, mfaPost(env, "", totpDisable, map[string]any{"password": password}, token).Expect(t, 200, gen.StatusActionSuccessful),
		gen.AuditMfaTotpDisabled, gen.AuditSessionsRevoked)
}
