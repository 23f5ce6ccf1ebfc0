package impl

import (
	"context"
	"errors"
	"fmt"
	"html"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/emailaddr"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/google"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/mail"
	"github.com/plano/planoauth/internal/params"
	"github.com/plano/planoauth/internal/peer"
)

// Signing in without a password (domain: sessions): a one-time link sent by email, or a Google
// ID token. Both prove the user's email (proveEmail) and end in startSession, so the role rules
// and answers are those of sessions/create.

// The kinds of emailed link (magic_links.kind). Each signs its user in and proves the email; an
// invitation to be a liaison also accepts the role. The pages of the recovery issue tell them
// apart by kind; sessions/magic_link_create exchanges them all.
const (
	linkSignIn       = "sign_in"      // sessions/magic_link_request, sent at once
	linkVerification = "verification" // the welcome email of a new client, queued
	linkInvitation   = "invitation"   // liaisons/register, or a client created for someone, queued
)

// linkLifetimes is how long each kind of link works: a sign-in link is asked for and used at
// once; a welcome or an invitation may wait in a mailbox.
var linkLifetimes = map[string]time.Duration{
	linkSignIn:       MagicLinkLifetime,
	linkVerification: verificationLinkLifetime,
	linkInvitation:   invitationLifetime,
}

// MagicLinkLifetime is how long a sign-in link works.
const MagicLinkLifetime = 15 * time.Minute

const (
	verificationLinkLifetime = 24 * time.Hour
	invitationLifetime       = 7 * 24 * time.Hour
)

// queueLink stores, in q's transaction, a link of kind for the user in an application, to be
// sent with a queued email (mail.Message.LinkID): its token is minted when the email is sent.
// liaisonID is the liaison role an invitation accepts (nil: none).
func (s *Server) queueLink(ctx context.Context, q *db.Queries, userID, applicationID int64, kind string, liaisonID *int64) (int64, error) {
	now := s.now()
	id, err := q.CreateMagicLink(ctx, db.CreateMagicLinkParams{
		UserID: userID, ApplicationID: applicationID, ExpiresAt: now.Add(linkLifetimes[kind]), Now: now,
		Kind: kind, LiaisonID: liaisonID,
	})
	if err != nil {
		return 0, fmt.Errorf("store a %s link of user %d: %w", kind, userID, err)
	}
	return id, nil
}

// SessionsMagicLinkRequest emails a one-time sign-in link at once. Each link is counted before
// it is made and sent (limits.Attempt of kind Link, the allowance of the caller as the account
// knows it); an unknown email costs the address one request. Answers: invalid-param
// (redirect_url), rate-limited, email-not-found, mandrill-email-failed (with a notification).
func (s *Server) SessionsMagicLinkRequest(ctx context.Context, r gen.SessionsMagicLinkRequestRequestObject) (gen.SessionsMagicLinkRequestResponseObject, error) {
	in := r.Body
	if err := s.redirects.Check(ctx, string(in.Application), deref(in.RedirectUrl)); err != nil {
		return nil, err
	}
	client := limits.Client{Peer: peer.FromContext(ctx), DeviceToken: deref(in.DeviceToken)}
	user, err := s.q.GetUserByEmail(ctx, emailaddr.Normalize(in.Email))
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := s.limits.AttemptFromAddress(ctx, limits.Link, client.Peer); err != nil {
			return nil, err
		}
		return nil, envelope.New(gen.StatusEmailNotFound)
	}
	if err != nil {
		return nil, envelope.Internal("look up user: %w", err)
	}
	ticket, err := s.limits.Attempt(ctx, limits.Link, user.ID, client)
	if err != nil {
		return nil, err
	}
	if err := s.sendMagicLink(ctx, user, in.Application, deref(in.RedirectUrl)); err != nil {
		s.giveBack(ctx, ticket) // nothing reached the mailbox
		return nil, err
	}
	return gen.SessionsMagicLinkRequest200JSONResponse{
		Status: gen.MagicLinkSentResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: gen.MagicLinkSent{Sent: true},
	}, nil
}

// sendMagicLink stores a new link for the user and application and emails it.
func (s *Server) sendMagicLink(ctx context.Context, user db.User, application gen.ApplicationSlug, redirectURL string) error {
	app, err := s.apps.BySlug(ctx, string(application))
	if err != nil {
		return envelope.Internal("load application %s: %w", application, err)
	}
	token, err := s.createMagicLink(ctx, user.ID, app.ID, redirectURL)
	if err != nil {
		return err
	}
	// A link that could not be sent is left to expire: nobody has its token.
	if err := mail.SendNow(ctx, s.mailer, s.q, s.now(), magicLinkEmail(user, app.Name, s.magicLinkURL+token)); err != nil {
		return &envelope.Error{Status: gen.StatusMandrillEmailFailed, Cause: fmt.Errorf("magic link for user %d: %w", user.ID, err)}
	}
	return nil
}

// createMagicLink stores a new link's token hash and returns the token, which exists only in
// the email from then on.
func (s *Server) createMagicLink(ctx context.Context, userID, applicationID int64, redirectURL string) (string, error) {
	token, hash := auth.NewToken(auth.MagicLinkPrefix)
	now := s.now()
	_, err := s.q.CreateMagicLink(ctx, db.CreateMagicLinkParams{
		TokenHash: hash, UserID: userID, ApplicationID: applicationID, RedirectUrl: redirectURL,
		ExpiresAt: now.Add(MagicLinkLifetime), Now: now, Kind: linkSignIn,
	})
	if err != nil {
		return "", envelope.Internal("store magic link of user %d: %w", userID, err)
	}
	return token, nil
}

// magicLinkEmail is the email carrying a sign-in link.
func magicLinkEmail(user db.User, appName, link string) mail.Message {
	greeting := "Hello " + greetingName(user) + ","
	intro := fmt.Sprintf("Use this link to sign in to %s. It works once, within %d minutes:", appName, int(MagicLinkLifetime.Minutes()))
	outro := "If you did not ask to sign in, you can ignore this email."
	return mail.Message{
		Kind: "magic_link", To: user.Email, Subject: "Your sign-in link for " + appName,
		Text: greeting + "\n\n" + intro + "\n\n" + link + "\n\n" + outro + "\n",
		HTML: fmt.Sprintf(`<p>%s</p><p>%s</p><p><a href="%s">Sign in to %s</a></p><p>%s</p>`,
			html.EscapeString(greeting), html.EscapeString(intro), html.EscapeString(link), html.EscapeString(appName), html.EscapeString(outro)),
	}
}

// SessionsMagicLinkCreate exchanges an emailed link's token for a session: every kind of link
// proves the user's email, and an invitation accepts the liaison role it was sent for. The link
// is used up even when the answer is client-required or user-requires-role. Each exchange is
// counted against the client address before the link is looked up, and given back when it
// succeeds. Answers:
// rate-limited (failures from the client address), invalid-token (unknown, used, expired, or
// another application's link), and those of startSession.
func (s *Server) SessionsMagicLinkCreate(ctx context.Context, r gen.SessionsMagicLinkCreateRequestObject) (gen.SessionsMagicLinkCreateResponseObject, error) {
	in, err := params.Sensitive[gen.SessionsMagicLinkCreateInput](r.Body)
	if err != nil {
		return nil, err
	}
	client := limits.Client{Peer: peer.FromContext(ctx)}
	ticket, err := s.limits.AttemptFromAddress(ctx, limits.SignIn, client.Peer)
	if err != nil {
		return nil, err
	}
	link, err := s.consumeMagicLink(ctx, in.MagicToken, in.Application)
	if errors.Is(err, errLinkUnusable) {
		return nil, envelope.New(gen.StatusInvalidToken) // a failed sign-in: the use stays
	}
	s.giveBack(ctx, ticket)
	if err != nil {
		return nil, err
	}
	// The link reached the owner's inbox: the email is proven, and an invitation accepted.
	if err := s.proveEmail(ctx, link.UserID, acceptInvitation(ctx, link, s.now())); err != nil {
		return nil, err
	}
	user, err := s.reloadUser(ctx, link.UserID)
	if err != nil {
		return nil, err
	}
	session, err := s.startSession(ctx, user, newSession{
		application: in.Application, methods: []gen.SessionMethod{gen.MethodLink}, rememberMe: in.RememberMe, redirectURL: nonEmpty(link.RedirectUrl),
		view: chooseSessionView(in.SessionView, in.View), applicationView: in.ApplicationView, trust: &client,
	})
	if err != nil {
		return nil, err
	}
	return gen.SessionsMagicLinkCreate200JSONResponse{NewSessionJSONResponse: s.sessionResult(session)}, nil
}

var errLinkUnusable = errors.New("magic link unknown, used, expired or for another application")

// consumeMagicLink uses up the link of token for application and returns it; errLinkUnusable
// when there is no such usable link.
func (s *Server) consumeMagicLink(ctx context.Context, token string, application gen.ApplicationSlug) (db.ConsumeMagicLinkRow, error) {
	if !auth.WellFormed(token, auth.MagicLinkPrefix) {
		return db.ConsumeMagicLinkRow{}, errLinkUnusable
	}
	link, err := s.q.ConsumeMagicLink(ctx, db.ConsumeMagicLinkParams{
		TokenHash: auth.HashToken(token), Application: string(application), Now: s.now(),
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return db.ConsumeMagicLinkRow{}, errLinkUnusable
	}
	if err != nil {
		return db.ConsumeMagicLinkRow{}, envelope.Internal("use magic link: %w", err)
	}
	return link, nil
}

// acceptInvitation is what exchanging the link does besides proving the email: an invitation to
// be a liaison makes the role take effect (nil for every other link).
func acceptInvitation(ctx context.Context, link db.ConsumeMagicLinkRow, now time.Time) func(q *db.Queries) error {
	if link.Kind != linkInvitation || link.LiaisonID == nil {
		return nil
	}
	return func(q *db.Queries) error {
		if _, err := q.AcceptLiaison(ctx, db.AcceptLiaisonParams{ID: *link.LiaisonID, Now: &now}); err != nil {
			return fmt.Errorf("accept liaison %d: %w", *link.LiaisonID, err)
		}
		return nil
	}
}

// SessionsGoogle logs in with a Google ID token, creating a user without a password the first
// time an email is seen. Each token is counted against the client address before it is verified
// (verifying may fetch Google's keys), and given back unless Google refused it. Answers:
// invalid-param on id_token (Google sign-in not enabled, not a JWT, another audience, no
// verified email) or redirect_url, invalid-token (expired, badly signed, another issuer),
// rate-limited (failures from the client address), and those of startSession.
func (s *Server) SessionsGoogle(ctx context.Context, r gen.SessionsGoogleRequestObject) (gen.SessionsGoogleResponseObject, error) {
	in, err := params.Sensitive[gen.SessionsGoogleInput](r.Body)
	if err != nil {
		return nil, err
	}
	if err := s.redirects.Check(ctx, string(in.Application), deref(in.RedirectUrl)); err != nil {
		return nil, err
	}
	client := limits.Client{Peer: peer.FromContext(ctx)}
	ticket, err := s.limits.AttemptFromAddress(ctx, limits.SignIn, client.Peer)
	if err != nil {
		return nil, err
	}
	identity, err := s.google.Verify(ctx, in.IdToken)
	if !errors.Is(err, google.ErrRejected) {
		s.giveBack(ctx, ticket) // only a token Google refused is a failed sign-in
	}
	if err != nil {
		return nil, googleFailure(err)
	}
	user, err := s.googleUser(ctx, identity)
	if err != nil {
		return nil, err
	}
	if err := s.proveEmail(ctx, user.ID, nil); err != nil { // Google vouches for the email
		return nil, err
	}
	if user, err = s.reloadUser(ctx, user.ID); err != nil {
		return nil, err
	}
	session, err := s.startSession(ctx, user, newSession{
		application: in.Application, methods: []gen.SessionMethod{gen.MethodGoogle}, rememberMe: in.RememberMe, redirectURL: in.RedirectUrl,
		view: chooseSessionView(in.SessionView, in.View), applicationView: in.ApplicationView, trust: &client,
	})
	if err != nil {
		return nil, err
	}
	return gen.SessionsGoogle200JSONResponse{NewSessionJSONResponse: s.sessionResult(session)}, nil
}

// googleFailure maps a refused ID token to its answer.
func googleFailure(err error) error {
	switch {
	case errors.Is(err, google.ErrDisabled), errors.Is(err, google.ErrMalformed),
		errors.Is(err, google.ErrAudience), errors.Is(err, google.ErrNoEmail):
		return envelope.Param(gen.StatusInvalidParam, "id_token", err.Error())
	case errors.Is(err, google.ErrRejected):
		return envelope.New(gen.StatusInvalidToken)
	}
	return envelope.Internal("verify Google ID token: %w", err)
}

// googleUser returns the user of a verified Google identity, creating one without a password
// (who can then log in only with Google or a link) if the email is new.
func (s *Server) googleUser(ctx context.Context, identity google.Identity) (db.User, error) {
	// No row when the email has a user already: that user is the one signing in.
	email := emailaddr.Normalize(identity.Email)
	_, err := s.q.CreateUserUnlessExists(ctx, db.CreateUserUnlessExistsParams{
		Email: email, FirstName: identity.FirstName, LastName: identity.LastName,
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return db.User{}, envelope.Internal("create user for a Google sign-in: %w", err)
	}
	user, err := s.q.GetUserByEmail(ctx, email)
	if err != nil {
		return db.User{}, envelope.Internal("load user of a Google sign-in: %w", err)
	}
	return user, nil
}

// reloadUser reads a user as it is now (after its email's proof changed it).
func (s *Server) reloadUser(ctx context.Context, id int64) (db.User, error) {
	user, err := s.q.GetUser(ctx, id)
	if err != nil {
		return db.User{}, envelope.Internal("load user %d: %w", id, err)
	}
	return user, nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
