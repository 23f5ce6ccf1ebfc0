package impl

import (
	"context"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/emailaddr"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/mail"
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

// minPasswordLength is the password policy, documented on the Password schema (whose maxLength
// bounds the other end).
const minPasswordLength = 10

// Constraints whose violations are answers rather than crashes.
const (
	usersEmailKey        = "users_email_key"
	clientsUserIDKey     = "clients_user_id_key"
	clientsCompanyFKey   = "clients_company_id_fkey"
	liaisonClientsFKey   = "liaison_clients_client_id_fkey"
	liaisonCompaniesFKey = "liaison_companies_company_id_fkey"
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
// actually receive the welcome email.
func emailProblem(email string) string {
	const invalid = "is not a valid email address"
	addr, err := netmail.ParseAddress(email)
	if err != nil || addr.Name != "" || addr.Address != email {
		return invalid
	}
	domain := email[strings.LastIndexByte(email, '@')+1:]
	if !strings.Contains(domain, ".") {
		return invalid
	}
	return ""
}

// passwordProblem says what is wrong with a new password, or "".
func passwordProblem(password string) string {
	if utf8.RuneCountInString(password) < minPasswordLength {
		return fmt.Sprintf("must be at least %d characters", minPasswordLength)
	}
	return ""
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

// checkCompany records a problem with param when companyID is given and names no company.
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
// decides, so concurrent registrations of one email create exactly one user.
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

// createUserUnlessExists returns the user of the account's (normalized) email, creating it when
// there is none, and reports whether it existed. An existing user is returned as it is: a caller acting
// for someone else never changes their password, names or phone.
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

// inTx runs fn in one transaction. An answer (an *envelope.Error) that fn returns rolls back and
// is answered as it is; any other error rolls back and is an application-crash about what.
func (s *Server) inTx(ctx context.Context, what string, fn func(tx pgx.Tx, q *db.Queries) error) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(tx, s.q.WithTx(tx)) })
	var answer *envelope.Error
	if err == nil || errors.As(err, &answer) {
		return err
	}
	return envelope.Internal("%s: %w", what, err)
}

// welcomeMessage is the email a new client gets.
func welcomeMessage(user db.User) mail.Message {
	return mail.Message{
		Kind:    "welcome",
		To:      user.Email,
		Subject: "Welcome to Plano",
		Text: fmt.Sprintf("Hello %s,\n\nYour Plano client account for %s is ready. Sign in to any Plano "+
			"application with this email.\n", greetingName(user), user.Email),
	}
}

// liaisonWelcomeMessage is the email a new liaison gets.
func liaisonWelcomeMessage(user db.User) mail.Message {
	return mail.Message{
		Kind:    "liaison-welcome",
		To:      user.Email,
		Subject: "You are now a Plano liaison",
		Text: fmt.Sprintf("Hello %s,\n\nYou have been registered as a liaison in Plano with %s. Sign in "+
			"with this email to act for the clients and companies that registered you.\n", greetingName(user), user.Email),
	}
}

// maxGreetingName bounds, in characters, the name an email greets its recipient with.
const maxGreetingName = 40

// greetingName is the name an email greets its recipient with: the user's first name when it is
// a short plain name (letters, combining marks, spaces, hyphens, apostrophes), else "there".
// Whoever created the account chose the name and need not own the mailbox, so an email quotes
// nothing else anyone typed: no link, no address, no text longer than a name.
func greetingName(user db.User) string {
	name := strings.TrimSpace(user.FirstName)
	if name == "" || utf8.RuneCountInString(name) > maxGreetingName {
		return "there"
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.Is(unicode.Mn, r) && r != ' ' && r != '-' && r != '\'' && r != '’' {
			return "there"
		}
	}
	return name
}
