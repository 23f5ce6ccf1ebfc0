package impl

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/audit"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/pages"
)

// Emailed links (domain: sessions): one mechanism for every kind. A link is a 256-bit token
// (prefix pam_) whose SHA-256 is stored with its kind, user, application and redirect URL; it
// works once, for a limited time, where it was requested. A password reset also carries a short
// code for another device. Using a link proves that its user owns the email (the link reached
// the mailbox). The API uses links by their routes (sessions/magic_link_create,
// sessions/password_reset); the pages PlanoAuth serves (pages.go) use every kind.

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

// The reset code: 8 digits (10^8 values), tried at most 5 times, so that one code is guessed
// with a chance of 5 in 100 million.
const (
	ResetCodeDigits = 8
	ResetCodeTries  = 5
)

// newLink is a link to create.
type newLink struct {
	kind        linkKind
	userID      int64
	appID       int64
	redirectURL string
	lifetime    time.Duration
	withCode    bool
}

// createdLink is what only the email holds from then on.
type createdLink struct {
	token string
	code  string // "" unless asked for
}

// createLink stores a new link (hashing its code with argon2id first) and returns its secrets.
func (s *Server) createLink(ctx context.Context, q *db.Queries, l newLink) (createdLink, error) {
	token, hash := auth.NewToken(auth.MagicLinkPrefix)
	out := createdLink{token: token}
	var codeHash *string
	if l.withCode {
		out.code = newCode(ResetCodeDigits)
		phc, err := s.hasher.Hash(ctx, out.code)
		if err != nil {
			return createdLink{}, fmt.Errorf("hash the code of a %s link: %w", l.kind, err)
		}
		codeHash = &phc
	}
	now := s.now()
	_, err := q.CreateLink(ctx, db.CreateLinkParams{
		Kind: string(l.kind), TokenHash: hash, CodeHash: codeHash, UserID: l.userID, ApplicationID: l.appID,
		RedirectUrl: l.redirectURL, ExpiresAt: now.Add(l.lifetime), Now: now,
	})
	if err != nil {
		return createdLink{}, fmt.Errorf("store a %s link of user %d: %w", l.kind, l.userID, err)
	}
	return out, nil
}

// invite is what an invitation to be a liaison accepts: the liaison role, and what the inviter
// offered it.
type invite struct {
	liaisonID, inviterID int64
}

// queueLink stores, in q's transaction, a link of kind for the user in an application, to be
// sent with a queued email (mail.Message.LinkID): its token is minted when the email is sent,
// so that it never rests in the outbox. inv is what an invitation to be a liaison accepts (nil:
// none).
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

// newCode returns a uniformly random code of n decimal digits.
func newCode(n int) string {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
	v, err := rand.Int(rand.Reader, limit)
	if err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // it does not on supported platforms
	}
	return fmt.Sprintf("%0*d", n, v)
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
// link's own, as on the pages), the hash of the new password it sets (nil: none), and the
// credential version at which the prover showed the account's own password (nil: it did not;
// see keepWith).
type linkUse struct {
	kinds        []linkKind
	token        string
	application  *gen.ApplicationSlug
	passwordHash *string
	keep         *int64
}

// usedLink is what using a link gives: its user as it is now, and where it was requested from.
type usedLink struct {
	user        db.User
	application gen.ApplicationSlug
	appID       int64
	redirectURL string
}

// useLink uses a link and applies what it proves, in one transaction (see applyProof). A link
// that cannot be used answers as peekLink says why.
func (s *Server) useLink(ctx context.Context, u linkUse) (usedLink, error) {
	var out usedLink
	var revoked []int64
	kinds := make([]string, len(u.kinds))
	for i, k := range u.kinds {
		kinds[i] = string(k)
	}
	err := s.inTx(ctx, "use an emailed link", func(_ pgx.Tx, q *db.Queries) error {
		var app *string
		if u.application != nil {
			app = (*string)(u.application)
		}
		row, err := q.UseLink(ctx, db.UseLinkParams{TokenHash: auth.HashToken(u.token), Kinds: kinds, Application: app, Now: s.now()})
		if errors.Is(err, pgx.ErrNoRows) {
			if _, err := s.peekLinkIn(ctx, q, u.kinds, u.token, u.application); err != nil {
				return err
			}
			return envelope.New(gen.StatusLinkUsed) // used by a concurrent request since
		}
		if err != nil {
			return fmt.Errorf("use a link: %w", err)
		}
		out = usedLink{application: gen.ApplicationSlug(row.Application), appID: row.ApplicationID, redirectURL: row.RedirectUrl}
		p := proved{passwordHash: u.passwordHash, keep: u.keep}
		if linkKind(row.Kind) == linkInvitation {
			p.liaisonID, p.inviterID = row.LiaisonID, row.InvitedByUserID
		}
		p.appID, p.used = row.ApplicationID, linkUsed(row.UserID, row.ApplicationID)
		out.user, revoked, err = s.applyProof(ctx, q, row.UserID, p)
		return err
	})
	if err != nil {
		return usedLink{}, err
	}
	s.forgetUsers(revoked)
	return out, nil
}

// proved is what a used link (or reset code) does besides proving the email: set the new
// password its owner chose, accept the liaison role an invitation was sent for and what its
// inviter offered (an invitation from before offers were recorded names no inviter). For the
// audit trail: the application it happens in, and the events of using the link.
type proved struct {
	passwordHash *string
	liaisonID    *int64
	inviterID    *int64
	// keep: the prover showed the account's password at this credential version (see
	// takeBackUnproven).
	keep  *int64
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
// reset and sign-in links (endPasswordLinks), revokes every session of the user on every
// instance (the sessions' trigger notifies) and makes its devices strangers (limits.Forget). It returns the user as it is now and the users whose sessions were revoked,
// to evict from this instance's cache after the commit (forgetUsers).
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
