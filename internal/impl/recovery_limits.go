package impl

import (
	"context"
	"time"

	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/peer"
)

// The limits of password recovery, each behind one call site: limitResetRequest (emails sent)
// and limitCodeTry (codes evaluated). Both count in PostgreSQL before the work.

// ResetLimits bound password reset requests: emails sent to one address, and requests from one
// client address, per window.
type ResetLimits struct {
	PerEmail   int
	PerAddress int
	Window     time.Duration
}

// DefaultResetLimits allow 5 reset emails per email address and 20 requests per client address
// every 15 minutes.
var DefaultResetLimits = ResetLimits{PerEmail: 5, PerAddress: 20, Window: 15 * time.Minute}

// limitResetRequest counts a reset request for the client address (rate-limited past its
// allowance) and for the email, whether or not it has an account. It reports whether the email
// may be sent another: past the email's allowance nothing is sent and the answer does not change,
// so that the limit tells nobody which emails have accounts.
func (s *Server) limitResetRequest(ctx context.Context, email string) (send bool, err error) {
	l := s.resetLimits
	over, retry, err := s.countUse(ctx, "reset:address:"+peer.Group(peer.FromContext(ctx).Address), l.PerAddress, l.Window)
	if err != nil {
		return false, err
	}
	if over {
		return false, &envelope.Error{Status: gen.StatusRateLimited, RetryAfter: retry}
	}
	over, _, err = s.countUse(ctx, "reset:email:"+normalizedEmail(email), l.PerEmail, l.Window)
	return !over, err
}

// countUse counts one use of key in its current window and reports whether it is past max,
// with the time left in the window.
func (s *Server) countUse(ctx context.Context, key string, max int, window time.Duration) (bool, time.Duration, error) {
	now := s.now()
	row, err := s.q.RecordLoginFailure(ctx, db.RecordLoginFailureParams{Key: key, Now: now, WindowStartAfter: now.Add(-window)})
	if err != nil {
		return false, 0, envelope.Internal("count a use of %s: %w", key, err)
	}
	return int(row.Failures) > max, row.WindowStart.Add(window).Sub(now), nil
}

// limitCodeTry counts a try of a reset code as a log-in attempt of the email and the client
// address (rate-limited past either allowance), before the code is evaluated. The returned
// succeed takes the attempt back once the code was right.
func (s *Server) limitCodeTry(ctx context.Context, email string) (succeed func(context.Context) error, err error) {
	from := peer.FromContext(ctx)
	if err := s.limiter.Attempt(ctx, email, from); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return s.limiter.Succeed(ctx, email, from) }, nil
}
