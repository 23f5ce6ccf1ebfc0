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

// RenderApplication projects an application: default (slug, name) or full (also roles,
// self-registration, scopes and session policy).
func RenderApplication(a Application, view *gen.ApplicationView) gen.Application {
	out := gen.Application{Slug: gen.ApplicationSlug(a.Slug)}
	if a.Name != "" { // the caller-session summary knows only the slug
		out.Name = ptr(a.Name)
	}
	v := DefaultApplicationView
	if view != nil {
		v = *view
	}
	if v == gen.ApplicationViewFull {
		roles := make([]gen.Role, 0, len(a.Roles))
		for _, r := range a.Roles {
			roles = append(roles, gen.Role(r))
		}
		out.Roles = &roles
		out.AllowsClientRegistration = ptr(a.AllowsClientRegistration)
		out.RequireMfa = ptr(a.RequireMFA)
		out.Scopes = ptr(nonNil(a.Scopes))
		out.SessionPolicy = &gen.SessionPolicy{LifetimeSeconds: a.LifetimeSeconds,
			IdleTimeoutSeconds: a.IdleTimeoutSeconds, RememberMeMaxAgeSeconds: a.RememberMeMaxAgeSeconds}
	}
	return out
}

// RenderUser projects a user (one view: the public fields, never the password hash).
func RenderUser(u User) gen.User {
	return gen.User{Id: u.ID, Email: u.Email, FirstName: ptr(u.FirstName), LastName: ptr(u.LastName),
		RememberMe: ptr(u.RememberMe), HasPassword: ptr(u.HasPassword), EmailVerified: ptr(u.EmailVerified)}
}

// RenderSession projects a session: minimal (id, token and device token, expiry), default (also role, scopes,
// assurance level and methods, times, application, user) or full (also last use, client address, user agent, redirect URL).
func RenderSession(s Session, view *gen.SessionView, appView *gen.ApplicationView) gen.Session {
	out := gen.Session{Id: s.ID, ExpiresAt: utc(s.ExpiresAt), Current: s.Current}
	if s.Token != "" {
		out.Token = ptr(s.Token)
	}
	if s.DeviceToken != "" {
		out.DeviceToken = ptr(s.DeviceToken)
	}
	v := DefaultSessionView
	if view != nil {
		v = *view
	}
	if v == gen.SessionViewMinimal {
		return out
	}
	role := gen.Role(s.Role)
	out.Role = &role
	out.Scopes = ptr(nonNil(s.Scopes))
	aal := gen.AAL(s.AAL)
	out.Aal = &aal
	methods := make([]gen.SessionMethod, len(s.Methods))
	for i, m := range s.Methods {
		methods[i] = gen.SessionMethod(m)
	}
	out.Methods = &methods
	out.CreatedAt = utc(&s.CreatedAt)
	app := RenderApplication(s.Application, appView)
	out.Application = &app
	if s.User != nil {
		u := RenderUser(*s.User)
		out.User = &u
	}
	if v == gen.SessionViewFull {
		out.LastUsedAt = utc(&s.LastUsedAt)
		out.ClientAddress = ptr(s.ClientAddress)
		out.UserAgent = ptr(s.UserAgent)
		out.RedirectUrl = ptr(s.RedirectURL)
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
