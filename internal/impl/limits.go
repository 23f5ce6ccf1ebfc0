package impl

import (
	"context"
	"errors"
	"strconv"

	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/password"
	"github.com/plano/planoauth/internal/peer"
)

// What the limited handlers share (see internal/limits): who the caller is to a per-caller
// limit, giving back a use that did not count, and the answer of a full hashing queue.

// limitCaller takes one use of action for the caller (the user of its session, or its
// application) and for its client address, and answers rate-limited when either is used up.
// Call it once per request, after the checks that cost nothing and before the work (a hash, an
// email, a user created): for example, an invitation handler does
//
//	if err := s.limitCaller(ctx, p, limits.Invitation); err != nil {
//		return nil, err
//	}
func (s *Server) limitCaller(ctx context.Context, p *auth.Principal, action limits.Action) error {
	_, err := s.limits.Action(ctx, action, callerKey(p), peer.FromContext(ctx))
	return err
}

// callerKey names the holder of the caller's token: the session's user (however many sessions
// it opens), or the application.
func callerKey(p *auth.Principal) string {
	if p.Session != nil {
		return "user:" + strconv.FormatInt(p.Session.UserID, 10)
	}
	return "application:" + strconv.FormatInt(p.Application.ID, 10)
}

// giveBack returns the uses of an attempt that did not count. A failure is only logged: the
// attempt was answered already, and the use comes back when its window ends.
func (s *Server) giveBack(ctx context.Context, t limits.Ticket) {
	if err := t.Return(context.WithoutCancel(ctx)); err != nil {
		s.log.WarnContext(ctx, "give back a rate-limit use", "error", err)
	}
}

// hashFailure is the answer to a failed hash or verification: rate-limited when too many
// waited already (the caller may retry in a second), else application-crash.
func hashFailure(err error, format string, args ...any) error {
	if errors.Is(err, password.ErrBusy) {
		return &envelope.Error{Status: gen.StatusRateLimited, RetryAfter: password.RetryAfterBusy, Cause: err}
	}
	return envelope.Internal(format+": %w", append(args, err)...)
}
