package auth

import (
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/spec"
)

// Limitation is what a session must do before anything else, judged at every request from what
// it proved (its aal) and what is required of it now: StatusMfaRequired when its user has a
// second factor and the session is below aal2; StatusMfaEnrolmentRequired when its application
// requires aal2 and its user has no second factor; "" when it meets what is required. So
// enrolling a factor, or an application's requirement, reaches sessions already open.
func Limitation(aal string, user db.User, app db.Application) gen.Status {
	switch {
	case aal == string(gen.AAL2):
		return ""
	case user.MfaEnabled:
		return gen.StatusMfaRequired
	case app.RequireMfa:
		return gen.StatusMfaEnrolmentRequired
	}
	return ""
}

// limitedOut reports whether p's session is limited (see Limitation) and op does not admit such
// a session (its x-limited-sessions): the authenticator then answers the limitation, with the
// session in session and data, as client-required does.
func limitedOut(p *Principal, op *spec.Operation) bool {
	limitation := Limitation(p.Session.Aal, *p.User, p.Application)
	return limitation != "" && !op.AdmitsLimited(limitation)
}

// Incomplete is what keeps p's session from being a complete sign-in: its Limitation, or
// StatusClientRequired for the session of a user without a role (limited to
// users/client_register); "" for a complete one. Such a session may end itself, and no
// application may take it (introspection calls it inactive).
func Incomplete(p *Principal) gen.Status {
	if limitation := Limitation(p.Session.Aal, *p.User, p.Application); limitation != "" {
		return limitation
	}
	if p.Session.Role == RoleNone {
		return gen.StatusClientRequired
	}
	return ""
}
