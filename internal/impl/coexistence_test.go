package impl_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/impl"
)

const (
	coexistenceTouch = "/api/v1/coexistence/touch"
	coexistenceIndex = "/api/v1/coexistence/index"
)

// domains returns the contract's CoexistenceDomain enum.
func domains(t *testing.T, env *apitest.Env) []gen.CoexistenceDomain {
	t.Helper()
	var all []gen.CoexistenceDomain
	for _, v := range env.Schema("CoexistenceDomain").Enum {
		all = append(all, gen.CoexistenceDomain(fmt.Sprint(v)))
	}
	return all
}

// domainOperations is coexistence/touch's x-domain-operations.
func domainOperations(env *apitest.Env) map[string][]string {
	return env.Spec.Operation("coexistenceTouch").DomainOperations()
}

// newRecord creates a record of a coexistence domain and returns its id.
func newRecord(t *testing.T, env *apitest.Env, domain gen.CoexistenceDomain, n int) int64 {
	t.Helper()
	ctx := context.Background()
	userID := env.User(fmt.Sprintf("%s%d@example.com", domain, n), "")
	var id int64
	var err error
	switch domain {
	case gen.Users:
		return userID
	case gen.Clients:
		var row db.CreateClientRow
		row, err = env.Q.CreateClient(ctx, db.CreateClientParams{UserID: userID})
		id = row.ID
	case gen.Employees:
		id, err = env.Q.CreateEmployee(ctx, userID)
	case gen.Liaisons:
		id, err = env.Q.CreateLiaison(ctx, userID)
	case gen.Companies:
		err = env.Pool.QueryRow(ctx, "INSERT INTO companies (name) VALUES ($1) RETURNING id", fmt.Sprint("Company ", n)).Scan(&id)
	default:
		t.Fatalf("no fixture for domain %s: add one here along with its toucher", domain)
	}
	if err != nil {
		t.Fatalf("create a %s record: %v", domain, err)
	}
	return id
}

func touchRecord(env *apitest.Env, domain gen.CoexistenceDomain, operation gen.CoexistenceOperation, id int64) *apitest.Response {
	env.T.Helper()
	return env.PostJSON(coexistenceTouch, map[string]any{"domain": domain, "operation": operation, "id": id}, env.AppTokens["planoorder"])
}

func readFeed(t *testing.T, env *apitest.Env, query string) gen.CoexistenceFeed {
	t.Helper()
	res := env.Get(coexistenceIndex+query, env.AppTokens["planox2"]).Expect(t, 200, gen.StatusActionSuccessful)
	var feed gen.CoexistenceFeed
	res.Data(t, &feed)
	return feed
}

func TestCoexistenceDomainsAreComplete(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	table := domainOperations(env)
	var operations []string
	for _, v := range env.Schema("CoexistenceOperation").Enum {
		operations = append(operations, fmt.Sprint(v))
	}
	for _, domain := range domains(t, env) {
		if !impl.HasToucher(domain) {
			t.Errorf("domain %s of the contract has no toucher in impl/coexistence.go", domain)
		}
		if len(table[string(domain)]) == 0 {
			t.Errorf("domain %s has no operations in x-domain-operations", domain)
		}
	}
	for domain, ops := range table {
		if !slices.Contains(domains(t, env), gen.CoexistenceDomain(domain)) {
			t.Errorf("x-domain-operations names %s, which is not a CoexistenceDomain", domain)
		}
		for _, op := range ops {
			if !slices.Contains(operations, op) {
				t.Errorf("x-domain-operations gives %s the operation %s, which is not a CoexistenceOperation", domain, op)
			}
		}
	}
}

func TestCoexistenceTouch(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	clientID := newRecord(t, env, gen.Clients, 0)

	t.Run("OK", func(t *testing.T) {
		var before time.Time
		if err := env.Pool.QueryRow(ctx, "SELECT updated_at FROM clients WHERE id = $1", clientID).Scan(&before); err != nil {
			t.Fatal(err)
		}
		res := touchRecord(env, gen.Clients, gen.Activate, clientID).Expect(t, 200, gen.StatusActionSuccessful)
		var event gen.CoexistenceEvent
		res.Data(t, &event)
		want := gen.CoexistenceEvent{Id: event.Id, Domain: gen.Clients, Operation: gen.Activate, RecordId: clientID,
			Application: gen.Planoorder, OccurredAt: event.OccurredAt}
		if event != want || event.Id < 1 {
			t.Errorf("event = %+v, want %+v with an id", event, want)
		}
		var after time.Time
		if err := env.Pool.QueryRow(ctx, "SELECT updated_at FROM clients WHERE id = $1", clientID).Scan(&after); err != nil {
			t.Fatal(err)
		}
		if !after.After(before) || !after.Equal(event.OccurredAt) {
			t.Errorf("updated_at went from %s to %s, want it bumped to occurred_at %s", before, after, event.OccurredAt)
		}
	})
	t.Run("ErrDomainInvalid", func(t *testing.T) {
		res := touchRecord(env, "planets", gen.Update, clientID).Expect(t, 400, gen.StatusDomainInvalid)
		if got, want := res.Params(), []string{"domain"}; !slices.Equal(got, want) {
			t.Errorf("errors = %v, want %v", got, want)
		}
	})
	t.Run("ErrOperationInvalid", func(t *testing.T) {
		for name, tt := range map[string]struct {
			domain    gen.CoexistenceDomain
			operation gen.CoexistenceOperation
		}{
			"UnknownOperation":     {gen.Clients, "explode"},
			"NotForThisDomain":     {gen.Users, gen.Activate},
			"NotForThisDomainToo":  {gen.Companies, gen.Deactivate},
			"UnknownForEveryTable": {gen.Employees, "activated"},
		} {
			t.Run(name, func(t *testing.T) {
				res := touchRecord(env, tt.domain, tt.operation, clientID).Expect(t, 400, gen.StatusOperationInvalid)
				if got, want := res.Params(), []string{"operation"}; !slices.Equal(got, want) {
					t.Errorf("errors = %v, want %v", got, want)
				}
			})
		}
	})
	t.Run("ErrRecordNotFound", func(t *testing.T) {
		before := readFeed(t, env, "")
		res := touchRecord(env, gen.Clients, gen.Update, clientID+1000).Expect(t, 400, gen.StatusRecordNotFound)
		if got, want := res.Params(), []string{"id"}; !slices.Equal(got, want) {
			t.Errorf("errors = %v, want %v", got, want)
		}
		// A user id is not a client id: the record is looked up in the domain's own table.
		userID := newRecord(t, env, gen.Users, 1)
		touchRecord(env, gen.Employees, gen.Update, userID).Expect(t, 400, gen.StatusRecordNotFound)
		if after := readFeed(t, env, ""); len(after.Results) != len(before.Results) {
			t.Errorf("feed grew from %d to %d events after failed touches", len(before.Results), len(after.Results))
		}
	})
	t.Run("ErrSessionToken", func(t *testing.T) {
		// Only applications touch records: a user's session is not accepted.
		env.User("ada@example.com", password, "employee")
		token := env.Login("ada@example.com", password, "planoorder")
		env.PostJSON(coexistenceTouch, map[string]any{"domain": gen.Clients, "operation": gen.Update, "id": clientID}, token).
			Expect(t, 403, gen.StatusPermissionDenied)
	})
}

func TestCoexistenceFeedHasEachTouchOnce(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	type touched struct {
		domain gen.CoexistenceDomain
		id     int64
	}
	want := map[touched]int64{} // -> the event id the touch answered
	for n, domain := range domains(t, env) {
		id := newRecord(t, env, domain, n)
		operation := gen.CoexistenceOperation(domainOperations(env)[string(domain)][0])
		var event gen.CoexistenceEvent
		touchRecord(env, domain, operation, id).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &event)
		want[touched{domain, id}] = event.Id
	}
	seen := map[touched]int{}
	for _, event := range readFeed(t, env, "?limit=500").Results {
		key := touched{event.Domain, event.RecordId}
		seen[key]++
		if event.Id != want[key] {
			t.Errorf("feed has event %d for %s %d, the touch answered %d", event.Id, key.domain, key.id, want[key])
		}
	}
	for key := range want {
		if seen[key] != 1 {
			t.Errorf("%s %d appears %d times in the feed, want once", key.domain, key.id, seen[key])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("feed has %d touched records, want %d", len(seen), len(want))
	}
}

func TestCoexistenceIndex(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	var touched []int64 // event ids, in the order of the touches
	for n := range 5 {
		id := newRecord(t, env, gen.Companies, n)
		var event gen.CoexistenceEvent
		touchRecord(env, gen.Companies, gen.Update, id).Expect(t, 200, gen.StatusActionSuccessful).Data(t, &event)
		touched = append(touched, event.Id)
	}

	t.Run("OK", func(t *testing.T) {
		feed := readFeed(t, env, "")
		if got := eventIDs(feed); !slices.Equal(got, touched) {
			t.Errorf("feed = %v, want the touches in order %v", got, touched)
		}
		if feed.NextCursor != touched[len(touched)-1] {
			t.Errorf("next_cursor = %d, want the last id %d", feed.NextCursor, touched[len(touched)-1])
		}
	})
	t.Run("FollowTheCursor", func(t *testing.T) {
		var followed []int64
		cursor := int64(0)
		for page := 0; ; page++ {
			if page > len(touched) {
				t.Fatalf("still reading after %d pages: %v", page, followed)
			}
			feed := readFeed(t, env, fmt.Sprintf("?after=%d&limit=2", cursor))
			if len(feed.Results) > 2 {
				t.Fatalf("page of %d events, want at most 2", len(feed.Results))
			}
			if len(feed.Results) == 0 {
				if feed.NextCursor != cursor {
					t.Errorf("empty page: next_cursor = %d, want after unchanged (%d)", feed.NextCursor, cursor)
				}
				break
			}
			followed = append(followed, eventIDs(feed)...)
			cursor = feed.NextCursor
		}
		if !slices.Equal(followed, touched) {
			t.Errorf("followed %v, want %v", followed, touched)
		}
	})
	t.Run("AfterTheMiddle", func(t *testing.T) {
		feed := readFeed(t, env, fmt.Sprintf("?after=%d", touched[2]))
		if got := eventIDs(feed); !slices.Equal(got, touched[3:]) {
			t.Errorf("feed after %d = %v, want %v", touched[2], got, touched[3:])
		}
	})
	t.Run("ErrSessionToken", func(t *testing.T) {
		env.User("ada@example.com", password, "employee")
		token := env.Login("ada@example.com", password, "planoorder")
		env.Get(coexistenceIndex, token).Expect(t, 403, gen.StatusPermissionDenied)
	})
}

func TestCoexistenceIndexDefaultLimit(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	// 101 events straight in the table: more than the contract's default page of 100.
	_, err := env.Pool.Exec(context.Background(), `INSERT INTO coexistence_events (domain, operation, record_id, application_id)
		SELECT 'users', 'update', n, (SELECT id FROM applications WHERE slug = 'planoauth') FROM generate_series(1, 101) AS n`)
	if err != nil {
		t.Fatal(err)
	}
	feed := readFeed(t, env, "")
	if got := len(feed.Results); got != 100 {
		t.Errorf("%d events without a limit, want the default 100", got)
	}
	if rest := readFeed(t, env, fmt.Sprintf("?after=%d", feed.NextCursor)); len(rest.Results) != 1 {
		t.Errorf("%d events after the first page, want 1", len(rest.Results))
	}
}

// TestCoexistenceFeedCommitsInOrder holds an append open (its id taken, not committed) and
// touches another record meanwhile: the second append must wait for the first to commit, or a
// reader could see the later id and move its cursor past the earlier one for good.
func TestCoexistenceFeedCommitsInOrder(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	first, second := newRecord(t, env, gen.Users, 1), newRecord(t, env, gen.Users, 2)

	tx, err := env.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	app, err := env.Q.GetApplicationBySlug(ctx, "planoauth")
	if err != nil {
		t.Fatal(err)
	}
	held := appendInTx(t, tx, first, app.ID)

	body, _ := json.Marshal(map[string]any{"domain": gen.Users, "operation": gen.Update, "id": second})
	done := env.Start(apitest.Request(http.MethodPost, coexistenceTouch, "application/json", body, env.AppTokens["planoorder"]))
	waitForAdvisoryLockWaiter(t, env, done)
	if feed := readFeed(t, env, ""); len(feed.Results) != 0 {
		t.Fatalf("feed = %v while the first append is uncommitted, want nothing yet", eventIDs(feed))
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var res struct{ Data gen.CoexistenceEvent }
	done.Wait().Expect(t, 200, gen.StatusActionSuccessful).Data(t, &res.Data)
	if res.Data.Id <= held {
		t.Errorf("second append got id %d, not after the first's %d", res.Data.Id, held)
	}
	if got, want := eventIDs(readFeed(t, env, "")), []int64{held, res.Data.Id}; !slices.Equal(got, want) {
		t.Errorf("feed = %v, want %v", got, want)
	}
}

// appendInTx does what a touch does, in a transaction the test commits later.
func appendInTx(t *testing.T, tx pgx.Tx, userID, applicationID int64) int64 {
	t.Helper()
	ctx := context.Background()
	q := db.New(tx)
	if _, err := q.TouchUser(ctx, userID); err != nil {
		t.Fatal(err)
	}
	if err := q.LockCoexistenceFeed(ctx); err != nil {
		t.Fatal(err)
	}
	appended, err := q.AppendCoexistenceEvent(ctx, db.AppendCoexistenceEventParams{
		Domain: string(gen.Users), Operation: string(gen.Update), RecordID: userID, ApplicationID: applicationID,
	})
	if err != nil {
		t.Fatal(err)
	}
	return appended.ID
}

// waitForAdvisoryLockWaiter returns once a session of the test's database waits for an advisory
// lock, and fails if the touch finishes first (it did not wait for the feed's lock).
func waitForAdvisoryLockWaiter(t *testing.T, env *apitest.Env, inFlight *apitest.InFlight) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-inFlight.Done():
			t.Fatalf("the second touch finished (%d) while the first append was uncommitted", inFlight.Wait().Code)
		default:
		}
		var waiting bool
		err := env.Pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_locks l
			JOIN pg_database d ON d.oid = l.database
			WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database())`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting {
			return
		}
		time.Sleep(5 * time.Millisecond) // polling PostgreSQL's lock table, bounded by the deadline
	}
	t.Fatal("the second touch never waited for the feed's lock")
}

func eventIDs(feed gen.CoexistenceFeed) []int64 {
	ids := make([]int64, 0, len(feed.Results))
	for _, e := range feed.Results {
		ids = append(ids, e.Id)
	}
	return ids
}
