package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/mail"
)

func TestNotificationsList(t *testing.T) {
	t.Parallel()
	d := newTestDB(t, false)
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for i, kind := range []string{"first-kind", "second-kind", "third-kind"} {
		err := mail.Notify(context.Background(), d.q, start.Add(time.Duration(i)*time.Minute), mail.Notification{
			Kind: kind, Message: "Something about " + kind, Context: map[string]any{"n": i},
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	t.Run("OK", func(t *testing.T) {
		out, err := d.cli(t, "notifications", "list")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") {
			t.Fatalf("output = %q, want a header and 3 rows", out)
		}
		for i, want := range []string{"third-kind", "second-kind", "first-kind"} {
			if !strings.Contains(lines[i+1], want) {
				t.Errorf("row %d = %q, want %s (newest first)", i+1, lines[i+1], want)
			}
		}
		if !strings.Contains(lines[1], "2026-11-23T12:02:00Z") || !strings.Contains(lines[1], `{"n": 2}`) {
			t.Errorf("row = %q, want its time and context", lines[1])
		}
	})
	t.Run("Limit", func(t *testing.T) {
		out, err := d.cli(t, "notifications", "list", "--limit", "2")
		if err != nil {
			t.Fatal(err)
		}
		if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || strings.Contains(out, "first-kind") {
			t.Errorf("output = %q, want the 2 newest rows", out)
		}
	})
	for name, args := range map[string][]string{
		"ErrNoSubcommand": {"notifications"},
		"ErrZeroLimit":    {"notifications", "list", "--limit", "0"},
		"ErrBadLimit":     {"notifications", "list", "--limit", "many"},
		"ErrExtraArg":     {"notifications", "list", "everything"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := d.cli(t, args...); err == nil || !strings.Contains(err.Error(), "usage: planoauth notifications") {
				t.Errorf("run %v = %v, want the usage", args, err)
			}
		})
	}
}

func TestEmails(t *testing.T) {
	t.Parallel()
	d := newTestDB(t, false)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	local := mail.NewLocal(d.q, func() time.Time { return now })
	link := mail.Message{Kind: "magic_link", To: "ada@example.com", Subject: "Your sign-in link", Text: "Open http://127.0.0.1:8080/magic?token=pam_x\n"}
	if err := local.Send(context.Background(), link); err != nil {
		t.Fatal(err)
	}

	t.Run("List", func(t *testing.T) {
		out, err := d.cli(t, "emails", "list")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "ada@example.com") || !strings.Contains(out, "Your sign-in link") || strings.Contains(out, "pam_x") {
			t.Errorf("output = %q, want the recipient and subject but not the body", out)
		}
	})
	t.Run("Show", func(t *testing.T) {
		list, err := d.q.ListSentEmails(context.Background(), 1)
		if err != nil || len(list) != 1 {
			t.Fatal(list, err)
		}
		out, err := d.cli(t, "emails", "show", strconv.FormatInt(list[0].ID, 10))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "To: ada@example.com") || !strings.Contains(out, "token=pam_x") {
			t.Errorf("output = %q, want the headers and the body", out)
		}
	})
	t.Run("ErrUnknownID", func(t *testing.T) {
		if _, err := d.cli(t, "emails", "show", "999"); err == nil || !strings.Contains(err.Error(), "no email 999") {
			t.Errorf("err = %v, want no email 999", err)
		}
	})
}
