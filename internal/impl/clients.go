package impl

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/audit"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/emailaddr"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/mail"
	"github.com/plano/planoauth/internal/params"
	"github.com/plano/planoauth/internal/peer"
	"github.com/plano/planoauth/internal/pgerr"
	"github.com/plano/planoauth/internal/views"
)

// maxCompanyName is the companies.name limit (and the CompanyName schema's maxLength).
const maxCompanyName = 200

// ClientsRegister creates a user and its client and logs them in. Answers: user-requires-role,
// client-validation-failed, email-already-registered.
func (s *Server) ClientsRegister(ctx context.Context, r gen.ClientsRegisterRequestObject) (gen.ClientsRegisterResponseObject, error) {
	in, err := params.Sensitive[gen.ClientsRegisterInput](r.Body)
	if err != nil {
		return nil, err
	}
	data, err := s.registerClient(ctx, in)
	if err != nil {
		return nil, err
	}
	return gen.ClientsRegister200JSONResponse{ClientAndSessionJSONResponse: s.clientSessionResult(data, nil)}, nil
}

// registerClient is clients/register without HTTP. Everything it creates (company, user, client,
// membership request, welcome email and its verification link, session) is in one transaction.
// The session is started inside it rather than after the commit so that a failure to start it
// leaves no account behind that the caller could neither use nor register again. The user's
// email is not verified: registering proves nothing about it.
//
// Nothing costly happens before the cheap refusals, and nothing is free to ask: a taken email
// is answered before anything is hashed, at the price of one use of the address's sign-in
// allowance (what sessions/create charges an unknown email, so that an address learns no more
// about which emails have accounts here than there). One registration of an email is in flight
// at a time (limits.RegisterEmail): a concurrent one is answered as for a taken email, so that N
// registrations of one email cost one hash, not N. The registration is counted (limits.Register,
// atomic) before the hash, and the use is kept once the hash ran, whatever happens next.
func (s *Server) registerClient(ctx context.Context, in gen.ClientsRegisterInput) (gen.ClientSession, error) {
	app, err := s.checkClientSelfRegistration(ctx, in.Application)
	if err != nil {
		return gen.ClientSession{}, err
	}
	client := newClientOf(in.Client)
	if err := s.checkNewClient(ctx, client).err(); err != nil {
		return gen.ClientSession{}, err
	}
	email := emailaddr.Normalize(client.Email)
	if err := s.checkEmailFree(ctx, email); err != nil {
		return gen.ClientSession{}, s.emailTaken(ctx, err)
	}
	claim, alone, err := s.limits.RegisterEmail(ctx, email)
	if err != nil {
		return gen.ClientSession{}, err
	}
	if !alone { // another registration of the email is in flight: it decides
		return gen.ClientSession{}, s.emailTaken(ctx, envelope.New(gen.StatusEmailAlreadyRegistered))
	}
	defer s.giveBack(ctx, claim)
	// The registration that held the email may have committed since the first look.
	if err := s.checkEmailFree(ctx, email); err != nil {
		return gen.ClientSession{}, s.emailTaken(ctx, err)
	}
	ticket, err := s.limits.Register(ctx, peer.FromContext(ctx))
	if err != nil {
		return gen.ClientSession{}, err
	}
	// What strangers make one mailbox receive is bounded per mailbox, whichever of its
	// subaddresses they register (review 19): past it, no welcome.
	welcomed, welcome, err := s.limits.WelcomeTo(ctx, emailaddr.Mailbox(email))
	if err != nil {
		s.giveBack(ctx, ticket)
		return gen.ClientSession{}, err
	}
	out, hashed, err := s.createRegisteredClient(ctx, in, app, client, !welcome)
	if err != nil {
		s.giveBack(ctx, welcomed) // no account, no welcome
	}
	if err != nil && !hashed {
		s.giveBack(ctx, ticket) // refused before any work (a full hashing queue)
	}
	return out, err
}

// emailTaken is the answer err (email-already-registered) to a registration of a taken email,
// after it took one use of the address's sign-in allowance: rate-limited once that is used up.
func (s *Server) emailTaken(ctx context.Context, err error) error {
	var answer *envelope.Error
	if !errors.As(err, &answer) || answer.Status != gen.StatusEmailAlreadyRegistered {
		return err
	}
	if _, err := s.limits.AttemptFromAddress(ctx, limits.SignIn, peer.FromContext(ctx)); err != nil {
		return err
	}
	return answer
}

// createRegisteredClient hashes the password and creates the registration in one transaction,
// which records the user, its password, its role, its membership request and its session, last;
// it reports whether the hash ran. With noWelcome, the account gets no first email.
func (s *Server) createRegisteredClient(ctx context.Context, in gen.ClientsRegisterInput, app db.Application, client gen.NewClientFields,
	noWelcome bool) (gen.ClientSession, bool, error) {
	hash, err := s.hashOptional(ctx, client.Password)
	if err != nil {
		return gen.ClientSession{}, false, err
	}
	var out gen.ClientSession
	err = s.inTx(ctx, "register client", func(tx pgx.Tx, q *db.Queries) error {
		user, err := createUser(ctx, q, accountOf(client, hash))
		if err != nil {
			return err
		}
		record := clientRecord{requested: client.CompanyId, companyName: deref(client.CompanyName),
			enterprise: deref(in.Enterprise), applicationID: app.ID, noWelcome: noWelcome}
		profile, err := s.insertClient(ctx, q, user, record)
		if err != nil {
			return err
		}
		self := audit.User(user.ID)
		events := append(newAccountEvents(self, user, hash != nil, app.ID, roleClient),
			membershipEvents(self, app.ID, user.ID, profile.ID, nil, record.requested)...)
		session, err := s.startSessionIn(ctx, tx, user, newSession{application: in.Application, method: gen.LoginPassword,
			methods: []gen.SessionMethod{gen.MethodPwd}, also: events, view: in.SessionView, applicationView: in.ApplicationView})
		if err != nil {
			return err
		}
		out = gen.ClientSession{Client: views.RenderClient(clientView(profile), in.View), Session: session}
		return nil
	})
	return out, true, err
}

// checkClientSelfRegistration answers user-requires-role, before anything is created, when the
// application does not let users register as clients: the new client could not log in to it.
func (s *Server) checkClientSelfRegistration(ctx context.Context, slug gen.ApplicationSlug) (db.Application, error) {
	app, err := s.apps.BySlug(ctx, string(slug))
	if err != nil {
		return app, envelope.Internal("load application %s: %w", slug, err)
	}
	if !app.AllowsClientRegistration || !slices.Contains(app.Roles, roleClient) {
		return app, &envelope.Error{Status: gen.StatusUserRequiresRole,
			Message: fmt.Sprintf("%s does not let users register as clients.", app.Name)}
	}
	return app, nil
}

// ClientsCreate gives an email a client, creating its user when it has none. Answers:
// client-validation-failed, email-already-client, permission-denied (a password from a caller
// who may not set one, or an email that has a user from such a caller);
// client-created-for-existing-email (200) when the email had a user.
func (s *Server) ClientsCreate(ctx context.Context, r gen.ClientsCreateRequestObject) (gen.ClientsCreateResponseObject, error) {
	in, err := params.Sensitive[gen.ClientsCreateInput](r.Body)
	if err != nil {
		return nil, err
	}
	p := auth.PrincipalFromContext(ctx)
	client, existed, err := s.createClient(ctx, p, in.Client, in.Enterprise)
	if err != nil {
		return nil, err
	}
	status := gen.StatusActionSuccessful
	data := views.RenderClient(client, in.View)
	if existed {
		status = gen.StatusClientCreatedForExistingEmail // only for a trusted caller (createClient)
	}
	return gen.ClientsCreate200JSONResponse{
		Status: gen.ClientCreatedResultStatus(status), Message: s.writer.Message(status),
		Data: data, Session: envelope.CallerSession(ctx),
	}, nil
}

// createClient is clients/create without HTTP; it reports whether the email already had a user.
// The trail records the user created (and its password), the role and the membership.
// An application token or an employee whose email is verified (checked again inside the
// transaction: lockEmployeeOrApplication) may set the new user's password and make the client a
// member of a company. From anyone else (an unverified employee included) a password is refused
// (permission-denied), a company id is a membership request, a new user gets an invitation
// instead of a welcome, and an email that has a user already is refused (permission-denied,
// the transaction rolled back): only the user itself takes a role and asks to join a company.
func (s *Server) createClient(ctx context.Context, p *auth.Principal, client gen.NewClientFields, enterprise *bool) (views.Client, bool, error) {
	trusted := mayChooseCredentials(p)
	if client.Password != nil && !trusted {
		return views.Client{}, false, &envelope.Error{Status: gen.StatusPermissionDenied,
			Message: "Only an application token or an employee whose email is verified may set a new user's password; the user is invited instead."}
	}
	problems := s.checkNewClient(ctx, client)
	if trusted {
		if err := s.checkCompany(ctx, "client.company_id", client.CompanyId, &problems); err != nil {
			return views.Client{}, false, err
		}
	}
	if err := problems.err(); err != nil {
		return views.Client{}, false, err
	}
	hash, err := s.hashOptional(ctx, client.Password)
	if err != nil {
		return views.Client{}, false, err
	}
	record := clientRecord{companyName: deref(client.CompanyName), enterprise: deref(enterprise), applicationID: p.Application.ID}
	var invitation limits.Ticket
	if trusted {
		record.member = client.CompanyId
	} else {
		record.requested = client.CompanyId
		// A new user is invited: the use is taken before the email, given back when none is sent.
		if invitation, err = s.limits.Action(ctx, limits.Invitation, callerKey(p), peer.FromContext(ctx)); err != nil {
			return views.Client{}, false, err
		}
	}
	var out views.Client
	var existed bool
	err = s.inTx(ctx, "create client", func(_ pgx.Tx, q *db.Queries) error {
		if trusted {
			if err := lockEmployeeOrApplication(ctx, q, p); err != nil {
				return err
			}
		}
		var user db.User
		var err error
		if user, existed, err = createUserUnlessExists(ctx, q, accountOf(client, hash)); err != nil {
			return err
		}
		if existed && !trusted {
			// Nobody asks for someone else: the existing user's role and membership request
			// would be made in its name (§5a). It registers itself (users/client_register).
			return errExistingUserDenied()
		}
		record.invited = !trusted && !existed
		profile, err := s.insertClient(ctx, q, user, record)
		if err != nil {
			return err
		}
		out = clientView(profile)
		by := audit.Of(p)
		events := []audit.Event{roleGranted(by, user.ID, p.Application.ID, roleClient)}
		if !existed {
			events = newAccountEvents(by, user, hash != nil, p.Application.ID, roleClient)
		}
		events = append(events, membershipEvents(by, p.Application.ID, user.ID, profile.ID, record.member, record.requested)...)
		return audit.Append(ctx, q, s.now(), events...)
	})
	if !trusted && (err != nil || !record.invited) {
		s.giveBack(ctx, invitation)
	}
	return out, existed, err
}

// errExistingUserDenied is clients/create's answer to a caller who may not act on every user
// (anyone but an application token or an employee whose email is verified) naming the email of
// an existing user.
func errExistingUserDenied() error {
	return &envelope.Error{Status: gen.StatusPermissionDenied,
		Message: "Only an application token or an employee whose email is verified may make an existing user a client; the user registers itself."}
}

// membershipEvents are the events of a new client's company: made a member of member, or asking
// to join requested (as asked: a request for a company that does not exist records nothing else).
func membershipEvents(by audit.Actor, appID, userID, clientID int64, member, requested *int64) []audit.Event {
	var events []audit.Event
	if member != nil {
		events = append(events, membershipEvent(gen.AuditMembershipApproved, change{actor: by, appID: appID}, userID, clientID, *member))
	}
	if requested != nil {
		events = append(events, membershipEvent(gen.AuditMembershipRequested, change{actor: by, appID: appID}, userID, clientID, *requested))
	}
	return events
}

// newClientOf is a self-registering client as a NewClient, whose rules it follows.
func newClientOf(c gen.RegisteringClient) gen.NewClientFields {
	return gen.NewClientFields{Email: c.Email, Password: &c.Password, FirstName: c.FirstName, LastName: c.LastName,
		Phone: c.Phone, CompanyId: c.CompanyId, CompanyName: c.CompanyName}
}

// validateNewClient checks what the contract cannot: the email's form, the password policy and
// the phone's form. It returns every failing field, by its path under client; the company's
// existence needs the database (see checkCompany), and is checked only where naming a company
// makes the client a member.
func validateNewClient(c gen.NewClientFields) fieldProblems {
	var problems fieldProblems
	problems.add("client.email", emailProblem(c.Email))
	if c.Password != nil {
		problems.add("client.password", passwordProblem(*c.Password, c.Email, c.FirstName, c.LastName))
	}
	problems.add("client.phone", phoneProblem(deref(c.Phone)))
	return problems
}

// checkNewClient is validateNewClient, and then, when nothing else failed, the breach check of
// the password (which may ask Have I Been Pwned).
func (s *Server) checkNewClient(ctx context.Context, c gen.NewClientFields) fieldProblems {
	problems := validateNewClient(c)
	if c.Password != nil && len(problems) == 0 {
		problems.add("client.password", s.breachProblem(ctx, *c.Password))
	}
	return problems
}

func accountOf(c gen.NewClientFields, passwordHash *string) newAccount {
	return newAccount{email: c.Email, passwordHash: passwordHash, firstName: deref(c.FirstName),
		lastName: deref(c.LastName), phone: deref(c.Phone)}
}

// clientRecord is what a client row needs besides its user.
type clientRecord struct {
	member      *int64 // a company the client is made a member of (by an application or an employee)
	requested   *int64 // a company the client asks to join (a request; nothing is shown or granted)
	companyName string // informational; need not match the company
	enterprise  bool   // without member or requested: create an enterprise company the client owns
	// applicationID is the application the link of the first email is for.
	applicationID int64
	// invited: the user was created by someone who may not set its password, so its first email
	// is an invitation (which signs it in) rather than a welcome.
	invited bool
	// noWelcome: the mailbox received its share of welcomes (limits.WelcomeTo): no first email.
	noWelcome bool
}

// insertClient gives user the client role in q's transaction: the enterprise company it asks
// for (owned by the client), the client row, its membership request, and its first email (a
// welcome, with a verification link while the email is unverified, or an invitation). It answers
// email-already-client when the user has a client, and client-validation-failed when the company
// it is made a member of was deleted since it was checked.
func (s *Server) insertClient(ctx context.Context, q *db.Queries, user db.User, c clientRecord) (db.ClientProfile, error) {
	owned, err := enterpriseCompanyFor(ctx, q, user, c)
	if err != nil {
		return db.ClientProfile{}, err
	}
	companyID := cmp.Or(c.member, owned)
	row, err := q.CreateClient(ctx, db.CreateClientParams{UserID: user.ID, CompanyID: companyID, CompanyName: c.companyName})
	switch {
	case pgerr.IsUniqueViolation(err, clientsUserIDKey):
		return db.ClientProfile{}, envelope.New(gen.StatusEmailAlreadyClient)
	case pgerr.IsForeignKeyViolation(err, clientsCompanyFKey):
		return db.ClientProfile{}, envelope.Param(gen.StatusClientValidationFailed, "client.company_id", "is not a known company")
	case err != nil:
		return db.ClientProfile{}, fmt.Errorf("create client of user %d: %w", user.ID, err)
	}
	if owned != nil {
		if err := q.SetCompanyOwner(ctx, db.SetCompanyOwnerParams{ID: *owned, ClientID: row.ID}); err != nil {
			return db.ClientProfile{}, fmt.Errorf("make client %d the owner of company %d: %w", row.ID, *owned, err)
		}
	}
	if c.requested != nil {
		if err := q.RequestCompanyMembership(ctx, db.RequestCompanyMembershipParams{ClientID: row.ID, CompanyID: *c.requested}); err != nil {
			return db.ClientProfile{}, fmt.Errorf("record the membership request of client %d: %w", row.ID, err)
		}
	}
	if err := s.sendFirstEmail(ctx, q, user, c); err != nil {
		return db.ClientProfile{}, err
	}
	profile, err := q.GetClientProfile(ctx, row.ID)
	if err != nil {
		return db.ClientProfile{}, fmt.Errorf("read client %d: %w", row.ID, err)
	}
	return profile, nil
}

// sendFirstEmail queues a new client's first email with its link, in q's transaction.
func (s *Server) sendFirstEmail(ctx context.Context, q *db.Queries, user db.User, c clientRecord) error {
	app, err := s.apps.ByID(ctx, c.applicationID)
	if err != nil {
		return fmt.Errorf("load application %d: %w", c.applicationID, err)
	}
	if c.invited {
		linkID, err := s.queueLink(ctx, q, user.ID, c.applicationID, linkInvitation, nil)
		if err != nil {
			return err
		}
		return mail.Enqueue(ctx, q, s.now(), invitationMessage(user, app.Name, "", false, linkID))
	}
	if c.noWelcome {
		return nil
	}
	var linkID int64
	if user.EmailVerifiedAt == nil {
		if linkID, err = s.queueLink(ctx, q, user.ID, c.applicationID, linkVerification, nil); err != nil {
			return err
		}
	}
	return mail.Enqueue(ctx, q, s.now(), welcomeMessage(user, app.Name, linkID))
}

// enterpriseCompanyFor creates the enterprise company a new client asks for (when it names no
// company), and returns it; nil when it asks for none.
func enterpriseCompanyFor(ctx context.Context, q *db.Queries, user db.User, c clientRecord) (*int64, error) {
	if c.member != nil || c.requested != nil || !c.enterprise {
		return nil, nil
	}
	company, err := q.CreateCompany(ctx, db.CreateCompanyParams{Name: enterpriseName(user, c.companyName), Enterprise: true})
	if err != nil {
		return nil, fmt.Errorf("create enterprise company for user %d: %w", user.ID, err)
	}
	return &company.ID, nil
}

// enterpriseName names an enterprise client's company: the company name given, else the
// client's name, else the email (cut to the column's limit).
func enterpriseName(user db.User, companyName string) string {
	name := cmp.Or(strings.TrimSpace(companyName), strings.TrimSpace(user.FirstName+" "+user.LastName), user.Email)
	if runes := []rune(name); len(runes) > maxCompanyName {
		name = string(runes[:maxCompanyName])
	}
	return name
}

// clientView is what the client views show of a client profile row.
func clientView(p db.ClientProfile) views.Client {
	return views.Client{
		ID: p.ID, UserID: p.UserID, Email: p.Email, FirstName: p.FirstName, LastName: p.LastName, Phone: p.Phone,
		CompanyID: p.CompanyID, CompanyName: p.CompanyName, Enterprise: p.Enterprise, Active: p.Active,
		DisplayName: p.DisplayName, UseDisplayName: p.UseDisplayName, DisplayEmail: p.DisplayEmail,
		UseDisplayEmail: p.UseDisplayEmail, Bio: p.Bio, RealtorLicense: p.RealtorLicense, CreatedAt: p.CreatedAt,
	}
}

// clientSessionResult is the success answer of the operations that answer a client and a session.
func (s *Server) clientSessionResult(data gen.ClientSession, caller *gen.Session) gen.ClientAndSessionJSONResponse {
	return gen.ClientAndSessionJSONResponse{
		Status: gen.ClientSessionResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: data, Session: caller,
	}
}
