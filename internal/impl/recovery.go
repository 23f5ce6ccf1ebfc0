package impl

import (
	"context"
	"errors"
	"fmt"
	"html"
	"time"

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
	"github.com/plano/planoauth/internal/password"
	"github.com/plano/planoauth/internal/peer"
)

// Recovering and changing passwords (domains sessions and users): a reset link and code sent by
// email, the reset itself, and a change by a signed-in user. Every new password passes
// newPasswordProblem.

// SessionsPasswordResetRequest emails a reset link and code, after answering. The answer is the
// same whether the email has an account or not, and whether the account was sent its allowance
// of resets: before the answer, every request does the same work (the user's look-up and one use
// of the client address's allowance, the only rate-limited answer); the account's allowance, the
// link, the code's argon2id hash and the email come after it. Answers: invalid-param
// (redirect_url, code_challenge), rate-limited.
func (s *Server) SessionsPasswordResetRequest(ctx context.Context, r gen.SessionsPasswordResetRequestRequestObject) (gen.SessionsPasswordResetRequestResponseObject, error) {
	in := r.Body
	if err := s.redirects.Check(ctx, string(in.Application), deref(in.RedirectUrl)); err != nil {
		return nil, err
	}
	if err := checkChallenge(in.CodeChallenge, in.RedirectUrl); err != nil {
		return nil, err
	}
	client := limits.Client{Peer: peer.FromContext(ctx), DeviceToken: deref(in.DeviceToken)}
	link := resetLink{redirectURL: deref(in.RedirectUrl), codeChallenge: in.CodeChallenge}
	if err := s.requestReset(ctx, in.Email, in.Application, link, client); err != nil {
		return nil, err
	}
	return gen.SessionsPasswordResetRequest200JSONResponse{
		Status: gen.PasswordResetRequestedResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: gen.PasswordResetRequested{Requested: true},
	}, nil
}

// resetLink is where a reset's page goes once the password is set ("" when nowhere), and the
// PKCE challenge its hand-over is bound to (nil: none).
type resetLink struct {
	redirectURL   string
	codeChallenge *string
}

// requestReset is a reset request without HTTP (the route's, and the reset page's without a
// link): the user's look-up and one use of the client address's allowance before the answer,
// the rest after it (sendReset). Answers rate-limited.
func (s *Server) requestReset(ctx context.Context, email string, application gen.ApplicationSlug, link resetLink, client limits.Client) error {
	user, err := s.q.GetUserByEmail(ctx, emailaddr.Normalize(email))
	known := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return envelope.Internal("look up user: %w", err)
	}
	if _, err := s.limits.AttemptFromAddress(ctx, limits.Reset, client.Peer); err != nil {
		return err
	}
	if known {
		s.inBackground(ctx, func(ctx context.Context) {
			s.sendReset(ctx, user, client, application, link)
		})
	}
	return nil
}

// inBackground runs fn after the answer, detached from the request's cancellation; Wait waits
// for it.
func (s *Server) inBackground(ctx context.Context, fn func(context.Context)) {
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		fn(context.WithoutCancel(ctx))
	}()
}

// sendReset takes a use of the account's allowance of resets (limits.Reset: the caller's as
// the account knows it; until the email is proven, the one that every caller it knows shares;
// a stranger's, per mailbox too: limits.Client.Mailbox), and then replaces the user's live
// reset links with a new one and emails it. Past the allowance nothing is sent. Failures reach
// operators: a failed send writes a mandrill-email-failed notification (mail.SendNow), anything
// else is logged.
func (s *Server) sendReset(ctx context.Context, user db.User, client limits.Client, application gen.ApplicationSlug, link resetLink) {
	client.Mailbox = emailaddr.Mailbox(user.Email)
	allowed, err := s.limits.AccountAllows(ctx, limits.Reset, user.ID, client, user.EmailVerifiedAt == nil)
	if err != nil || !allowed {
		if err != nil {
			s.log.ErrorContext(ctx, "password reset: count the request", "user_id", user.ID, "error", err)
		}
		return
	}
	app, err := s.apps.BySlug(ctx, string(application))
	if err != nil {
		s.log.ErrorContext(ctx, "password reset: load application", "application", application, "error", err)
		return
	}
	code, err := s.newLinkCode(ctx)
	if err != nil {
		s.log.ErrorContext(ctx, "password reset: make the code", "user_id", user.ID, "error", err)
		return
	}
	var token string
	err = s.inTx(ctx, "create a reset link", func(_ pgx.Tx, q *db.Queries) error {
		// The new link first, then the user's row, then every other live reset ends: of
		// concurrent requests, each ends what those holding the lock before it committed, so
		// one link is left, the last one's.
		if token, err = s.createLink(ctx, q, newLink{kind: linkReset, userID: user.ID, appID: app.ID,
			redirectURL: link.redirectURL, lifetime: MagicLinkLifetime, code: &code, codeChallenge: link.codeChallenge}); err != nil {
			return err
		}
		if _, err := q.LockUserForLinks(ctx, user.ID); err != nil {
			return fmt.Errorf("lock user %d: %w", user.ID, err)
		}
		if err := q.ExpireOtherUserLinks(ctx, db.ExpireOtherUserLinksParams{UserID: user.ID, Kind: string(linkReset),
			KeepTokenHash: auth.HashToken(token), Now: s.now()}); err != nil {
			return fmt.Errorf("end earlier resets of user %d: %w", user.ID, err)
		}
		return audit.Append(ctx, q, s.now(), audit.Event{Kind: gen.AuditPasswordResetRequested, Actor: audit.Anonymous,
			UserID: user.ID, ApplicationID: app.ID})
	})
	if err != nil {
		s.log.ErrorContext(ctx, "password reset: create the link", "user_id", user.ID, "error", err)
		return
	}
	// A link that could not be sent is left to expire: nobody has its token or code.
	message := resetEmail(user, app.Name, s.linkURL(linkReset, token), code.plain)
	if err := mail.SendNow(ctx, s.mailer, s.q, s.now(), message); err != nil {
		s.log.WarnContext(ctx, "password reset: email not sent", "user_id", user.ID, "error", err)
	}
}

// resetEmail is the email carrying a reset link and its code.
func resetEmail(user db.User, appName, link, code string) mail.Message {
	greeting := "Hello " + greetingName(user) + ","
	intro := fmt.Sprintf("Someone, hopefully you, asked to reset the password of your %s account. "+
		"Open this link to choose a new one. It works once, within %d minutes:", appName, int(MagicLinkLifetime.Minutes()))
	other := "On another device, enter this code with your email instead: " + mail.ShowCode(code)
	outro := "If you did not ask, ignore this email: your password stays as it is."
	return mail.Message{
		Kind: "password_reset", To: user.Email, Subject: "Reset your password for " + appName,
		Text: greeting + "\n\n" + intro + "\n\n" + link + "\n\n" + other + "\n\n" + outro + "\n",
		HTML: fmt.Sprintf(`<p>%s</p><p>%s</p><p><a href="%s">Choose a new password for %s</a></p><p>%s</p><p>%s</p>`,
			html.EscapeString(greeting), html.EscapeString(intro), html.EscapeString(link), html.EscapeString(appName),
			html.EscapeString(other), html.EscapeString(outro)),
	}
}

// SessionsPasswordReset sets a new password with a reset token, or with email and code, and
// starts a session. Answers: missing-param / invalid-param (which of token or code; the new
// password), invalid-token, link-used, link-expired, link-wrong-application, rate-limited, and
// those of startSession.
func (s *Server) SessionsPasswordReset(ctx context.Context, r gen.SessionsPasswordResetRequestObject) (gen.SessionsPasswordResetResponseObject, error) {
	in, err := params.Sensitive[gen.SessionsPasswordResetInput](r.Body)
	if err != nil {
		return nil, err
	}
	if err := checkLinkProof("reset_token", in.ResetToken, in.Email, in.Code); err != nil {
		return nil, err
	}
	client := limits.Client{Peer: peer.FromContext(ctx), DeviceToken: deref(in.DeviceToken)}
	var used usedLink
	if in.ResetToken != nil {
		used, err = s.resetWithToken(ctx, *in.ResetToken, in.Application, in.Password, client)
	} else {
		used, err = s.resetWithCode(ctx, *in.Email, string(*in.Code), in.Application, in.Password, client)
	}
	if err != nil {
		return nil, err
	}
	session, err := s.startSession(ctx, used.user, newSession{
		// The reset proved the mailbox (its link or code), not a second factor.
		application: in.Application, methods: []gen.SessionMethod{gen.MethodLink}, rememberMe: in.RememberMe, redirectURL: nonEmpty(used.redirectURL),
		view: chooseSessionView(in.SessionView, in.View), applicationView: in.ApplicationView, trust: &client,
	})
	if err != nil {
		return nil, err
	}
	return gen.SessionsPasswordReset200JSONResponse{NewSessionJSONResponse: s.sessionResult(session)}, nil
}

// resetWithToken sets the password of a reset link's user. Like a sign-in link, the token is
// counted against the client address before it is looked up; here the use stays until the reset
// is made, so that it also pays for the new password's checks (zxcvbn, Have I Been Pwned): a
// link's holder trying passwords spends its address's allowance. The link is checked first,
// then the password (a refused password leaves the link usable), and only then is anything
// hashed.
func (s *Server) resetWithToken(ctx context.Context, token string, application gen.ApplicationSlug, plain string, client limits.Client) (usedLink, error) {
	ticket, err := s.limits.AttemptFromAddress(ctx, limits.SignIn, client.Peer)
	if err != nil {
		return usedLink{}, err
	}
	used, err := s.resetWithTokenCounted(ctx, token, application, plain)
	s.settle(ctx, signInTry{failure: ticket}, err)
	return used, err
}

// resetWithTokenCounted is resetWithToken once the address's use was taken.
func (s *Server) resetWithTokenCounted(ctx context.Context, token string, application gen.ApplicationSlug, plain string) (usedLink, error) {
	row, err := s.peekLink(ctx, []linkKind{linkReset}, token, &application)
	if err != nil {
		return usedLink{}, err
	}
	user, err := s.q.GetUser(ctx, row.MagicLink.UserID)
	if err != nil {
		return usedLink{}, envelope.Internal("load user %d: %w", row.MagicLink.UserID, err)
	}
	hash, err := s.hashNewPassword(ctx, "password", plain, user)
	if err != nil {
		return usedLink{}, err
	}
	return s.useLink(ctx, linkUse{kinds: []linkKind{linkReset}, token: token, application: &application, passwordHash: &hash})
}

// resetWithCode sets the password of the user of email with the code of its newest reset
// (takeCode: each try counted against the code and as a sign-in guess at the account, before
// it is evaluated; a wrong, used up or missing code, or an unknown email, answers invalid-token
// alike). The new password is checked once the try's use is taken (so that a flood of them costs
// the caller its allowance, not Have I Been Pwned's egress) and before the code is tried, against
// what the caller gave (the email), for known and unknown emails alike: a refused one costs no
// try of the code and tells nothing of the account. Once the code is right, the password is
// checked against the user's names too.
func (s *Server) resetWithCode(ctx context.Context, email, code string, application gen.ApplicationSlug, plain string, client limits.Client) (usedLink, error) {
	user, linkID, err := s.takeCode(ctx, codeTry{email: email, code: code, kinds: []linkKind{linkReset}, application: application, client: client,
		first: func() error {
			if problem := s.newPasswordProblem(ctx, plain, db.User{Email: emailaddr.Normalize(email)}); problem != "" {
				return envelope.Param(gen.StatusInvalidParam, "password", problem)
			}
			return nil
		}})
	if err != nil {
		return usedLink{}, err
	}
	// The breach check was made already; the names are the user's own data.
	if problem := password.Weakness(plain, userWords(user.Email, user.FirstName, user.LastName)...); problem != "" {
		return usedLink{}, envelope.Param(gen.StatusInvalidParam, "password", problem)
	}
	hash, err := s.hashPassword(ctx, plain)
	if err != nil {
		return usedLink{}, err
	}
	return s.useLink(ctx, linkUse{kinds: []linkKind{linkReset}, byCode: linkID, passwordHash: &hash})
}

// UsersPasswordUpdate changes the caller's user's password and revokes its other sessions.
// Answers: missing-param (current_password), invalid-password, rate-limited, invalid-param
// (password), permission-denied (a first password from a session without a recent proof).
func (s *Server) UsersPasswordUpdate(ctx context.Context, r gen.UsersPasswordUpdateRequestObject) (gen.UsersPasswordUpdateResponseObject, error) {
	in, err := params.Sensitive[gen.UsersPasswordUpdateInput](r.Body)
	if err != nil {
		return nil, err
	}
	p := auth.PrincipalFromContext(ctx)
	revoked, err := s.updatePassword(ctx, p.Session, in)
	if err != nil {
		return nil, err
	}
	return gen.UsersPasswordUpdate200JSONResponse{
		Status: gen.RevokedResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: gen.Revoked{Revoked: int(revoked)}, Session: envelope.CallerSession(ctx),
	}, nil
}

// updatePassword is users/password_update without HTTP, for the caller's session. Every request
// is counted like a log-in (tryPassword) before anything is evaluated, the new password's
// checks included: a stolen session can neither guess the current password nor make the service
// score new passwords and ask Have I Been Pwned without bound. A change made keeps its use of the
// account's successful sign-ins; a refused one, its guess. The counting is the session's own
// (limits.Client.Session), or, for a session that did not prove the password, the one its
// user's such sessions share (ownAllowance): strangers who spent theirs cannot keep the owner
// from changing it.
// A new password outlives the session: it takes a recent proof (checkRecentProof), as a second
// factor does, or a stolen old token would set one (with a phished current password, or a first
// one) that signs in afresh, and lock the owner out.
func (s *Server) updatePassword(ctx context.Context, caller *db.Session, in gen.UsersPasswordUpdateInput) (int64, error) {
	user, err := s.q.GetUser(ctx, caller.UserID)
	if err != nil {
		return 0, envelope.Internal("load user %d: %w", caller.UserID, err)
	}
	if hasPassword(user.PasswordHash) && in.CurrentPassword == nil {
		return 0, envelope.Param(gen.StatusMissingParam, "current_password", "is required: the user has a password")
	}
	if err := s.checkRecentProof(caller); err != nil {
		return 0, err
	}
	try, err := s.tryPassword(ctx, user.ID, limits.Client{Peer: peer.FromContext(ctx), Session: ownAllowance(caller, gen.MethodPwd)})
	if err != nil {
		return 0, err
	}
	revoked, err := s.changePasswordWith(ctx, user, in, caller)
	s.settle(ctx, try, err)
	return revoked, err
}

// changePasswordWith checks the new password, then the current one (counted by the caller), and
// changes it.
func (s *Server) changePasswordWith(ctx context.Context, user db.User, in gen.UsersPasswordUpdateInput, caller *db.Session) (int64, error) {
	if problem := s.newPasswordProblem(ctx, in.Password, user); problem != "" {
		return 0, envelope.Param(gen.StatusInvalidParam, "password", problem)
	}
	if hasPassword(user.PasswordHash) {
		if err := s.matchPassword(ctx, user, *in.CurrentPassword); err != nil {
			return 0, err
		}
	}
	hash, err := s.hashPassword(ctx, in.Password)
	if err != nil {
		return 0, err
	}
	return s.changePassword(ctx, user, hash, caller)
}

// changePassword sets the new hash if the credential is still the one checked (a concurrent
// change or proof wins, and this one answers invalid-password), and revokes the user's sessions but
// the caller's, in one transaction, which records password.changed and the sessions revoked;
// it returns how many were revoked. The owner is told (tellOwner).
func (s *Server) changePassword(ctx context.Context, user db.User, hash string, caller *db.Session) (int64, error) {
	app, err := s.apps.ByID(ctx, caller.ApplicationID)
	if err != nil {
		return 0, envelope.Internal("load application %d: %w", caller.ApplicationID, err)
	}
	var revoked int64
	err = s.inTx(ctx, "change a password", func(_ pgx.Tx, q *db.Queries) error {
		n, err := q.ChangePasswordHash(ctx, db.ChangePasswordHashParams{ID: user.ID, PasswordHash: &hash, CredentialVersion: user.CredentialVersion})
		if err != nil {
			return fmt.Errorf("set the password of user %d: %w", user.ID, err)
		}
		if n == 0 {
			return envelope.New(gen.StatusInvalidPassword)
		}
		// The update waited for the user's row: a change that ended the caller's session while it
		// held the row (a passkey's removal) is seen now, and the password stays as it was.
		if err := stillLive(ctx, q, caller.ID); err != nil {
			return err
		}
		now := s.now()
		if err := endPasswordLinks(ctx, q, user.ID, now); err != nil {
			return err
		}
		apps, err := q.RevokeOtherUserSessions(ctx, db.RevokeOtherUserSessionsParams{UserID: user.ID, Keep: caller.ID, Now: &now})
		if err != nil {
			return fmt.Errorf("revoke the other sessions of user %d: %w", user.ID, err)
		}
		revoked = int64(len(apps))
		// Whoever knew the old password may have signed in with it: their devices and addresses
		// are strangers to the account from now on.
		if err := limits.Forget(ctx, q, user.ID); err != nil {
			return err
		}
		if err := s.tellOwner(ctx, q, user.ID, passwordChangedNotice(ctx, app)); err != nil {
			return err
		}
		self := audit.User(user.ID)
		events := []audit.Event{{Kind: gen.AuditPasswordChanged, Actor: self, UserID: user.ID, ApplicationID: caller.ApplicationID}}
		if len(apps) > 0 {
			events = append(events, audit.SessionsRevoked(self, user.ID, apps)...)
		}
		return audit.Append(ctx, q, now, events...)
	})
	if err == nil {
		s.sessions.ForgetUser(user.ID)
	}
	return revoked, err
}

// endPasswordLinks ends, in q's transaction, the user's live reset links (and their codes),
// sign-in links, invitations and verification links (each of which signs in; an inviter sends
// a new invitation): once its
// password changed (replaced, reset, or set by a proof), whatever was
// emailed before is pointless, and whoever saw such an email (a shared or forwarded mailbox)
// must not use it to set a password of its own or to sign in.
func endPasswordLinks(ctx context.Context, q *db.Queries, userID int64, now time.Time) error {
	for _, kind := range []linkKind{linkReset, linkSignIn, linkInvitation, linkVerification} {
		if err := q.ExpireUserLinks(ctx, db.ExpireUserLinksParams{UserID: userID, Kind: string(kind), Now: now}); err != nil {
			return fmt.Errorf("end the %s links of user %d: %w", kind, userID, err)
		}
	}
	return nil
}

// newPasswordProblem says why plain is refused as user's new password, or "": the offline
// policy (password.Weakness, with the user's email and names as words to avoid), then, when
// configured, Have I Been Pwned. The breach check never refuses a password because the API is
// unreachable.
func (s *Server) newPasswordProblem(ctx context.Context, plain string, user db.User) string {
	if problem := password.Weakness(plain, userWords(user.Email, user.FirstName, user.LastName)...); problem != "" {
		return problem
	}
	return s.breachProblem(ctx, plain)
}

// userWords are the words of a user's own data (and the suite's name) that a new password
// should not be built on.
func userWords(email, firstName, lastName string) []string {
	return []string{email, firstName, lastName, "plano", "planoauth", "planoorder", "planox"}
}

// breachProblem says that plain appeared in a breach, or "" (also when the check is off or the
// API could not be asked, which is only logged).
func (s *Server) breachProblem(ctx context.Context, plain string) string {
	if s.pwned == nil {
		return ""
	}
	n, err := s.pwned.Count(ctx, plain)
	if err != nil {
		s.log.WarnContext(ctx, "pwned passwords check skipped", "error", err)
		return ""
	}
	if n > 0 {
		return fmt.Sprintf("appears %d times in data breaches known to Have I Been Pwned, so attackers try it first; choose another", n)
	}
	return ""
}

// hashNewPassword refuses a weak password (invalid-param on param) or returns its hash.
func (s *Server) hashNewPassword(ctx context.Context, param, plain string, user db.User) (string, error) {
	if problem := s.newPasswordProblem(ctx, plain, user); problem != "" {
		return "", envelope.Param(gen.StatusInvalidParam, param, problem)
	}
	return s.hashPassword(ctx, plain)
}

func (s *Server) hashPassword(ctx context.Context, plain string) (string, error) {
	hash, err := s.hasher.Hash(ctx, plain)
	if err != nil {
		return "", hashFailure(err, "hash a new password")
	}
	return hash, nil
}
