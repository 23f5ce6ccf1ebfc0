package impl

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/pages"
	"github.com/plano/planoauth/internal/peer"
)

// The pages emailed links open (internal/pages) use links through these two methods.

var _ pages.Links = (*Server)(nil)

// linkURL is the page of kind under the service's public URL, for token.
func (s *Server) linkURL(kind linkKind, token string) string {
	return s.publicURL + pages.Path(kind) + "?token=" + url.QueryEscape(token)
}

// PeekLink returns what a page shows of a usable link, without using it. Answers those of
// peekLink.
func (s *Server) PeekLink(ctx context.Context, kind pages.Kind, token string) (pages.Link, error) {
	row, err := s.peekPageLink(ctx, kind, token)
	if err != nil {
		return pages.Link{}, err
	}
	link, _, err := s.pageLink(ctx, row)
	return link, err
}

// peekPageLink is peekLink for a page: a hand-over bound to a PKCE challenge is no link a page
// takes (invalid-token), so that whoever read it from the redirect URL cannot use it up there
// either: only the application holding the verifier uses it (checkVerifier).
func (s *Server) peekPageLink(ctx context.Context, kind pages.Kind, token string) (db.GetLinkByTokenHashRow, error) {
	row, err := s.peekLink(ctx, []linkKind{kind}, token, nil)
	if err == nil && row.MagicLink.Handover && row.MagicLink.CodeChallenge != nil {
		return row, envelope.New(gen.StatusInvalidToken)
	}
	return row, err
}

// pageLink is the link as a page shows it, with its user.
func (s *Server) pageLink(ctx context.Context, row db.GetLinkByTokenHashRow) (pages.Link, db.User, error) {
	user, err := s.q.GetUser(ctx, row.MagicLink.UserID)
	if err != nil {
		return pages.Link{}, user, envelope.Internal("load user %d: %w", row.MagicLink.UserID, err)
	}
	app, err := s.apps.BySlug(ctx, row.Application)
	if err != nil {
		return pages.Link{}, user, envelope.Internal("load application %s: %w", row.Application, err)
	}
	return pages.Link{Application: app.Name, Email: user.Email, RedirectURL: row.MagicLink.RedirectUrl,
		KeepPassword: user.EmailVerifiedAt == nil && hasPassword(user.PasswordHash), NoNewPassword: noNewPassword(user)}, user, nil
}

// noNewPassword reports whether an invitation must not set user's password: it has one, or its
// email is proven (it signs in with links, Google or a passkey). An invitation is no password
// reset: whoever reads the invited mailbox must not choose the password of an account that
// exists, which would outlive the invitation.
func noNewPassword(user db.User) bool {
	return hasPassword(user.PasswordHash) || user.EmailVerifiedAt != nil
}

// UseLink is a page's button: it uses the link of its own application, setting the new
// password given (a reset, or an invitation whose invitee chose one), and keeping what the
// account set up when the account's own password is given and right (as sessions/magic_link_create
// does with its password: counted as a guess at the account, and a wrong one leaves the link
// usable). It returns where the browser goes: the link's redirect URL with a new sign-in token
// in magic_token (HandoverLifetime, for the application to exchange with
// sessions/magic_link_create), or "" when there is none. A refused link counts as a failed
// sign-in of the client address, as on sessions/magic_link_create. Answers: those of peekLink,
// rate-limited, invalid-param on password, invalid-password; pages.ErrHandover when the link
// was used but the hand-over failed.
func (s *Server) UseLink(ctx context.Context, kind pages.Kind, u pages.Use) (pages.Link, string, error) {
	client := limits.Client{Peer: peer.FromContext(ctx)}
	ticket, err := s.limits.AttemptFromAddress(ctx, limits.SignIn, client.Peer)
	if err != nil {
		return pages.Link{}, "", err
	}
	row, err := s.peekPageLink(ctx, kind, u.Token)
	if err != nil {
		return pages.Link{}, "", err // a failed sign-in: the use stays
	}
	// A new password's checks (zxcvbn, Have I Been Pwned) are paid for by the address's use,
	// given back once the link is used; a page without one gives it back now: the link is real.
	newPassword := u.Password != "" && (kind == linkReset || kind == linkInvitation)
	if !newPassword {
		s.giveBack(ctx, ticket)
		ticket = limits.Ticket{}
	}
	link, user, err := s.pageLink(ctx, row)
	if err != nil {
		return link, "", err
	}
	if kind == linkReset && u.Password == "" {
		return link, "", envelope.Param(gen.StatusInvalidParam, "password", "is required")
	}
	if kind == linkInvitation && u.Password != "" && noNewPassword(user) {
		return link, "", envelope.Param(gen.StatusInvalidParam, "password",
			"an invitation sets no password of an account that exists already: accept it without one (a password reset sets one)")
	}
	use := linkUse{kinds: []linkKind{kind}, token: u.Token}
	if u.CurrentPassword != "" && kind != linkReset && hasPassword(user.PasswordHash) {
		try, err := s.verifyPassword(ctx, user, u.CurrentPassword, client)
		if err != nil {
			return link, "", s.loginFailed(ctx, s.q, loginAttempt{method: gen.LoginMagicLink,
				applicationID: row.MagicLink.ApplicationID, userID: user.ID}, err)
		}
		s.settle(ctx, try, nil) // the password is the account's: no guess
		use.keep = &user.CredentialVersion
	}
	if newPassword {
		h, err := s.hashNewPassword(ctx, "password", u.Password, user)
		if err != nil {
			return link, "", err
		}
		use.passwordHash = &h
	}
	used, err := s.useLink(ctx, use)
	s.settle(ctx, signInTry{failure: ticket}, err)
	if err != nil {
		return link, "", err
	}
	if used.redirectURL == "" {
		return link, "", nil
	}
	next, err := s.handover(ctx, used)
	if err != nil {
		return link, "", fmt.Errorf("%w: %w", pages.ErrHandover, err)
	}
	return link, next, nil
}

// handover is the used link's redirect URL carrying a new short-lived sign-in token for the
// same user and application, bound to the PKCE challenge the link was requested with (if any);
// "" (the page says it is done) when the application no longer allows that URL.
func (s *Server) handover(ctx context.Context, used usedLink) (string, error) {
	if err := s.redirects.Check(ctx, string(used.application), used.redirectURL); err != nil {
		s.log.WarnContext(ctx, "link page: redirect URL no longer allowed", "application", used.application, "error", err)
		return "", nil
	}
	target, err := url.Parse(used.redirectURL)
	if err != nil {
		return "", envelope.Internal("parse the redirect URL of a link: %w", err)
	}
	// No email carries it, so it has no code.
	token, err := s.createLink(ctx, s.q, newLink{kind: linkSignIn, userID: used.user.ID, appID: used.appID,
		redirectURL: used.redirectURL, lifetime: HandoverLifetime, codeChallenge: used.codeChallenge, handover: true})
	if err != nil {
		return "", envelope.Internal("%w", err)
	}
	query := target.Query()
	query.Set("magic_token", token)
	target.RawQuery = query.Encode()
	return target.String(), nil
}

// ResetApplication names the application of slug ("": the service's own, planoauth) for the reset
// page opened without a link. Answers invalid-param for no such application.
func (s *Server) ResetApplication(ctx context.Context, slug string) (string, error) {
	app, err := s.apps.BySlug(ctx, cmp.Or(slug, string(gen.Planoauth)))
	if errors.Is(err, pgx.ErrNoRows) {
		return "", envelope.Param(gen.StatusInvalidParam, "application", "is no application")
	}
	if err != nil {
		return "", envelope.Internal("load application %s: %w", slug, err)
	}
	return app.Name, nil
}

// RequestReset is the reset page's request for a link by email, in the application of slug (""
// for the service's own), counted and answered as sessions/password_reset_request (requestReset),
// with no redirect URL: the link's page says when it is done. Answers invalid-param (no such
// application), rate-limited.
func (s *Server) RequestReset(ctx context.Context, slug, email string) error {
	slug = cmp.Or(slug, string(gen.Planoauth))
	if _, err := s.ResetApplication(ctx, slug); err != nil {
		return err
	}
	return s.requestReset(ctx, email, gen.ApplicationSlug(slug), resetLink{}, limits.Client{Peer: peer.FromContext(ctx)})
}
