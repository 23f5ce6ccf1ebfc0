package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/gen/db"
)

// newClient gives email a verified (or not) user and a client, and returns the client's id.
func (d *testDB) newClient(t *testing.T, email string, verified bool) int64 {
	t.Helper()
	ctx := context.Background()
	var at *time.Time
	if verified {
		now := time.Now()
		at = &now
	}
	user, err := d.q.CreateUser(ctx, db.CreateUserParams{Email: email, EmailVerifiedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	client, err := d.q.CreateClient(ctx, db.CreateClientParams{UserID: user.ID})
	if err != nil {
		t.Fatal(err)
	}
	return client.ID
}

func (d *testDB) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := d.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestCompanies(t *testing.T) {
	t.Parallel()
	d := newTestDB(t, false)
	ctx := context.Background()
	company, err := d.q.CreateCompany(ctx, db.CreateCompanyParams{Name: "Analytical Engines", Enterprise: true})
	if err != nil {
		t.Fatal(err)
	}
	owner := d.newClient(t, "owner@example.com", true)
	d.exec(t, "UPDATE clients SET company_id = $1 WHERE id = $2", company.ID, owner)
	d.exec(t, "UPDATE companies SET owner_client_id = $1 WHERE id = $2", owner, company.ID)
	ada, fresh := d.newClient(t, "ada@example.com", true), d.newClient(t, "fresh@example.com", false)
	for _, client := range []int64{ada, fresh} {
		d.exec(t, "INSERT INTO company_member_requests (client_id, company_id) VALUES ($1, $2)", client, company.ID)
	}
	id := func(n int64) string { return strconv.FormatInt(n, 10) }
	// state reads the first column of the line of email in `companies members`.
	state := func(out, email string) string {
		for line := range strings.SplitSeq(out, "\n") {
			if strings.Contains(line, email) {
				return strings.Fields(line)[0]
			}
		}
		return ""
	}

	t.Run("Members", func(t *testing.T) {
		out := d.mustCLI(t, "companies", "members", id(company.ID))
		if !strings.HasPrefix(out, "enterprise company "+id(company.ID)+": Analytical Engines\n") {
			t.Errorf("printed\n%s\nwant the company first", out)
		}
		for email, want := range map[string]string{"owner@example.com": "owner", "ada@example.com": "requested", "fresh@example.com": "requested"} {
			if got := state(out, email); got != want {
				t.Errorf("%s is %q, want %q, in\n%s", email, got, want, out)
			}
		}
		if !strings.Contains(out, "fresh@example.com  false") {
			t.Errorf("printed\n%s\nwant fresh shown unverified", out)
		}
	})
	t.Run("Approve", func(t *testing.T) {
		if out := d.mustCLI(t, "companies", "approve", id(company.ID), id(ada)); !strings.Contains(out, "is a member") {
			t.Errorf("printed %q", out)
		}
		if got := state(d.mustCLI(t, "companies", "members", id(company.ID)), "ada@example.com"); got != "member" {
			t.Errorf("ada is %q, want member", got)
		}
	})
	t.Run("ErrApproveUnverified", func(t *testing.T) {
		_, err := d.cli(t, "companies", "approve", id(company.ID), id(fresh))
		if err == nil || !strings.Contains(err.Error(), "client_id the client's email is not verified") {
			t.Errorf("err = %v, want the unverified email named", err)
		}
	})
	t.Run("Remove", func(t *testing.T) {
		d.mustCLI(t, "companies", "remove", id(company.ID), id(ada))
		d.mustCLI(t, "companies", "remove", id(company.ID), id(fresh)) // refuses the request
		out := d.mustCLI(t, "companies", "members", id(company.ID))
		if strings.Contains(out, "ada@example.com") || strings.Contains(out, "fresh@example.com") {
			t.Errorf("printed\n%s\nwant only the owner", out)
		}
	})
	t.Run("ErrRemoveOwner", func(t *testing.T) {
		_, err := d.cli(t, "companies", "remove", id(company.ID), id(owner))
		if err == nil || !strings.Contains(err.Error(), "owner") {
			t.Errorf("err = %v, want the owner refused", err)
		}
	})
	t.Run("ErrUnknownCompany", func(t *testing.T) {
		_, err := d.cli(t, "companies", "members", "987654")
		if err == nil || !strings.Contains(err.Error(), "no company has the id 987654") {
			t.Errorf("err = %v, want the unknown company named", err)
		}
	})
	t.Run("ErrUsage", func(t *testing.T) {
		for _, args := range [][]string{
			{"companies"}, {"companies", "members"}, {"companies", "members", "x"}, {"companies", "members", "0"},
			{"companies", "approve", "1"}, {"companies", "remove", "1", "2", "3"}, {"companies", "list", "1"},
		} {
			_, err := d.cli(t, args...)
			if err == nil || !strings.Contains(err.Error(), "usage: planoauth companies") {
				t.Errorf("planoauth %v: err = %v, want the companies usage", args, err)
			}
		}
	})
}
