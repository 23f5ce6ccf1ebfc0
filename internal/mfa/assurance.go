// Package mfa holds the mechanisms of second factors: TOTP codes (RFC 6238, with
// pquerna/otp), recovery codes, passkeys (WebAuthn, with go-webauthn) and assurance levels; TOTP
// secrets are sealed at rest by internal/seal. The handlers (internal/impl/mfa.go, passkeys.go)
// store what these make and decide who may do what.
package mfa

import (
	"slices"

	"github.com/plano/planoauth/internal/gen"
)

// secondFactors are the methods that prove something beyond a first factor.
var secondFactors = []gen.SessionMethod{gen.MethodOtp, gen.MethodWebauthn, gen.MethodRecoveryCode}

// Level is the assurance level of a session proven by methods: aal2 with a first factor and a
// second one, or a passkey alone (it is used only with user verification, which makes it two
// factors: the device and a PIN or biometrics); aal1 otherwise.
func Level(methods []gen.SessionMethod) gen.AAL {
	if slices.Equal(methods, []gen.SessionMethod{gen.MethodWebauthn}) {
		return gen.AAL2
	}
	first, second := false, false
	for _, m := range methods {
		if slices.Contains(secondFactors, m) {
			second = true
		} else {
			first = true
		}
	}
	if first && second {
		return gen.AAL2
	}
	return gen.AAL1
}

// Strings are methods as the sessions table stores them.
func Strings(methods []gen.SessionMethod) []string {
	out := make([]string, len(methods))
	for i, m := range methods {
		out[i] = string(m)
	}
	return out
}
