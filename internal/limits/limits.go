// Package limits bounds what callers can make the service do, in PostgreSQL so that every
// instance shares the counts. Every limit is an allowance of uses per key (an account, a client
// address, a caller) in fixed windows, and a use is taken in one atomic statement BEFORE the
// work it pays for (a hash, an email): so N concurrent requests never pass a limit of M < N.
// A use is given back (Ticket.Return) when the attempt turns out not to count: a right
// password, work refused before it began, an account that was not created.
//
// Attempts at one account (a password, a sign-in link, a password reset) are throttled so that
// strangers cannot lock its owner out (OWASP's device cookies, for an API; see throttle.go):
// strangers share one small allowance per account, while a caller the account knows (it
// presents a device token from an earlier sign-in, or signs in from an address the owner signed
// in from before) has an allowance of its own.
//
// Actions that cost work and are made by an authenticated caller (liaisons/register,
// invitations) are bounded per caller and per address with one call, Action.
package limits

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/peer"
)

// Throttle bounds the attempts at one account of one kind (see Kind) in a window.
type Throttle struct {
	// PerAccount is what every caller the account does not know shares, whatever its address:
	// the bound on online guessing.
	PerAccount int
	// PerKnown is the allowance of each caller the account knows (a device token, or an address
	// the owner signed in from), spent by it alone.
	PerKnown int
	// PerAddress bounds one address's attempts at every account together (one caller sweeping
	// many accounts). A device token's holder is not counted against it.
	PerAddress int
	Window     time.Duration
}

// Quota bounds an action per caller (its token's user or application) and per client address.
type Quota struct {
	PerCaller  int
	PerAddress int
	Window     time.Duration
}

// AddressQuota bounds an action of callers without a token, per client address.
type AddressQuota struct {
	PerAddress int
	Window     time.Duration
}

// AccountQuota bounds what one account does, whoever and wherever the callers are.
type AccountQuota struct {
	PerAccount int
	Window     time.Duration
}

// SuccessQuota bounds the successes at one account: PerAccount per caller (strangers together,
// and each caller the account knows), PerAll for every caller together.
type SuccessQuota struct {
	PerAccount, PerAll int
	Window             time.Duration
}

// RecipientQuota bounds what one recipient receives from every caller together.
type RecipientQuota struct {
	PerRecipient int
	Window       time.Duration
}

// Config is every limit. A zero field means its default (Defaults).
type Config struct {
	SignIn        Throttle     // sessions/create: passwords evaluated; also failed link and Google sign-ins per address
	Links         Throttle     // sessions/magic_link_request: sign-in links emailed
	Resets        Throttle     // password reset requests: emails sent
	Registrations AddressQuota // clients/register: accounts created
	Liaisons      Quota        // liaisons/register
	Invitations   Quota        // invitations sent
	// InvitationRecipients bounds the invitations one email receives from all callers together.
	InvitationRecipients RecipientQuota
	// WelcomeRecipients bounds the welcome emails (with their verification links) one mailbox
	// receives from registrations (clients/register) of all its subaddresses together.
	WelcomeRecipients RecipientQuota
	// DeviceTokenTTL is how long a device token is honoured after the sign-in that issued it;
	// KnownAddressTTL how long an address stays known after the last sign-in from it.
	DeviceTokenTTL  time.Duration
	KnownAddressTTL time.Duration
	// SecondFactors bounds second-factor codes checked (TOTP, recovery codes) and passkey
	// checks. A guesser who holds the password tries 6-digit codes, three of which are good at a
	// time (the steps before and after): 5 an hour is about one chance in 67,000 per hour.
	SecondFactors Throttle
	// SignedIn bounds the sign-ins that succeed at one account (passwords, Google, passkeys) and
	// its password changes, per caller as Attempt counts them (PerAccount for strangers
	// together, and as much for each session, device and address the account knows; passkeys
	// and Google one each of their own) and for every password caller together (PerAll): a
	// right password's guess is given back, so without it one account's own password could keep
	// the hash queue full and the audit trail growing.
	SignedIn SuccessQuota
}

// Defaults are the limits unless configured (README, configuration table).
var Defaults = Config{
	SignIn:               Throttle{PerAccount: 10, PerKnown: 10, PerAddress: 100, Window: 15 * time.Minute},
	SignedIn:             SuccessQuota{PerAccount: 30, PerAll: 120, Window: 15 * time.Minute},
	Links:                Throttle{PerAccount: 5, PerKnown: 5, PerAddress: 20, Window: 15 * time.Minute},
	Resets:               Throttle{PerAccount: 5, PerKnown: 5, PerAddress: 20, Window: 15 * time.Minute},
	Registrations:        AddressQuota{PerAddress: 30, Window: time.Hour},
	Liaisons:             Quota{PerCaller: 30, PerAddress: 60, Window: time.Hour},
	Invitations:          Quota{PerCaller: 30, PerAddress: 60, Window: time.Hour},
	InvitationRecipients: RecipientQuota{PerRecipient: 5, Window: 24 * time.Hour},
	WelcomeRecipients:    RecipientQuota{PerRecipient: 5, Window: 24 * time.Hour},
	DeviceTokenTTL:       90 * 24 * time.Hour,
	KnownAddressTTL:      30 * 24 * time.Hour,
	SecondFactors:        Throttle{PerAccount: 5, PerKnown: 5, PerAddress: 50, Window: time.Hour},
}

// WithDefaults fills every zero field of c, nested ones included, from Defaults.
func (c Config) WithDefaults() Config {
	d := Defaults
	return Config{
		SignIn: c.SignIn.withDefaults(d.SignIn),
		SignedIn: SuccessQuota{PerAccount: cmp.Or(c.SignedIn.PerAccount, d.SignedIn.PerAccount),
			PerAll: cmp.Or(c.SignedIn.PerAll, d.SignedIn.PerAll), Window: cmp.Or(c.SignedIn.Window, d.SignedIn.Window)},
		Links: c.Links.withDefaults(d.Links), Resets: c.Resets.withDefaults(d.Resets),
		Registrations: AddressQuota{PerAddress: cmp.Or(c.Registrations.PerAddress, d.Registrations.PerAddress),
			Window: cmp.Or(c.Registrations.Window, d.Registrations.Window)},
		Liaisons: c.Liaisons.withDefaults(d.Liaisons), Invitations: c.Invitations.withDefaults(d.Invitations),
		InvitationRecipients: c.InvitationRecipients.withDefaults(d.InvitationRecipients),
		WelcomeRecipients:    c.WelcomeRecipients.withDefaults(d.WelcomeRecipients),
		DeviceTokenTTL:       cmp.Or(c.DeviceTokenTTL, d.DeviceTokenTTL), KnownAddressTTL: cmp.Or(c.KnownAddressTTL, d.KnownAddressTTL),
		SecondFactors: c.SecondFactors.withDefaults(d.SecondFactors),
	}
}

func (t Throttle) withDefaults(d Throttle) Throttle {
	return Throttle{PerAccount: cmp.Or(t.PerAccount, d.PerAccount), PerKnown: cmp.Or(t.PerKnown, d.PerKnown),
		PerAddress: cmp.Or(t.PerAddress, d.PerAddress), Window: cmp.Or(t.Window, d.Window)}
}

func (q RecipientQuota) withDefaults(d RecipientQuota) RecipientQuota {
	return RecipientQuota{PerRecipient: cmp.Or(q.PerRecipient, d.PerRecipient), Window: cmp.Or(q.Window, d.Window)}
}

func (q Quota) withDefaults(d Quota) Quota {
	return Quota{PerCaller: cmp.Or(q.PerCaller, d.PerCaller), PerAddress: cmp.Or(q.PerAddress, d.PerAddress), Window: cmp.Or(q.Window, d.Window)}
}

// Limiter takes and gives back uses of allowances.
type Limiter struct {
	q   *db.Queries
	cfg Config
	now func() time.Time
}

// New returns a Limiter with cfg (zero fields: the defaults) and clock now.
func New(q *db.Queries, cfg Config, now func() time.Time) *Limiter {
	return &Limiter{q: q, cfg: cfg.WithDefaults(), now: now}
}

// Config returns the limits in force.
func (l *Limiter) Config() Config { return l.cfg }

// rule is one allowance: max uses of key per window.
type rule struct {
	key    string
	max    int
	window time.Duration
}

// Ticket is the uses one attempt took. Return gives them back; the zero Ticket holds nothing.
type Ticket struct {
	l    *Limiter
	keys []string
	at   time.Time
}

// Return gives back the ticket's uses, for an attempt that turned out not to count.
func (t Ticket) Return(ctx context.Context) error {
	if len(t.keys) == 0 {
		return nil
	}
	if err := t.l.q.ReturnAllowance(ctx, db.ReturnAllowanceParams{Keys: t.keys, TakenAt: t.at}); err != nil {
		return fmt.Errorf("give back %v: %w", t.keys, err)
	}
	return nil
}

// take takes one use of each rule's allowance, in order. When one is used up it gives back
// what it took and answers rate-limited, with Retry-After the end of that key's window.
func (l *Limiter) take(ctx context.Context, rules ...rule) (Ticket, error) {
	now := l.now()
	t := Ticket{l: l, at: now}
	for _, r := range rules {
		_, err := l.q.TakeAllowance(ctx, db.TakeAllowanceParams{Key: r.key, Now: now, ExpiresAt: now.Add(r.window), Max: int32(r.max)})
		if err == nil {
			t.keys = append(t.keys, r.key)
			continue
		}
		refused := errors.Is(err, pgx.ErrNoRows)
		if returnErr := t.Return(ctx); returnErr != nil {
			return Ticket{}, envelope.Internal("%w", returnErr)
		}
		if !refused {
			return Ticket{}, envelope.Internal("take a use of %s: %w", r.key, err)
		}
		return Ticket{}, l.refusal(ctx, r, now)
	}
	return t, nil
}

// refusal is the rate-limited answer for a used-up key, with the time left in its window.
func (l *Limiter) refusal(ctx context.Context, r rule, now time.Time) error {
	retryAfter := r.window
	end, err := l.q.GetLimitWindowEnd(ctx, r.key)
	if err == nil {
		retryAfter = end.Sub(now)
	} else if !errors.Is(err, pgx.ErrNoRows) { // deleted meanwhile: a whole window is a safe answer
		return envelope.Internal("read the window of %s: %w", r.key, err)
	}
	return &envelope.Error{Status: gen.StatusRateLimited, RetryAfter: retryAfter}
}

func addressKey(kind string, p peer.Peer) string { return kind + ":address:" + peer.Group(p.Address) }

// Register takes one registration from the caller's address (clients/register). Return the
// ticket when no account was created: only accounts count.
func (l *Limiter) Register(ctx context.Context, p peer.Peer) (Ticket, error) {
	q := l.cfg.Registrations
	return l.take(ctx, rule{addressKey("register", p), q.PerAddress, q.Window})
}

// SignedIn takes one use of the allowance of successful sign-ins (and password changes) at the
// account of userID that the caller c pays from, before the work (a password's hash, a
// session): as for Attempt, a session, a device token or an address the account knows has an
// allowance of its own, and every stranger shares one, so that whoever has the password alone
// (whose sign-ins all answer mfa-required) spends only the strangers' and never the owner's.
// Every caller but a session also pays from PerAll, for all of them together: each sign-in
// answers a new device token, and each new address becomes known, so that without it one
// caller holding the password would get a fresh allowance with every sign-in. A session's
// proofs (a password change, a factor's removal, from a session that proved its user
// recently) pay from the session's alone, so that nobody else's sign-ins can keep the owner
// from changing the password. It answers rate-limited when a use is refused. Return the ticket
// when the sign-in did not succeed after all (a wrong password: that is a guess, counted by
// Attempt; a role the application refuses): only successes spend it.
func (l *Limiter) SignedIn(ctx context.Context, userID int64, c Client) (Ticket, error) {
	q := l.cfg.SignedIn
	key, _, err := l.callerKey(ctx, "signedin", userID, c)
	if err != nil {
		return Ticket{}, err
	}
	if c.Session != "" {
		return l.take(ctx, rule{key, q.PerAccount, q.Window})
	}
	return l.take(ctx, rule{key, q.PerAccount, q.Window},
		rule{"signedin:all:" + strconv.FormatInt(userID, 10), q.PerAll, q.Window})
}

// SignedInWith is SignedIn for a sign-in by a proof the password does not give (method names
// it: a passkey, a Google ID token): those have an allowance of their own per account, method
// and proof (PerAccount; proof names the one proof: a passkey's id, the hash of a reusable
// token), so that strangers who spent theirs, or the bound of all, with the password never
// stand between the owner's passkey or Google account and the account, one leaked token
// replayed spends nothing of the owner's next ones, and a copy of one passkey nothing of her
// other passkeys'.
func (l *Limiter) SignedInWith(ctx context.Context, userID int64, method, proof string) (Ticket, error) {
	q := l.cfg.SignedIn
	return l.take(ctx, rule{"signedin:" + method + ":" + strconv.FormatInt(userID, 10) + ":" + proof, q.PerAccount, q.Window})
}

// RegistrationInFlight is how long one registration of an email holds it (RegisterEmail) at most:
// a registration takes a hash and a transaction, well under it; one whose instance died frees
// the email after it.
const RegistrationInFlight = time.Minute

// RegisterEmail takes the one registration of email (normalized) that may be in flight at a
// time, before its password is hashed: it reports false, with no error, while another
// registration of the email holds it (that one decides: the caller is answered as for a taken
// email). Return the ticket when the registration ends, whatever its outcome.
func (l *Limiter) RegisterEmail(ctx context.Context, email string) (Ticket, bool, error) {
	return l.allows(ctx, rule{"register:email:" + EmailKey(email), 1, RegistrationInFlight})
}

// InvitationTo takes one use of the allowance of invitations that the recipient (its mailbox,
// emailaddr.Mailbox, so that other spellings of one address share it) receives from all callers
// together. It reports false, with no error, when it is used up: then no invitation is sent, and
// the caller is answered as if it had been (its answer must not tell what others sent). Return the ticket when no invitation was sent after all.
func (l *Limiter) InvitationTo(ctx context.Context, email string) (Ticket, bool, error) {
	return l.toRecipient(ctx, "invitation", l.cfg.InvitationRecipients, email)
}

// WelcomeTo is InvitationTo for the welcome email of a registration (clients/register) to the
// mailbox email (emailaddr.Mailbox): past WelcomeRecipients the account is created all the same,
// without its welcome (its owner proves the email with a sign-in link), so that strangers who
// register subaddress after subaddress of one mailbox (ada+1@, ada+2@) cannot flood it.
func (l *Limiter) WelcomeTo(ctx context.Context, email string) (Ticket, bool, error) {
	return l.toRecipient(ctx, "welcome", l.cfg.WelcomeRecipients, email)
}

// toRecipient takes one use of q for what of kind the recipient email receives.
func (l *Limiter) toRecipient(ctx context.Context, kind string, q RecipientQuota, email string) (Ticket, bool, error) {
	return l.allows(ctx, rule{kind + ":recipient:" + EmailKey(email), q.PerRecipient, q.Window})
}

// allows takes one use of each rule, reporting false, with no error, when it is used up.
func (l *Limiter) allows(ctx context.Context, rules ...rule) (Ticket, bool, error) {
	t, err := l.take(ctx, rules...)
	var refusal *envelope.Error
	if errors.As(err, &refusal) && refusal.Status == gen.StatusRateLimited {
		return Ticket{}, false, nil
	}
	return t, err == nil, err
}

// EmailKey names an email in a counter's key without storing the address: its SHA-256.
func EmailKey(email string) string {
	sum := sha256.Sum256([]byte(email))
	return hex.EncodeToString(sum[:])
}

// Once reports whether key is seen for the first time in a window that starts now (true), or was
// seen within window already (false), in one atomic statement on q (a transaction's, to decide
// with a change): for what must happen at most once per window, such as one notification per
// recipient and kind.
func Once(ctx context.Context, q *db.Queries, key string, now time.Time, window time.Duration) (bool, error) {
	_, err := q.TakeAllowance(ctx, db.TakeAllowanceParams{Key: key, Now: now, ExpiresAt: now.Add(window), Max: 1})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("take %s: %w", key, err)
	}
	return true, nil
}

// Reopen ends the windows of keys (of Once) now, in q's transaction: what they bound may happen
// again at once (after an operator's reset, a thief's next change is told).
func Reopen(ctx context.Context, q *db.Queries, keys ...string) error {
	if err := q.DeleteLimitCounters(ctx, keys); err != nil {
		return fmt.Errorf("reopen %d windows: %w", len(keys), err)
	}
	return nil
}

// Action is something an authenticated caller does that costs the service work.
type Action string

// The actions limited per caller and per address.
const (
	LiaisonRegistration Action = "liaison"
	Invitation          Action = "invitation"
)

// Action takes one use of action for the caller (a stable name of its token's holder, such as
// "user:42" or "application:3") and for its address, before the work. It answers rate-limited
// when either allowance is used up. Call it once per request, after the cheap checks and before
// any hash or email; the use is kept (the work was done) unless the caller returns the ticket.
func (l *Limiter) Action(ctx context.Context, action Action, caller string, p peer.Peer) (Ticket, error) {
	q := l.quota(action)
	return l.take(ctx,
		rule{string(action) + ":caller:" + caller, q.PerCaller, q.Window},
		rule{addressKey(string(action), p), q.PerAddress, q.Window})
}

func (l *Limiter) quota(action Action) Quota {
	if action == Invitation {
		return l.cfg.Invitations
	}
	return l.cfg.Liaisons
}
