package impl

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/audit"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/emailaddr"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/pages"
	"github.com/plano/planoauth/internal/password"
)

// Emailed links (domain: sessions): one mechanism for every kind. A link is a 256-bit token
// (prefix pam_) whose SHA-256 is stored with its kind, user, application and redirect URL; it
// works once, for a limited time, where it was requested. Every link email also carries a short
// code for another device (argon2id-hashed, tried a few times at most, each try a sign-in guess
// at the account): the code and its link are one, and using either uses both. Using a link
// proves that its user owns the email (the link reached the mailbox). The API uses links by
// their routes (sessions/magic_link_create, sessions/password_reset: a token, or email and
// code); the pages PlanoAuth serves (pages.go) use every kind by its token.

// linkKind is what a link does; the values are the magic_links.kind column's, and each kind
// has its page.
type linkKind = pages.Kind

const (
	linkSignIn       = pages.SignIn
	linkReset        = pages.Reset
	linkVerification = pages.Verification
	linkInvitation   = pages.Invitation
)

// MagicLinkLifetime is how long a sign-in link (and a reset's link and code) works: they are
// asked for and used at once.
const MagicLinkLifetime = 15 * time.Minute

// A welcome's verification link or an invitation may wait in a mailbox.
const (
	verificationLinkLifetime = 24 * time.Hour
	invitationLifetime       = 7 * 24 * time.Hour
)

// linkLifetimes is how long each kind of link works.
var linkLifetimes = map[linkKind]time.Duration{
	linkSignIn:       MagicLinkLifetime,
	linkReset:        MagicLinkLifetime,
	linkVerification: verificationLinkLifetime,
	linkInvitation:   invitationLifetime,
}

// HandoverLifetime is how long the sign-in token a page hands to the application's redirect_url
// works: the application exchanges it at once (sessions/magic_link_create).
const HandoverLifetime = 2 * time.Minute

// CodeTries is how many times a link's code (auth.CodeDigits digits, 10^8 values) may be
// tried, so that one code is guessed with a chance of 5 in 100 million; every try is also a
// sign-in guess at the account (limits.SignIn).
const CodeTries = 5

// newLink is a link to create.
type newLink struct {
	kind        linkKind
	userID      int64
	appID       int64
	redirectURL string
	lifetime    time.Duration
	// code is the code its email shows (nil: no email carries the link, as a page's hand-over).
	code *linkCode
	// codeChallenge is the PKCE challenge the request named (nil: none), which the page's
	// hand-over carries on; handover marks that hand-over, whose exchange checks it.
	codeChallenge *string
	handover      bool
}

// linkCode is a new code for a link: what the email shows, and the argon2id hash stored.
type linkCode struct{ plain, hash string }

// newLinkCode mints a code and hashes it, before the transaction that stores its link (a hash
// takes tens of milliseconds). Answers rate-limited when the hashing queue is full.
func (s *Server) newLinkCode(ctx context.Context) (linkCode, error) {
	plain := auth.NewCode()
	hash, err := s.hasher.Hash(ctx, plain)
	if err != nil {
		return linkCode{}, hashFailure(err, "hash a link's code")
	}
	return linkCode{plain: plain, hash: hash}, nil
}

// createLink stores a new link and returns its token, which only the email holds from then on.
func (s *Server) createLink(ctx context.Context, q *db.Queries, l newLink) (string, error) {
	token, hash := auth.NewToken(auth.MagicLinkPrefix)
	var codeHash *string
	if l.code != nil {
		codeHash = &l.code.hash
	}
	now := s.now()
	_, err := q.CreateLink(ctx, db.CreateLinkParams{
		Kind: string(l.kind), TokenHash: hash, CodeHash: codeHash, UserID: l.userID, ApplicationID: l.appID,
		RedirectUrl: l.redirectURL, ExpiresAt: now.Add(l.lifetime), Now: now, CodeChallenge: l.codeChallenge, Handover: l.handover,
	})
	if err != nil {
		return "", fmt.Errorf("store a %s link of user %d: %w", l.kind, l.userID, err)
	}
	return token, nil
}

// invite is what an invitation to be a liaison accepts: the liaison role, and what the inviter
// offered it.
type invite struct {
	liaisonID, inviterID int64
}

// queueLink stores, in q's transaction, a link of kind for the user in an application, to be
// sent with a queued email (mail.Message.LinkID): its token and code are minted when the email
// is sent, so that they never rest in the outbox. inv is what an invitation to be a liaison
// accepts (nil: none).
func (s *Server) queueLink(ctx context.Context, q *db.Queries, userID, applicationID int64, kind linkKind, inv *invite) (int64, error) {
	now := s.now()
	params := db.CreateLinkParams{
		Kind: string(kind), UserID: userID, ApplicationID: applicationID, ExpiresAt: now.Add(linkLifetimes[kind]), Now: now,
	}
	if inv != nil {
		params.LiaisonID, params.InvitedByUserID = &inv.liaisonID, &inv.inviterID
	}
	id, err := q.CreateLink(ctx, params)
	if err != nil {
		return 0, fmt.Errorf("store a %s link of user %d: %w", kind, userID, err)
	}
	return id, nil
}

// peekLink returns the link of token if it is a usable link of one of kinds (for application,
// when given), without using it: a page shows it, a reset checks it before hashing the new
// password. Answers: invalid-token (malformed, unknown, another kind), link-used, link-expired,
// link-wrong-application.
func (s *Server) peekLink(ctx context.Context, kinds []linkKind, token string, application *gen.ApplicationSlug) (db.GetLinkByTokenHashRow, error) {
	return s.peekLinkIn(ctx, s.q, kinds, token, application)
}

// peekLinkIn is peekLink in q's transaction (a transaction holding a connection must not wait
// for another from the pool).
func (s *Server) peekLinkIn(ctx context.Context, q *db.Queries, kinds []linkKind, token string, application *gen.ApplicationSlug) (db.GetLinkByTokenHashRow, error) {
	if !auth.WellFormed(token, auth.MagicLinkPrefix) {
		return db.GetLinkByTokenHashRow{}, envelope.New(gen.StatusInvalidToken)
	}
	row, err := q.GetLinkByTokenHash(ctx, auth.HashToken(token))
	if errors.Is(err, pgx.ErrNoRows) {
		return row, envelope.New(gen.StatusInvalidToken)
	}
	if err != nil {
		return row, envelope.Internal("look up a link: %w", err)
	}
	link := row.MagicLink
	switch {
	case !slices.Contains(kinds, linkKind(link.Kind)):
		return row, envelope.New(gen.StatusInvalidToken)
	case link.UsedAt != nil:
		return row, envelope.New(gen.StatusLinkUsed)
	case !s.now().Before(link.ExpiresAt):
		return row, envelope.New(gen.StatusLinkExpired)
	case application != nil && row.Application != string(*application):
		return row, envelope.New(gen.StatusLinkWrongApplication)
	}
	return row, nil
}

// linkUse is a link being used: the token of a link of one of kinds, for application (nil: the
// link's own, as on the pages), or the id of the link whose code was right (byCode, from
// takeCode); the hash of the new password it sets (nil: none), and the credential version at
// which the prover showed the account's own password (nil: it did not; see keepWith); the PKCE
// verifier given with the token (nil: none; see checkVerifier).
type linkUse struct {
	kinds        []linkKind
	token        string
	byCode       int64
	application  *gen.ApplicationSlug
	passwordHash *string
	keep         *int64
	verifier     *string
}

// usedLink is what using a link gives: its user as it is now, where it was requested from, and
// the PKCE challenge it was requested with (its hand-over carries it on).
type usedLink struct {
	user          db.User
	application   gen.ApplicationSlug
	appID         int64
	redirectURL   string
	codeChallenge *string
}

// useLink uses a link and applies what it proves, in one transaction (see applyProof). A link
// that cannot be used by its token answers as peekLink says why; one found by its code answers
// invalid-token once a concurrent request used it.
func (s *Server) useLink(ctx context.Context, u linkUse) (usedLink, error) {
	var out usedLink
	var revoked []int64
	err := s.inTx(ctx, "use an emailed link", func(_ pgx.Tx, q *db.Queries) error {
		if err := lockProver(ctx, q, u.prover()); err != nil {
			return err
		}
		row, err := s.markUsed(ctx, q, u)
		if err != nil {
			return err
		}
		out = usedLink{application: gen.ApplicationSlug(row.Application), appID: row.ApplicationID, redirectURL: row.RedirectUrl,
			codeChallenge: row.CodeChallenge}
		p := proved{passwordHash: u.passwordHash, keep: u.keep}
		if linkKind(row.Kind) == linkInvitation {
			p.liaisonID, p.inviterID = row.LiaisonID, row.InvitedByUserID
		}
		p.appID, p.used = row.ApplicationID, linkUsed(row.UserID, row.ApplicationID)
		p.reset = linkKind(row.Kind) == linkReset
		out.user, revoked, err = s.applyProof(ctx, q, row.UserID, p)
		return err
	})
	if err != nil {
		return usedLink{}, err
	}
	s.forgetUsers(revoked)
	return out, nil
}

// prover names the user whose rows lockProver takes before the link is used: the user of the
// link whose code was right (byCode), or of the link's token.
func (u linkUse) prover() db.LockProverAndLiaisonsParams {
	if u.byCode != 0 {
		return db.LockProverAndLiaisonsParams{LinkID: &u.byCode}
	}
	return db.LockProverAndLiaisonsParams{TokenHash: auth.HashToken(u.token)}
}

// markUsed marks the link of u used, in q's transaction: one statement that only an unused,
// unexpired link matches, so that under concurrency exactly one caller gets its row. A link found
// by its token is refused when u's verifier does not fit it (checkVerifier): the transaction then
// rolls back, and the link stays usable.
func (s *Server) markUsed(ctx context.Context, q *db.Queries, u linkUse) (db.UseLinkRow, error) {
	kinds := kindNames(u.kinds)
	if u.byCode != 0 {
		row, err := q.UseLinkByID(ctx, db.UseLinkByIDParams{ID: u.byCode, Kinds: kinds, Now: s.now()})
		if errors.Is(err, pgx.ErrNoRows) {
			return db.UseLinkRow{}, envelope.New(gen.StatusInvalidToken) // used or ended by a concurrent request
		}
		if err != nil {
			return db.UseLinkRow{}, fmt.Errorf("use link %d: %w", u.byCode, err)
		}
		return db.UseLinkRow(row), nil
	}
	row, err := q.UseLink(ctx, db.UseLinkParams{TokenHash: auth.HashToken(u.token), Kinds: kinds,
		Application: (*string)(u.application), Now: s.now()})
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := s.peekLinkIn(ctx, q, u.kinds, u.token, u.application); err != nil {
			return row, err
		}
		return row, envelope.New(gen.StatusLinkUsed) // used by a concurrent request since
	}
	if err != nil {
		return row, fmt.Errorf("use a link: %w", err)
	}
	return row, checkVerifier(row.Handover, row.CodeChallenge, u.verifier)
}

// checkVerifier checks the PKCE verifier given with a link's token (RFC 7636, S256): a page's
// hand-over of a link requested with a challenge needs the verifier whose SHA-256 the challenge
// is, compared in constant time; any other token takes none (an application that sent a
// challenge and got a token without one was handed someone else's). Answers missing-param or
// invalid-param on code_verifier.
func checkVerifier(handover bool, challenge, verifier *string) error {
	switch {
	case !handover || challenge == nil:
		if verifier != nil {
			return envelope.Param(gen.StatusInvalidParam, "code_verifier",
				"this token was not handed over for a code_challenge: exchange it without code_verifier")
		}
		return nil
	case verifier == nil:
		return envelope.Param(gen.StatusMissingParam, "code_verifier", "is required: the link was requested with a code_challenge")
	}
	sum := sha256.Sum256([]byte(*verifier))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(*challenge)) != 1 {
		return envelope.Param(gen.StatusInvalidParam, "code_verifier", "does not match the code_challenge the link was requested with")
	}
	return nil
}

func kindNames(kinds []linkKind) []string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return names
}

// codeTry is a code typed with an email, as the code of a link of one of kinds, in an
// application, by a client.
type codeTry struct {
	email       string
	code        string
	kinds       []linkKind
	application gen.ApplicationSlug
	client      limits.Client
	// first, when set, is checked once the try's use is taken and before the code is tried
	// (a reset's new password): its refusal keeps the use and costs no try of the code.
	first func() error
}

// takeCode finds the link a code was typed for: the newest live link with a code of one of
// t.kinds, of the user of t.email. A code is a guess at the account like a password: each try
// is counted as a sign-in at the account (attemptAt) and against the code (CodeTries,
// atomically), both before the code is evaluated, and the account's use is given back when the
// code is right. An unknown email costs the address one sign-in use, as at sessions/create, and
// answers as a wrong code does. It returns
// the user of the email (zero when unknown) and the link's id. Answers: invalid-token (wrong,
// used, expired, dead or missing code; unknown email), link-wrong-application (a right code of
// another application's link, which stays usable there), rate-limited.
func (s *Server) takeCode(ctx context.Context, t codeTry) (db.User, int64, error) {
	user, err := s.q.GetUserByEmail(ctx, emailaddr.Normalize(t.email))
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := s.limits.AttemptFromAddress(ctx, limits.SignIn, t.client.Peer); err != nil {
			return db.User{}, 0, err
		}
		if err := t.checkFirst(); err != nil {
			return db.User{}, 0, err
		}
		return db.User{}, 0, envelope.New(gen.StatusInvalidToken)
	}
	if err != nil {
		return db.User{}, 0, envelope.Internal("look up user: %w", err)
	}
	ticket, err := s.attemptAt(ctx, limits.SignIn, user, t.client)
	if err != nil {
		return user, 0, err
	}
	if err := t.checkFirst(); err != nil {
		return user, 0, err
	}
	try, err := s.q.TakeCodeTry(ctx, db.TakeCodeTryParams{UserID: user.ID, Kinds: kindNames(t.kinds), Now: s.now(), MaxTries: CodeTries})
	if errors.Is(err, pgx.ErrNoRows) {
		return user, 0, envelope.New(gen.StatusInvalidToken)
	}
	if err != nil {
		return user, 0, envelope.Internal("take a try of a code: %w", err)
	}
	if _, err := s.hasher.Verify(ctx, t.code, deref(try.CodeHash)); errors.Is(err, password.ErrMismatch) {
		return user, 0, envelope.New(gen.StatusInvalidToken)
	} else if err != nil {
		return user, 0, hashFailure(err, "verify a code of user %d", user.ID)
	}
	s.giveBack(ctx, ticket)
	if try.Application != string(t.application) {
		return user, 0, envelope.New(gen.StatusLinkWrongApplication)
	}
	return user, try.ID, nil
}

// checkFirst is t.first's answer (nil without one).
func (t codeTry) checkFirst() error {
	if t.first == nil {
		return nil
	}
	return t.first()
}

// attemptAt takes the use of kind that an attempt at user's account costs (a code's try). Until
// the email is proven, every caller is a stranger (limits.AttemptAsStranger): the devices and
// addresses the account knows then are those of whoever registered it, who could otherwise sign
// in from many addresses, or collect a device token per sign-in, to get an allowance of its own
// each for guessing the codes sent to the owner. Once it is proven (which forgets the devices
// known before), a caller the account knows keeps its own allowance, so that strangers cannot
// keep the owner from using a code.
func (s *Server) attemptAt(ctx context.Context, kind limits.Kind, user db.User, client limits.Client) (limits.Ticket, error) {
	if user.EmailVerifiedAt == nil {
		return s.limits.AttemptAsStranger(ctx, kind, user.ID, client.Peer)
	}
	return s.limits.Attempt(ctx, kind, user.ID, client)
}

// linkAttempt takes the use of limits.Link that a sign-in link emailed to user costs. Until the
// email is proven, the callers the account knows share one allowance (limits.AttemptUnproven):
// whoever registered it, perhaps not the mailbox's owner, gets none per device token for
// mailing the owner's mailbox, and a stranger who spends the strangers' share cannot keep the
// owner who registered herself from her links. Strangers' links are bounded per mailbox too
// (limits.Client.Mailbox): one mailbox's subaddresses are accounts of their own.
func (s *Server) linkAttempt(ctx context.Context, user db.User, client limits.Client) (limits.Ticket, error) {
	client.Mailbox = emailaddr.Mailbox(user.Email)
	if user.EmailVerifiedAt == nil {
		return s.limits.AttemptUnproven(ctx, limits.Link, user.ID, client)
	}
	return s.limits.Attempt(ctx, limits.Link, user.ID, client)
}

// proved is what a used link (or its code) does besides proving the email: set the new
// password its owner chose, accept the liaison role an invitation was sent for and what its
// inviter offered (an invitation from before offers were recorded names no inviter). For the
// audit trail: the application it happens in, and the events of using the link.
type proved struct {
	passwordHash *string
	liaisonID    *int64
	inviterID    *int64
	// keep: the prover showed the account's password at this credential version (see
	// takeBackUnproven).
	keep *int64
	// reset: the link was a password reset's, whose new password the owner is told of
	// (tellOwner: the mailbox that proved itself may be shared, or read by someone else).
	reset bool
	appID int64
	used  []audit.Event
}

// linkUsed is the event of the user's link (or its code) used up in an application.
func linkUsed(userID, appID int64) []audit.Event {
	return []audit.Event{{Kind: gen.AuditMagicLinkUsed, Actor: audit.User(userID), UserID: userID, ApplicationID: appID}}
}

// applyProof records, in q's transaction, that the owner of a user's email proved it (a link or
// a code reached the mailbox): the first proof takes back what the unverified account set up
// (takeBackUnproven: its password, sessions, preferences, phone, trusted devices, grants,
// liaisons, requests), unless the prover showed the account's password (p.keep). Then
// it accepts an invitation's liaison role, and sets a new password, which moves
// credential_version (no log-in with the old one in flight completes), ends the user's other
// emailed links (endPasswordLinks), revokes every session of the user on every instance (the
// sessions' trigger notifies) and makes its devices strangers (limits.Forget).
// It returns the user as it is now and the users whose sessions were revoked or whose row
// changed, to evict from this instance's cache after the commit (forgetUsers).
//
// The audit trail records it all, last in the transaction: the link used, the proof (see
// proof.events), the invitation accepted, and the password reset with the sessions it closed.
func (s *Server) applyProof(ctx context.Context, q *db.Queries, userID int64, p proved) (db.User, []int64, error) {
	now := s.now()
	taken, err := takeBackUnproven(ctx, q, userID, now, p.keep)
	if err != nil {
		return db.User{}, nil, err
	}
	events := append(slices.Clone(p.used), taken.events(userID, p.appID)...)
	owner := audit.User(userID)
	if p.liaisonID != nil {
		accepted, err := q.AcceptLiaison(ctx, db.AcceptLiaisonParams{ID: *p.liaisonID, Now: &now})
		if err != nil {
			return db.User{}, nil, fmt.Errorf("accept liaison %d: %w", *p.liaisonID, err)
		}
		if accepted > 0 {
			role := gen.RoleLiaison
			events = append(events, audit.Event{Kind: gen.AuditInvitationAccepted, Actor: owner, UserID: userID,
				ApplicationID: p.appID, Details: gen.AuditDetails{Role: &role}})
		}
		if p.inviterID != nil {
			grants, err := q.AcceptLiaisonOffers(ctx, db.AcceptLiaisonOffersParams{LiaisonID: *p.liaisonID, InviterID: *p.inviterID, Now: now})
			if err != nil {
				return db.User{}, nil, fmt.Errorf("accept what user %d offered liaison %d: %w", *p.inviterID, *p.liaisonID, err)
			}
			events = append(events, grantsAccepted(owner, userID, p.appID, grants)...)
		}
	}
	revoked := taken.revoked
	if taken.first && len(revoked) == 0 {
		// A proof that kept everything (p.keep) revoked nothing but still changed the user's row
		// (email_verified_at): the user this instance keeps must go as well.
		revoked = []int64{userID}
	}
	if p.passwordHash != nil {
		if err := q.SetNewPassword(ctx, db.SetNewPasswordParams{ID: userID, PasswordHash: p.passwordHash}); err != nil {
			return db.User{}, nil, fmt.Errorf("set the password of user %d: %w", userID, err)
		}
		if err := endPasswordLinks(ctx, q, userID, now); err != nil {
			return db.User{}, nil, err
		}
		apps, err := q.RevokeUserSessionsInApplications(ctx, db.RevokeUserSessionsInApplicationsParams{UserID: userID, Now: &now})
		if err != nil {
			return db.User{}, nil, fmt.Errorf("revoke sessions of user %d: %w", userID, err)
		}
		if err := limits.Forget(ctx, q, userID); err != nil {
			return db.User{}, nil, err
		}
		revoked = append(revoked, userID)
		events = append(events, audit.Event{Kind: gen.AuditPasswordReset, Actor: owner, UserID: userID, ApplicationID: p.appID})
		if len(apps) > 0 {
			events = append(events, audit.SessionsRevoked(owner, userID, apps)...)
		}
	}
	user, err := q.GetUser(ctx, userID)
	if err != nil {
		return db.User{}, nil, fmt.Errorf("read user %d: %w", userID, err)
	}
	if p.reset && p.passwordHash != nil {
		app, err := s.apps.ByID(ctx, p.appID)
		if err != nil {
			return db.User{}, nil, fmt.Errorf("load application %d: %w", p.appID, err)
		}
		if err := s.tellOwner(ctx, q, user.ID, passwordChangedNotice(ctx, app)); err != nil {
			return db.User{}, nil, err
		}
	}
	return user, revoked, audit.Append(ctx, q, now, events...)
}

// grantsAccepted is the grant.made event of the offers a liaison accepted (none when it accepted
// nothing new).
func grantsAccepted(owner audit.Actor, userID, appID int64, grants []db.AcceptLiaisonOffersRow) []audit.Event {
	if len(grants) == 0 {
		return nil
	}
	clients, companies := []int64{}, []int64{}
	for _, g := range grants {
		if g.Kind == "client" {
			clients = append(clients, g.GrantedID)
		} else {
			companies = append(companies, g.GrantedID)
		}
	}
	slices.Sort(clients)
	slices.Sort(companies)
	return []audit.Event{{Kind: gen.AuditGrantMade, Actor: owner, UserID: userID, ApplicationID: appID,
		Details: gen.AuditDetails{ClientIds: &clients, CompanyIds: &companies}}}
}

// forgetUsers evicts the users' sessions from this instance's cache (NOTIFY tells the others).
func (s *Server) forgetUsers(ids []int64) {
	for _, id := range ids {
		s.sessions.ForgetUser(id)
	}
}
