package main

import (
	"strings"
	"testing"
)

// `planoauth users reset-mfa` prints what it did, and changes what it says (the whole flow, with
// the owner's way back in, is tested from the HTTP API in internal/impl, TestOperatorResetsSecondFactors).
func TestUsersResetMFA(t *testing.T) {
	t.Parallel()
	d := newTestDB(t, false)
	ada := d.newSessions(t, "ada@example.com", 2)
	d.exec(t, "UPDATE users SET email_verified_at = now(), password_hash = 'an argon2id hash', mfa_enabled = true WHERE id = $1", ada)
	d.exec(t, `INSERT INTO totp_secrets (user_id, sealed_secret, created_at, confirmed_at) VALUES ($1, 'sealed', now(), now())`, ada)
	d.exec(t, `INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, 'a hash', now())`, ada)
	count := func(sql string) int {
		t.Helper()
		var n int
		if err := d.pool.QueryRow(t.Context(), sql, ada).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("OK", func(t *testing.T) {
		out := d.mustCLI(t, "users", "reset-mfa", "ADA@example.com", "--by", "grace", "--reason", "ticket 4711")
		want := "removed every second factor and recovery code of ada@example.com\n" +
			"dropped the password of ada@example.com: the owner signs in with an emailed link or a password reset\n" +
			"revoked 2 sessions of ada@example.com\n" +
			"queued a notification email to ada@example.com\n"
		if out != want {
			t.Errorf("printed\n%s\nwant\n%s", out, want)
		}
		for sql, want := range map[string]int{
			"SELECT count(*) FROM totp_secrets WHERE user_id = $1":                                                                          0,
			"SELECT count(*) FROM recovery_codes WHERE user_id = $1":                                                                        0,
			"SELECT count(*) FROM users WHERE id = $1 AND password_hash IS NULL AND NOT mfa_enabled":                                        1,
			"SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL":                                                       0,
			"SELECT count(*) FROM email_outbox WHERE recipient = (SELECT email FROM users WHERE id = $1) AND kind = 'second_factors_reset'": 1,
			"SELECT count(*) FROM audit_events WHERE user_id = $1 AND actor_type = 'operator' AND kind = 'mfa.reset_by_operator' " +
				"AND details = '{\"operator\": \"grace\", \"operator_reason\": \"ticket 4711\"}'": 1,
		} {
			if got := count(sql); got != want {
				t.Errorf("%s: %d, want %d", sql, got, want)
			}
		}
		out = d.mustCLI(t, "users", "reset-mfa", "--keep-password", "--by", "grace", "--reason", "ticket 4712", "ada@example.com")
		if !strings.HasPrefix(out, "ada@example.com had no second factor") || strings.Contains(out, "dropped the password") {
			t.Errorf("again printed\n%s", out)
		}
	})
	t.Run("Unverified", func(t *testing.T) {
		d.newSessions(t, "fresh@example.com", 0)
		if out := d.mustCLI(t, "users", "reset-mfa", "fresh@example.com", "--by", "grace", "--reason", "ticket 4713"); !strings.HasSuffix(out, "sent no email: the email of fresh@example.com is not verified\n") {
			t.Errorf("printed\n%s", out)
		}
	})
	t.Run("ErrUnknownUser", func(t *testing.T) {
		_, err := d.cli(t, "users", "reset-mfa", "nobody@example.com", "--by", "grace", "--reason", "ticket 4714")
		if err == nil || !strings.Contains(err.Error(), `no user with email "nobody@example.com"`) {
			t.Errorf("err = %v, want no such user", err)
		}
	})
	t.Run("ErrWithoutWhoAndWhy", func(t *testing.T) {
		bob := d.newSessions(t, "bob@example.com", 1)
		d.exec(t, "UPDATE users SET email_verified_at = now(), password_hash = 'an argon2id hash' WHERE id = $1", bob)
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"bob@example.com"}, "by is required"},
			{[]string{"bob@example.com", "--by", "grace"}, "reason is required"},
			{[]string{"bob@example.com", "--by", " ", "--reason", "ticket"}, "by is required"},
			{[]string{"bob@example.com", "--by", "grace", "--reason", "ticket\n2026-12-01 all is well"}, "reason must be at most 300 printable characters"},
			{[]string{"bob@example.com", "--by", strings.Repeat("g", 101), "--reason", "ticket"}, "by must be at most 100 printable characters"},
		} {
			_, err := d.cli(t, append([]string{"users", "reset-mfa"}, c.args...)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("reset-mfa %q: err = %v, want %q", c.args, err, c.want)
			}
		}
		var live, withPassword, events int
		if err := d.pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL),
			(SELECT count(*) FROM users WHERE id = $1 AND password_hash IS NOT NULL),
			(SELECT count(*) FROM audit_events WHERE user_id = $1)`, bob).Scan(&live, &withPassword, &events); err != nil {
			t.Fatal(err)
		}
		if live != 1 || withPassword != 1 || events != 0 {
			t.Errorf("refused resets changed bob: %d live sessions, %d with password, %d events", live, withPassword, events)
		}
	})
	t.Run("ErrUsage", func(t *testing.T) {
		for _, args := range [][]string{
			{"users"},
			{"users", "list"},
			{"users", "reset-mfa"},
			{"users", "reset-mfa", " "},
			{"users", "reset-mfa", "ada@example.com", "extra"},
			{"users", "reset-mfa", "ada@example.com", "--keep"},
			{"users", "reset-mfa", "--keep-password"},
		} {
			_, err := d.cli(t, args...)
			if err == nil || !strings.Contains(err.Error(), "usage: planoauth users") {
				t.Errorf("planoauth %v: err = %v, want the users usage", args, err)
			}
		}
	})
}
