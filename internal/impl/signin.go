package impl

import (
	"context"
	"errors"
	"fmt"
	"html"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/google"
	"github.com/plano/planoauth/internal/mail"
	"github.com/plano/planoauth/internal/params"
	"github.com/plano/planoauth/internal/peer"
)

// Signing in without a password (domain: sessions): a one-time link sent by email, or a Google
// ID token. Both end in startSession, so the role rules and answers are those of sessions/create.

// SessionsMagicLinkRequest emails a one-time sign-in link at once. Answers: rate-limited (too
// many links for the email), email-not-found, mandrill-email-failed (with a notification).
func (s *Server) SessionsMagicLinkRequest(ctx context.Context, r gen.SessionsMagicLinkRequestRequestObject) (gen.SessionsMagicLinkRequestResponseObject, error) {
	in := r.Body
	if err := s.magicLinks.Take(ctx, in.Email); err != nil {
		return nil, err
	}
	user, err := s.q.GetUserByEmail(ctx, in.Email)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, envelope.New(gen.StatusEmailNotFound)
	}
	if err != nil {
		return nil, envelope.Internal("look up user: %w", err)
	}
	app, err := s.q.GetApplicationBySlug(ctx, string(in.Application))
	if err != nil {
		return nil, envelope.Internal("load application %s: %w", in.Application, err)
	}
	link, err := s.createLink(ctx, s.q, newLink{kind: linkSignIn, userID: user.ID, appID: app.ID,
		redirectURL: deref(in.RedirectUrl), lifetime: MagicLinkLifetime})
	if err != nil {
		return nil, envelope.Internal("%w", err)
	}
	// A link that could not be sent is left to expire: nobody has its token.
	if err := mail.SendNow(ctx, s.mailer, s.q, s.now(), magicLinkEmail(user, app.Name, s.magicLinkURL+link.token)); err != nil {
		return nil, &envelope.Error{Status: gen.StatusMandrillEmailFailed, Cause: fmt.Errorf("magic link for user %d: %w", user.ID, err)}
	}
	return gen.SessionsMagicLinkRequest200JSONResponse{
		Status: gen.MagicLinkSentResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: gen.MagicLinkSent{Sent: true},
	}, nil
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

// SessionsMagicLinkCreate exchanges a sign-in link's token for a session; the link is used up
// even when the answer is client-required or user-requires-role. Answers: rate-limited (failures
// from the client address), invalid-token (unknown, or another kind of link), link-used,
// link-expired, link-wrong-application, and those of startSession.
func (s *Server) SessionsMagicLinkCreate(ctx context.Context, r gen.SessionsMagicLinkCreateRequestObject) (gen.SessionsMagicLinkCreateResponseObject, error) {
	in, err := params.Sensitive[gen.SessionsMagicLinkCreateInput](r.Body)
	if err != nil {
		return nil, err
	}
	from := peer.FromContext(ctx)
	if err := s.limiter.CheckAddress(ctx, from); err != nil {
		return nil, err
	}
	// Using the link proves the email: it reached the owner's inbox.
	used, err := s.useLink(ctx, linkUse{kind: linkSignIn, token: in.MagicToken, application: &in.Application})
	if err != nil {
		return nil, s.failedLink(ctx, err, from)
	}
	session, err := s.startSession(ctx, used.user, newSession{
		application: in.Application, rememberMe: in.RememberMe, redirectURL: nonEmpty(used.redirectURL),
		view: chooseSessionView(in.SessionView, in.View), applicationView: in.ApplicationView,
	})
	if err != nil {
		return nil, err
	}
	return gen.SessionsMagicLinkCreate200JSONResponse{NewSessionJSONResponse: s.sessionResult(session)}, nil
}

// failedLink counts a refused link (or code) as a failed sign-in from the client address and
// returns its answer; other errors pass unchanged.
func (s *Server) failedLink(ctx context.Context, err error, from peer.Peer) error {
	var answer *envelope.Error
	if !errors.As(err, &answer) || !linkRefusals[answer.Status] {
		return err
	}
	if failErr := s.limiter.FailAddress(ctx, from); failErr != nil {
		return failErr
	}
	return err
}

// linkRefusals are the answers to a link or code that cannot be used.
var linkRefusals = map[gen.Status]bool{gen.StatusInvalidToken: true, gen.StatusLinkUsed: true,
	gen.StatusLinkExpired: true, gen.StatusLinkWrongApplication: true}

// SessionsGoogle logs in with a Google ID token, creating a user without a password the first
// time an email is seen. Answers: invalid-param on id_token (Google sign-in not enabled, not a
// JWT, another audience, no verified email), invalid-token (expired, badly signed, another
// issuer), rate-limited (failures from the client address), and those of startSession.
func (s *Server) SessionsGoogle(ctx context.Context, r gen.SessionsGoogleRequestObject) (gen.SessionsGoogleResponseObject, error) {
	in, err := params.Sensitive[gen.SessionsGoogleInput](r.Body)
	if err != nil {
		return nil, err
	}
	from := peer.FromContext(ctx)
	if err := s.limiter.CheckAddress(ctx, from); err != nil {
		return nil, err
	}
	identity, err := s.google.Verify(ctx, in.IdToken)
	if err != nil {
		return nil, s.googleFailure(ctx, err, from)
	}
	user, err := s.googleUser(ctx, identity)
	if err != nil {
		return nil, err
	}
	if user, err = s.claimEmail(ctx, user); err != nil { // Google vouches for the email
		return nil, err
	}
	session, err := s.startSession(ctx, user, newSession{
		application: in.Application, rememberMe: in.RememberMe, redirectURL: in.RedirectUrl,
		view: chooseSessionView(in.SessionView, in.View), applicationView: in.ApplicationView,
	})
	if err != nil {
		return nil, err
	}
	return gen.SessionsGoogle200JSONResponse{NewSessionJSONResponse: s.sessionResult(session)}, nil
}

// googleFailure maps a refused ID token to its answer. A token that fails verification counts
// as a failed log-in from the client address: each one may cost a fetch of Google's keys.
func (s *Server) googleFailure(ctx context.Context, err error, from peer.Peer) error {
	switch {
	case errors.Is(err, google.ErrDisabled), errors.Is(err, google.ErrMalformed),
		errors.Is(err, google.ErrAudience), errors.Is(err, google.ErrNoEmail):
		return envelope.Param(gen.StatusInvalidParam, "id_token", err.Error())
	case errors.Is(err, google.ErrRejected):
		if failErr := s.limiter.FailAddress(ctx, from); failErr != nil {
			return failErr
		}
		return envelope.New(gen.StatusInvalidToken)
	}
	return envelope.Internal("verify Google ID token: %w", err)
}

// googleUser returns the user of a verified Google identity, creating one without a password
// (who can then log in only with Google or a link) if the email is new.
func (s *Server) googleUser(ctx context.Context, identity google.Identity) (db.User, error) {
	// No row when the email has a user already: that user is the one signing in.
	_, err := s.q.CreateUserUnlessExists(ctx, db.CreateUserUnlessExistsParams{
		Email: identity.Email, FirstName: identity.FirstName, LastName: identity.LastName,
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return db.User{}, envelope.Internal("create user for a Google sign-in: %w", err)
	}
	user, err := s.q.GetUserByEmail(ctx, identity.Email)
	if err != nil {
		return db.User{}, envelope.Internal("load user of a Google sign-in: %w", err)
	}
	return user, nil
}

// claimEmail records that the owner of the user's email signed in with proof of it (see
// proveEmail) and returns the user as it is now.
func (s *Server) claimEmail(ctx context.Context, user db.User) (db.User, error) {
	revoked := false
	err := s.inTx(ctx, "claim a proven email", func(_ pgx.Tx, q *db.Queries) error {
		var err error
		user, revoked, err = s.proveEmail(ctx, q, user.ID, nil)
		return err
	})
	if err == nil && revoked {
		s.sessions.ForgetUser(user.ID)
	}
	return user, err
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
