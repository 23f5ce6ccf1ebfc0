package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/plano/planoauth/internal/auth"
)

func TestApplicationsRotateToken(t *testing.T) {
	t.Parallel()
	d := newTestDB(t, false)
	storedHash := func(t *testing.T) []byte {
		t.Helper()
		var hash []byte
		if err := d.pool.QueryRow(context.Background(), "SELECT token_hash FROM applications WHERE slug = 'planox2'").Scan(&hash); err != nil {
			t.Fatal(err)
		}
		return hash
	}
	printedToken := func(t *testing.T, out string) string {
		t.Helper()
		fields := strings.Fields(strings.SplitN(out, "\n", 2)[0])
		token := fields[len(fields)-1]
		if !strings.HasPrefix(token, auth.ApplicationPrefix) {
			t.Fatalf("no token in %q", out)
		}
		return token
	}

	t.Run("OK", func(t *testing.T) {
		first := printedToken(t, d.mustCLI(t, "applications", "rotate-token", "planox2"))
		if !bytes.Equal(storedHash(t), auth.HashToken(first)) {
			t.Fatal("the stored hash is not the printed token's")
		}
		second := printedToken(t, d.mustCLI(t, "applications", "rotate-token", "planox2"))
		if second == first || !bytes.Equal(storedHash(t), auth.HashToken(second)) {
			t.Error("a second rotation did not replace the token")
		}
	})
	t.Run("ErrUnknownApplication", func(t *testing.T) {
		_, err := d.cli(t, "applications", "rotate-token", "planoz")
		if err == nil || !strings.Contains(err.Error(), `unknown application "planoz"`) {
			t.Errorf("err = %v, want unknown application", err)
		}
	})
	t.Run("ErrUsage", func(t *testing.T) {
		for _, args := range [][]string{{"applications", "rotate-token"}, {"applications", "rotate-token", "a", "b"}} {
			_, err := d.cli(t, args...)
			if err == nil || !strings.Contains(err.Error(), "usage: planoauth applications") {
				t.Errorf("planoauth %v: err = %v, want the applications usage", args, err)
			}
		}
	})
}

func TestApplicationsCreate(t *testing.T) {
	t.Parallel()
	d := newTestDB(t, false)
	t.Run("ErrNotInTheContract", func(t *testing.T) {
		if _, err := d.cli(t, "applications", "create", "planoworld", "PlanoWorld"); err == nil || !strings.Contains(err.Error(), "ApplicationSlug") {
			t.Errorf("err = %v, want a refusal naming the contract's enum", err)
		}
	})
	t.Run("ErrExists", func(t *testing.T) {
		if _, err := d.cli(t, "applications", "create", "planox2", "PlanoX2"); err == nil || !strings.Contains(err.Error(), "exists already") {
			t.Errorf("err = %v, want exists already", err)
		}
	})
	t.Run("OK", func(t *testing.T) {
		// A contract slug whose row an operator removed can be created again, shaped like planoorder.
		if _, err := d.pool.Exec(context.Background(), "DELETE FROM applications WHERE slug = 'planox2'"); err != nil {
			t.Fatal(err)
		}
		out := d.mustCLI(t, "applications", "create", "planox2", "PlanoX2 again")
		if !strings.Contains(out, "application planox2 token (shown once") {
			t.Fatalf("output %q, want the token", out)
		}
		var roles []string
		var scopes int
		err := d.pool.QueryRow(context.Background(), `SELECT a.roles, (SELECT count(*) FROM role_scopes r WHERE r.application_id = a.id)
			FROM applications a WHERE slug = 'planox2'`).Scan(&roles, &scopes)
		if err != nil || len(roles) != 3 || scopes != 4 {
			t.Errorf("roles %v, %d role scopes (%v); want planoorder's three roles and four role scopes", roles, scopes, err)
		}
	})
}

func TestApplicationsSessionPolicy(t *testing.T) {
	t.Parallel()
	d := newTestDB(t, false)
	policy := func(t *testing.T, slug string) (lifetime, idle int64, rememberMe *int64) {
		t.Helper()
		err := d.pool.QueryRow(context.Background(), `SELECT session_max_age_seconds, session_idle_timeout_seconds,
			remember_me_max_age_seconds FROM applications WHERE slug = $1`, slug).Scan(&lifetime, &idle, &rememberMe)
		if err != nil {
			t.Fatal(err)
		}
		return lifetime, idle, rememberMe
	}

	t.Run("Defaults", func(t *testing.T) {
		out := d.mustCLI(t, "applications", "session-policy", "planoorder")
		if want := "application planoorder: lifetime 7d, idle timeout 72h, remember_me max age none\n"; out != want {
			t.Errorf("output %q, want %q", out, want)
		}
		fields := lineOf(t, d.mustCLI(t, "applications", "list"), "planox2")
		if got := strings.Join(fields[5:8], " "); got != "7d 72h none" {
			t.Errorf("applications list shows the policy as %q, want 7d 72h none", got)
		}
	})
	t.Run("OK", func(t *testing.T) {
		out := d.mustCLI(t, "applications", "session-policy", "planoorder", "--lifetime", "30d", "--idle-timeout", "90m", "--remember-me-max-age", "365d")
		if want := "application planoorder: lifetime 30d, idle timeout 90m, remember_me max age 365d\n"; out != want {
			t.Errorf("output %q, want %q", out, want)
		}
		if lifetime, idle, rememberMe := policy(t, "planoorder"); lifetime != 30*86400 || idle != 90*60 || rememberMe == nil || *rememberMe != 365*86400 {
			t.Errorf("stored %d, %d, %v", lifetime, idle, rememberMe)
		}
		// Only what is given changes; none removes the cap.
		d.mustCLI(t, "applications", "session-policy", "planoorder", "--remember-me-max-age", "none")
		if lifetime, idle, rememberMe := policy(t, "planoorder"); lifetime != 30*86400 || idle != 90*60 || rememberMe != nil {
			t.Errorf("stored %d, %d, %v after removing the cap", lifetime, idle, rememberMe)
		}
		fields := lineOf(t, d.mustCLI(t, "applications", "list"), "planoorder")
		if got := strings.Join(fields[5:8], " "); got != "30d 90m none" {
			t.Errorf("applications list shows %q, want 30d 90m none", got)
		}
		if lifetime, _, _ := policy(t, "planoauth"); lifetime != 7*86400 {
			t.Errorf("planoauth's lifetime changed to %d", lifetime)
		}
	})
	t.Run("ErrBadInput", func(t *testing.T) {
		before1, before2, before3 := policy(t, "planox2")
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"planoz", "--lifetime", "1d"}, `unknown application "planoz"`},
			{[]string{"planox2", "--lifetime", "4m"}, "from 5m to 3650d"},
			{[]string{"planox2", "--idle-timeout", "3651d"}, "from 5m to 3650d"},
			{[]string{"planox2", "--idle-timeout", "90m30.5s"}, "whole seconds"},
			{[]string{"planox2", "--lifetime", "soon"}, "--lifetime"},
			{[]string{"planox2", "--lifetime", "1.5d"}, "whole number of days"},
			{[]string{"planox2", "--remember-me-max-age", ""}, "needs a duration or none"},
			{[]string{"planox2", "--ttl", "1d"}, "usage: planoauth applications session-policy"},
			{[]string{"planox2", "1d"}, "usage: planoauth applications session-policy"},
			{[]string{"--lifetime", "1d"}, "usage: planoauth applications session-policy"},
			{nil, "usage: planoauth applications session-policy"},
		} {
			_, err := d.cli(t, append([]string{"applications", "session-policy"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
			}
		}
		if a, b, c := policy(t, "planox2"); a != before1 || b != before2 || (c == nil) != (before3 == nil) {
			t.Errorf("a refused change changed the policy: %d %d %v", a, b, c)
		}
	})
}

func TestApplicationsRedirects(t *testing.T) {
	t.Parallel()
	d := newTestDB(t, false)
	t.Run("OK", func(t *testing.T) {
		if out := d.mustCLI(t, "applications", "redirects", "list", "planoorder"); !strings.Contains(out, "no redirect origins") {
			t.Errorf("list printed %q, want no origins", out)
		}
		if out := d.mustCLI(t, "applications", "redirects", "add", "planoorder", "HTTPS://Order.Example/"); out != "planoorder now allows redirects to https://order.example\n" {
			t.Errorf("add printed %q", out)
		}
		if out := d.mustCLI(t, "applications", "redirects", "add", "planoorder", "https://order.example"); !strings.Contains(out, "already allows") {
			t.Errorf("add again printed %q", out)
		}
		d.mustCLI(t, "applications", "redirects", "add", "planoorder", "http://127.0.0.1:3000")
		if out := d.mustCLI(t, "applications", "redirects", "list", "planoorder"); out != "http://127.0.0.1:3000\nhttps://order.example\n" {
			t.Errorf("list printed %q", out)
		}
		if out := d.mustCLI(t, "applications", "redirects", "list", "planox2"); !strings.Contains(out, "no redirect origins") {
			t.Errorf("planox2's list printed %q: the lists are per application", out)
		}
		d.mustCLI(t, "applications", "redirects", "remove", "planoorder", "https://order.example")
		if out := d.mustCLI(t, "applications", "redirects", "list", "planoorder"); out != "http://127.0.0.1:3000\n" {
			t.Errorf("list after remove printed %q", out)
		}
	})
	for name, args := range map[string][]string{
		"ErrUnknownApplication": {"add", "planoz", "https://order.example"},
		"ErrPath":               {"add", "planoorder", "https://order.example/welcome"},
		"ErrPlainHTTP":          {"add", "planoorder", "http://order.example"},
		"ErrJavascript":         {"add", "planoorder", "javascript:alert(1)"},
		"ErrNotListed":          {"remove", "planoorder", "https://nowhere.example"},
		"ErrUsage":              {"add", "planoorder"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := d.cli(t, append([]string{"applications", "redirects"}, args...)...); err == nil {
				t.Errorf("planoauth applications redirects %v succeeded", args)
			}
		})
	}
}

func TestApplicationsRequireMFA(t *testing.T) {
	t.Parallel()
	d := newTestDB(t, false)
	require := func(t *testing.T) bool {
		t.Helper()
		var on bool
		if err := d.pool.QueryRow(context.Background(), "SELECT require_mfa FROM applications WHERE slug = 'planoorder'").Scan(&on); err != nil {
			t.Fatal(err)
		}
		return on
	}
	if out := d.mustCLI(t, "applications", "require-mfa", "planoorder", "on"); !strings.Contains(out, "now requires a second factor") || !require(t) {
		t.Errorf("on: printed %q, require_mfa %t", out, require(t))
	}
	if got := listColumn(t, d.mustCLI(t, "applications", "list"), "planoorder", "REQUIRE-MFA"); got != "true" {
		t.Errorf("applications list shows REQUIRE-MFA %q for planoorder, want true", got)
	}
	d.mustCLI(t, "applications", "require-mfa", "planoorder", "off")
	if require(t) {
		t.Error("off left it on")
	}
	var kinds []string
	if err := d.pool.QueryRow(context.Background(), "SELECT array_agg(kind ORDER BY id) FROM audit_events WHERE actor_type = 'operator'").Scan(&kinds); err != nil ||
		strings.Join(kinds, ",") != "application.mfa_required,application.mfa_optional" {
		t.Errorf("operators' events %v, %v; want the requirement set and lifted", kinds, err)
	}
	for _, args := range [][]string{{"require-mfa", "planoworld", "on"}, {"require-mfa", "planoorder", "maybe"}, {"require-mfa", "planoorder"}} {
		if _, err := d.cli(t, append([]string{"applications"}, args...)...); err == nil {
			t.Errorf("%v was taken", args)
		}
	}
}

// listColumn reads one column of a row of a table the CLI printed (no value holds a space).
func listColumn(t *testing.T, out, row, column string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	header := strings.Fields(lines[0])
	for _, line := range lines[1:] {
		if fields := strings.Fields(line); len(fields) == len(header) && fields[0] == row {
			for i, name := range header {
				if name == column {
					return fields[i]
				}
			}
		}
	}
	t.Fatalf("no column %s of row %s in:\n%s", column, row, out)
	return ""
}
