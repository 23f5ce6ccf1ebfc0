package impl

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"html"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/audit"
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

// SessionsMagicLinkRequest emails a one-time sign-in link and its code at once. Each link is
// counted before it is made and sent (linkAttempt: the allowance of the caller as the account
// knows it); an unknown email costs the address one request. Answers:
// invalid-param (redirect_url, code_challenge), rate-limited (also when the code's hash is shed),
// email-not-found, mandrill-email-failed (with a notification).
func (s *Server) SessionsMagicLinkRequest(ctx context.Context, r gen.SessionsMagicLinkRequestRequestObject) (gen.SessionsMagicLinkRequestResponseObject, error) {
	in := r.Body
	if err := s.redirects.Check(ctx, string(in.Application), deref(in.RedirectUrl)); err != nil {
		return nil, err
	}
	if err := checkChallenge(in.CodeChallenge, in.RedirectUrl); err != nil {
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
	if _, err := s.linkAttempt(ctx, user, client); err != nil {
		return nil, err
	}
	// The use is kept even when the email fails: the link, the call to Mandrill and its
	// notification were the work, and a recipient Mandrill refuses (or an outage) must not make
	// requests free.
	if err := s.sendMagicLink(ctx, user, in.Application, deref(in.RedirectUrl), in.CodeChallenge); err != nil {
		return nil, err
	}
	return gen.SessionsMagicLinkRequest200JSONResponse{
		Status: gen.MagicLinkSentResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: gen.MagicLinkSent{Sent: true},
	}, nil
}

// sendMagicLink stores a new link with its code (and the PKCE challenge for its hand-over, nil
// for none) for the user and application and emails them.
func (s *Server) sendMagicLink(ctx context.Context, user db.User, application gen.ApplicationSlug, redirectURL string, challenge *string) error {
	app, err := s.apps.BySlug(ctx, string(application))
	if err != nil {
		return envelope.Internal("load application %s: %w", application, err)
	}
	code, err := s.newLinkCode(ctx)
	if err != nil {
		return err
	}
	var token string
	err = s.inTx(ctx, "create a sign-in link", func(_ pgx.Tx, q *db.Queries) error {
		if token, err = s.createLink(ctx, q, newLink{kind: linkSignIn, userID: user.ID, appID: app.ID,
			redirectURL: redirectURL, lifetime: MagicLinkLifetime, code: &code, codeChallenge: challenge}); err != nil {
			return err
		}
		return audit.Append(ctx, q, s.now(), audit.Event{Kind: gen.AuditMagicLinkRequested, Actor: audit.Anonymous,
			UserID: user.ID, ApplicationID: app.ID})
	})
	if err != nil {
		return err
	}
	// A link that could not be sent is left to expire: nobody has its token or code.
	if err := mail.SendNow(ctx, s.mailer, s.q, s.now(), magicLinkEmail(user, app.Name, s.magicLinkURL+token, code.plain)); err != nil {
		return &envelope.Error{Status: gen.StatusMandrillEmailFailed, Cause: fmt.Errorf("magic link for user %d: %w", user.ID, err)}
	}
	return nil
}

// checkChallenge refuses a PKCE challenge without a redirect URL: a link without one hands
// nothing over, so nothing would be bound to it. The challenge's form is the contract's.
func checkChallenge(challenge, redirectURL *string) error {
	if challenge != nil && deref(redirectURL) == "" {
		return envelope.Param(gen.StatusInvalidParam, "code_challenge", "goes with redirect_url: without one the link's page hands nothing over")
	}
	return nil
}

// magicLinkEmail is the email carrying a sign-in link and its code.
func magicLinkEmail(user db.User, appName, link, code string) mail.Message {
	greeting := "Hello " + greetingName(user) + ","
	intro := fmt.Sprintf("Use this link to sign in to %s. It works once, within %d minutes:", appName, int(MagicLinkLifetime.Minutes()))
	other := "On another device, sign in with your email and this code instead: " + mail.ShowCode(code)
	outro := "If you did not ask to sign in, you can ignore this email."
	return mail.Message{
		Kind: "magic_link", To: user.Email, Subject: "Your sign-in link for " + appName,
		Text: greeting + "\n\n" + intro + "\n\n" + link + "\n\n" + other + "\n\n" + outro + "\n",
		HTML: fmt.Sprintf(`<p>%s</p><p>%s</p><p><a href="%s">Sign in to %s</a></p><p>%s</p><p>%s</p>`,
			html.EscapeString(greeting), html.EscapeString(intro), html.EscapeString(link), html.EscapeString(appName),
			html.EscapeString(other), html.EscapeString(outro)),
	}
}

// SessionsMagicLinkCreate exchanges an emailed link for a session, by its token or by email and
// the email's code: every kind of link but a password reset proves the user's email, and an
// invitation accepts the liaison role and offers it was sent for. The link (and its code) is
// used up even when the answer is client-required or user-requires-role. A password given
// with it (keepWith) keeps what the account set up. Answers: missing-param / invalid-param
// (which of token or code), rate-limited (failures from the client address, or guesses at the
// account), invalid-password (the link stays usable), invalid-token (unknown, or a reset's; a
// wrong, used, dead or missing code, or an unknown email), link-used, link-expired,
// link-wrong-application, missing-param / invalid-param on code_verifier (a page's hand-over of
// a link requested with a PKCE challenge, without its verifier or with another; the token stays
// usable: see checkVerifier), and those of startSession.
func (s *Server) SessionsMagicLinkCreate(ctx context.Context, r gen.SessionsMagicLinkCreateRequestObject) (gen.SessionsMagicLinkCreateResponseObject, error) {
	in, err := params.Sensitive[gen.SessionsMagicLinkCreateInput](r.Body)
	if err != nil {
		return nil, err
	}
	if err := checkLinkProof("magic_token", in.MagicToken, in.Email, in.Code); err != nil {
		return nil, err
	}
	if in.CodeVerifier != nil && in.MagicToken == nil {
		return nil, envelope.Param(gen.StatusInvalidParam, "code_verifier", "goes with magic_token: a code is no hand-over")
	}
	client := limits.Client{Peer: peer.FromContext(ctx), DeviceToken: deref(in.DeviceToken)}
	var used usedLink
	if in.MagicToken != nil {
		used, err = s.signInWithToken(ctx, in, client)
	} else {
		used, err = s.signInWithCode(ctx, in, client)
	}
	if err != nil {
		return nil, err
	}
	session, err := s.startSession(ctx, used.user, newSession{
		application: in.Application, method: gen.LoginMagicLink, methods: []gen.SessionMethod{gen.MethodLink}, rememberMe: in.RememberMe, redirectURL: nonEmpty(used.redirectURL),
		view: chooseSessionView(in.SessionView, in.View), applicationView: in.ApplicationView, trust: &client,
	})
	if err != nil {
		return nil, err
	}
	return gen.SessionsMagicLinkCreate200JSONResponse{NewSessionJSONResponse: s.sessionResult(session)}, nil
}

// checkLinkProof answers which half of "a link's token, or email and code" is missing or extra;
// tokenParam names the token's parameter.
func checkLinkProof(tokenParam string, token, email *string, code *gen.EmailCode) error {
	either := "give either " + tokenParam + ", or email and code"
	switch {
	case token != nil && (email != nil || code != nil):
		return envelope.Param(gen.StatusInvalidParam, tokenParam, either+", not both")
	case token != nil:
		return nil
	case email == nil && code == nil:
		return envelope.Param(gen.StatusMissingParam, tokenParam, either)
	case email == nil:
		return envelope.Param(gen.StatusMissingParam, "email", "is required with code")
	case code == nil:
		return envelope.Param(gen.StatusMissingParam, "code", "is required with email")
	}
	return nil
}

// signInWithToken uses the link of a token. Each exchange is counted against the client address
// before the link is looked up, and given back when the link is real; a refused link, or a
// hand-over's missing or wrong PKCE verifier (checkVerifier), is recorded as a failed sign-in
// and keeps the use: a verifier is a guess like a password.
func (s *Server) signInWithToken(ctx context.Context, in gen.SessionsMagicLinkCreateInput, client limits.Client) (usedLink, error) {
	ticket, err := s.limits.AttemptFromAddress(ctx, limits.SignIn, client.Peer)
	if err != nil {
		return usedLink{}, err
	}
	use := linkUse{kinds: signInKinds, token: *in.MagicToken, application: &in.Application, verifier: in.CodeVerifier}
	if in.Password != nil {
		if use.keep, err = s.keepWith(ctx, use, *in.Password, client, &ticket); isLinkRefusal(err) {
			return usedLink{}, s.linkRefused(ctx, in.Application, 0, err) // the address's use stays
		} else if err != nil {
			return usedLink{}, err
		}
	}
	// The link reached the owner's inbox: the email is proven, and an invitation accepted.
	used, err := s.useLink(ctx, use)
	if isLinkRefusal(err) {
		return usedLink{}, s.linkRefused(ctx, in.Application, 0, err)
	}
	s.giveBack(ctx, ticket)
	return used, err
}

// signInWithCode uses the link whose code was typed with the email (takeCode: each try a
// sign-in guess at the account, and one of the code's CodeTries). With a password, the code is
// checked first, so that only the mailbox's holder learns whether the password is right (a
// wrong one leaves the code usable, one try spent). Refusals are recorded as failed sign-ins of
// the email's user.
func (s *Server) signInWithCode(ctx context.Context, in gen.SessionsMagicLinkCreateInput, client limits.Client) (usedLink, error) {
	user, linkID, err := s.takeCode(ctx, codeTry{email: *in.Email, code: *in.Code, kinds: signInKinds,
		application: in.Application, client: client})
	if err != nil {
		return usedLink{}, s.linkRefused(ctx, in.Application, user.ID, err)
	}
	use := linkUse{kinds: signInKinds, byCode: linkID}
	if in.Password != nil && hasPassword(user.PasswordHash) {
		try, err := s.verifyPassword(ctx, user, *in.Password, client)
		if err != nil {
			return usedLink{}, s.linkRefused(ctx, in.Application, user.ID, err)
		}
		s.settle(ctx, try, nil) // the password is the account's: no guess
		use.keep = &user.CredentialVersion
	}
	used, err := s.useLink(ctx, use)
	if isLinkRefusal(err) {
		return usedLink{}, s.linkRefused(ctx, in.Application, user.ID, err)
	}
	return used, err
}

// linkRefused records a refused link, code or password as a failed sign-in by link in the
// application (of userID, when the email named one), and returns the refusal.
func (s *Server) linkRefused(ctx context.Context, application gen.ApplicationSlug, userID int64, refusal error) error {
	appID, err := s.applicationID(ctx, application)
	if err != nil {
		return err
	}
	return s.loginFailed(ctx, s.q, loginAttempt{method: gen.LoginMagicLink, applicationID: appID, userID: userID}, refusal)
}

// keepWith checks the password a link's user showed with it, before the link is used (a wrong
// one leaves it usable): a right one means the prover is both whoever set the account up and
// the mailbox's owner, so its first proof takes nothing back. It returns the credential version
// the password was checked at (the proof keeps the account only if it is still the user's), or
// nil when the user has no password (nothing to keep). The link being real, the address's use
// (*ticket) is given back; the password is a guess at the account (verifyPassword), and a wrong
// one is recorded as a failed log-in. Answers: those of peekLink and checkVerifier (the
// address's use stays), invalid-password, rate-limited.
func (s *Server) keepWith(ctx context.Context, use linkUse, plain string, client limits.Client, ticket *limits.Ticket) (*int64, error) {
	row, err := s.peekLink(ctx, use.kinds, use.token, use.application)
	if err != nil {
		return nil, err
	}
	// The verifier first: whoever read a hand-over from its redirect URL learns nothing of the
	// password from it.
	if err := checkVerifier(row.MagicLink.Handover, row.MagicLink.CodeChallenge, use.verifier); err != nil {
		return nil, err
	}
	s.giveBack(ctx, *ticket)
	*ticket = limits.Ticket{}
	user, err := s.reloadUser(ctx, row.MagicLink.UserID)
	if err != nil || !hasPassword(user.PasswordHash) {
		return nil, err
	}
	try, err := s.verifyPassword(ctx, user, plain, client)
	if err != nil {
		return nil, s.loginFailed(ctx, s.q, loginAttempt{method: gen.LoginMagicLink, applicationID: row.MagicLink.ApplicationID,
			userID: user.ID}, err)
	}
	s.settle(ctx, try, nil) // the password is the account's: no guess
	return &user.CredentialVersion, nil
}

// signInKinds are the links sessions/magic_link_create exchanges: all but a password reset,
// which must set a password (sessions/password_reset).
var signInKinds = []linkKind{linkSignIn, linkVerification, linkInvitation}

// isLinkRefusal reports whether err answers a link (or code) that cannot be used: a failed
// sign-in, whose use of the address's allowance stays: so is a hand-over's missing or wrong
// PKCE verifier (isVerifierRefusal).
func isLinkRefusal(err error) bool {
	var answer *envelope.Error
	if !errors.As(err, &answer) {
		return false
	}
	switch answer.Status {
	case gen.StatusInvalidToken, gen.StatusLinkUsed, gen.StatusLinkExpired, gen.StatusLinkWrongApplication:
		return true
	}
	return isVerifierRefusal(answer)
}

// isVerifierRefusal reports whether answer refuses a token's PKCE verifier (checkVerifier).
func isVerifierRefusal(answer *envelope.Error) bool {
	return (answer.Status == gen.StatusMissingParam || answer.Status == gen.StatusInvalidParam) &&
		len(answer.Params) == 1 && answer.Params[0].Param == "code_verifier"
}

// SessionsGoogle logs in with a Google ID token, creating a user without a password the first
// time an email is seen. Each token is counted against the client address before it is verified
// (verifying may fetch Google's keys), and given back when it opens a session (googleSignIn) or
// is refused as invalid-param (malformed, another application's, no address Google vouches for). Answers:
// invalid-param on id_token (Google sign-in not enabled for the application, not a JWT, issued
// to a client id that is not the application's, no verified email, an address Google is not
// authoritative for: google.ErrUnvouched) or redirect_url,
// invalid-token (expired, badly signed, another issuer), rate-limited (failures from the client
// address), and those of startSession.
func (s *Server) SessionsGoogle(ctx context.Context, r gen.SessionsGoogleRequestObject) (gen.SessionsGoogleResponseObject, error) {
	in, err := params.Sensitive[gen.SessionsGoogleInput](r.Body)
	if err != nil {
		return nil, err
	}
	if err := s.redirects.Check(ctx, string(in.Application), deref(in.RedirectUrl)); err != nil {
		return nil, err
	}
	appID, err := s.applicationID(ctx, in.Application)
	if err != nil {
		return nil, err
	}
	client := limits.Client{Peer: peer.FromContext(ctx)}
	ticket, err := s.limits.AttemptFromAddress(ctx, limits.SignIn, client.Peer)
	if err != nil {
		return nil, err
	}
	identity, err := s.google.Verify(ctx, string(in.Application), in.IdToken)
	if err != nil {
		if !errors.Is(err, google.ErrRejected) {
			s.giveBack(ctx, ticket) // only a token Google refused is a failed sign-in
		}
		return nil, s.loginFailed(ctx, s.q, loginAttempt{method: gen.LoginGoogle, applicationID: appID}, googleFailure(err))
	}
	// A token is reusable until it expires: each use that opens no session keeps the
	// address's use, and each that does spends one of the account's successful sign-ins.
	session, err := s.googleSignIn(ctx, identity, hex.EncodeToString(auth.HashToken(in.IdToken)), appID, ticket, newSession{
		application: in.Application, method: gen.LoginGoogle, methods: []gen.SessionMethod{gen.MethodGoogle}, rememberMe: in.RememberMe, redirectURL: in.RedirectUrl,
		view: chooseSessionView(in.SessionView, in.View), applicationView: in.ApplicationView, trust: &client,
	})
	if err != nil {
		return nil, err
	}
	return gen.SessionsGoogle200JSONResponse{NewSessionJSONResponse: s.sessionResult(session)}, nil
}

// googleSignIn signs in the user of a verified Google identity (created if new; its email
// proven), with the address's use the token took (ticket), settled as signInTry says. Its
// successes are counted per token (tokenKey, the hash of the ID token): a token is reusable
// until it expires, and a leaked one replayed must not spend the owner's next tokens.
func (s *Server) googleSignIn(ctx context.Context, identity google.Identity, tokenKey string, appID int64, ticket limits.Ticket, req newSession) (gen.Session, error) {
	try := signInTry{failure: ticket}
	user, err := s.googleUser(ctx, identity, appID)
	if err == nil {
		try.success, err = s.limits.SignedInWith(ctx, user.ID, string(gen.MethodGoogle), tokenKey)
	}
	if err != nil {
		s.settle(ctx, try, err)
		return gen.Session{}, err
	}
	session, err := s.googleSession(ctx, user, appID, req)
	s.settle(ctx, try, err)
	return session, err
}

// googleSession proves the email of a Google sign-in's user (Google is authoritative for it,
// which Verify checked, and it keeps nothing) and starts its session.
func (s *Server) googleSession(ctx context.Context, user db.User, appID int64, req newSession) (gen.Session, error) {
	if err := s.proveEmail(ctx, user.ID, appID, nil); err != nil {
		return gen.Session{}, err
	}
	user, err := s.reloadUser(ctx, user.ID)
	if err != nil {
		return gen.Session{}, err
	}
	return s.startSession(ctx, user, req)
}

// googleFailure maps a refused ID token to its answer.
func googleFailure(err error) error {
	switch {
	case errors.Is(err, google.ErrDisabled), errors.Is(err, google.ErrMalformed),
		errors.Is(err, google.ErrAudience), errors.Is(err, google.ErrNoEmail), errors.Is(err, google.ErrUnvouched):
		return envelope.Param(gen.StatusInvalidParam, "id_token", err.Error())
	case errors.Is(err, google.ErrRejected):
		return envelope.New(gen.StatusInvalidToken)
	}
	return envelope.Internal("verify Google ID token: %w", err)
}

// googleUser returns the user of a verified Google identity, creating one without a password
// (who can then log in only with Google or a link), with its user.created event, if the email is
// new.
func (s *Server) googleUser(ctx context.Context, identity google.Identity, appID int64) (db.User, error) {
	email := emailaddr.Normalize(identity.Email)
	err := s.inTx(ctx, "create user for a Google sign-in", func(_ pgx.Tx, q *db.Queries) error {
		created, err := q.CreateUserUnlessExists(ctx, db.CreateUserUnlessExistsParams{
			Email: email, FirstName: identity.FirstName, LastName: identity.LastName,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // the email has a user already: that user is the one signing in
		}
		if err != nil {
			return err
		}
		return audit.Append(ctx, q, s.now(), audit.Event{Kind: gen.AuditUserCreated, Actor: audit.User(created.ID),
			UserID: created.ID, ApplicationID: appID})
	})
	if err != nil {
		return db.User{}, err
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
