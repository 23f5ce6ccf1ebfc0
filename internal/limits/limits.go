// Package limits counts attempts per key (an email, a client address) in fixed windows in
// PostgreSQL, so that every instance shares the count, and answers rate-limited past a limit.
package limits

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/peer"
)

// LoginLimits are the failed log-ins allowed per email and per client address in one window.
type LoginLimits struct {
	PerEmail   int
	PerAddress int
	Window     time.Duration
}

// DefaultLoginLimits allow 10 failures per email and 100 per address every 15 minutes.
var DefaultLoginLimits = LoginLimits{PerEmail: 10, PerAddress: 100, Window: 15 * time.Minute}

// LoginLimiter counts failed log-ins in PostgreSQL, so every instance shares the count.
type LoginLimiter struct {
	q      *db.Queries
	limits LoginLimits
	now    func() time.Time
}

// NewLoginLimiter returns a limiter with the given limits and clock.
func NewLoginLimiter(q *db.Queries, limits LoginLimits, now func() time.Time) *LoginLimiter {
	return &LoginLimiter{q: q, limits: limits, now: now}
}

type limitKey struct {
	key string
	max int
}

func (l *LoginLimiter) keys(email string, p peer.Peer) []limitKey {
	return []limitKey{l.emailKey(email), l.addressKey(p)}
}

func (l *LoginLimiter) emailKey(email string) limitKey {
	return limitKey{"email:" + normalizeEmail(email), l.limits.PerEmail}
}

func (l *LoginLimiter) addressKey(p peer.Peer) limitKey {
	return limitKey{"address:" + peer.Group(p.Address), l.limits.PerAddress}
}

// Attempt counts a password log-in for the email and the client address before the password
// is checked, and answers rate-limited (with the time left in the window) once either count is
// over its limit. Counting first, in one statement per key, is what stops concurrent guesses:
// a check made before a slow hash, with the failure counted after it, would let every request
// in flight through. Succeed takes the attempt back.
func (l *LoginLimiter) Attempt(ctx context.Context, email string, p peer.Peer) error {
	now := l.now()
	for _, k := range l.keys(email, p) {
		row, err := l.q.RecordLoginFailure(ctx, db.RecordLoginFailureParams{Key: k.key, Now: now, WindowStartAfter: now.Add(-l.limits.Window)})
		if err != nil {
			return envelope.Internal("count login attempt: %w", err)
		}
		if int(row.Failures) > k.max {
			return &envelope.Error{Status: gen.StatusRateLimited, RetryAfter: row.WindowStart.Add(l.limits.Window).Sub(now)}
		}
	}
	return nil
}

// CheckAddress answers rate-limited when the client address has used up its failures, for
// sign-ins that name no email (a link's token, a Google ID token: neither can be guessed, so
// counting after the check is enough there).
func (l *LoginLimiter) CheckAddress(ctx context.Context, p peer.Peer) error {
	return l.check(ctx, []limitKey{l.addressKey(p)})
}

// FailAddress counts a failed sign-in that names no email against the client address.
func (l *LoginLimiter) FailAddress(ctx context.Context, p peer.Peer) error {
	return l.fail(ctx, []limitKey{l.addressKey(p)})
}

func (l *LoginLimiter) check(ctx context.Context, keys []limitKey) error {
	now := l.now()
	for _, k := range keys {
		row, err := l.q.GetLoginFailures(ctx, db.GetLoginFailuresParams{Key: k.key, WindowStartAfter: now.Add(-l.limits.Window)})
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return envelope.Internal("read login failures: %w", err)
		}
		if int(row.Failures) >= k.max {
			return &envelope.Error{Status: gen.StatusRateLimited, RetryAfter: row.WindowStart.Add(l.limits.Window).Sub(now)}
		}
	}
	return nil
}

func (l *LoginLimiter) fail(ctx context.Context, keys []limitKey) error {
	now := l.now()
	for _, k := range keys {
		_, err := l.q.RecordLoginFailure(ctx, db.RecordLoginFailureParams{Key: k.key, Now: now, WindowStartAfter: now.Add(-l.limits.Window)})
		if err != nil {
			return envelope.Internal("record login failure: %w", err)
		}
	}
	return nil
}

// Succeed is told that an attempt's password was right: the email's failures are forgotten,
// and the address gets back the one attempt (its failures stay, so one valid account cannot be
// used to reset guessing at others).
func (l *LoginLimiter) Succeed(ctx context.Context, email string, p peer.Peer) error {
	if err := l.q.ClearLoginFailures(ctx, l.emailKey(email).key); err != nil {
		return envelope.Internal("clear login failures: %w", err)
	}
	if err := l.q.ForgiveLoginAttempt(ctx, l.addressKey(p).key); err != nil {
		return envelope.Internal("forgive login attempt: %w", err)
	}
	return nil
}

// MagicLinkLimits bound the sign-in links sent to one email address per window, so that the
// API cannot be used to flood someone's inbox.
type MagicLinkLimits struct {
	PerEmail int
	Window   time.Duration
}

// DefaultMagicLinkLimits allow 5 links per email address every 15 minutes.
var DefaultMagicLinkLimits = MagicLinkLimits{PerEmail: 5, Window: 15 * time.Minute}

// MagicLinkLimiter counts link requests per email in the table of failed log-ins (keys
// "magic_link:EMAIL"), so every instance shares the count.
type MagicLinkLimiter struct {
	q      *db.Queries
	limits MagicLinkLimits
	now    func() time.Time
}

// NewMagicLinkLimiter returns a limiter with the given limits and clock.
func NewMagicLinkLimiter(q *db.Queries, limits MagicLinkLimits, now func() time.Time) *MagicLinkLimiter {
	return &MagicLinkLimiter{q: q, limits: limits, now: now}
}

// Take counts one link request for email. It answers rate-limited, with the time left in the
// window, when the request is beyond the limit.
func (l *MagicLinkLimiter) Take(ctx context.Context, email string) error {
	now := l.now()
	row, err := l.q.RecordLoginFailure(ctx, db.RecordLoginFailureParams{
		Key: "magic_link:" + normalizeEmail(email), Now: now, WindowStartAfter: now.Add(-l.limits.Window),
	})
	if err != nil {
		return envelope.Internal("count magic link requests: %w", err)
	}
	if int(row.Failures) > l.limits.PerEmail {
		return &envelope.Error{Status: gen.StatusRateLimited, RetryAfter: row.WindowStart.Add(l.limits.Window).Sub(now)}
	}
	return nil
}

// RegistrationLimits bound the accounts one client address may register per window, so that an
// unauthenticated caller cannot create accounts (and spend argon2id time) without end.
type RegistrationLimits struct {
	PerAddress int
	Window     time.Duration
}

// DefaultRegistrationLimits allow 30 registrations per address an hour.
var DefaultRegistrationLimits = RegistrationLimits{PerAddress: 30, Window: time.Hour}

// RegistrationLimiter counts registered accounts per client address in PostgreSQL (the table
// login_failures keeps any per-key count in fixed windows).
type RegistrationLimiter struct {
	q      *db.Queries
	limits RegistrationLimits
	now    func() time.Time
}

// NewRegistrationLimiter returns a limiter with the given limits and clock.
func NewRegistrationLimiter(q *db.Queries, limits RegistrationLimits, now func() time.Time) *RegistrationLimiter {
	return &RegistrationLimiter{q: q, limits: limits, now: now}
}

func (l *RegistrationLimiter) key(p peer.Peer) string {
	return "register:" + peer.Group(p.Address)
}

// Check answers rate-limited when the address registered its allowance in this window. Only
// accounts created count, so an attempt with a taken email costs nothing; registrations in
// flight together may pass one check each, which bounds the overshoot by the hashing slots.
func (l *RegistrationLimiter) Check(ctx context.Context, p peer.Peer) error {
	now := l.now()
	row, err := l.q.GetLoginFailures(ctx, db.GetLoginFailuresParams{Key: l.key(p), WindowStartAfter: now.Add(-l.limits.Window)})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return envelope.Internal("read registrations of the address: %w", err)
	}
	if int(row.Failures) >= l.limits.PerAddress {
		return &envelope.Error{Status: gen.StatusRateLimited, RetryAfter: row.WindowStart.Add(l.limits.Window).Sub(now)}
	}
	return nil
}

// Record counts an account registered from the address, in q's transaction.
func (l *RegistrationLimiter) Record(ctx context.Context, q *db.Queries, p peer.Peer) error {
	now := l.now()
	if _, err := q.RecordLoginFailure(ctx, db.RecordLoginFailureParams{Key: l.key(p), Now: now, WindowStartAfter: now.Add(-l.limits.Window)}); err != nil {
		return fmt.Errorf("count the registration: %w", err)
	}
	return nil
}
