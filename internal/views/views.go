// Package views defines, in one place per object type (client, company, session, application,
// user), the named projections that the `view`, `session_view` and `application_view` parameters
// choose. The contract lists the names as enums; an unknown name never gets here (it is an
// invalid-param).
package views

import (
	"time"

	"github.com/google/uuid"

	"github.com/plano/planoauth/internal/gen"
)

// The views rendered when the view parameter is absent (a test ties them to the contract's
// defaults).
const (
	DefaultSessionView     = gen.SessionViewDefault
	DefaultApplicationView = gen.ApplicationViewDefault
	DefaultClientView      = gen.ClientViewDefault
)

// Application is what an application view can show.
type Application struct {
	Slug                     string
	Name                     string
	Roles                    []string
	AllowsClientRegistration bool
	RequireMFA               bool
	Scopes                   []string
	// The session policy, in seconds (RememberMeMaxAgeSeconds nil: no cap).
	LifetimeSeconds         int64
	IdleTimeoutSeconds      int64
	RememberMeMaxAgeSeconds *int64
}

// User is what a user view can show.
type User struct {
	ID            int64
	Email         string
	FirstName     string
	LastName      string
	RememberMe    bool
	HasPassword   bool
	EmailVerified bool
}

// Session is what a session view can show. Token is set only where it was just issued, and
// DeviceToken only in the answer of a sign-in.
type Session struct {
	ID            uuid.UUID
	Token         string
	DeviceToken   string
	Role          string
	Scopes        []string
	AAL           string   // aal1, aal2
	Methods       []string // gen.SessionMethod values, in order
	CreatedAt     time.Time
	LastUsedAt    time.Time
	ExpiresAt     *time.Time // nil for remember_me sessions
	RedirectURL   string
	ClientAddress string
	UserAgent     string
	Current       *bool
	Application   Application
	User          *User // nil when not loaded
}

// The generated types point at their optional fields. A rendering keeps the values they point
// at in one struct of its own, so that an object costs one allocation rather than one per field
// (an answer to a session token renders its caller's session, sessions/index a hundred more).

// applicationFields holds what a rendered application points at: its name, and the rest in the
// full view only.
type applicationFields struct {
	name string
	full *fullApplicationFields
}

type fullApplicationFields struct {
	roles                    []gen.Role
	allowsClientRegistration bool
	requireMFA               bool
	scopes                   []string
	policy                   gen.SessionPolicy
}

// userFields holds what a rendered user points at.
type userFields struct {
	firstName, lastName                    string
	rememberMe, hasPassword, emailVerified bool
}

// renderedUser is a rendered user with what it points at, for a session that shows its user.
type renderedUser struct {
	user   gen.User
	fields userFields
}

// sessionFields holds what a rendered session points at, its application included.
type sessionFields struct {
	token, deviceToken                    string
	expiresAt, createdAt, lastUsedAt      time.Time
	role                                  gen.Role
	scopes                                []string
	aal                                   gen.AAL
	methods                               []gen.SessionMethod
	clientAddress, userAgent, redirectURL string
	application                           gen.Application
	applicationFields                     applicationFields
}

// RenderApplication projects an application: default (slug, name) or full (also roles,
// self-registration, scopes and session policy).
func RenderApplication(a Application, view *gen.ApplicationView) gen.Application {
	return renderApplication(a, view, new(applicationFields))
}

func renderApplication(a Application, view *gen.ApplicationView, f *applicationFields) gen.Application {
	out := gen.Application{Slug: gen.ApplicationSlug(a.Slug)}
	if a.Name != "" { // the caller-session summary knows only the slug
		f.name = a.Name
		out.Name = &f.name
	}
	v := DefaultApplicationView
	if view != nil {
		v = *view
	}
	if v == gen.ApplicationViewFull {
		full := &fullApplicationFields{roles: make([]gen.Role, 0, len(a.Roles)),
			allowsClientRegistration: a.AllowsClientRegistration, requireMFA: a.RequireMFA, scopes: nonNil(a.Scopes),
			policy: gen.SessionPolicy{LifetimeSeconds: a.LifetimeSeconds,
				IdleTimeoutSeconds: a.IdleTimeoutSeconds, RememberMeMaxAgeSeconds: a.RememberMeMaxAgeSeconds}}
		for _, r := range a.Roles {
			full.roles = append(full.roles, gen.Role(r))
		}
		f.full = full
		out.Roles, out.AllowsClientRegistration, out.RequireMfa = &full.roles, &full.allowsClientRegistration, &full.requireMFA
		out.Scopes, out.SessionPolicy = &full.scopes, &full.policy
	}
	return out
}

// RenderUser projects a user (one view: the public fields, never the password hash).
func RenderUser(u User) gen.User {
	return renderUser(u, new(userFields))
}

func renderUser(u User, f *userFields) gen.User {
	*f = userFields{firstName: u.FirstName, lastName: u.LastName,
		rememberMe: u.RememberMe, hasPassword: u.HasPassword, emailVerified: u.EmailVerified}
	return gen.User{Id: u.ID, Email: u.Email, FirstName: &f.firstName, LastName: &f.lastName,
		RememberMe: &f.rememberMe, HasPassword: &f.hasPassword, EmailVerified: &f.emailVerified}
}

// RenderSession projects a session: minimal (id, token and device token, expiry), default (also role, scopes,
// assurance level and methods, times, application, user) or full (also last use, client address, user agent, redirect URL).
func RenderSession(s Session, view *gen.SessionView, appView *gen.ApplicationView) gen.Session {
	f := new(sessionFields)
	out := gen.Session{Id: s.ID, Current: s.Current}
	if s.ExpiresAt != nil {
		f.expiresAt = s.ExpiresAt.UTC()
		out.ExpiresAt = &f.expiresAt
	}
	if s.Token != "" {
		f.token = s.Token
		out.Token = &f.token
	}
	if s.DeviceToken != "" {
		f.deviceToken = s.DeviceToken
		out.DeviceToken = &f.deviceToken
	}
	v := DefaultSessionView
	if view != nil {
		v = *view
	}
	if v == gen.SessionViewMinimal {
		return out
	}
	f.role, f.scopes, f.aal, f.createdAt = gen.Role(s.Role), nonNil(s.Scopes), gen.AAL(s.AAL), s.CreatedAt.UTC()
	f.methods = make([]gen.SessionMethod, len(s.Methods))
	for i, m := range s.Methods {
		f.methods[i] = gen.SessionMethod(m)
	}
	out.Role, out.Scopes, out.Aal, out.Methods, out.CreatedAt = &f.role, &f.scopes, &f.aal, &f.methods, &f.createdAt
	f.application = renderApplication(s.Application, appView, &f.applicationFields)
	out.Application = &f.application
	if s.User != nil {
		u := new(renderedUser)
		u.user = renderUser(*s.User, &u.fields)
		out.User = &u.user
	}
	if v == gen.SessionViewFull {
		f.lastUsedAt, f.clientAddress, f.userAgent, f.redirectURL = s.LastUsedAt.UTC(), s.ClientAddress, s.UserAgent, s.RedirectURL
		out.LastUsedAt, out.ClientAddress, out.UserAgent, out.RedirectUrl = &f.lastUsedAt, &f.clientAddress, &f.userAgent, &f.redirectURL
	}
	return out
}

// Client is what a client view can show: the client row with its user's names, email and phone
// and its company's enterprise flag.
type Client struct {
	ID              int64
	UserID          int64
	Email           string
	FirstName       string
	LastName        string
	Phone           string
	CompanyID       *int64 // nil without a company
	CompanyName     string // informational; need not match the company
	Enterprise      bool
	Active          bool
	DisplayName     string
	UseDisplayName  bool
	DisplayEmail    string
	UseDisplayEmail bool
	Bio             string
	RealtorLicense  string
	CreatedAt       time.Time
}

// clientFields lists, per client view, the groups of fields it shows besides the id.
var clientFields = map[gen.ClientView][]clientGroup{
	gen.ClientViewDefault:                     {contact, company, status},
	gen.ClientViewClientRead:                  {contact, company, status, profile, enterprise, record},
	gen.ClientViewPlanoxClientReadProfile:     {names, profile},
	gen.ClientViewPlanoxClientReadTours:       {names},
	gen.ClientViewPlanoxClientReadBranding:    {names},
	gen.ClientViewPlanoxClientReadPreferences: {names},
	gen.ClientViewContractTypeView:            {enterprise, company},
}

// clientGroup fills one group of a client's fields into out.
type clientGroup func(c Client, out *gen.ClientProfile)

func names(c Client, out *gen.ClientProfile) {
	out.FirstName, out.LastName = ptr(c.FirstName), ptr(c.LastName)
}

func contact(c Client, out *gen.ClientProfile) {
	names(c, out)
	out.Email, out.Phone = ptr(c.Email), ptr(c.Phone)
}

func company(c Client, out *gen.ClientProfile) {
	out.CompanyId, out.CompanyName = c.CompanyID, ptr(c.CompanyName)
}

func status(c Client, out *gen.ClientProfile) { out.Active = ptr(c.Active) }

func enterprise(c Client, out *gen.ClientProfile) { out.Enterprise = ptr(c.Enterprise) }

func profile(c Client, out *gen.ClientProfile) {
	out.DisplayName, out.UseDisplayName = ptr(c.DisplayName), ptr(c.UseDisplayName)
	out.DisplayEmail, out.UseDisplayEmail = ptr(c.DisplayEmail), ptr(c.UseDisplayEmail)
	out.Bio, out.RealtorLicense = ptr(c.Bio), ptr(c.RealtorLicense)
}

func record(c Client, out *gen.ClientProfile) {
	out.UserId, out.CreatedAt = ptr(c.UserID), utc(&c.CreatedAt)
}

// RenderClient projects a client with one of the views the ClientView enum lists (default when
// view is nil): see that enum's description for the fields of each.
func RenderClient(c Client, view *gen.ClientView) gen.ClientProfile {
	v := DefaultClientView
	if view != nil {
		v = *view
	}
	out := gen.ClientProfile{Id: c.ID}
	for _, fill := range clientFields[v] {
		fill(c, &out)
	}
	return out
}

// Company is what a company view can show.
type Company struct {
	ID         int64
	Name       string
	Enterprise bool
}

// RenderCompany projects a company (one view: id, name, enterprise).
func RenderCompany(c Company) gen.Company {
	return gen.Company{Id: c.ID, Name: c.Name, Enterprise: ptr(c.Enterprise)}
}

func ptr[T any](v T) *T { return &v }

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
