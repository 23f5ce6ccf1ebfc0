package impl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/audit"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/mfa"
	"github.com/plano/planoauth/internal/params"
	"github.com/plano/planoauth/internal/peer"
)

// Passkeys (WebAuthn, domains mfa and sessions): registering one, checking one as a second
// factor, and signing in with one instead of a password. Each ceremony is a begin, which stores
// the server's half (webauthn_challenges: found by its challenge, for the session or the
// application that began it, for mfa.CeremonyLifetime), and a finish, which uses it up.

// The ceremonies, as webauthn_challenges.ceremony stores them.
const (
	ceremonyRegister = "register"
	ceremonyVerify   = "verify"
	ceremonySignIn   = "sign_in"
)

// defaultPasskeyName names a passkey registered without a name.
const defaultPasskeyName = "Passkey"

// MfaPasskeyRegisterBegin begins registering a passkey for the caller's user. Answers:
// mfa-method-unavailable (no relying party), invalid-param (MaxPasskeysPerUser held already).
func (s *Server) MfaPasskeyRegisterBegin(ctx context.Context, _ gen.MfaPasskeyRegisterBeginRequestObject) (gen.MfaPasskeyRegisterBeginResponseObject, error) {
	if s.rp == nil {
		return nil, passkeysUnavailable()
	}
	p := auth.PrincipalFromContext(ctx)
	if err := s.checkRecentProof(p.Session); err != nil {
		return nil, err
	}
	user, _, err := s.passkeyUser(ctx, *p.User, true)
	if err != nil {
		return nil, err
	}
	if err := s.roomForPasskey(ctx, s.q, p.User.ID); err != nil {
		return nil, err
	}
	ceremony, err := s.rp.BeginRegistration(user)
	if err != nil {
		return nil, envelope.Internal("%w", err)
	}
	data, err := s.storeCeremony(ctx, ceremony, ceremonyRegister, p.Session, nil, "")
	if err != nil {
		return nil, err
	}
	return gen.MfaPasskeyRegisterBegin200JSONResponse{PasskeyOptionsJSONResponse: gen.PasskeyOptionsJSONResponse(s.ceremonyResult(ctx, data))}, nil
}

// MfaPasskeyRegisterFinish verifies a new passkey against the session's ceremony and stores it.
// Answers: invalid-passkey, invalid-param (MaxPasskeysPerUser held already),
// mfa-method-unavailable.
func (s *Server) MfaPasskeyRegisterFinish(ctx context.Context, r gen.MfaPasskeyRegisterFinishRequestObject) (gen.MfaPasskeyRegisterFinishResponseObject, error) {
	in, err := params.Sensitive[gen.MfaPasskeyRegisterFinishInput](r.Body)
	if err != nil {
		return nil, err
	}
	if s.rp == nil {
		return nil, passkeysUnavailable()
	}
	p := auth.PrincipalFromContext(ctx)
	if err := s.checkRecentProof(p.Session); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(in.Credential)
	if err != nil {
		return nil, envelope.Internal("encode a credential: %w", err)
	}
	registration, err := mfa.ParseRegistration(raw)
	if err != nil {
		return nil, s.passkeyRefused(ctx, err)
	}
	ceremony, err := s.useCeremony(ctx, registration.ChallengeHash, ceremonyRegister, &p.Session.ID, nil)
	if err != nil {
		return nil, err
	}
	user, _, err := s.passkeyUser(ctx, *p.User, false)
	if err != nil {
		return nil, err
	}
	credential, err := s.rp.FinishRegistration(user, ceremony.Data, registration)
	if err != nil {
		return nil, s.passkeyRefused(ctx, err)
	}
	stored, err := json.Marshal(credential)
	if err != nil {
		return nil, envelope.Internal("encode a credential: %w", err)
	}
	name := strings.TrimSpace(deref(in.Name))
	if name == "" {
		name = defaultPasskeyName
	}
	change, err := s.addFactor(ctx, p, gen.MethodWebauthn, in.View, factorAddedNotice(ctx, p.Application, "A passkey"), func(q *db.Queries) (audit.Event, factorUse, error) {
		if err := s.roomForPasskey(ctx, q, p.User.ID); err != nil { // the user's row is locked: exact
			return audit.Event{}, factorUse{}, err
		}
		pk, err := q.CreatePasskey(ctx, db.CreatePasskeyParams{UserID: p.User.ID, RpID: s.rp.ID, CredentialID: credential.ID,
			Name: name, Credential: stored, Now: s.now(), MadeBy: p.Session.ID})
		if errors.Is(err, pgx.ErrNoRows) {
			return audit.Event{}, factorUse{}, &envelope.Error{Status: gen.StatusInvalidPasskey, Message: "This passkey is registered already."}
		}
		if err != nil {
			return audit.Event{}, factorUse{}, fmt.Errorf("store a passkey of user %d: %w", p.User.ID, err)
		}
		return mfaEvent(p, gen.AuditMfaPasskeyRegistered, gen.AuditDetails{PasskeyId: &pk.ID}), factorUse{passkeyID: &pk.ID}, nil
	})
	if err != nil {
		return nil, err
	}
	return gen.MfaPasskeyRegisterFinish200JSONResponse{FactorsChangedJSONResponse: gen.FactorsChangedJSONResponse(s.changeResult(change))}, nil
}

// MfaPasskeyVerifyBegin begins a second-factor check with one of the user's passkeys. Answers:
// invalid-param (no passkey), mfa-method-unavailable.
func (s *Server) MfaPasskeyVerifyBegin(ctx context.Context, _ gen.MfaPasskeyVerifyBeginRequestObject) (gen.MfaPasskeyVerifyBeginResponseObject, error) {
	if s.rp == nil {
		return nil, passkeysUnavailable()
	}
	p := auth.PrincipalFromContext(ctx)
	user, _, err := s.passkeyUser(ctx, *p.User, false)
	if err != nil {
		return nil, err
	}
	if len(user.Credentials) == 0 {
		return nil, &envelope.Error{Status: gen.StatusInvalidParam, Message: "This user has no passkey here."}
	}
	ceremony, err := s.rp.BeginVerification(user)
	if err != nil {
		return nil, envelope.Internal("%w", err)
	}
	data, err := s.storeCeremony(ctx, ceremony, ceremonyVerify, p.Session, nil, "")
	if err != nil {
		return nil, err
	}
	return gen.MfaPasskeyVerifyBegin200JSONResponse{PasskeyOptionsJSONResponse: gen.PasskeyOptionsJSONResponse(s.ceremonyResult(ctx, data))}, nil
}

// MfaPasskeyVerifyFinish completes a second factor with a passkey, which the session records
// (its removal ends the session). Each check is counted before it is made (limits.SecondFactor)
// and given back when it succeeds. Answers: invalid-passkey (also when the passkey is removed
// before the session records it), rate-limited, mfa-method-unavailable.
func (s *Server) MfaPasskeyVerifyFinish(ctx context.Context, r gen.MfaPasskeyVerifyFinishRequestObject) (gen.MfaPasskeyVerifyFinishResponseObject, error) {
	in, err := params.Sensitive[gen.MfaPasskeyVerifyFinishInput](r.Body)
	if err != nil {
		return nil, err
	}
	if s.rp == nil {
		return nil, passkeysUnavailable()
	}
	p := auth.PrincipalFromContext(ctx)
	client := factorClient(ctx, p, in.DeviceToken, gen.MethodWebauthn)
	ticket, err := s.limits.AttemptUnguessable(ctx, limits.SecondFactor, p.User.ID, client)
	if err != nil {
		return nil, err
	}
	passkeyID, err := s.checkPasskey(ctx, in.Credential, ceremonyVerify, &p.Session.ID, nil, p.User)
	if err != nil {
		return nil, s.secondFactorFailed(ctx, p, gen.MethodWebauthn, err) // a failed check: the use stays
	}
	s.giveBack(ctx, ticket)
	result, err := s.completeSecondFactor(ctx, p, gen.MethodWebauthn, factorUse{passkeyID: &passkeyID}, client, in.View)
	if err != nil {
		return nil, err
	}
	return gen.MfaPasskeyVerifyFinish200JSONResponse{SecondFactorSessionJSONResponse: gen.SecondFactorSessionJSONResponse(result)}, nil
}

// MfaPasskeyDelete removes one of the user's passkeys, from a session with a recent proof and
// with the password of a user who has one; the user's last second factor only with its
// password (judged in removeFactor's transaction: user-has-no-password for a user without).
// In the same transaction it ends the sessions that signed in or completed a second factor with
// the passkey (removeFactor, endFactorSessions), the caller's too when it is one of them, and
// what their sessions made (derived trust). Answers: permission-denied (no recent proof),
// invalid-param (not its passkey), missing-param (no password, for a user who has one),
// user-has-no-password (the last factor, for a user without one), invalid-password,
// rate-limited.
func (s *Server) MfaPasskeyDelete(ctx context.Context, r gen.MfaPasskeyDeleteRequestObject) (gen.MfaPasskeyDeleteResponseObject, error) {
	in, err := params.Sensitive[gen.MfaPasskeyDeleteInput](r.Body)
	if err != nil {
		return nil, err
	}
	p := auth.PrincipalFromContext(ctx)
	if err := s.checkRecentProof(p.Session); err != nil {
		return nil, err
	}
	proven := in.Password != nil
	if !proven && hasPassword(p.User.PasswordHash) {
		// A passkey signs in alone: a copy of one (a synced passkey on a lost phone) must not
		// strip the owner of her others, and make the devices that used them strangers.
		return nil, envelope.Param(gen.StatusMissingParam, "password", "is required: removing a passkey takes your password")
	}
	if proven {
		client := limits.Client{Peer: peer.FromContext(ctx), DeviceToken: deref(in.DeviceToken)}
		if err := s.reprovePassword(ctx, p, *in.Password, client); err != nil {
			return nil, err
		}
	}
	madeBy, err := s.passkeyMaker(ctx, p.User.ID, in.Id)
	if err != nil {
		return nil, err
	}
	notice := factorRemovedNotice(ctx, p.Application, "A passkey")
	change, err := s.removeFactor(ctx, p, in.View, proven, notice, factorUse{passkeyID: &in.Id, passkeyMadeBy: madeBy}, func(q *db.Queries) ([]audit.Event, error) {
		n, err := q.DeletePasskey(ctx, db.DeletePasskeyParams{ID: in.Id, UserID: p.User.ID})
		if err != nil {
			return nil, fmt.Errorf("delete passkey %d of user %d: %w", in.Id, p.User.ID, err)
		}
		if n == 0 {
			return nil, envelope.Param(gen.StatusInvalidParam, "id", "is not one of your passkeys")
		}
		return []audit.Event{mfaEvent(p, gen.AuditMfaPasskeyRemoved, gen.AuditDetails{PasskeyId: &in.Id})}, nil
	})
	if err != nil {
		return nil, err
	}
	return gen.MfaPasskeyDelete200JSONResponse{FactorsChangedJSONResponse: gen.FactorsChangedJSONResponse(s.changeResult(change))}, nil
}

// passkeyMaker is the session that registered the user's passkey id (nil when unknown, or when
// the user has no such passkey: its removal answers that). It never changes, so it is read
// before the removal's transaction.
func (s *Server) passkeyMaker(ctx context.Context, userID, id int64) (*uuid.UUID, error) {
	passkeys, err := s.q.ListAllUserPasskeys(ctx, userID)
	if err != nil {
		return nil, envelope.Internal("list the passkeys of user %d: %w", userID, err)
	}
	for _, pk := range passkeys {
		if pk.ID == id {
			return pk.MadeBy, nil
		}
	}
	return nil, nil
}

// SessionsPasskeyBegin begins a passwordless sign-in. It takes a use of the client address's
// sign-in allowance, given back when the finish opens a session. Answers: rate-limited,
// mfa-method-unavailable.
func (s *Server) SessionsPasskeyBegin(ctx context.Context, r gen.SessionsPasskeyBeginRequestObject) (gen.SessionsPasskeyBeginResponseObject, error) {
	if s.rp == nil {
		return nil, passkeysUnavailable()
	}
	from := peer.FromContext(ctx)
	if _, err := s.limits.AttemptFromAddress(ctx, limits.SignIn, from); err != nil {
		return nil, err
	}
	appID, err := s.passkeyApplication(ctx, r.Body.Application)
	if err != nil {
		return nil, err
	}
	ceremony, err := s.rp.BeginSignIn()
	if err != nil {
		return nil, envelope.Internal("%w", err)
	}
	data, err := s.storeCeremony(ctx, ceremony, ceremonySignIn, nil, &appID, from.Address)
	if err != nil {
		return nil, err
	}
	return gen.SessionsPasskeyBegin200JSONResponse{PasskeyOptionsJSONResponse: gen.PasskeyOptionsJSONResponse(s.ceremonyResult(ctx, data))}, nil
}

// SessionsPasskeyFinish signs in with a discoverable passkey: aal2 with the method webauthn (it
// verified its user), a session that records the passkey (its removal ends the session) and is
// created only while the user still has it. Answers: invalid-param (redirect_url),
// invalid-passkey, mfa-method-unavailable, and those of startSession.
func (s *Server) SessionsPasskeyFinish(ctx context.Context, r gen.SessionsPasskeyFinishRequestObject) (gen.SessionsPasskeyFinishResponseObject, error) {
	in, err := params.Sensitive[gen.SessionsPasskeyFinishInput](r.Body)
	if err != nil {
		return nil, err
	}
	if s.rp == nil {
		return nil, passkeysUnavailable()
	}
	if err := s.redirects.Check(ctx, string(in.Application), deref(in.RedirectUrl)); err != nil {
		return nil, err
	}
	appID, err := s.passkeyApplication(ctx, in.Application)
	if err != nil {
		return nil, err
	}
	user, ceremony, passkeyID, err := s.passkeySignIn(ctx, in.Credential, appID)
	if err != nil {
		if ceremony.ID == 0 {
			// No begin paid for this finish (none matched: replayed, made up, malformed): it
			// costs the client address a failed sign-in before it is recorded, so that the trail
			// grows no faster than the limits allow.
			if _, limited := s.limits.AttemptFromAddress(ctx, limits.SignIn, peer.FromContext(ctx)); limited != nil {
				return nil, limited
			}
		}
		return nil, s.loginFailed(ctx, s.q, loginAttempt{method: gen.LoginPasskey, applicationID: appID, userID: user.ID}, err)
	}
	// The use of the address's allowance that the begin took is given back once a session is
	// opened; a sign-in that opens none (user-requires-role) keeps it. A session spends one of
	// the passkey's successful sign-ins: each passkey has its own, so that a copy of one that
	// spent its allowance cannot keep the owner's other keys out (review 19). A user holds at
	// most MaxPasskeysPerUser, so an account has at most that many allowances.
	success, err := s.limits.SignedInWith(ctx, user.ID, string(gen.MethodWebauthn), strconv.FormatInt(passkeyID, 10))
	if err != nil {
		return nil, err
	}
	try := signInTry{failure: s.limits.AddressTicket(limits.SignIn, peer.Peer{Address: ceremony.ClientAddress}, ceremony.CreatedAt),
		success: success}
	client := limits.Client{Peer: peer.FromContext(ctx), DeviceToken: deref(in.DeviceToken)}
	req := newSession{
		application: in.Application, method: gen.LoginPasskey, methods: []gen.SessionMethod{gen.MethodWebauthn}, rememberMe: in.RememberMe,
		redirectURL: in.RedirectUrl, view: chooseSessionView(in.SessionView, in.View), applicationView: in.ApplicationView, trust: &client,
		checkCredential: true, // the passkey was checked against user as read; a first proof since may have taken it back
		passkeyID:       &passkeyID,
	}
	session, err := s.startSession(ctx, user, req)
	if errors.Is(err, errCredentialChanged) {
		// The version moved: a first proof (which takes the passkeys back) or a password set,
		// changed or reset (which leaves them); or the passkey was removed. Judged again on the
		// user as it is now.
		if user, err = s.passkeyStillHeld(ctx, user.ID, passkeyID); err == nil {
			session, err = s.startSession(ctx, user, req)
		}
	}
	s.settle(ctx, try, err)
	if errors.Is(err, errCredentialChanged) {
		return nil, s.loginFailed(ctx, s.q, loginAttempt{method: gen.LoginPasskey, applicationID: appID, userID: user.ID},
			s.passkeyRefused(ctx, fmt.Errorf("%w: the account's credentials changed during the sign-in", mfa.ErrPasskey)))
	}
	if err != nil {
		return nil, err
	}
	return gen.SessionsPasskeyFinish200JSONResponse{NewSessionJSONResponse: s.sessionResult(session)}, nil
}

// passkeySignIn verifies a discoverable assertion for a sign-in ceremony of the application and
// returns the user its passkey belongs to, the ceremony and the passkey's id. Answers: invalid-passkey.
func (s *Server) passkeySignIn(ctx context.Context, credential gen.WebAuthnCredential, appID int64) (db.User, db.WebauthnChallenge, int64, error) {
	raw, err := json.Marshal(credential)
	if err != nil {
		return db.User{}, db.WebauthnChallenge{}, 0, envelope.Internal("encode a credential: %w", err)
	}
	assertion, err := mfa.ParseAssertion(raw)
	if err != nil {
		return db.User{}, db.WebauthnChallenge{}, 0, s.passkeyRefused(ctx, err)
	}
	ceremony, err := s.useCeremony(ctx, assertion.ChallengeHash, ceremonySignIn, nil, &appID)
	if err != nil {
		return db.User{}, ceremony, 0, err
	}
	user, err := s.q.GetUserByWebAuthnHandle(ctx, assertion.UserHandle)
	if errors.Is(err, pgx.ErrNoRows) {
		return user, ceremony, 0, s.passkeyRefused(ctx, fmt.Errorf("%w: no user has this user handle", mfa.ErrPasskey))
	}
	if err != nil {
		return user, ceremony, 0, envelope.Internal("look up a passkey's user: %w", err)
	}
	passkeyID, err := s.verifyAssertion(ctx, user, ceremony.Data, assertion)
	return user, ceremony, passkeyID, err
}

// passkeyStillHeld reads the user again, then its passkeys (in that order, as passkeySignIn
// does: a first proof committed after the user was read moves the version read), for a
// passkey sign-in whose user's credential_version moved meanwhile. It returns the user as it is
// now while passkeyID is still one of its passkeys, else errCredentialChanged.
func (s *Server) passkeyStillHeld(ctx context.Context, userID, passkeyID int64) (db.User, error) {
	user, err := s.q.GetUser(ctx, userID)
	if err != nil {
		return user, envelope.Internal("reload user %d: %w", userID, err)
	}
	rows, err := s.q.ListUserPasskeys(ctx, db.ListUserPasskeysParams{UserID: userID, RpID: s.rp.ID})
	if err != nil {
		return user, envelope.Internal("list the passkeys of user %d: %w", userID, err)
	}
	if !slices.ContainsFunc(rows, func(p db.Passkey) bool { return p.ID == passkeyID }) {
		return user, errCredentialChanged
	}
	return user, nil
}

// checkPasskey verifies an assertion for the ceremony of kind begun by session (or for the
// application) with one of user's passkeys, and returns the passkey's id. Answers:
// invalid-passkey.
func (s *Server) checkPasskey(ctx context.Context, credential gen.WebAuthnCredential, kind string, sessionID *uuid.UUID, appID *int64, user *db.User) (int64, error) {
	raw, err := json.Marshal(credential)
	if err != nil {
		return 0, envelope.Internal("encode a credential: %w", err)
	}
	assertion, err := mfa.ParseAssertion(raw)
	if err != nil {
		return 0, s.passkeyRefused(ctx, err)
	}
	ceremony, err := s.useCeremony(ctx, assertion.ChallengeHash, kind, sessionID, appID)
	if err != nil {
		return 0, err
	}
	return s.verifyAssertion(ctx, *user, ceremony.Data, assertion)
}

// verifyAssertion checks an assertion against a ceremony and user's passkeys, records the use
// of the passkey (its sign count and flags) and returns its id.
func (s *Server) verifyAssertion(ctx context.Context, dbUser db.User, data []byte, assertion mfa.Assertion) (int64, error) {
	user, rows, err := s.passkeyUser(ctx, dbUser, false)
	if err != nil {
		return 0, err
	}
	credential, err := s.rp.FinishAssertion(user, data, assertion)
	if err != nil {
		return 0, s.passkeyRefused(ctx, err)
	}
	stored, err := json.Marshal(credential)
	if err != nil {
		return 0, envelope.Internal("encode a credential: %w", err)
	}
	var id int64
	for _, row := range rows {
		if bytes.Equal(row.CredentialID, credential.ID) {
			id = row.ID
			if err := s.q.RecordPasskeyUse(ctx, db.RecordPasskeyUseParams{ID: row.ID, Credential: stored, Now: new(s.now())}); err != nil {
				return 0, envelope.Internal("record the use of passkey %d: %w", row.ID, err)
			}
		}
	}
	return id, nil
}

// passkeyUser is user as WebAuthn knows it, with its passkeys under the relying party in force
// (and their rows). create gives it a user handle when it has none (a first registration).
func (s *Server) passkeyUser(ctx context.Context, user db.User, create bool) (mfa.User, []db.Passkey, error) {
	handle, err := s.q.GetWebAuthnHandle(ctx, user.ID)
	if errors.Is(err, pgx.ErrNoRows) && create {
		if err := s.q.CreateWebAuthnHandle(ctx, db.CreateWebAuthnHandleParams{UserID: user.ID, Handle: mfa.NewUserHandle()}); err != nil {
			return mfa.User{}, nil, envelope.Internal("give user %d a WebAuthn handle: %w", user.ID, err)
		}
		handle, err = s.q.GetWebAuthnHandle(ctx, user.ID)
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return mfa.User{}, nil, envelope.Internal("read the WebAuthn handle of user %d: %w", user.ID, err)
	}
	rows, err := s.q.ListUserPasskeys(ctx, db.ListUserPasskeysParams{UserID: user.ID, RpID: s.rp.ID})
	if err != nil {
		return mfa.User{}, nil, envelope.Internal("list the passkeys of user %d: %w", user.ID, err)
	}
	out := mfa.User{Handle: handle, Email: user.Email, DisplayName: strings.TrimSpace(user.FirstName + " " + user.LastName)}
	if out.DisplayName == "" {
		out.DisplayName = user.Email
	}
	for _, row := range rows {
		var credential webauthn.Credential
		if err := json.Unmarshal(row.Credential, &credential); err != nil {
			return mfa.User{}, nil, envelope.Internal("decode passkey %d: %w", row.ID, err)
		}
		out.Credentials = append(out.Credentials, credential)
	}
	return out, rows, nil
}

// storeCeremony keeps the server's half of a begun ceremony for mfa.CeremonyLifetime: for the
// session that began it (which holds one of each kind at a time), or for an application and the
// address that began a sign-in.
func (s *Server) storeCeremony(ctx context.Context, c mfa.Ceremony, kind string, session *db.Session, appID *int64, address string) (gen.PasskeyCeremony, error) {
	now := s.now()
	expires := now.Add(mfa.CeremonyLifetime)
	err := s.inTx(ctx, "begin a WebAuthn ceremony", func(_ pgx.Tx, q *db.Queries) error {
		var sessionID *uuid.UUID
		if session != nil {
			sessionID = &session.ID
			if err := q.DeleteSessionChallenges(ctx, db.DeleteSessionChallengesParams{SessionID: sessionID, Ceremony: kind}); err != nil {
				return fmt.Errorf("drop earlier ceremonies: %w", err)
			}
		}
		return q.CreateWebAuthnChallenge(ctx, db.CreateWebAuthnChallengeParams{ChallengeHash: c.ChallengeHash, Ceremony: kind,
			SessionID: sessionID, ApplicationID: appID, ClientAddress: address, Data: c.Data, Now: now, ExpiresAt: expires})
	})
	if err != nil {
		return gen.PasskeyCeremony{}, err
	}
	return gen.PasskeyCeremony{Options: gen.PasskeyCeremony_Options{AdditionalProperties: c.Options}, ExpiresAt: expires}, nil
}

// useCeremony uses up the unexpired ceremony of a challenge, of kind, begun by the session (or
// for the application). Answers: invalid-passkey (none such).
func (s *Server) useCeremony(ctx context.Context, challengeHash []byte, kind string, sessionID *uuid.UUID, appID *int64) (db.WebauthnChallenge, error) {
	row, err := s.q.ConsumeWebAuthnChallenge(ctx, db.ConsumeWebAuthnChallengeParams{ChallengeHash: challengeHash, Ceremony: kind,
		Now: s.now(), SessionID: sessionID, ApplicationID: appID})
	if errors.Is(err, pgx.ErrNoRows) {
		return row, &envelope.Error{Status: gen.StatusInvalidPasskey,
			Message: "This passkey answer belongs to no ceremony in progress (unknown, used, expired, or not yours): begin again."}
	}
	if err != nil {
		return row, envelope.Internal("use a WebAuthn ceremony: %w", err)
	}
	return row, nil
}

// ceremonyResult is the answer of a begun ceremony.
func (s *Server) ceremonyResult(ctx context.Context, c gen.PasskeyCeremony) gen.PasskeyCeremonyResult {
	return gen.PasskeyCeremonyResult{Status: gen.PasskeyCeremonyResultStatusActionSuccessful,
		Message: s.writer.Message(gen.StatusActionSuccessful), Data: c, Session: envelope.CallerSession(ctx)}
}

// passkeyRefused is the answer to an authenticator's answer that failed; why is logged, not
// answered (it helps an attacker more than a user).
func (s *Server) passkeyRefused(ctx context.Context, err error) error {
	if !errors.Is(err, mfa.ErrPasskey) {
		return envelope.Internal("%w", err)
	}
	s.log.InfoContext(ctx, "passkey refused", "reason", err.Error())
	return envelope.New(gen.StatusInvalidPasskey)
}

func passkeysUnavailable() error {
	return &envelope.Error{Status: gen.StatusMfaMethodUnavailable,
		Message: "Passkeys are not available on this server: its public URL has no domain name (PLANOAUTH_PUBLIC_URL)."}
}

// passkeyApplication is the id of the application a passkey sign-in is for.
func (s *Server) passkeyApplication(ctx context.Context, slug gen.ApplicationSlug) (int64, error) {
	app, err := s.apps.BySlug(ctx, string(slug))
	if err != nil {
		return 0, envelope.Internal("load application %s: %w", slug, err)
	}
	return app.ID, nil
}

// PasskeyOrigins are the origins whose pages may run passkey ceremonies (none when passkeys are
// off), for the /security page.
func (s *Server) PasskeyOrigins() []string {
	if s.rp == nil {
		return nil
	}
	return s.rp.Origins
}

// MaxPasskeysPerUser bounds the passkeys a user holds: each is a credential of its own for the
// device tokens (limits.Credential), and a thief on a copy of one would otherwise register one
// per sign-in, so that every credential held one token and the cap per user
// (limits.MaxDevicesPerUser) retired the owner's (review 17).
const MaxPasskeysPerUser = 20

// roomForPasskey answers invalid-param when the user holds MaxPasskeysPerUser passkeys already.
func (s *Server) roomForPasskey(ctx context.Context, q *db.Queries, userID int64) error {
	n, err := q.CountUserPasskeys(ctx, userID)
	if err != nil {
		return envelope.Internal("count the passkeys of user %d: %w", userID, err)
	}
	if n >= MaxPasskeysPerUser {
		return &envelope.Error{Status: gen.StatusInvalidParam,
			Message: fmt.Sprintf("You have %d passkeys, the most a user may hold: remove one first (mfa/passkey_delete).", MaxPasskeysPerUser)}
	}
	return nil
}
