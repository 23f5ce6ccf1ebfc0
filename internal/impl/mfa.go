package impl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plano/planoauth/internal/audit"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/emailaddr"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/mfa"
	"github.com/plano/planoauth/internal/params"
	"github.com/plano/planoauth/internal/peer"
	"github.com/plano/planoauth/internal/views"
)

// Second factors (domain: mfa): TOTP and recovery codes here, passkeys in passkeys.go. The
// rules (README, "Second factors"):
//   - a session's level comes from what it proved (mfa.Level); the authenticator limits a
//     session below what is required of it (auth.Limitation) to the operations whose
//     x-limited-sessions admit it;
//   - every change of the factors (or of what stands in for them: the recovery codes, a first
//     password) takes a recent proof (checkRecentProof); a user with a factor makes it from an
//     aal2 session (the authenticator sees to that); the last factor goes only with the
//     password too;
//   - the first factor added answers the recovery codes, makes the caller's session aal2, and
//     makes every other caller the account knew a stranger;
//   - a pending app belongs to the session that began it, for TOTPEnrolmentTries codes;
//   - every code is counted before it is checked (limits.SecondFactor), and a TOTP code works
//     once, using up its step on the app it was checked against (UseTOTPStep).

// TOTPEnrolmentLifetime is how long a new TOTP secret waits for its first code.
const TOTPEnrolmentLifetime = 15 * time.Minute

// TOTPEnrolmentTries is how many codes may be sent to confirm a pending TOTP secret (each
// counted before it is checked): the wrong ones end the enrolment, so that even the session
// that began it (a token stolen within minutes) cannot search the 10^6 codes.
const TOTPEnrolmentTries = 5

// totpIssuer is the name an authenticator app shows above the user's email.
const totpIssuer = "Plano"

// RecentProof is how long after its last proof (its sign-in, or a second factor completed on
// it: sessions.proved_at) a session may change its user's second factors or what stands in for
// them (recovery codes, a first password). A stolen token, however complete its session, would
// otherwise turn itself into a credential of its own (a passkey, recovery codes, a password)
// that outlives the session and a password reset, or put its thief's app between the owner and
// the account.
const RecentProof = 30 * time.Minute

// checkRecentProof answers permission-denied when the caller's session proved its user longer
// than RecentProof ago, whatever the user has.
func (s *Server) checkRecentProof(session *db.Session) error {
	if s.now().Sub(session.ProvedAt) < RecentProof {
		return nil
	}
	return &envelope.Error{Status: gen.StatusPermissionDenied, Message: fmt.Sprintf(
		"This session proved who you are more than %d minutes ago: sign in again, or complete a second factor again on this session "+
			"(mfa/totp_verify, mfa/passkey_verify_finish, mfa/recovery_code_verify), then retry.", int(RecentProof/time.Minute))}
}

// MfaIndex lists the caller's user's second factors.
func (s *Server) MfaIndex(ctx context.Context, _ gen.MfaIndexRequestObject) (gen.MfaIndexResponseObject, error) {
	p := auth.PrincipalFromContext(ctx)
	factors, err := s.factors(ctx, s.q, p, p.Session.Aal)
	if err != nil {
		return nil, err
	}
	return gen.MfaIndex200JSONResponse{FactorsJSONResponse: gen.FactorsJSONResponse{
		Status: gen.MFAFactorsResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: factors, Session: envelope.CallerSession(ctx),
	}}, nil
}

// factors reads the user's second factors as mfa/index shows them, for a session of level aal.
func (s *Server) factors(ctx context.Context, q *db.Queries, p *auth.Principal, aal string) (gen.MFAFactors, error) {
	userID := p.Session.UserID
	out := gen.MFAFactors{Passkeys: []gen.Passkey{}, Satisfied: aal == string(gen.AAL2)}
	totp, err := q.GetTOTP(ctx, userID)
	switch {
	case err == nil && totp.ConfirmedAt != nil:
		out.Totp = gen.TOTPState{Enabled: true, ConfirmedAt: totp.ConfirmedAt, LastUsedAt: totp.LastUsedAt}
	case err != nil && !errors.Is(err, pgx.ErrNoRows):
		return out, envelope.Internal("read the TOTP of user %d: %w", userID, err)
	}
	passkeys, err := q.ListAllUserPasskeys(ctx, userID)
	if err != nil {
		return out, envelope.Internal("list the passkeys of user %d: %w", userID, err)
	}
	for _, pk := range passkeys {
		out.Passkeys = append(out.Passkeys, gen.Passkey{Id: pk.ID, Name: pk.Name, CreatedAt: pk.CreatedAt, LastUsedAt: pk.LastUsedAt})
	}
	codes, err := q.GetRecoveryCodeSet(ctx, userID)
	switch {
	case err == nil:
		out.RecoveryCodes = gen.RecoveryCodesState{Remaining: int(codes.Remaining), CreatedAt: &codes.CreatedAt}
	case !errors.Is(err, pgx.ErrNoRows):
		return out, envelope.Internal("count the recovery codes of user %d: %w", userID, err)
	}
	out.Required = out.Totp.Enabled || len(passkeys) > 0 || p.Application.RequireMfa
	return out, nil
}

// MfaTotpEnroll makes a new pending TOTP secret and answers it once. Answers:
// mfa-method-unavailable (no PLANOAUTH_MFA_KEY), invalid-param (TOTP confirmed already).
func (s *Server) MfaTotpEnroll(ctx context.Context, _ gen.MfaTotpEnrollRequestObject) (gen.MfaTotpEnrollResponseObject, error) {
	if s.sealer == nil {
		return nil, totpUnavailable()
	}
	p := auth.PrincipalFromContext(ctx)
	if err := s.checkRecentProof(p.Session); err != nil {
		return nil, err
	}
	enrolment, err := mfa.NewTOTP(totpIssuer, p.User.Email)
	if err != nil {
		return nil, envelope.Internal("%w", err)
	}
	now := s.now()
	expires := now.Add(TOTPEnrolmentLifetime)
	n, err := s.q.StartTOTPEnrolment(ctx, db.StartTOTPEnrolmentParams{UserID: p.User.ID,
		SealedSecret: s.sealer.Seal([]byte(enrolment.Secret), totpBinding(p.User.ID)), Now: now, ExpiresAt: &expires, SessionID: &p.Session.ID})
	if err != nil {
		return nil, envelope.Internal("store a TOTP enrolment of user %d: %w", p.User.ID, err)
	}
	if n == 0 {
		return nil, &envelope.Error{Status: gen.StatusInvalidParam, Message: "An authenticator app is set up already: turn it off first (mfa/totp_disable)."}
	}
	return gen.MfaTotpEnroll200JSONResponse{NewTOTPSecretJSONResponse: gen.NewTOTPSecretJSONResponse{
		Status: gen.TOTPEnrolmentResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: gen.TOTPEnrolment{Secret: enrolment.Secret, OtpauthUri: enrolment.URI, QrPng: enrolment.QRPNG,
			Digits: mfa.TOTPDigits, Period: int(mfa.TOTPPeriod / time.Second), ExpiresAt: expires},
		Session: envelope.CallerSession(ctx),
	}}, nil
}

// MfaTotpConfirm confirms the pending TOTP secret that the caller's session began with its first
// code; each code takes one of the enrolment's TOTPEnrolmentTries before it is checked. Answers:
// mfa-method-unavailable, permission-denied (no recent proof), invalid-param (no pending
// enrolment of this session, or its tries used up), invalid-code.
func (s *Server) MfaTotpConfirm(ctx context.Context, r gen.MfaTotpConfirmRequestObject) (gen.MfaTotpConfirmResponseObject, error) {
	in, err := params.Sensitive[gen.MfaTotpConfirmInput](r.Body)
	if err != nil {
		return nil, err
	}
	if s.sealer == nil {
		return nil, totpUnavailable()
	}
	p := auth.PrincipalFromContext(ctx)
	if err := s.checkRecentProof(p.Session); err != nil {
		return nil, err
	}
	now := s.now()
	row, err := s.q.TakeTOTPEnrolmentTry(ctx, db.TakeTOTPEnrolmentTryParams{UserID: p.User.ID, SessionID: &p.Session.ID, Now: &now, MaxTries: TOTPEnrolmentTries})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, noPendingTOTP()
	}
	if err != nil {
		return nil, envelope.Internal("take a try at the TOTP enrolment of user %d: %w", p.User.ID, err)
	}
	step, err := s.matchTOTP(row, p.User.ID, in.Code, now)
	if err != nil {
		return nil, err // a wrong code: the try stays
	}
	change, err := s.addFactor(ctx, p, gen.MethodOtp, in.View, factorAddedNotice(ctx, p.Application, "An authenticator app"), func(q *db.Queries) (audit.Event, factorUse, error) {
		n, err := q.ConfirmTOTP(ctx, db.ConfirmTOTPParams{UserID: p.User.ID, SessionID: &p.Session.ID, Step: &step, Now: &now, SealedSecret: row.SealedSecret})
		if err != nil {
			return audit.Event{}, factorUse{}, fmt.Errorf("confirm the TOTP of user %d: %w", p.User.ID, err)
		}
		if n == 0 { // confirmed, replaced or expired meanwhile
			return audit.Event{}, factorUse{}, noPendingTOTP()
		}
		// The app is not recorded on the session (totp_id): it made the app rather than stood on
		// it, and ends with it by its methods (otp).
		return mfaEvent(p, gen.AuditMfaTotpEnrolled, gen.AuditDetails{SessionId: &p.Session.ID}), factorUse{}, nil
	})
	if err != nil {
		return nil, err
	}
	return gen.MfaTotpConfirm200JSONResponse{FactorsChangedJSONResponse: gen.FactorsChangedJSONResponse(s.changeResult(change))}, nil
}

// noPendingTOTP is the answer of a confirmation that finds nothing to confirm for its session.
func noPendingTOTP() error {
	return envelope.Param(gen.StatusInvalidParam, "code", fmt.Sprintf(
		"no authenticator app is waiting for a first code from this session (none was set up by it, it expired, or %d codes were tried): "+
			"start again with mfa/totp_enroll", TOTPEnrolmentTries))
}

// MfaTotpDisable removes the user's TOTP, proven again by a code or the password. In the same
// transaction it ends the sessions that proved a code of it (removeFactor, endFactorSessions),
// the caller's too when it is one of them. Answers: missing-param (neither), invalid-param (no
// TOTP), invalid-code, invalid-password, user-has-no-password, rate-limited,
// mfa-method-unavailable (a code without the key).
func (s *Server) MfaTotpDisable(ctx context.Context, r gen.MfaTotpDisableRequestObject) (gen.MfaTotpDisableResponseObject, error) {
	in, err := params.Sensitive[gen.MfaTotpDisableInput](r.Body)
	if err != nil {
		return nil, err
	}
	p := auth.PrincipalFromContext(ctx)
	client := factorClient(ctx, p, in.DeviceToken, gen.MethodOtp)
	row, err := s.confirmedTOTP(ctx, p.User.ID)
	if err != nil {
		return nil, err
	}
	switch {
	case in.Code != nil:
		err = s.useTOTPCode(ctx, row, p, *in.Code, client)
	case in.Password != nil:
		// A code proves the factor itself; the password proves only the first, so it takes a
		// recent proof too: a stale token and a known password would otherwise turn the app off
		// and leave the password alone to sign in (and enrol its holder's app).
		if err = s.checkRecentProof(p.Session); err == nil {
			err = s.reprovePassword(ctx, p, *in.Password, client)
		}
	default:
		err = envelope.Param(gen.StatusMissingParam, "code", "is required, unless password is given")
	}
	if err != nil {
		return nil, err
	}
	notice := factorRemovedNotice(ctx, p.Application, "The authenticator app")
	change, err := s.removeFactor(ctx, p, in.View, true, notice, factorUse{totpSecret: row.SealedSecret, totpID: &row.ID, totpMadeBy: row.MadeBy}, func(q *db.Queries) ([]audit.Event, error) {
		n, err := q.DeleteConfirmedTOTP(ctx, db.DeleteConfirmedTOTPParams{UserID: p.User.ID, SealedSecret: row.SealedSecret})
		if err != nil {
			return nil, fmt.Errorf("delete the TOTP of user %d: %w", p.User.ID, err)
		}
		if n == 0 { // a concurrent disable removed the app checked first (another may stand now): this one changed nothing
			return nil, noTOTP()
		}
		return []audit.Event{mfaEvent(p, gen.AuditMfaTotpDisabled, gen.AuditDetails{})}, nil
	})
	if err != nil {
		return nil, err
	}
	return gen.MfaTotpDisable200JSONResponse{FactorsChangedJSONResponse: gen.FactorsChangedJSONResponse(s.changeResult(change))}, nil
}

// confirmedTOTP reads the user's confirmed TOTP. Answers: invalid-param on code (none set up).
func (s *Server) confirmedTOTP(ctx context.Context, userID int64) (db.TotpSecret, error) {
	row, err := s.q.GetTOTP(ctx, userID)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && row.ConfirmedAt == nil) {
		return row, noTOTP()
	}
	if err != nil {
		return row, envelope.Internal("read the TOTP of user %d: %w", userID, err)
	}
	return row, nil
}

// noTOTP is the answer of a use of the authenticator app by a user who has none (confirmed).
func noTOTP() error {
	return envelope.Param(gen.StatusInvalidParam, "code", "no authenticator app is set up")
}

// factorClient is who a second factor checked on the caller's session pays its guess as: a
// complete session of the account is a caller the account knows, with an allowance of its own
// (as for its passwords: reprovePassword), so that whoever holds the password alone and spends
// the strangers' share with wrong codes cannot keep the owner's own session from proving her
// again; a limited session (one factor proven) is what the account knows of its device or
// address, else a stranger. A code of the app (proof otp) is the one proof that can be guessed:
// its allowance is the session's own only when the session proved a code itself (ownAllowance).
func factorClient(ctx context.Context, p *auth.Principal, deviceToken *string, proof gen.SessionMethod) limits.Client {
	client := limits.Client{Peer: peer.FromContext(ctx), DeviceToken: deref(deviceToken)}
	if auth.Limitation(p.Session.Aal, *p.User, p.Application) == "" {
		client.Session = p.Session.ID.String()
		if proof == gen.MethodOtp {
			client.Session = ownAllowance(p.Session, proof)
		}
	}
	return client
}

// ownAllowance names the allowance (limits.Client.Session) from which a complete session pays
// its guesses at a proof that can be guessed (method: pwd, the password; otp, a code of the
// app): the session's own when the session proved that very proof itself (strangers cannot
// spend it, and its guesses are no search: it knew the answer), else one shared by every
// session of the user that did not. A copy of a passkey opens a session at each of its sign-ins
// (30 per window); one allowance each would multiply its guesses at the password or the app
// (review 17: 10 passwords per session, 300 per window from one address). The cost: the owner's
// own sessions that proved neither (a passkey sign-in) share that allowance with the thief's,
// and a session that proved it (her password, a code) keeps hers.
func ownAllowance(session *db.Session, method gen.SessionMethod) string {
	if slices.Contains(session.Methods, string(method)) {
		return session.ID.String()
	}
	return "user:" + strconv.FormatInt(session.UserID, 10) + ":" + string(method)
}

// reprovePassword checks the caller's user's password again, for the removal of a second
// factor, counted like a sign-in's before it is checked. Answers: invalid-password,
// user-has-no-password, rate-limited.
func (s *Server) reprovePassword(ctx context.Context, p *auth.Principal, plain string, client limits.Client) error {
	client.Session = ownAllowance(p.Session, gen.MethodPwd) // strangers cannot spend it
	_, try, err := s.checkPassword(ctx, p.User.Email, plain, client)
	if err == nil {
		s.settle(ctx, try, nil) // the password is proven: no guess
	}
	return err
}

// MfaTotpVerify completes a second factor on the caller's session with a TOTP code, only while
// the app whose code it checked is still the user's (completeSecondFactor). Answers:
// invalid-param (no TOTP, or turned off meanwhile), invalid-code, rate-limited,
// mfa-method-unavailable.
func (s *Server) MfaTotpVerify(ctx context.Context, r gen.MfaTotpVerifyRequestObject) (gen.MfaTotpVerifyResponseObject, error) {
	in, err := params.Sensitive[gen.MfaTotpVerifyInput](r.Body)
	if err != nil {
		return nil, err
	}
	p := auth.PrincipalFromContext(ctx)
	client := factorClient(ctx, p, in.DeviceToken, gen.MethodOtp)
	row, err := s.confirmedTOTP(ctx, p.User.ID)
	if err != nil {
		return nil, err
	}
	if err := s.useTOTPCode(ctx, row, p, in.Code, client); err != nil {
		return nil, err
	}
	result, err := s.completeSecondFactor(ctx, p, gen.MethodOtp, factorUse{totpSecret: row.SealedSecret}, client, in.View)
	if err != nil {
		return nil, err
	}
	return gen.MfaTotpVerify200JSONResponse{SecondFactorSessionJSONResponse: gen.SecondFactorSessionJSONResponse(result)}, nil
}

// MfaRecoveryCodeVerify completes a second factor with a recovery code, which it uses up.
// Answers: invalid-code, rate-limited.
func (s *Server) MfaRecoveryCodeVerify(ctx context.Context, r gen.MfaRecoveryCodeVerifyRequestObject) (gen.MfaRecoveryCodeVerifyResponseObject, error) {
	in, err := params.Sensitive[gen.MfaRecoveryCodeVerifyInput](r.Body)
	if err != nil {
		return nil, err
	}
	p := auth.PrincipalFromContext(ctx)
	client := factorClient(ctx, p, in.DeviceToken, gen.MethodRecoveryCode)
	ticket, err := s.limits.AttemptUnguessable(ctx, limits.SecondFactor, p.User.ID, client)
	if err != nil {
		return nil, err
	}
	now := s.now()
	code, err := s.q.UseRecoveryCode(ctx, db.UseRecoveryCodeParams{UserID: p.User.ID, CodeHash: mfa.HashRecoveryCode(p.User.ID, in.Code), Now: &now})
	if errors.Is(err, pgx.ErrNoRows) { // a guess was checked: the use stays
		return nil, s.secondFactorFailed(ctx, p, gen.MethodRecoveryCode, envelope.New(gen.StatusInvalidCode))
	}
	if err != nil {
		return nil, envelope.Internal("use a recovery code of user %d: %w", p.User.ID, err)
	}
	s.giveBack(ctx, ticket)
	result, err := s.completeSecondFactor(ctx, p, gen.MethodRecoveryCode, factorUse{recoveryCodeID: &code}, client, in.View)
	if err != nil {
		return nil, err
	}
	return gen.MfaRecoveryCodeVerify200JSONResponse{SecondFactorSessionJSONResponse: gen.SecondFactorSessionJSONResponse(result)}, nil
}

// MfaRecoveryCodesCreate replaces the user's recovery codes with a new set, answered once.
// Answers: permission-denied (no recent proof), invalid-param (the user has no second factor).
func (s *Server) MfaRecoveryCodesCreate(ctx context.Context, _ gen.MfaRecoveryCodesCreateRequestObject) (gen.MfaRecoveryCodesCreateResponseObject, error) {
	p := auth.PrincipalFromContext(ctx)
	if err := s.checkRecentProof(p.Session); err != nil {
		return nil, err
	}
	var codes []string
	err := s.inTx(ctx, "make recovery codes", func(_ pgx.Tx, q *db.Queries) error {
		enabled, err := lockFactorsOf(ctx, q, p)
		if err != nil {
			return err
		}
		if !enabled {
			return &envelope.Error{Status: gen.StatusInvalidParam, Message: "Recovery codes stand in for a second factor: set up an authenticator app or a passkey first."}
		}
		if codes, err = s.replaceRecoveryCodes(ctx, q, p.User.ID, p.Session.ID); err != nil {
			return err
		}
		if err := s.tellOwner(ctx, q, p.User.ID, recoveryCodesNotice(ctx, p.Application)); err != nil {
			return err
		}
		return audit.Append(ctx, q, s.now(), mfaEvent(p, gen.AuditMfaRecoveryCodesCreated, gen.AuditDetails{}))
	})
	if err != nil {
		return nil, err
	}
	return gen.MfaRecoveryCodesCreate200JSONResponse{NewRecoveryCodesJSONResponse: gen.NewRecoveryCodesJSONResponse{
		Status: gen.RecoveryCodesResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: gen.RecoveryCodes{Codes: codes, CreatedAt: s.now()}, Session: envelope.CallerSession(ctx),
	}}, nil
}

// matchTOTP opens the stored secret and returns the time step whose code is code; invalid-code
// when none is.
func (s *Server) matchTOTP(row db.TotpSecret, userID int64, code string, now time.Time) (int64, error) {
	if s.sealer == nil {
		return 0, totpUnavailable()
	}
	secret, err := s.sealer.Open(row.SealedSecret, totpBinding(userID))
	if err != nil {
		return 0, envelope.Internal("open the TOTP secret of user %d (is PLANOAUTH_MFA_KEY the key it was sealed with?): %w", userID, err)
	}
	step, ok, err := mfa.MatchTOTP(string(secret), code, now)
	if err != nil {
		return 0, envelope.Internal("%w", err)
	}
	if !ok {
		return 0, envelope.New(gen.StatusInvalidCode)
	}
	return step, nil
}

// useTOTPCode checks a code of the caller's user's confirmed TOTP (row, as read before), counted
// before it is checked and given back when it is right, and uses up its time step on that app.
// Answers: invalid-code (wrong, or its step was used: a replay; recorded as mfa.failed),
// invalid-param on code (the app was turned off, or replaced, during the check),
// rate-limited, mfa-method-unavailable.
func (s *Server) useTOTPCode(ctx context.Context, row db.TotpSecret, p *auth.Principal, code string, client limits.Client) error {
	if s.sealer == nil {
		return totpUnavailable()
	}
	userID := p.User.ID
	ticket, err := s.limits.Attempt(ctx, limits.SecondFactor, userID, client)
	if err != nil {
		return err
	}
	now := s.now()
	step, err := s.matchTOTP(row, userID, code, now)
	if err != nil {
		return s.secondFactorFailed(ctx, p, gen.MethodOtp, err) // a wrong code was a guess: the use stays
	}
	n, err := s.q.UseTOTPStep(ctx, db.UseTOTPStepParams{UserID: userID, SealedSecret: row.SealedSecret, Step: &step, Now: &now})
	if err != nil {
		return envelope.Internal("use a TOTP step of user %d: %w", userID, err)
	}
	if n == 0 {
		return s.stepNotUsed(ctx, p, row, ticket)
	}
	s.giveBack(ctx, ticket)
	return nil
}

// stepNotUsed is the answer of a code that matched the app of row but whose step UseTOTPStep did not
// take: invalid-param on code, as a code after the removal answers, when that app is no longer
// the user's confirmed one (turned off, or replaced, during the check: the code was right, so its
// use is given back); else invalid-code, its step used already (a replay, recorded as
// mfa.failed; the use stays).
func (s *Server) stepNotUsed(ctx context.Context, p *auth.Principal, row db.TotpSecret, ticket limits.Ticket) error {
	current, err := s.q.GetTOTP(ctx, p.User.ID)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return envelope.Internal("read the TOTP of user %d: %w", p.User.ID, err)
	}
	if err != nil || current.ConfirmedAt == nil || !bytes.Equal(current.SealedSecret, row.SealedSecret) {
		s.giveBack(ctx, ticket)
		return noTOTP()
	}
	return s.secondFactorFailed(ctx, p, gen.MethodOtp, envelope.New(gen.StatusInvalidCode))
}

// totpBinding is the associated data a user's TOTP secret is sealed with: moved to another
// user's row, it does not open.
func totpBinding(userID int64) []byte { return []byte("totp:" + strconv.FormatInt(userID, 10)) }

func totpUnavailable() error {
	return &envelope.Error{Status: gen.StatusMfaMethodUnavailable,
		Message: "Authenticator apps are not available on this server: it has no PLANOAUTH_MFA_KEY."}
}

// factorChange is what adding or removing a factor answers.
type factorChange struct {
	factors       gen.MFAFactors
	recoveryCodes []string // new, when a first factor was added
	session       gen.Session
	caller        *gen.Session
	sessionEnded  bool // the change ended the caller's session (it used the factor removed)
}

// addFactor runs add (which stores a confirmed factor and returns what the session records of
// it, see factorUse) in one transaction with what follows it: the user's mfa_enabled, and, when
// it is the user's first second factor, a new set of recovery codes, the caller's session made
// aal2 with method (it proved its first factor, and the new one, so the new one's removal ends
// it), and every caller the account knew forgotten but this one, trusted afresh (a new
// device token): devices and addresses that only ever proved the password must get no
// allowance of their own for guessing the new factor's codes. A session that was limited (an
// enrolment-only session) thereby completes its sign-in. The owner is told (n, tellOwner): a
// factor added by whoever holds the password alone would lock her out.
func (s *Server) addFactor(ctx context.Context, p *auth.Principal, method gen.SessionMethod, view *gen.SessionView, n notice,
	add func(q *db.Queries) (audit.Event, factorUse, error)) (factorChange, error) {
	var change factorChange
	session := *p.Session
	var deviceToken string
	err := s.inTx(ctx, "add a second factor", func(_ pgx.Tx, q *db.Queries) error {
		had, err := lockFactorsOf(ctx, q, p)
		if err != nil {
			return err
		}
		if had && p.Session.Aal != string(gen.AAL2) {
			// The user's first factor committed after this request was admitted (it waited on
			// the row): the session is limited now, as the next request would be told.
			_, caller := s.renderCaller(ctx, p, *p.Session, "", nil)
			return &envelope.Error{Status: gen.StatusMfaRequired, Session: caller, Data: caller}
		}
		added, used, err := add(q)
		if err != nil {
			return err
		}
		if _, err := q.RefreshUserMFA(ctx, p.User.ID); err != nil {
			return fmt.Errorf("record the second factor of user %d: %w", p.User.ID, err)
		}
		events := []audit.Event{added}
		if !had {
			if change.recoveryCodes, err = s.replaceRecoveryCodes(ctx, q, p.User.ID, p.Session.ID); err != nil {
				return err
			}
			if session, err = s.recordFactor(ctx, q, p, method, used); err != nil {
				return err
			}
			if err := limits.Forget(ctx, q, p.User.ID); err != nil {
				return err
			}
			if deviceToken, err = s.limits.Trust(ctx, q, p.User.ID, p.Session.ID, limits.Credential(string(method), nil), limits.Client{Peer: peer.FromContext(ctx)}); err != nil {
				return err
			}
			events = append(events, mfaEvent(p, gen.AuditMfaRecoveryCodesCreated, gen.AuditDetails{}),
				mfaEvent(p, gen.AuditMfaVerified, gen.AuditDetails{Factor: &method, SessionId: &session.ID}))
		}
		if change.factors, err = s.factors(ctx, q, p, session.Aal); err != nil {
			return err
		}
		if err := s.tellOwner(ctx, q, p.User.ID, n); err != nil {
			return err
		}
		return audit.Append(ctx, q, s.now(), events...)
	})
	if err != nil {
		return factorChange{}, err
	}
	s.sessions.ForgetUser(p.User.ID) // its sessions' limitation changed; NOTIFY tells the others
	change.session, change.caller = s.renderCaller(ctx, p, session, deviceToken, view)
	return change, nil
}

// removeFactor runs remove in one transaction with what follows it: the user's mfa_enabled, and
// its recovery codes when no second factor is left. Whether it was the last is judged in that
// transaction, after the user's row is locked: a removal that would leave none without
// lastProven (a code or the password checked) answers missing-param on password, so that
// concurrent removals of "one of two" cannot take both without it. The sessions that stood on
// the factor removed (used) end with it (endFactorSessions). The owner is told (n, tellOwner).
// remove returns the events of what it did, appended last with those of the sessions ended.
func (s *Server) removeFactor(ctx context.Context, p *auth.Principal, view *gen.SessionView, lastProven bool, n notice, used factorUse,
	remove func(q *db.Queries) ([]audit.Event, error)) (factorChange, error) {
	var change factorChange
	err := s.inTx(ctx, "remove a second factor", func(_ pgx.Tx, q *db.Queries) error {
		if _, err := lockFactorsOf(ctx, q, p); err != nil {
			return err
		}
		removed, err := remove(q)
		if err != nil {
			return err
		}
		ended, err := s.endFactorSessions(ctx, q, p, used)
		if err != nil {
			return err
		}
		change.sessionEnded = ended.caller
		enabled, err := q.RefreshUserMFA(ctx, p.User.ID)
		if err != nil {
			return fmt.Errorf("record the second factors of user %d: %w", p.User.ID, err)
		}
		if !enabled && !lastProven {
			return lastFactorNeedsPassword(p.User)
		}
		if !enabled {
			if err := q.DeleteRecoveryCodes(ctx, p.User.ID); err != nil {
				return fmt.Errorf("delete the recovery codes of user %d: %w", p.User.ID, err)
			}
		}
		if change.factors, err = s.factors(ctx, q, p, p.Session.Aal); err != nil {
			return err
		}
		if err := s.tellOwner(ctx, q, p.User.ID, n); err != nil {
			return err
		}
		return audit.Append(ctx, q, s.now(), append(removed, ended.events...)...)
	})
	if err != nil {
		return factorChange{}, err
	}
	s.sessions.ForgetUser(p.User.ID)
	change.session, change.caller = s.renderCaller(ctx, p, *p.Session, "", view)
	return change, nil
}

// factorUse is the second factor a proof used, as the session it opens or upgrades records it
// and as the factor's removal finds the sessions that stand on it: a passkey (its id, in
// sessions.passkey_ids), the authenticator app (the sealed secret its code was checked against,
// and for its removal the app's id and the session that set it up: DerivedSessions), or a
// recovery code (its row, used up as it is checked: the session records who made its set). The
// session that registered the user's first passkey records it (addFactor) and ends with it, as
// the one that set up a first app, by its methods, ends with the app; both made their factor
// rather than stood on it (passkeyMadeBy, totpMadeBy: DerivedSessions). The zero value is none.
type factorUse struct {
	passkeyID      *int64
	passkeyMadeBy  *uuid.UUID
	totpSecret     []byte
	totpID         *int64
	totpMadeBy     *uuid.UUID
	recoveryCodeID *int64
}

// held reports whether the proof used a factor that a removal may take away meanwhile.
func (u factorUse) held() bool {
	return u.passkeyID != nil || u.totpSecret != nil || u.recoveryCodeID != nil
}

// endedSessions is what endFactorSessions did: the events of the sessions it revoked, and
// whether the caller's session was one of them.
type endedSessions struct {
	events []audit.Event
	caller bool
}

// endFactorSessions revokes, in q's transaction and after the factor's removal, the sessions of
// the caller's user whose trust came from it (used): whoever holds a copy of a passkey (a synced
// one on a lost device) or codes of the app (phished, or its own app's) loses what they opened or
// completed, as a password change ends the sessions made from the password. The caller's
// session is one of them when it used the factor: a session may not saw off the proof it stands
// on and go on. What those sessions made goes too (derived trust: removeDerived), and with it
// the sessions that stood on that, transitively. The devices of every session whose trust came
// from the factor (ended now, or logged out before) are strangers again, and the addresses they
// last signed in from but the caller's (limits.ForgetEnded): whoever holds the copy keeps no
// allowance of its own for guessing the password or asking for links. It returns the events of
// what it removed and revoked; NOTIFY (sessions_notify) drops the sessions from every instance's
// cache, removeFactor from this one's.
func (s *Server) endFactorSessions(ctx context.Context, q *db.Queries, p *auth.Principal, used factorUse) (endedSessions, error) {
	userID := p.User.ID
	derived, err := q.DerivedSessions(ctx, db.DerivedSessionsParams{UserID: userID, PasskeyID: used.passkeyID,
		PasskeyMadeBy: used.passkeyMadeBy, TotpID: used.totpID, TotpMadeBy: used.totpMadeBy})
	if err != nil {
		return endedSessions{}, fmt.Errorf("find the sessions of a second factor of user %d: %w", userID, err)
	}
	var out endedSessions
	if out.events, err = s.removeDerived(ctx, q, p, derived); err != nil {
		return endedSessions{}, err
	}
	now := s.now()
	arg := db.RevokeFactorSessionsParams{UserID: userID, Now: &now, PasskeyID: used.passkeyID}
	if used.totpSecret != nil {
		otp := string(gen.MethodOtp)
		arg.Method = &otp
	}
	direct, err := q.RevokeFactorSessions(ctx, arg)
	if err != nil {
		return endedSessions{}, fmt.Errorf("revoke the sessions of a second factor of user %d: %w", userID, err)
	}
	transitive, err := q.RevokeSessionsByID(ctx, db.RevokeSessionsByIDParams{UserID: userID, Now: &now, Ids: derived})
	if err != nil {
		return endedSessions{}, fmt.Errorf("revoke the sessions derived from a second factor of user %d: %w", userID, err)
	}
	ended := slices.Clone(derived)
	var apps []int64
	for _, row := range direct {
		ended, apps = append(ended, row.ID), append(apps, row.ApplicationID)
		out.caller = out.caller || row.ID == p.Session.ID
	}
	for _, row := range transitive {
		apps = append(apps, row.ApplicationID)
		out.caller = out.caller || row.ID == p.Session.ID
	}
	if err := limits.ForgetEnded(ctx, q, peer.FromContext(ctx), userID, ended); err != nil {
		return endedSessions{}, err
	}
	if len(apps) > 0 {
		out.events = append(out.events, audit.SessionsRevoked(audit.User(userID), userID, apps)...)
	}
	return out, nil
}

// removeDerived removes, in q's transaction, the passkeys, the authenticator app and the
// recovery codes that the sessions derived made (their trust came from a factor being removed,
// DerivedSessions), and returns an event for each, naming the session that made it.
func (s *Server) removeDerived(ctx context.Context, q *db.Queries, p *auth.Principal, derived []uuid.UUID) ([]audit.Event, error) {
	if len(derived) == 0 {
		return nil, nil
	}
	userID := p.User.ID
	passkeys, err := q.DeleteMadePasskeys(ctx, db.DeleteMadePasskeysParams{UserID: userID, Sessions: derived})
	if err != nil {
		return nil, fmt.Errorf("remove the passkeys derived sessions of user %d made: %w", userID, err)
	}
	var events []audit.Event
	for _, pk := range passkeys {
		events = append(events, mfaEvent(p, gen.AuditMfaPasskeyRemoved, gen.AuditDetails{PasskeyId: &pk.ID, SessionId: pk.MadeBy}))
	}
	apps, err := q.DeleteMadeTOTP(ctx, db.DeleteMadeTOTPParams{UserID: userID, Sessions: derived})
	if err != nil {
		return nil, fmt.Errorf("remove the app a derived session of user %d set up: %w", userID, err)
	}
	for _, by := range apps {
		events = append(events, mfaEvent(p, gen.AuditMfaTotpDisabled, gen.AuditDetails{SessionId: by}))
	}
	sets, err := q.DeleteMadeRecoveryCodes(ctx, db.DeleteMadeRecoveryCodesParams{UserID: userID, Sessions: derived})
	if err != nil {
		return nil, fmt.Errorf("remove the recovery codes derived sessions of user %d made: %w", userID, err)
	}
	for _, by := range sets {
		events = append(events, mfaEvent(p, gen.AuditMfaRecoveryCodesRemoved, gen.AuditDetails{SessionId: by}))
	}
	return events, nil
}

// lockFactorsOf locks the caller's user's row for a change of its second factors or recovery
// codes, or for a sign-out (revokeOwnSessions), and reports whether it had a second factor
// (LockUserMFA). The caller's session must still be live then: a change that waited for the row
// may have waited for one that ended the session (a passkey's removal ends the sessions that used
// it, the app's those that proved a code of it, a password change the others, a sign-out those it
// names, in the transaction that holds the row), and a session ended must not change the factors,
// or end sessions, after the owner was answered. Answers: invalid-token.
func lockFactorsOf(ctx context.Context, q *db.Queries, p *auth.Principal) (bool, error) {
	had, err := q.LockUserMFA(ctx, p.User.ID)
	if err != nil {
		return false, fmt.Errorf("lock user %d: %w", p.User.ID, err)
	}
	if err := stillLive(ctx, q, p.Session.ID); err != nil {
		return false, err
	}
	return had, nil
}

// stillLive answers invalid-token when the session was revoked (or is gone) as q's transaction
// sees it now: after a lock that made it wait for a change that may have ended the session.
func stillLive(ctx context.Context, q *db.Queries, id uuid.UUID) error {
	live, err := q.IsSessionLive(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && !live {
		return envelope.New(gen.StatusInvalidToken)
	}
	if err != nil {
		return fmt.Errorf("read session %s: %w", id, err)
	}
	return nil
}

// replaceRecoveryCodes stores a new set of recovery codes (their hashes), made by the session
// madeBy (derived trust: DerivedSessions), in place of the old and returns them, to be shown once.
func (s *Server) replaceRecoveryCodes(ctx context.Context, q *db.Queries, userID int64, madeBy uuid.UUID) ([]string, error) {
	codes := mfa.NewRecoveryCodes()
	hashes := make([][]byte, len(codes))
	for i, code := range codes {
		hashes[i] = mfa.HashRecoveryCode(userID, code)
	}
	if err := q.DeleteRecoveryCodes(ctx, userID); err != nil {
		return nil, fmt.Errorf("delete the recovery codes of user %d: %w", userID, err)
	}
	if err := q.CreateRecoveryCodes(ctx, db.CreateRecoveryCodesParams{UserID: userID, CodeHashes: hashes, Now: s.now(), MadeBy: madeBy}); err != nil {
		return nil, fmt.Errorf("store the recovery codes of user %d: %w", userID, err)
	}
	return codes, nil
}

// dropSecondFactors removes every second factor of a user and its recovery codes, in q's
// transaction, and reports whether it had one: the first proof of an email takes back what the
// unverified account set up (a squatter's authenticator app would otherwise stand between the
// owner and its account).
func dropSecondFactors(ctx context.Context, q *db.Queries, userID int64) (bool, error) {
	had, err := q.LockUserMFA(ctx, userID)
	if err != nil {
		return false, fmt.Errorf("lock user %d: %w", userID, err)
	}
	if _, err := q.DeleteTOTP(ctx, userID); err != nil {
		return false, fmt.Errorf("delete the TOTP of user %d: %w", userID, err)
	}
	if err := q.DeleteUserPasskeys(ctx, userID); err != nil {
		return false, fmt.Errorf("delete the passkeys of user %d: %w", userID, err)
	}
	if err := q.DeleteRecoveryCodes(ctx, userID); err != nil {
		return false, fmt.Errorf("delete the recovery codes of user %d: %w", userID, err)
	}
	if _, err := q.RefreshUserMFA(ctx, userID); err != nil {
		return false, fmt.Errorf("record the second factors of user %d: %w", userID, err)
	}
	return had, nil
}

// completeSecondFactor makes the caller's session aal2 with method, the second factor just
// checked (used: the passkey or app, when it was one), and answers it as it is now. When the
// session was limited (mfa-required), this completes its sign-in: the caller gets a device
// token and its address becomes known, as a sign-in's does. Answers: invalid-token (the session
// was revoked meanwhile), invalid-passkey (the passkey was removed meanwhile), invalid-param
// on code (the app was turned off meanwhile).
func (s *Server) completeSecondFactor(ctx context.Context, p *auth.Principal, method gen.SessionMethod, used factorUse, client limits.Client, view *gen.SessionView) (gen.SessionResult, error) {
	var session db.Session
	var deviceToken string
	err := s.inTx(ctx, "complete a second factor", func(_ pgx.Tx, q *db.Queries) error {
		var err error
		if session, deviceToken, err = s.upgradeSession(ctx, q, p, method, used, client); err != nil {
			return err
		}
		return audit.Append(ctx, q, s.now(), mfaEvent(p, gen.AuditMfaVerified, gen.AuditDetails{Factor: &method, SessionId: &session.ID}))
	})
	if err != nil {
		return gen.SessionResult{}, err
	}
	s.sessions.ForgetUser(p.User.ID) // its next request must see aal2, and remember_me if its wish was applied
	data, caller := s.renderCaller(ctx, p, session, deviceToken, view)
	return gen.SessionResult{Status: gen.SessionResultStatusActionSuccessful,
		Message: s.writer.Message(gen.StatusActionSuccessful), Data: data, Session: caller}, nil
}

// upgradeSession records a second factor on the caller's session, in q's transaction, and
// trusts the caller (a device token, its address known) when the session was limited.
func (s *Server) upgradeSession(ctx context.Context, q *db.Queries, p *auth.Principal, method gen.SessionMethod, used factorUse, client limits.Client) (db.Session, string, error) {
	// The user's row before the session's, whatever the factor (a recovery code too), and as
	// strongly as this transaction will lock it later (a remember_me wish is written to it): a
	// sign-out, a password change or a factor's removal takes the row and then revokes sessions,
	// and would deadlock with a second factor that took the row after its session, or took it
	// weakly (key share) and then wrote it.
	hold := q.HoldUserCredentials
	if p.Session.RememberMeWish != nil {
		hold = q.HoldUserForWish
	}
	if err := hold(ctx, p.User.ID); err != nil {
		return db.Session{}, "", fmt.Errorf("hold user %d: %w", p.User.ID, err)
	}
	session, err := s.recordFactor(ctx, q, p, method, used)
	if err != nil || auth.Limitation(p.Session.Aal, *p.User, p.Application) == "" {
		return session, "", err
	}
	deviceToken, err := s.limits.Trust(ctx, q, p.User.ID, p.Session.ID, limits.Credential(string(method), used.passkeyID), client)
	return session, deviceToken, err
}

// recordFactor records a second factor proven now on the caller's session, in q's transaction:
// aal2, the method, and proved_at (a recent proof from then on); a session whose sign-in it
// completes gets the remember_me that sign-in asked for (applyRememberWish: only such a session
// has one). A passkey checked is recorded with it, so that its removal ends the session (the
// app's removal ends the sessions whose methods name otp); and the factor used is recorded only
// while the user still has it: the caller holds the user's row first (upgradeSession; a change
// of factors locked it), so that a removal committed since the check is
// seen, and one that comes later sees this upgrade. Answers: invalid-token (the session was
// revoked meanwhile), invalid-passkey (the passkey was removed), invalid-param on code (the app
// was turned off or replaced).
func (s *Server) recordFactor(ctx context.Context, q *db.Queries, p *auth.Principal, method gen.SessionMethod, used factorUse) (db.Session, error) {
	session, err := q.UpgradeSession(ctx, db.UpgradeSessionParams{ID: p.Session.ID, Method: string(method), Now: s.now(),
		PasskeyID: used.passkeyID, TotpSecret: used.totpSecret, RecoveryCodeID: used.recoveryCodeID})
	if errors.Is(err, pgx.ErrNoRows) {
		return session, s.notUpgraded(ctx, q, p.Session.ID, used)
	}
	if err != nil {
		return session, fmt.Errorf("record a second factor on session %s: %w", p.Session.ID, err)
	}
	return s.applyRememberWish(ctx, q, session, p.Application)
}

// notUpgraded is the answer of a second factor that UpgradeSession did not record: invalid-token
// when the session was revoked meanwhile (logged out), else invalid-passkey (its passkey was
// removed after it was checked), invalid-code for a recovery code whose set was replaced or
// removed meanwhile, or, for a code of the app, what a code of an app turned off answers.
func (s *Server) notUpgraded(ctx context.Context, q *db.Queries, sessionID uuid.UUID, used factorUse) error {
	if !used.held() {
		return envelope.New(gen.StatusInvalidToken)
	}
	if err := stillLive(ctx, q, sessionID); err != nil {
		return err
	}
	if used.recoveryCodeID != nil {
		return envelope.New(gen.StatusInvalidCode) // its set was replaced (or removed) during the check
	}
	if used.passkeyID == nil {
		return noTOTP() // turned off (or replaced) during the check
	}
	return s.passkeyRefused(ctx, fmt.Errorf("%w: passkey %d was removed during the check", mfa.ErrPasskey, *used.passkeyID))
}

// lastFactorNeedsPassword is the refusal of a removal that would leave the user no second factor
// without the password: missing-param, or user-has-no-password for a user who has none.
func lastFactorNeedsPassword(user *db.User) error {
	if !hasPassword(user.PasswordHash) {
		return &envelope.Error{Status: gen.StatusUserHasNoPassword,
			Message: "This removal leaves you no second factor (what was added from sessions that used it goes with it): it takes your password, and you have none. Set one first (users/password_update)."}
	}
	return envelope.Param(gen.StatusMissingParam, "password", "is required: this removal leaves you no second factor")
}

// renderCaller renders the caller's session as it is now: for data, with its user, a device
// token just issued, and the views asked (view, or session_view, and application_view); and for
// the answer's session, as every answer to a session token shows it.
func (s *Server) renderCaller(ctx context.Context, p *auth.Principal, session db.Session, deviceToken string, view *gen.SessionView) (data gen.Session, caller *gen.Session) {
	common := params.CommonFromContext(ctx)
	v := sessionView(session, p.Application, p.User)
	v.DeviceToken = deviceToken
	current := &auth.Principal{Application: p.Application, Session: &session, User: p.User}
	return views.RenderSession(v, chooseSessionView(common.SessionView, view), common.ApplicationView),
		CallerSession(current, common.SessionView, common.ApplicationView)
}

// changeResult is the answer of an added or removed factor.
func (s *Server) changeResult(c factorChange) gen.MFAChangeResult {
	out := gen.MFAChangeResult{Status: gen.MFAChangeResultStatusActionSuccessful, Message: s.writer.Message(gen.StatusActionSuccessful),
		Data: gen.MFAChange{Factors: c.factors, Session: c.session}, Session: c.caller}
	if c.recoveryCodes != nil {
		codes := gen.RecoveryCodeList(c.recoveryCodes)
		out.Data.RecoveryCodes = &codes
	}
	if c.sessionEnded {
		out.Data.SessionEnded = &c.sessionEnded
	}
	return out
}

// mfaEvent is an event about the caller's own second factors, in its session's application.
func mfaEvent(p *auth.Principal, kind gen.AuditKind, details gen.AuditDetails) audit.Event {
	return audit.Event{Kind: kind, Actor: audit.User(p.User.ID), UserID: p.User.ID, ApplicationID: p.Application.ID, Details: details}
}

// secondFactorFailed records a refused second factor (mfa.failed: invalid-code or
// invalid-passkey, each counted against the limits) in one statement of its own, and returns the
// refusal as it is. A failure to record it is logged: the caller still gets the refusal.
func (s *Server) secondFactorFailed(ctx context.Context, p *auth.Principal, factor gen.SessionMethod, refusal error) error {
	answer, ok := errors.AsType[*envelope.Error](refusal)
	if !ok || (answer.Status != gen.StatusInvalidCode && answer.Status != gen.StatusInvalidPasskey) {
		return refusal
	}
	reason := gen.LoginFailureReason(answer.Status)
	if err := audit.Append(ctx, s.q, s.now(), mfaEvent(p, gen.AuditMfaFailed, gen.AuditDetails{Factor: &factor, Reason: &reason})); err != nil {
		s.log.ErrorContext(ctx, "record a refused second factor", "error", err)
	}
	return refusal
}

// MFAReset is what ResetSecondFactors did.
type MFAReset struct {
	User            db.User // as it is now
	HadSecondFactor bool
	PasswordDropped bool
	SessionsRevoked int
	Emailed         bool // the owner was told (not while the email is unproven)
}

// MFAResetRequest is what an operator's reset-mfa gives: the account, and who resets it and why.
type MFAResetRequest struct {
	Email        string
	KeepPassword bool
	By, Reason   string // the operator's name and the reason (a support ticket), for the audit trail
	PublicURL    string // where the owner's email links point
}

// Bounds of what an operator types for the trail, the contract's AuditDetails maxLength.
const (
	maxOperatorName   = 100
	maxOperatorReason = 300
)

// check refuses a request that would leave the trail without who and why, or with text that
// could forge lines of a terminal or a log (control characters).
func (r *MFAResetRequest) check() error {
	r.By, r.Reason = strings.TrimSpace(r.By), strings.TrimSpace(r.Reason)
	for _, f := range []struct {
		name, value string
		max         int
	}{{"by", r.By, maxOperatorName}, {"reason", r.Reason, maxOperatorReason}} {
		switch n := utf8.RuneCountInString(f.value); {
		case n == 0:
			return envelope.Param(gen.StatusMissingParam, f.name, "is required: the audit trail records who reset the account and why")
		case n > f.max || !utf8.ValidString(f.value) || strings.ContainsFunc(f.value, unicode.IsControl):
			return envelope.Param(gen.StatusInvalidParam, f.name, fmt.Sprintf("must be at most %d printable characters", f.max))
		}
	}
	return nil
}

// ResetSecondFactors is `planoauth users reset-mfa`: after support verified the owner of the
// account of email out of band (someone who had her password added a factor of its own, or she
// lost hers), it removes, in one transaction, every second factor and recovery code of the user,
// its password unless keepPassword (whoever added a factor knows it: with it kept, they would
// sign in again before the owner), every session, and what the account knew of its callers
// (limits.Forget: the thief's device token and addresses are strangers again); it appends
// mfa.reset_by_operator (and sessions.revoked) and emails the owner (tellOwner, never bounded),
// reopening the notice windows (reopenNotices: what changes next is told at once).
// The owner then signs in with an emailed link or a password reset, at aal1 with no factor to
// complete. now is the clock the outbox worker runs by. Answers email-not-found, and
// invalid-param for a request without the operator's name or reason (the trail must say who
// gave the account back, and why).
func ResetSecondFactors(ctx context.Context, pool *pgxpool.Pool, now time.Time, r MFAResetRequest) (MFAReset, error) {
	var out MFAReset
	if err := r.check(); err != nil {
		return out, err
	}
	email, keepPassword := r.Email, r.KeepPassword
	err := inTx(ctx, pool, "reset the second factors of a user", func(_ pgx.Tx, q *db.Queries) error {
		user, err := q.GetUserByEmail(ctx, emailaddr.Normalize(email))
		if errors.Is(err, pgx.ErrNoRows) {
			return &envelope.Error{Status: gen.StatusEmailNotFound, Message: fmt.Sprintf("no user with email %q", email)}
		}
		if err != nil {
			return fmt.Errorf("look up user: %w", err)
		}
		if out.HadSecondFactor, err = dropSecondFactors(ctx, q, user.ID); err != nil {
			return err
		}
		// Either way credential_version moves: no log-in in flight with the old password, or with
		// a passkey just removed, completes (a kept password, or none, moves it too).
		if out.PasswordDropped = !keepPassword && hasPassword(user.PasswordHash); out.PasswordDropped {
			if err := q.SetNewPassword(ctx, db.SetNewPasswordParams{ID: user.ID}); err != nil {
				return fmt.Errorf("drop the password of user %d: %w", user.ID, err)
			}
		} else if err := q.MoveCredentialVersion(ctx, user.ID); err != nil {
			return fmt.Errorf("move the credential version of user %d: %w", user.ID, err)
		}
		apps, err := q.RevokeUserSessionsInApplications(ctx, db.RevokeUserSessionsInApplicationsParams{UserID: user.ID, Now: &now})
		if err != nil {
			return fmt.Errorf("revoke sessions of user %d: %w", user.ID, err)
		}
		out.SessionsRevoked = len(apps)
		if err := limits.Forget(ctx, q, user.ID); err != nil {
			return err
		}
		if err := reopenNotices(ctx, q, user.Email); err != nil {
			return err
		}
		if out.User, err = q.GetUser(ctx, user.ID); err != nil {
			return fmt.Errorf("read user %d: %w", user.ID, err)
		}
		if out.Emailed, err = tellOwner(ctx, q, now, r.PublicURL, user.ID, factorsResetNotice(out.PasswordDropped)); err != nil {
			return err
		}
		events := []audit.Event{{Kind: gen.AuditMfaResetByOperator, Actor: audit.Operator, UserID: user.ID,
			Details: gen.AuditDetails{Operator: &r.By, OperatorReason: &r.Reason}}}
		if out.PasswordDropped {
			events = append(events, audit.Event{Kind: gen.AuditPasswordDropped, Actor: audit.Operator, UserID: user.ID})
		}
		return audit.Append(ctx, q, now, append(events, audit.SessionsRevoked(audit.Operator, user.ID, apps)...)...)
	})
	return out, err
}
