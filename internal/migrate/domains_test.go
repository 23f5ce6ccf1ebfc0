package migrate_test

import (
	"context"
	"testing"

	"github.com/plano/planoauth/internal/migrate"
)

// Users stored while emails kept an internationalised domain as written: the migration stores
// each in its ASCII (IDNA) form. Two users of one form (one mailbox, two accounts, neither
// proven) settle as 00023 settled them: the oldest keeps the address, the other is renamed
// 'duplicate-<id>@invalid' with its sessions revoked, operators are told, and nothing fails.
func TestEmailDomainsNormalizedByMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, pool, exec := migratedUpTo(t, 96)
	exec(`INSERT INTO users (id, email) VALUES (1, 'ada@exämple.com'), (2, 'ada@xn--exmple-cua.com'),
		(3, 'bob@bücher.example'), (4, 'grace@example.com'), (5, 'élodie@bücher.example')`)

	exec(`INSERT INTO sessions (token_hash, user_id, application_id, role, scopes, proved_at)
		SELECT '\x02', 2, id, 'client', '{}', now() FROM applications WHERE slug = 'planoorder'`)
	if err := migrate.Up(ctx, url); err != nil {
		t.Fatal(err)
	}
	want := map[int64]string{1: "ada@xn--exmple-cua.com", 2: "duplicate-2@invalid", 3: "bob@xn--bcher-kva.example",
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
		AND context @> '{"kept_user_id": 1, "renamed_user_id": 2}'`).Scan(&notes); err != nil {
		t.Fatal(err)
	}
	if notes != 1 {
		t.Errorf("%d email-collision notifications naming users 1 and 2, want 1", notes)
	}
	var live int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE user_id = 2 AND revoked_at IS NULL`).Scan(&live); err != nil {
		t.Fatal(err)
	}
	if live != 0 {
		t.Errorf("the renamed user has %d live sessions, want 0", live)
	}
}
