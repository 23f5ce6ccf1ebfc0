package auth

import (
	"github.com/plano/planoauth/internal/envelope"
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

// limited answers the limitation of p's session (with the session in session and data, as
// client-required does) unless op admits such a session (its x-limited-sessions).
func (a *Authenticator) limited(p *Principal, op *spec.Operation) error {
	limitation := Limitation(p.Session.Aal, *p.User, p.Application)
	if limitation == "" || op.AdmitsLimited(limitation) {
		return nil
	}
	session := a.render(p)
	return &envelope.Error{Status: limitation, Session: session, Data: session}
}
