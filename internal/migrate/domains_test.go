package migrate_test

import (
	"context"
	"testing"

	"github.com/plano/planoauth/internal/migrate"
)

// Users stored while emails kept an internationalised domain as written: the migration stores
// each in its ASCII (IDNA) form, but leaves a user whose form another user has already (one
// mailbox, two accounts) as it is, tells operators, and does not fail.
func TestEmailDomainsNormalizedByMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, pool, exec := migratedUpTo(t, 96)
	exec(`INSERT INTO users (id, email) VALUES (1, 'ada@exämple.com'), (2, 'ada@xn--exmple-cua.com'),
		(3, 'bob@bücher.example'), (4, 'grace@example.com'), (5, 'élodie@bücher.example')`)

	if err := migrate.Up(ctx, url); err != nil {
		t.Fatal(err)
	}
	want := map[int64]string{1: "ada@exämple.com", 2: "ada@xn--exmple-cua.com", 3: "bob@xn--bcher-kva.example",
		4: "grace@example.com", 5: "élodie@xn--bcher-kva.example"}
	rows, err := pool.Query(ctx, "SELECT id, email FROM users ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var email string
		if err := rows.Scan(&id, &email); err != nil {
			t.Fatal(err)
		}
		if email != want[id] {
			t.Errorf("user %d: email %q, want %q", id, email, want[id])
		}
	}
	rows.Close()
	var notes int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE kind = 'email-collision'
		AND context @> '{"kept_user_id": 2, "unchanged_user_id": 1}'`).Scan(&notes); err != nil {
		t.Fatal(err)
	}
	if notes != 1 {
		t.Errorf("%d email-collision notifications naming users 2 and 1, want 1", notes)
	}
}
