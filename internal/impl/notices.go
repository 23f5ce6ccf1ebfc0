package impl

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/plano/planoauth/internal/emailaddr"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/mail"
	"github.com/plano/planoauth/internal/pages"
	"github.com/plano/planoauth/internal/peer"
)

// Security notices (README "Second factors"): whoever holds a user's password (phished, reused)
// can sign in to an account without a second factor, add an app or passkey of its own, and from
// then on every way its owner has back in (a reset, a sign-in link, Google) stops at
// mfa-required; or change the password. So every change of what signs in to an account (its
// password, its second factors, its recovery codes) emails the account's owner, queued in the
// change's own transaction (mail.Enqueue: a change that fails or rolls back sends nothing): what
// happened, when, in which application, from which client address, and what to do if it was
// not her (reset the password with a plain link, no token in it, and ask support, who can remove
// the factors: `planoauth users reset-mfa`). No notice carries a secret, a token, a code, or
// anything the caller typed (a passkey's name, a user agent).

// NoticeWindow bounds the notices a thief can make an owner's mailbox receive: at most one of
// each kind (password changed, factor added, factor removed, recovery codes made) per recipient
// per window, counted atomically in the change's transaction (limits.Once). The first change
// of a kind is always told; the owner who reads it knows enough to act.
const NoticeWindow = 10 * time.Minute

// noticeKind is the kind of a security notice: the email's kind (email_outbox.kind).
type noticeKind string

const (
	noticePasswordChanged noticeKind = "password_changed"
	noticeFactorAdded     noticeKind = "second_factor_added"
	noticeFactorRemoved   noticeKind = "second_factor_removed"
	noticeRecoveryCodes   noticeKind = "recovery_codes_created"
	// noticeFactorsReset is an operator's `users reset-mfa`: never bounded (no caller can repeat it).
	noticeFactorsReset noticeKind = "second_factors_reset"
)

// notice is a change to tell an account's owner of.
type notice struct {
	kind    noticeKind
	subject string
	what    string // what happened, a sentence that names the account ({email})
	// app is the application it happened in (zero: none, an operator's tool), address the
	// caller's client address ("" outside a request).
	app     db.Application
	address string
}

// requestNotice is a notice of a change the caller of ctx made in app.
func requestNotice(ctx context.Context, kind noticeKind, subject, what string, app db.Application) notice {
	return notice{kind: kind, subject: subject, what: what, app: app, address: peer.FromContext(ctx).Address}
}

// The notices of each change made by a request.
func passwordChangedNotice(ctx context.Context, app db.Application) notice {
	return requestNotice(ctx, noticePasswordChanged, "Your Plano password was changed",
		"The password of the Plano account {email} was changed.", app)
}

func factorAddedNotice(ctx context.Context, app db.Application, factor string) notice {
	return requestNotice(ctx, noticeFactorAdded, "A second factor was added to your Plano account",
		factor+" was added as a second factor to the Plano account {email}. From now on, signing in to it takes that factor too.", app)
}

func factorRemovedNotice(ctx context.Context, app db.Application, factor string) notice {
	return requestNotice(ctx, noticeFactorRemoved, "A second factor was removed from your Plano account",
		factor+" was removed from the second factors of the Plano account {email}.", app)
}

func recoveryCodesNotice(ctx context.Context, app db.Application) notice {
	return requestNotice(ctx, noticeRecoveryCodes, "New recovery codes were made for your Plano account",
		"A new set of recovery codes was made for the Plano account {email}; the earlier codes no longer work.", app)
}

// tellOwner queues n to the email of the user userID in q's transaction, at most once per kind
// and recipient per NoticeWindow (but an operator's, which is not bounded), and reports whether
// it did. The user is read in the transaction, not taken from the caller (a cached principal may
// predate the email's proof). Nothing is sent while the email is not proven: whoever registered
// the account may not own the mailbox, which must not be mailed about an account it never
// claimed, and the mailbox's owner is protected otherwise (her first proof takes back every
// password, factor and session the account set up).
func tellOwner(ctx context.Context, q *db.Queries, now time.Time, publicURL string, userID int64, n notice) (bool, error) {
	user, err := q.GetUser(ctx, userID)
	if err != nil {
		return false, fmt.Errorf("read user %d: %w", userID, err)
	}
	if user.EmailVerifiedAt == nil {
		return false, nil
	}
	if n.kind != noticeFactorsReset {
		first, err := limits.Once(ctx, q, noticeKey(n.kind, user.Email), now, NoticeWindow)
		if err != nil || !first {
			return false, err
		}
	}
	factors, err := factorSummary(ctx, q, userID)
	if err != nil {
		return false, err
	}
	return true, mail.Enqueue(ctx, q, now, noticeMessage(user, n, factors, now, publicURL))
}

// factorSummary says which second factors the account has now, as read in the change's
// transaction: every notice states them, so that no notice can read as a change undone while a
// factor that was added within a bounded window (and so not told) stays. Passkeys are counted
// with when each was added, never named: their names are the caller's text.
func factorSummary(ctx context.Context, q *db.Queries, userID int64) (string, error) {
	var parts []string
	totp, err := q.GetTOTP(ctx, userID)
	switch {
	case err == nil && totp.ConfirmedAt != nil:
		parts = append(parts, "an authenticator app (added "+totp.ConfirmedAt.UTC().Format(noticeTime)+")")
	case err != nil && !errors.Is(err, pgx.ErrNoRows):
		return "", fmt.Errorf("read the TOTP of user %d: %w", userID, err)
	}
	passkeys, err := q.ListAllUserPasskeys(ctx, userID)
	if err != nil {
		return "", fmt.Errorf("list the passkeys of user %d: %w", userID, err)
	}
	for _, pk := range passkeys {
		parts = append(parts, "a passkey (added "+pk.CreatedAt.UTC().Format(noticeTime)+")")
	}
	if len(parts) == 0 {
		return "none", nil
	}
	return strings.Join(parts, ", "), nil
}

// noticeTime is how notices write a time.
const noticeTime = "2006-01-02 15:04 UTC"

// noticeKey is the limits.Once key that bounds the notices of kind to email.
func noticeKey(kind noticeKind, email string) string {
	return "notice:" + string(kind) + ":" + limits.EmailKey(email)
}

// reopenNotices ends the notice windows of email, in q's transaction: after an operator's reset,
// whatever is changed next is new to the owner, and told at once, however recently a change
// of its kind was (a thief who knew the password and is back).
func reopenNotices(ctx context.Context, q *db.Queries, email string) error {
	kinds := []noticeKind{noticePasswordChanged, noticeFactorAdded, noticeFactorRemoved, noticeRecoveryCodes}
	keys := make([]string, len(kinds))
	for i, kind := range kinds {
		keys[i] = noticeKey(kind, email)
	}
	return limits.Reopen(ctx, q, keys...)
}

// tellOwner is the package's tellOwner with the handlers' clock and public URL.
func (s *Server) tellOwner(ctx context.Context, q *db.Queries, userID int64, n notice) error {
	_, err := tellOwner(ctx, q, s.now(), s.publicURL, userID, n)
	return err
}

// noticeMessage is the email of a notice.
func noticeMessage(user db.User, n notice, factors string, now time.Time, publicURL string) mail.Message {
	var b strings.Builder
	fmt.Fprintf(&b, "Hello %s,\n\n%s\n\n", greetingName(user), strings.ReplaceAll(n.what, "{email}", emailaddr.Display(user.Email)))
	fmt.Fprintf(&b, "When: %s\n", now.UTC().Format(noticeTime))
	if n.app.Name != "" {
		fmt.Fprintf(&b, "Where: %s\n", n.app.Name)
	}
	if n.address != "" {
		fmt.Fprintf(&b, "From the address: %s\n", n.address)
	}
	fmt.Fprintf(&b, "Second factors of the account now: %s\n", factors)
	reset := resetRequestURL(publicURL, n.app.Slug)
	if n.kind == noticeFactorsReset {
		fmt.Fprintf(&b, "\nSign in with a link emailed to you, or choose a new password here:\n\n%s\n\n"+
			"Then set up a second factor again.\n\nIf you did not ask Plano support for this, choose a new password now "+
			"and contact support at once.\n", reset)
		return mail.Message{Kind: string(n.kind), To: user.Email, Subject: n.subject, Text: b.String()}
	}
	fmt.Fprintf(&b, "\nIf this was you, there is nothing to do.\n\n"+
		"If it was not you, someone else knows your password or holds one of your sessions:\n\n"+
		"1. Choose a new password now (it signs out every session):\n\n%s\n\n"+
		"2. Contact Plano support and tell them this change was not yours. Once they have checked that the account is yours, "+
		"they can remove second factors you did not add, so that you can sign in again.\n", reset)
	return mail.Message{Kind: string(n.kind), To: user.Email, Subject: n.subject, Text: b.String()}
}

// resetRequestURL is the page that asks for a password reset by email in the application of
// slug (the service's own without one): a plain address, with no token.
func resetRequestURL(publicURL, slug string) string {
	u := publicURL + pages.Path(pages.Reset)
	if slug != "" {
		u += "?application=" + url.QueryEscape(slug)
	}
	return u
}

// factorsResetNotice is the notice of an operator's `users reset-mfa`.
func factorsResetNotice(passwordDropped bool) notice {
	what := "Plano support removed every second factor of the Plano account {email} (authenticator app, passkeys) and its recovery codes"
	if passwordDropped {
		what += ", removed its password,"
	}
	return notice{kind: noticeFactorsReset, subject: "Plano support reset the second factors of your account",
		what: what + " and signed out all its sessions."}
}
