package migrate_test

import (
	"context"
	"testing"

	"github.com/plano/planoauth/internal/migrate"
)

// Sessions whose role record was deleted before 00095 are revoked by it; those whose record is
// there stay live.
func TestOrphanedRoleSessionsRevokedByMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, pool, exec := migratedUpTo(t, 84)
	exec(`INSERT INTO users (id, email, email_verified_at) VALUES
		(1, 'grace@example.com', now()), (2, 'former@example.com', now()), (3, 'lia@example.com', now())`)
	exec(`INSERT INTO employees (user_id) VALUES (1)`)
	exec(`INSERT INTO liaisons (user_id, accepted_at) VALUES (3, NULL)`) // invited, not accepted
	exec(`INSERT INTO sessions (token_hash, user_id, application_id, role, scopes, proved_at)
		SELECT decode(md5(u::text), 'hex'), u, (SELECT id FROM applications WHERE slug = 'planox2'),
		       CASE WHEN u = 3 THEN 'liaison' ELSE 'employee' END, '{}', now()
		FROM unnest('{1,2,3}'::bigint[]) u`)
	if err := migrate.Up(ctx, url); err != nil {
		t.Fatal(err)
	}
	live := map[int64]bool{}
	rows, err := pool.Query(ctx, "SELECT user_id, revoked_at IS NULL FROM sessions ORDER BY user_id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var l bool
		if err := rows.Scan(&id, &l); err != nil {
			t.Fatal(err)
		}
		live[id] = l
	}
	rows.Close()
	if !live[1] || live[2] || live[3] {
		t.Errorf("live sessions = %v: want grace's (1) live, the former employee's (2) and the unaccepted liaison's (3) revoked", live)
	}
}
