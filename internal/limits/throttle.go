package limits

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/peer"
)

// Kind is what an attempt at an account asks for; each kind has its Throttle and its counters.
type Kind string

// The kinds of attempt at an account.
const (
	SignIn Kind = "signin" // a password evaluated (and, per address, failed link and Google sign-ins)
	Link   Kind = "link"   // a sign-in link emailed
	Reset  Kind = "reset"  // a password reset emailed
	// SecondFactor is a second-factor code checked (TOTP, recovery code), or a passkey check.
	SecondFactor Kind = "mfa"
)

func (l *Limiter) throttle(kind Kind) Throttle {
	switch kind {
	case Link:
		return l.cfg.Links
	case Reset:
		return l.cfg.Resets
	case SecondFactor:
		return l.cfg.SecondFactors
	}
	return l.cfg.SignIn
}

// Client is who makes an attempt: its address, the device token it presented ("" for none),
// and, for a proof made from a complete session of the account (a password change, a factor's
// removal, a second factor proven again), that session's id: such a session is a caller it knows.
type Client struct {
	Peer        peer.Peer
	DeviceToken string
	Session     string
	// Mailbox is where the attempt's email goes (emailaddr.Mailbox), for the kinds that email
	// (Link, Reset): strangers share one allowance per mailbox too (the kind's PerAccount), so
	// that the accounts of its subaddresses (ada+1@, ada+2@) do not each bring the mailbox a
	// strangers' share of its own (review 19). "" for an attempt that emails nothing.
	Mailbox string
}

// Attempt takes one use for an attempt of kind at the account of userID, before the work (the
// hash, the email). Which allowance pays depends on what the account knows of the client:
//   - a device token the account issued (unexpired): that token's own allowance (PerKnown);
//   - an address the owner signed in from before: that address's own allowance for the
//     account (PerKnown), and the address's allowance (PerAddress);
//   - else, a stranger: the allowance every stranger shares (PerAccount), and the address's.
//
// For a guess at the password, a device token made known by a sign-in that did not prove it
// shares one allowance per user, and such an address is a stranger's (callerKey); a stranger's
// email to c.Mailbox pays the mailbox's strangers' share too (strangers).
//
// So strangers can spend at most PerAccount evaluations per window whatever addresses they
// use, and that spends nothing of what the owner's known clients have. It answers
// rate-limited (Retry-After: the end of the used-up window). Return the ticket when the
// attempt does not count (a right password; the work refused before it began).
func (l *Limiter) Attempt(ctx context.Context, kind Kind, userID int64, c Client) (Ticket, error) {
	return l.attempt(ctx, kind, userID, c, true)
}

// AttemptUnguessable is Attempt for a proof that cannot be guessed (a recovery code's random
// bits, a passkey's signature): a stranger pays from its address's allowance only, never from
// the share every stranger has at the account. That share bounds guessing the proofs that can
// be guessed (a TOTP code); whoever holds the password and spends it with wrong codes must not
// thereby keep the owner, on a device or network the account does not know, from her recovery
// codes and passkeys. Callers the account knows pay as for Attempt.
func (l *Limiter) AttemptUnguessable(ctx context.Context, kind Kind, userID int64, c Client) (Ticket, error) {
	return l.attempt(ctx, kind, userID, c, false)
}

func (l *Limiter) attempt(ctx context.Context, kind Kind, userID int64, c Client, strangersShare bool) (Ticket, error) {
	th := l.throttle(kind)
	k := string(kind)
	key, caller, err := l.callerKey(ctx, k, userID, c)
	if err != nil {
		return Ticket{}, err
	}
	address := rule{addressKey(k, c.Peer), th.PerAddress, th.Window}
	switch {
	case caller == knownDevice:
		return l.take(ctx, rule{key, th.PerKnown, th.Window})
	case caller == knownAddress:
		return l.take(ctx, rule{key, th.PerKnown, th.Window}, address)
	case !strangersShare:
		return l.take(ctx, address)
	}
	return l.take(ctx, append(l.strangers(kind, key, c), address)...)
}

// strangers is the account's side of a stranger's attempt of kind: the share every stranger has
// at the account (key), and, for an email to c.Mailbox, the share every stranger has at that
// mailbox, whichever of its subaddresses' accounts they ask for.
func (l *Limiter) strangers(kind Kind, key string, c Client) []rule {
	th := l.throttle(kind)
	rules := []rule{{key, th.PerAccount, th.Window}}
	if c.Mailbox != "" {
		rules = append(rules, rule{string(kind) + ":mailbox:" + EmailKey(c.Mailbox), th.PerAccount, th.Window})
	}
	return rules
}

// callerKind is what an account knows of a caller.
type callerKind int

const (
	stranger callerKind = iota
	knownDevice
	knownAddress
)

// callerKey is the key of the allowance of kind that c uses at the account of userID: its
// session's when it calls from one of the account's sessions, its device token's when the
// account issued it (unexpired), its address's at the account when the owner signed in from
// there before, else the one every stranger shares.
//
// For a guess at the password (proofKind), a device token or known address has an allowance of
// its own only when the sign-in that made it proved the password (the session it records): a
// copy of a passkey signs in 30 times per window, each with a device token and a known address,
// and one allowance each would multiply its guesses at the password it never proved (review
// 19). Device tokens that a sign-in by any other proof made (a passkey, a link, Google) share
// one per user, as the sessions that did not prove it do (impl's ownAllowance); such an address
// counts as a stranger's, since anyone can call from it (review 20). The cost: the owner's own
// devices that signed in without the password share that allowance with the thief's.
func (l *Limiter) callerKey(ctx context.Context, kind string, userID int64, c Client) (string, callerKind, error) {
	if c.Session != "" {
		// A session of the account, counted as a device is: strangers cannot spend it.
		return kind + ":session:" + c.Session, knownDevice, nil
	}
	c.DeviceToken = wellFormed(c.DeviceToken)
	user := strconv.FormatInt(userID, 10)
	proof := proofKind(kind)
	trust, err := l.q.GetClientTrust(ctx, db.GetClientTrustParams{
		Proof: proof, TokenHash: auth.HashToken(c.DeviceToken), UserID: userID, Now: l.now(), Address: peer.Group(c.Peer.Address),
	})
	if err != nil {
		return "", stranger, envelope.Internal("what user %d knows of the caller: %w", userID, err)
	}
	device := c.DeviceToken != "" && trust.DeviceID != 0
	switch {
	case device && (proof == "" || trust.DeviceProved):
		return kind + ":device:" + strconv.FormatInt(trust.DeviceID, 10), knownDevice, nil
	case trust.KnownAddress && (proof == "" || trust.AddressProved):
		return kind + ":known:" + user + ":" + peer.Group(c.Peer.Address), knownAddress, nil
	case device:
		return unprovenKey(kind, user), knownDevice, nil
	}
	// An address the account knows only from sign-ins that did not prove the password is a
	// stranger's for a guess at it: anyone can call from a café's or a carrier's address, and
	// sharing the known devices' one allowance with them would let a stranger there lock the
	// owner's devices out (review 20).
	return kind + ":account:" + user, stranger, nil
}

// proofKind is what the sign-in that made a caller known must have proved for the caller to
// have an allowance of kind of its own (a method of sessions.methods), "" for any sign-in. Only
// the password's guesses ask it: links and resets are mailed to the owner, and a link proves the
// mailbox, so a known caller of any proof keeps its own allowance of them (asking "pwd" there
// let a stranger at a link-known address keep a user without a password from every link:
// review 20).
func proofKind(kind string) string {
	if Kind(kind) == SignIn {
		return "pwd"
	}
	return ""
}

// unprovenKey is the one allowance of kind that the callers an account knows share at the
// account of user when they have not proven what kind asks (proofKind), and every caller it
// knows while its email is not proven (unprovenRules).
func unprovenKey(kind, user string) string { return kind + ":unproven:" + user }

// AttemptAsStranger takes one use for an attempt of kind at the account of userID as a
// stranger's, whatever the caller presents: the allowance every stranger shares (PerAccount),
// and the address's. For guesses at an account whose email is not proven yet: the callers it
// knows are whoever signed in with the password chosen at registration, who may not be the
// mailbox's owner, and must get no allowance of their own (one per address they sign in from)
// to guess what is emailed to the owner. It answers rate-limited as Attempt does.
func (l *Limiter) AttemptAsStranger(ctx context.Context, kind Kind, userID int64, p peer.Peer) (Ticket, error) {
	th := l.throttle(kind)
	k := string(kind)
	return l.take(ctx, rule{k + ":account:" + strconv.FormatInt(userID, 10), th.PerAccount, th.Window},
		rule{addressKey(k, p), th.PerAddress, th.Window})
}

// AttemptUnproven takes one use for an email of kind (a sign-in link) mailed to the account of
// userID, whose email is not proven yet. The callers such an account knows are whoever signed
// in with the password chosen at registration, who may not be the mailbox's owner: they share
// one allowance at the account (PerKnown), however many device tokens or addresses they hold
// (a known address pays its address's too, as for Attempt); strangers pay as for Attempt. So
// whoever squatted an address mails it at most PerAccount + PerKnown times per window, and a
// stranger who knows the address cannot keep the owner who registered it herself (and signed in
// since) from her links.
func (l *Limiter) AttemptUnproven(ctx context.Context, kind Kind, userID int64, c Client) (Ticket, error) {
	th := l.throttle(kind)
	account, caller, err := l.unprovenRules(ctx, kind, userID, c)
	if err != nil {
		return Ticket{}, err
	}
	if caller == knownDevice {
		return l.take(ctx, account...)
	}
	return l.take(ctx, append(account, rule{addressKey(string(kind), c.Peer), th.PerAddress, th.Window})...)
}

// unprovenRules is the account's side of an attempt of kind at an unproven account (see
// AttemptUnproven): the one allowance of every caller it knows, or the strangers' shares.
func (l *Limiter) unprovenRules(ctx context.Context, kind Kind, userID int64, c Client) ([]rule, callerKind, error) {
	th := l.throttle(kind)
	k, user := string(kind), strconv.FormatInt(userID, 10)
	c.Session = ""
	_, caller, err := l.callerKey(ctx, k, userID, c)
	if err != nil {
		return nil, stranger, err
	}
	if caller == stranger {
		return l.strangers(kind, k+":account:"+user, c), stranger, nil
	}
	return []rule{{unprovenKey(k, user), th.PerKnown, th.Window}}, caller, nil
}

// AttemptFromAddress takes one use of the address's allowance for an attempt of kind that names
// no account: an unknown email, or a sign-in by link or Google token, whose account is known
// only once the token was checked. Return the ticket when it succeeds.
func (l *Limiter) AttemptFromAddress(ctx context.Context, kind Kind, p peer.Peer) (Ticket, error) {
	th := l.throttle(kind)
	return l.take(ctx, rule{addressKey(string(kind), p), th.PerAddress, th.Window})
}

// AddressTicket is the use of the address's allowance for kind that an earlier request took at
// takenAt (AttemptFromAddress), for a request that completes what that one began (a passkey
// sign-in begun then): Return gives it back.
func (l *Limiter) AddressTicket(kind Kind, p peer.Peer, takenAt time.Time) Ticket {
	return Ticket{l: l, keys: []string{addressKey(string(kind), p)}, at: takenAt}
}

// MaxDevicesPerCredential bounds the device tokens a user holds of one credential (the one
// their sessions signed in with: Credential): a sign-in beyond it retires the oldest of that
// credential, so that signing in often costs no table growth, and signing in often with a copy
// of one credential (a synced passkey) retires none of the devices that used another.
const MaxDevicesPerCredential = 10

// MaxDevicesPerUser bounds the device tokens a user holds in all: beyond it, the oldest of the
// credential that holds the most goes (a thief's passkeys registered from a copy of one fill
// buckets of MaxDevicesPerCredential; the owner's devices hold one or two each). It is far above what a user's own credentials make (the password, a
// link, Google, the app, recovery codes, a passkey or two, each at most
// MaxDevicesPerCredential), so that only a credential registered again and again reaches it.
const MaxDevicesPerUser = 100

// Credential names what a session signed in with, for its device token (Trust): a passkey by
// its id (each is a credential of its own: a copy of one is not a copy of another), else the
// method (password, link, google, otp, recovery_code).
func Credential(method string, passkeyID *int64) string {
	if passkeyID != nil {
		return "passkey:" + strconv.FormatInt(*passkeyID, 10)
	}
	return method
}

// Trust records, in q's transaction, a successful sign-in of userID by c, completed on the
// session session with credential (Credential): the address becomes known to the account, and c
// gets a new device token (the one it presented, if any, is retired, as is the user's oldest of
// that credential beyond MaxDevicesPerCredential, and beyond MaxDevicesPerUser the oldest of the
// credential holding the most). Both
// record the session, so that they go when the owner removes the factor it stood on
// (ForgetEnded). It returns the new token, which exists only in the answer from then on.
func (l *Limiter) Trust(ctx context.Context, q *db.Queries, userID int64, session uuid.UUID, credential string, c Client) (string, error) {
	now := l.now()
	c.DeviceToken = wellFormed(c.DeviceToken)
	if err := q.RememberAddress(ctx, db.RememberAddressParams{
		UserID: userID, Address: peer.Group(c.Peer.Address), ExpiresAt: now.Add(l.cfg.KnownAddressTTL), SessionID: session,
	}); err != nil {
		return "", fmt.Errorf("remember the address of user %d: %w", userID, err)
	}
	if c.DeviceToken != "" {
		if err := q.DeleteDeviceToken(ctx, db.DeleteDeviceTokenParams{TokenHash: auth.HashToken(c.DeviceToken), UserID: userID}); err != nil {
			return "", fmt.Errorf("retire the device token of user %d: %w", userID, err)
		}
	}
	token, hash := auth.NewToken(auth.DevicePrefix)
	if err := q.CreateDeviceToken(ctx, db.CreateDeviceTokenParams{
		TokenHash: hash, UserID: userID, SessionID: session, Credential: credential, Now: now, ExpiresAt: now.Add(l.cfg.DeviceTokenTTL),
		KeepPerCredential: MaxDevicesPerCredential - 1, KeepOld: MaxDevicesPerUser - 1,
	}); err != nil {
		return "", fmt.Errorf("issue a device token to user %d: %w", userID, err)
	}
	return token, nil
}

// Forget makes every client of userID a stranger again, in q's transaction: for when someone
// else may have signed in before (the email's owner just proved it, the password changed).
func Forget(ctx context.Context, q *db.Queries, userID int64) error {
	if err := q.ForgetUserClients(ctx, userID); err != nil {
		return fmt.Errorf("forget the clients of user %d: %w", userID, err)
	}
	return nil
}

// ForgetEnded makes the callers of the user's sessions (those whose trust came from a second
// factor the owner removed, ended now or before) strangers again, in q's transaction and after
// their revocation: the addresses they last made known go, but the one caller calls from (the
// owner may share it with them: forgetting it would make her a stranger where she is), and so do
// the device tokens issued with them. Only for a factor's removal (a thief may hold a copy),
// which asks a recent proof on an aal2 session; never for a sign-out, which a session token
// alone may make: a thief holding a copy would make the owner's devices strangers, spend the
// strangers' allowance and throttle her out of signing in.
func ForgetEnded(ctx context.Context, q *db.Queries, caller peer.Peer, userID int64, sessions []uuid.UUID) error {
	if err := q.ForgetSessionAddresses(ctx, db.ForgetSessionAddressesParams{UserID: userID, KeepAddress: peer.Group(caller.Address),
		Sessions: sessions}); err != nil {
		return fmt.Errorf("forget the addresses of ended sessions of user %d: %w", userID, err)
	}
	if err := q.ForgetSessionDevices(ctx, db.ForgetSessionDevicesParams{UserID: userID, Sessions: sessions}); err != nil {
		return fmt.Errorf("forget the devices of ended sessions of user %d: %w", userID, err)
	}
	return nil
}

// wellFormed is a presented device token, or "" when it cannot be one (then it is ignored: a
// caller with a wrong token is a caller without one).
func wellFormed(deviceToken string) string {
	if !auth.WellFormed(deviceToken, auth.DevicePrefix) {
		return ""
	}
	return deviceToken
}

// AccountAllows takes one use of the account's side of an attempt of kind: the allowance of the
// device token, of the known address, or else the one every stranger shares, without the
// address's (take that with AttemptFromAddress, which an unknown email spends alike). It reports
// false, with no error, when that allowance is used up: for a route whose answer must not tell
// whether the account exists (a password reset request), which then quietly does nothing. The
// use is kept.
//
// For an account whose email is not proven yet (unproven), the callers it knows share one
// allowance, as for AttemptUnproven.
func (l *Limiter) AccountAllows(ctx context.Context, kind Kind, userID int64, c Client, unproven bool) (bool, error) {
	account, err := l.accountRules(ctx, kind, userID, c, unproven)
	if err != nil {
		return false, err
	}
	_, allowed, err := l.allows(ctx, account...)
	return allowed, err
}

// accountRules is the account's side of an attempt of kind by c (see Attempt, AttemptUnproven):
// the allowance of the caller as the account knows it (a stranger's: the strangers' shares).
func (l *Limiter) accountRules(ctx context.Context, kind Kind, userID int64, c Client, unproven bool) ([]rule, error) {
	if unproven {
		account, _, err := l.unprovenRules(ctx, kind, userID, c)
		return account, err
	}
	th := l.throttle(kind)
	key, caller, err := l.callerKey(ctx, string(kind), userID, c)
	switch {
	case err != nil:
		return nil, err
	case caller == stranger:
		return l.strangers(kind, key, c), nil
	}
	return []rule{{key, th.PerKnown, th.Window}}, nil
}
