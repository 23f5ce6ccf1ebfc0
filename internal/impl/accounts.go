package impl

import (
	"context"
	"errors"
	"fmt"
	"maps"
	netmail "net/mail"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/audit"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/emailaddr"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/mail"
	"github.com/plano/planoauth/internal/password"
	"github.com/plano/planoauth/internal/pgerr"
)

// What every way of creating an account shares (clients/register, clients/create,
// users/client_register, liaisons/register): the meaning-level field rules, user creation backed
// by the unique email index, the transaction helper and the welcome emails.

// The roles a user acts with, as applications and sessions name them.
const (
	roleClient   = string(gen.RoleClient)
	roleEmployee = string(gen.RoleEmployee)
	roleLiaison  = string(gen.RoleLiaison)
)

// Constraints whose violations are answers rather than crashes.
const (
	usersEmailKey        = "users_email_key"
	clientsUserIDKey     = "clients_user_id_key"
	clientsCompanyFKey   = "clients_company_id_fkey"
	liaisonClientsFKey   = "liaison_clients_client_id_fkey"
	liaisonCompaniesFKey = "liaison_companies_company_id_fkey"
	// A grant made through a liaison's grant names it (the source); it was taken back meanwhile.
	liaisonClientsSourceFKey   = "liaison_clients_source_fkey"
	liaisonCompaniesSourceFKey = "liaison_companies_source_fkey"
)

// fieldProblems are the failing fields of a client-validation-failed answer.
type fieldProblems []gen.ParamError

// add records a problem with param; an empty problem is none.
func (p *fieldProblems) add(param, problem string) {
	if problem != "" {
		*p = append(*p, gen.ParamError{Param: param, Message: problem})
	}
}

// err is the client-validation-failed answer listing the problems, or nil when there are none.
func (p fieldProblems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &envelope.Error{Status: gen.StatusClientValidationFailed, Params: p}
}

// emailProblem says what is wrong with a new account's email, or "". It must be a bare address
// (no display name, no angle brackets, no surrounding space) with a dot in its domain: what can
// actually receive the welcome email. A domain that is an address literal (x@[127.0.0.1]) is
// refused: it names a host rather than a mail domain, points mail at any machine (the service's
// own network included), and no real mailbox needs it.
func emailProblem(email string) string {
	const invalid = "is not a valid email address"
	addr, err := netmail.ParseAddress(email)
	if err != nil || addr.Name != "" || addr.Address != email {
		return invalid
	}
	domain := email[strings.LastIndexByte(email, '@')+1:]
	if strings.HasPrefix(domain, "[") {
		return "names an IP address instead of a mail domain"
	}
	if !strings.Contains(domain, ".") {
		return invalid
	}
	return ""
}

// passwordProblem says what is wrong with a new account's password, or "": the offline policy
// (password.Weakness), with the account's email and names as words to avoid. The breach check,
// which needs the network, is breachProblem.
func passwordProblem(plain, email string, firstName, lastName *string) string {
	return password.Weakness(plain, userWords(email, deref(firstName), deref(lastName))...)
}

// phoneProblem says what is wrong with a phone number, or "". The empty string means no phone.
func phoneProblem(phone string) string {
	digits := 0
	for i, r := range phone {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0, strings.ContainsRune(" -.()", r):
		default:
			return "may hold only digits, spaces, dashes, dots, parentheses and a leading +"
		}
	}
	if phone != "" && (digits < 7 || digits > 15) {
		return "must have 7 to 15 digits"
	}
	return ""
}

// checkCompany records a problem with param when companyID is given and names no company. Only
// callers who may make a client a member (an application token or an employee) are told: to
// anyone else a company id is a request, answered alike whether or not the company exists.
func (s *Server) checkCompany(ctx context.Context, param string, companyID *int64, problems *fieldProblems) error {
	if companyID == nil {
		return nil
	}
	exists, err := s.q.CompanyExists(ctx, *companyID)
	if err != nil {
		return envelope.Internal("look up company %d: %w", *companyID, err)
	}
	if !exists {
		problems.add(param, "is not a known company")
	}
	return nil
}

// checkEmailFree answers email-already-registered when the email has a user, so that a taken
// email costs no hash. The unique index still decides between concurrent registrations.
func (s *Server) checkEmailFree(ctx context.Context, email string) error {
	_, err := s.q.GetUserByEmail(ctx, emailaddr.Normalize(email))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return envelope.Internal("look up user: %w", err)
	}
	return envelope.New(gen.StatusEmailAlreadyRegistered)
}

// hashOptional hashes a password when one is given; accounts without one sign in with Google or
// a magic link. A full hashing queue answers rate-limited.
func (s *Server) hashOptional(ctx context.Context, password *string) (*string, error) {
	if password == nil {
		return nil, nil
	}
	phc, err := s.hasher.Hash(ctx, *password)
	if err != nil {
		return nil, hashFailure(err, "hash new password")
	}
	return &phc, nil
}

// newAccount is a user to create.
type newAccount struct {
	email        string
	passwordHash *string
	firstName    string
	lastName     string
	phone        string
}

// createUser creates the user of a new account in q's transaction, with its email normalized
// (emailaddr). It answers email-already-registered when the email has a user: the unique index
// decides, so concurrent registrations of one email create exactly one user. The user's email
// is not verified.
func createUser(ctx context.Context, q *db.Queries, a newAccount) (db.User, error) {
	a.email = emailaddr.Normalize(a.email)
	user, err := q.CreateUser(ctx, db.CreateUserParams{Email: a.email, PasswordHash: a.passwordHash,
		FirstName: a.firstName, LastName: a.lastName, Phone: a.phone})
	if pgerr.IsUniqueViolation(err, usersEmailKey) {
		return db.User{}, envelope.New(gen.StatusEmailAlreadyRegistered)
	}
	if err != nil {
		return db.User{}, fmt.Errorf("create user: %w", err)
	}
	return user, nil
}

// createUserUnlessExists returns the user of the account's (normalized) email, creating it
// (unverified) when there is none, and reports whether it existed. An existing user is returned
// as it is: a caller acting for someone else never changes their password, names or phone.
func createUserUnlessExists(ctx context.Context, q *db.Queries, a newAccount) (db.User, bool, error) {
	a.email = emailaddr.Normalize(a.email)
	user, err := q.CreateUserUnlessExists(ctx, db.CreateUserUnlessExistsParams{Email: a.email,
		PasswordHash: a.passwordHash, FirstName: a.firstName, LastName: a.lastName, Phone: a.phone})
	if err == nil {
		return user, false, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return db.User{}, false, fmt.Errorf("create user: %w", err)
	}
	// ON CONFLICT waited for any concurrent insert of the email to commit; this statement's
	// snapshot sees it.
	user, err = q.GetUserByEmail(ctx, a.email)
	if err != nil {
		return db.User{}, false, fmt.Errorf("read the existing user of the email: %w", err)
	}
	return user, true, nil
}

// mayChooseCredentials reports whether the caller may give a new user an initial password and
// make clients members of companies: an application token or an employee whose email is
// verified (as its session was loaded; lockGrantSource decides again inside the transaction).
// Nobody else chooses another person's password, or grants a company it does not own: an
// unverified employee may be whoever registered the email before the employee's owner did.
func mayChooseCredentials(p *auth.Principal) bool {
	return p.Session == nil || (p.Session.Role == roleEmployee && callerVerified(p))
}

// callerVerified reports whether the calling user's email is proven (as its session was loaded;
// checkGrantor decides again inside a grant's transaction).
func callerVerified(p *auth.Principal) bool { return p.User != nil && p.User.EmailVerifiedAt != nil }

// errUnproven is the answer to a caller whose email is not verified yet, when it tries to grant,
// delegate or approve something.
func errUnproven() error {
	return &envelope.Error{Status: gen.StatusPermissionDenied,
		Message: "Prove your email first: sign in with a link sent to it (sessions/magic_link_request), " +
			"the link of your welcome email, or Google."}
}

// checkGrantor lets the caller grant, delegate or approve in q's transaction: an application, or
// a user whose email is proven and whose session is still live. It answers permission-denied for
// an unverified user, and invalid-token when the session was revoked since the request began
// (by its email's first proof, which revokes the sessions of the unverified account). The user's
// row stays share-locked until the transaction ends: a proof in flight finishes first (and this
// reads its revocations), and one that begins later waits for this transaction, then takes back
// what it granted.
func checkGrantor(ctx context.Context, q *db.Queries, p *auth.Principal) error {
	if p.Session == nil {
		return nil
	}
	verified, err := q.LockUserForGrant(ctx, p.Session.UserID)
	if err != nil {
		return fmt.Errorf("lock user %d: %w", p.Session.UserID, err)
	}
	if !verified {
		return errUnproven()
	}
	live, err := q.IsSessionLive(ctx, p.Session.ID)
	if err != nil {
		return fmt.Errorf("read session %s: %w", p.Session.ID, err)
	}
	if !live {
		return envelope.New(gen.StatusInvalidToken)
	}
	return nil
}

// proof is what an email's first proof took back.
type proof struct {
	first bool
	// users whose sessions it revoked: the proven user, and the liaisons it had registered
	revoked []int64
	// For the audit trail: whether a password was dropped, the applications of the sessions
	// revoked, the grants taken back by liaison user, the liaisons removed, and the membership
	// requests taken back.
	hadPassword     bool
	hadSecondFactor bool
	sessionApps     []int64
	clientGrants    map[int64][]int64
	companyGrants   map[int64][]int64
	liaisonsGone    []int64
	requestsGone    []db.DeleteMemberRequestsOfUserRow
}

// events are the audit events of a first proof of the user's email in the application appID,
// owner being who proved it.
func (p proof) events(userID, appID int64) []audit.Event {
	if !p.first {
		return nil
	}
	owner := audit.User(userID)
	events := []audit.Event{{Kind: gen.AuditUserEmailVerified, Actor: owner, UserID: userID, ApplicationID: appID}}
	if p.hadPassword {
		events = append(events, audit.Event{Kind: gen.AuditPasswordDropped, Actor: owner, UserID: userID, ApplicationID: appID})
	}
	if p.hadSecondFactor {
		events = append(events, audit.Event{Kind: gen.AuditMfaFactorsDropped, Actor: owner, UserID: userID, ApplicationID: appID})
	}
	if len(p.sessionApps) > 0 {
		events = append(events, audit.SessionsRevoked(owner, userID, p.sessionApps)...)
	}
	events = append(events, grantsRevoked(owner, appID, p.clientGrants, p.companyGrants)...)
	liaison := gen.Role(roleLiaison)
	for _, id := range p.liaisonsGone {
		events = append(events, audit.Event{Kind: gen.AuditRoleRevoked, Actor: owner, UserID: id, ApplicationID: appID,
			Details: gen.AuditDetails{Role: &liaison}})
	}
	for _, r := range p.requestsGone {
		events = append(events, audit.Event{Kind: gen.AuditMembershipRemoved, Actor: owner, UserID: userID, ApplicationID: appID,
			Details: gen.AuditDetails{ClientId: &r.ClientID, CompanyId: &r.CompanyID}})
	}
	return events
}

// grantsRevoked are the grant.revoked events of grants taken back, by liaison user: one per
// liaison, in user id order.
func grantsRevoked(actor audit.Actor, appID int64, clients, companies map[int64][]int64) []audit.Event {
	liaisons := slices.Sorted(maps.Keys(clients))
	for id := range companies {
		if _, ok := clients[id]; !ok {
			liaisons = append(liaisons, id)
		}
	}
	slices.Sort(liaisons)
	events := make([]audit.Event, 0, len(liaisons))
	for _, id := range liaisons {
		clientIDs, companyIDs := append([]int64{}, clients[id]...), append([]int64{}, companies[id]...)
		events = append(events, audit.Event{Kind: gen.AuditGrantRevoked, Actor: actor, UserID: id, ApplicationID: appID,
			Details: gen.AuditDetails{ClientIds: &clientIDs, CompanyIds: &companyIDs}})
	}
	return events
}

// byLiaison groups grants taken back by the liaison's user.
func byLiaison[R any](rows []R, of func(R) (liaisonUserID, grantedID int64)) map[int64][]int64 {
	out := map[int64][]int64{}
	for _, row := range rows {
		liaison, granted := of(row)
		out[liaison] = append(out[liaison], granted)
	}
	return out
}

// proveEmail records that the owner of a user's email holds the mailbox (an emailed link was
// exchanged, or Google vouched for the email) and runs then (which may be nil) in the same
// transaction. It is the one way an email becomes verified: the password reset of the recovery
// issue calls it with a then that sets the new password (moving credential_version).
//
// The first proof takes back everything the unverified account set up, since whoever registered
// the email may not be its owner: the password (and with it every password log-in in flight),
// the sessions, the devices and addresses its sign-ins made known (limits.Forget), the grants it made to liaisons and the liaisons it registered that act for
// nothing else (and their liaison sessions), and its pending membership requests. Later proofs
// change nothing.
//
// The audit trail records the first proof, in the application appID where it happened, with what
// it took back (appended last, after then).
func (s *Server) proveEmail(ctx context.Context, userID, appID int64, then func(q *db.Queries) error) error {
	var taken proof
	err := s.inTx(ctx, "prove an email", func(_ pgx.Tx, q *db.Queries) error {
		if err := lockProver(ctx, q, db.LockProverAndLiaisonsParams{UserID: &userID}); err != nil {
			return err
		}
		var err error
		if taken, err = takeBackUnproven(ctx, q, userID, s.now(), nil); err != nil {
			return err
		}
		if then != nil {
			if err := then(q); err != nil {
				return err
			}
		}
		return audit.Append(ctx, q, s.now(), taken.events(userID, appID)...)
	})
	if err != nil {
		return err
	}
	for _, id := range taken.revoked {
		s.sessions.ForgetUser(id) // refused from the next request on, here; NOTIFY tells the others
	}
	return nil
}

// lockProver locks, first in a transaction that may prove an email, the row of its user (by id,
// or the user of the link about to be used) and those of the liaisons the user registered while
// unverified, in id order, before any link: the one order of users, then links, that every
// request of theirs in flight takes too (see LockProverAndLiaisons). Without it, two links of an
// unproven user used at once each held its own link and waited for the other at the user's row,
// where the first proof ends the live verification links.
func lockProver(ctx context.Context, q *db.Queries, of db.LockProverAndLiaisonsParams) error {
	if err := q.LockProverAndLiaisons(ctx, of); err != nil {
		return fmt.Errorf("lock the prover and the liaisons it registered: %w", err)
	}
	return nil
}

// endVerifications ends the user's live verification links (and their codes) once its email is
// proven another way: the welcome email's link would otherwise sign in, for its whole life, whoever
// else read that email.
func endVerifications(ctx context.Context, q *db.Queries, userID int64, now time.Time) error {
	if err := q.ExpireUserLinks(ctx, db.ExpireUserLinksParams{UserID: userID, Kind: string(linkVerification), Now: now}); err != nil {
		return fmt.Errorf("end the verification links of user %d: %w", userID, err)
	}
	return nil
}

// takeBackUnproven marks the user's email proven and, the first time, removes what the
// unverified account set up (see proveEmail), in q's transaction. keep, when not nil, is the
// credential version at which the prover showed the account's own password: if it is still the
// user's, the prover is both whoever set the account up and the mailbox's owner, and nothing is
// taken back (a password changed since it was checked is not the one shown: then everything is).
//
// The caller locked the user and its liaisons first (lockProver); the links come after them.
func takeBackUnproven(ctx context.Context, q *db.Queries, userID int64, now time.Time, keep *int64) (proof, error) {
	if err := q.LockLiaisonInvitationsBy(ctx, &userID); err != nil {
		return proof{}, fmt.Errorf("lock the invitations of liaisons registered by user %d: %w", userID, err)
	}
	if keep != nil {
		kept, err := q.ProveUserEmailKeeping(ctx, db.ProveUserEmailKeepingParams{UserID: userID, Now: &now, CredentialVersion: *keep})
		if err != nil {
			return proof{}, fmt.Errorf("mark the email of user %d proven: %w", userID, err)
		}
		if kept == 1 {
			return proof{first: true}, endVerifications(ctx, q, userID, now)
		}
	}
	proven, err := q.ProveUserEmail(ctx, db.ProveUserEmailParams{UserID: userID, Now: &now})
	if errors.Is(err, pgx.ErrNoRows) {
		return proof{}, nil // proven before
	}
	if err != nil {
		return proof{}, fmt.Errorf("mark the email of user %d proven: %w", userID, err)
	}
	taken := proof{first: true, hadPassword: proven.HadPassword}
	if err := endVerifications(ctx, q, userID, now); err != nil {
		return proof{}, err
	}
	if taken.sessionApps, err = q.RevokeUserSessionsInApplications(ctx, db.RevokeUserSessionsInApplicationsParams{UserID: userID, Now: &now}); err != nil {
		return proof{}, fmt.Errorf("revoke sessions of user %d: %w", userID, err)
	}
	// Whoever signed in before the proof may not be the owner: their devices and addresses are
	// strangers to the account from now on.
	if err := limits.Forget(ctx, q, userID); err != nil {
		return proof{}, err
	}
	if taken.hadSecondFactor, err = dropSecondFactors(ctx, q, userID); err != nil { // a squatter's app would lock the owner out
		return proof{}, err
	}
	clients, err := q.DeleteClientGrantsBy(ctx, &userID)
	if err != nil {
		return proof{}, fmt.Errorf("take back client grants of user %d: %w", userID, err)
	}
	companies, err := q.DeleteCompanyGrantsBy(ctx, &userID)
	if err != nil {
		return proof{}, fmt.Errorf("take back company grants of user %d: %w", userID, err)
	}
	taken.clientGrants = byLiaison(clients, func(r db.DeleteClientGrantsByRow) (int64, int64) { return r.LiaisonUserID, r.GrantedID })
	taken.companyGrants = byLiaison(companies, func(r db.DeleteCompanyGrantsByRow) (int64, int64) { return r.LiaisonUserID, r.GrantedID })
	if taken.liaisonsGone, err = q.DeleteLiaisonsInvitedBy(ctx, &userID); err != nil {
		return proof{}, fmt.Errorf("remove liaisons registered by user %d: %w", userID, err)
	}
	if len(taken.liaisonsGone) > 0 {
		// Their rows, locked first (lockProver), before their sessions: a sign-in in flight
		// ends with the others, or finds no role (insertSession).
		if _, err := q.RevokeRoleSessions(ctx, db.RevokeRoleSessionsParams{UserIds: taken.liaisonsGone, Role: roleLiaison, Now: &now}); err != nil {
			return proof{}, fmt.Errorf("revoke sessions of liaisons registered by user %d: %w", userID, err)
		}
	}
	if taken.requestsGone, err = q.DeleteMemberRequestsOfUser(ctx, userID); err != nil {
		return proof{}, fmt.Errorf("take back membership requests of user %d: %w", userID, err)
	}
	taken.revoked = append([]int64{userID}, taken.liaisonsGone...)
	return taken, nil
}

// inTx runs fn in one transaction. An answer (an *envelope.Error) that fn returns rolls back and
// is answered as it is; any other error rolls back and is an application-crash about what.
func (s *Server) inTx(ctx context.Context, what string, fn func(tx pgx.Tx, q *db.Queries) error) error {
	return inTx(ctx, s.pool, what, fn)
}

// inTx is Server.inTx for the domain functions that operators' tools call without a Server.
func inTx(ctx context.Context, pool *pgxpool.Pool, what string, fn func(tx pgx.Tx, q *db.Queries) error) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return fn(tx, db.New(tx)) })
	var answer *envelope.Error
	if err == nil || errors.As(err, &answer) {
		return err
	}
	return envelope.Internal("%s: %w", what, err)
}

// newAccountEvents are the events of creating user by actor in an application, with a role:
// user.created, password.set when it was created with one, and role.granted.
func newAccountEvents(actor audit.Actor, user db.User, withPassword bool, appID int64, role string) []audit.Event {
	events := []audit.Event{{Kind: gen.AuditUserCreated, Actor: actor, UserID: user.ID, ApplicationID: appID}}
	if withPassword {
		events = append(events, audit.Event{Kind: gen.AuditPasswordSet, Actor: actor, UserID: user.ID, ApplicationID: appID})
	}
	return append(events, roleGranted(actor, user.ID, appID, role))
}

// roleGranted is the event of giving a user a role.
func roleGranted(actor audit.Actor, userID, appID int64, role string) audit.Event {
	granted := gen.Role(role)
	return audit.Event{Kind: gen.AuditRoleGranted, Actor: actor, UserID: userID, ApplicationID: appID,
		Details: gen.AuditDetails{Role: &granted}}
}

// welcomeMessage is the email a new client gets. While the user's email is not verified it
// carries a verification link and its code (queued with it: linkID) for the application appName,
// and says what confirming does.
func welcomeMessage(user db.User, appName string, linkID int64) mail.Message {
	text := fmt.Sprintf("Hello %s,\n\nYour Plano client account for %s is ready. Sign in to any Plano "+
		"application with this email.\n", greetingName(user), emailaddr.Display(user.Email))
	if linkID != 0 {
		text += fmt.Sprintf("\nConfirm that this email is yours with this link (it works once, within %d hours):\n\n%s\n\n"+
			"%s\n\n"+
			"Until then the account cannot give anyone access to anything. If you did not create this account, "+
			"confirming takes it over: the password and sessions of whoever created it stop working.\n",
			int(linkLifetimes[linkVerification].Hours()), mail.LinkPlaceholder, codeLine(appName, "to confirm and sign in"))
	}
	return mail.Message{Kind: "welcome", To: user.Email, Subject: "Welcome to Plano", Text: text, LinkID: linkID}
}

// invitationMessage is the email of someone invited by another user to the application appName:
// as a liaison (by inviter), or as a client created for it. Its link and code sign the invitee
// in, prove the email and, for a liaison, accept the role.
func invitationMessage(user db.User, appName, inviter string, liaison bool, linkID int64) mail.Message {
	what, subject := "a Plano client account was created for you", "You are invited to Plano"
	if liaison {
		what = fmt.Sprintf("%s invites you to act for them in Plano as a liaison", inviter)
		subject = "You are invited to be a Plano liaison"
	}
	return mail.Message{
		Kind: "invitation", To: user.Email, Subject: subject, LinkID: linkID,
		Text: fmt.Sprintf("Hello %s,\n\n%s, with %s. Accept with this link (it works once, within %d days), "+
			"and choose a password there if you want one:\n\n%s\n\n%s\n\nIf you do not know what this is about, ignore this email: nothing happens "+
			"until the link or the code is used.\n", greetingName(user), what, emailaddr.Display(user.Email),
			int(linkLifetimes[linkInvitation].Hours()/24), mail.LinkPlaceholder, codeLine(appName, "to accept and sign in")),
	}
}

// codeLine is the line of a queued link email that shows its code (minted with the link when the
// email is sent): where to type it, and what that does.
func codeLine(appName, does string) string {
	return "On another device, type your email and this code in " + appName + " " + does + " instead: " + mail.CodePlaceholder
}

// maxGreetingName bounds, in characters, the name an email greets its recipient with.
const maxGreetingName = 40

// greetingName is the name an email greets its recipient with: the user's first name when it is
// a short plain name, else "there". Whoever created the account chose the name and need not own
// the mailbox, so an email quotes nothing else anyone typed: no link, no address, no text longer
// than a name.
func greetingName(user db.User) string {
	if name := plainName(user.FirstName); name != "" {
		return name
	}
	return "there"
}

// inviterName is how an invitation names who sent it: its verified email (its domain in ASCII,
// emailaddr.Display, so that a look-alike domain shows as what it is), after its first name when
// that is a short plain name (the rule of greetingName: the invitee did not choose it).
func inviterName(inviter db.User) string {
	email := emailaddr.Display(inviter.Email)
	if name := plainName(inviter.FirstName); name != "" {
		return name + " (" + email + ")"
	}
	return email
}

// plainName is name trimmed when it is a short plain name (letters, combining marks, spaces,
// hyphens, apostrophes), else "".
func plainName(name string) string {
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > maxGreetingName {
		return ""
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.Is(unicode.Mn, r) && r != ' ' && r != '-' && r != '\'' && r != '’' {
			return ""
		}
	}
	return name
}
