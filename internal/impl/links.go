package impl

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"

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

// MagicLinkLifetime is how long an emailed link (and a reset code) works.
const MagicLinkLifetime = 15 * time.Minute

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

// newCode returns a uniformly random code of n decimal digits.
func newCode(n int) string {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
	v, err := rand.Int(rand.Reader, limit)
	if err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // it does not on supported platforms
	}
	return fmt.Sprintf("%0*d", n, v)
}

// peekLink returns the link of token if it is a usable link of kind (for application, when
// given), without using it: a page shows it, a reset checks it before hashing the new password.
// Answers: invalid-token (malformed, unknown, another kind), link-used, link-expired,
// link-wrong-application.
func (s *Server) peekLink(ctx context.Context, kind linkKind, token string, application *gen.ApplicationSlug) (db.GetLinkByTokenHashRow, error) {
	return s.peekLinkIn(ctx, s.q, kind, token, application)
}

// peekLinkIn is peekLink in q's transaction (a transaction holding a connection must not wait
// for another from the pool).
func (s *Server) peekLinkIn(ctx context.Context, q *db.Queries, kind linkKind, token string, application *gen.ApplicationSlug) (db.GetLinkByTokenHashRow, error) {
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
	case link.Kind != string(kind):
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

// linkUse is a link being used: the token of a link of kind, for application (nil: the link's
// own, as on the pages), and the hash of the new password it sets (nil: none).
type linkUse struct {
	kind         linkKind
	token        string
	application  *gen.ApplicationSlug
	passwordHash *string
}

// usedLink is what using a link gives: its user as it is now, and where it was requested from.
type usedLink struct {
	user        db.User
	application gen.ApplicationSlug
	appID       int64
	redirectURL string
}

// useLink uses a link and applies what it proves, in one transaction (see proveEmail). A link
// that cannot be used answers as peekLink says why.
func (s *Server) useLink(ctx context.Context, u linkUse) (usedLink, error) {
	var out usedLink
	revoked := false
	err := s.inTx(ctx, "use a "+string(u.kind)+" link", func(_ pgx.Tx, q *db.Queries) error {
		var app *string
		if u.application != nil {
			app = (*string)(u.application)
		}
		row, err := q.UseLink(ctx, db.UseLinkParams{
			TokenHash: auth.HashToken(u.token), Kind: string(u.kind), Application: app, Now: s.now(),
		})
		if errors.Is(err, pgx.ErrNoRows) {
			if _, err := s.peekLinkIn(ctx, q, u.kind, u.token, u.application); err != nil {
				return err
			}
			return envelope.New(gen.StatusLinkUsed) // used by a concurrent request since
		}
		if err != nil {
			return fmt.Errorf("use a link: %w", err)
		}
		out = usedLink{application: gen.ApplicationSlug(row.Application), appID: row.ApplicationID, redirectURL: row.RedirectUrl}
		out.user, revoked, err = s.proveEmail(ctx, q, row.UserID, u.passwordHash)
		return err
	})
	if err == nil && revoked {
		s.sessions.ForgetUser(out.user.ID)
	}
	return out, err
}

// proveEmail records, in q's transaction, that the owner of a user's email proved it (a link or
// a code reached the mailbox), and sets the new password hash when one is given. The first
// proof drops a password set before it (registration proves nothing: whoever registered the
// email may not own it) and revokes the user's sessions; a new password revokes them too, on
// every instance (the sessions' trigger notifies). After either, whoever signed in before may
// not be the owner: their devices and addresses are strangers to the account from then on
// (limits.Forget). It returns the user as it is now and whether sessions were revoked, so that
// the caller evicts them from this instance's cache after the commit.
func (s *Server) proveEmail(ctx context.Context, q *db.Queries, userID int64, passwordHash *string) (db.User, bool, error) {
	now := s.now()
	hadPassword, err := q.ClaimVerifiedEmail(ctx, db.ClaimVerifiedEmailParams{UserID: userID, Now: &now})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) { // no row: proven before
		return db.User{}, false, fmt.Errorf("mark the email of user %d proven: %w", userID, err)
	}
	claimed := err == nil
	revoke := claimed && hadPassword
	if passwordHash != nil {
		if err := q.SetPasswordHash(ctx, db.SetPasswordHashParams{ID: userID, PasswordHash: passwordHash}); err != nil {
			return db.User{}, false, fmt.Errorf("set the password of user %d: %w", userID, err)
		}
		revoke = true
	}
	if revoke {
		if _, err := q.RevokeUserSessions(ctx, db.RevokeUserSessionsParams{UserID: userID, Now: &now}); err != nil {
			return db.User{}, false, fmt.Errorf("revoke sessions of user %d: %w", userID, err)
		}
	}
	if claimed || passwordHash != nil {
		if err := limits.Forget(ctx, q, userID); err != nil {
			return db.User{}, false, err
		}
	}
	user, err := q.GetUser(ctx, userID)
	if err != nil {
		return db.User{}, false, fmt.Errorf("read user %d: %w", userID, err)
	}
	return user, revoke, nil
}
