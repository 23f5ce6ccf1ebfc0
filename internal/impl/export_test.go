package impl

import (
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/password"
)

// HasToucher reports whether coexistence/touch can bump the records of a domain, so a test can
// check that every domain of the contract has a toucher.
func HasToucher(d gen.CoexistenceDomain) bool {
	_, ok := touchers[d]
	return ok
}

// ValidateNewClient exposes validateNewClient to the external tests.
func ValidateNewClient(c gen.NewClientFields) []gen.ParamError { return validateNewClient(c) }

// The numbers the contract states, as the code has them (see contract_test.go).
const (
	MaxListed         = maxListed
	MaxCompanyName    = maxCompanyName
	MinPasswordLength = password.MinLength
	// The lifetimes of the links of queued emails.
	VerificationLinkLifetime = verificationLinkLifetime
	InvitationLifetime       = invitationLifetime
)

// The hot routes' success answers (answers.go), for answers_test.go to compare with the
// generated ones.
func SessionsReadOK(a gen.SessionsRead200JSONResponse) gen.SessionsReadResponseObject {
	return sessionsReadOK{a}
}

func SessionsIndexOK(a gen.SessionsIndex200JSONResponse) gen.SessionsIndexResponseObject {
	return sessionsIndexOK{a}
}

func ScopesLiaisonRegisterOK(a gen.ScopesLiaisonRegister200JSONResponse) gen.ScopesLiaisonRegisterResponseObject {
	return scopesLiaisonRegisterOK{a}
}
