package migrate_test

import (
	"context"
	"os"
	"testing"

	"github.com/plano/planoauth/internal/dbtest"
	"github.com/plano/planoauth/internal/migrate"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m, migrate.Up)) }

// Users stored before emails were normalized: the migration stores every email normalized, and
// of two emails that normalize alike keeps the proven one (else the oldest) and renames the
// other, revoking its sessions and telling operators.
func TestEmailsNormalizedByMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, pool, exec := migratedUpTo(t, 20)
	exec(`INSERT INTO users (id, email, email_verified_at) VALUES
		(1, 'ÉVA@x.example', NULL), (2, 'éva@x.example', now()),
		(3, 'Ada@Example.com', NULL), (4, 'zoe' || chr(776) || '@x.example', NULL),
		(5, 'ÉMILE@x.example', NULL), (6, 'émile@x.example', NULL), (7, 'grace@example.com', NULL)`)
	exec(`INSERT INTO sessions (token_hash, user_id, application_id, role, scopes)
		SELECT decode(md5(u::text), 'hex'), u, (SELECT id FROM applications WHERE slug = 'planoorder'), 'client', '{}'
		FROM unnest('{1,2,6}'::bigint[]) u`)
	// Client sessions need client records: 00095 revokes the sessions whose role record is gone.
	exec(`INSERT INTO clients (user_id) VALUES (1), (2), (6)`)

	if err := migrate.Up(ctx, url); err != nil {
		t.Fatal(err)
	}
	want := map[int64]string{1: "duplicate-1@invalid", 2: "éva@x.example", 3: "ada@example.com", 4: "zoë@x.example",
		5: "émile@x.example", 6: "duplicate-6@invalid", 7: "grace@example.com"}
	rows, err := pool.Query(ctx, "SELECT id, email, EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id AND s.revoked_at IS NULL) FROM users u ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	live := map[int64]bool{}
	for rows.Next() {
		var id int64
		var email string
		var hasLive bool
		if err := rows.Scan(&id, &email, &hasLive); err != nil {
			t.Fatal(err)
		}
		if email != want[id] {
			t.Errorf("user %d: email %q, want %q", id, email, want[id])
		}
		live[id] = hasLive
	}
	rows.Close()
	if live[1] || live[6] || !live[2] {
		t.Errorf("live sessions = %v: want the renamed users' (1, 6) revoked and the kept user's (2) kept", live)
	}
	var notes int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE kind = 'email-collision'
		AND (context @> '{"kept_user_id": 2, "renamed_user_id": 1}' OR context @> '{"kept_user_id": 5, "renamed_user_id": 6}')`).Scan(&notes); err != nil {
		t.Fatal(err)
	}
	if notes != 2 {
		t.Errorf("%d email-collision notifications naming the right users, want 2", notes)
	}
	for _, bad := range []string{"éva@x.example", "Grace@example.com"} { // taken; not normalized
		if _, err := pool.Exec(ctx, "INSERT INTO users (email) VALUES ($1)", bad); err == nil {
			t.Errorf("inserting %q succeeded", bad)
		}
	}
}
