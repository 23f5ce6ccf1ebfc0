-- The change feed of coexistence/touch and coexistence/index. A touch runs TouchX, then
-- LockCoexistenceFeed, then AppendCoexistenceEvent, in one transaction.

-- name: TouchUser :one
-- Bumps a user's update time for coexistence/touch; no row means no such user.
UPDATE users SET updated_at = now() WHERE id = @id RETURNING id;

-- name: TouchClient :one
UPDATE clients SET updated_at = now() WHERE id = @id RETURNING id;

-- name: TouchEmployee :one
UPDATE employees SET updated_at = now() WHERE id = @id RETURNING id;

-- name: TouchLiaison :one
UPDATE liaisons SET updated_at = now() WHERE id = @id RETURNING id;

-- name: TouchCompany :one
UPDATE companies SET updated_at = now() WHERE id = @id RETURNING id;

-- name: LockCoexistenceFeed :exec
-- Serializes appends to the feed until the transaction ends. Ids come from a sequence, which
-- hands them out at once but the transactions holding them may commit in any order: a reader
-- could see id 6, move its cursor past it, and never see id 5 committed a moment later. Holding
-- this lock from before nextval() until commit makes ids commit in order, so what a reader sees
-- is always a prefix of the feed. The key is arbitrary (the ASCII of "coexfeed"), unique among
-- the project's advisory locks.
SELECT pg_advisory_xact_lock(7165057099958150500);

-- name: AppendCoexistenceEvent :one
-- Appends an event; occurred_at is the transaction's time, the same as the record's new
-- updated_at. Call it after LockCoexistenceFeed in the same transaction.
INSERT INTO coexistence_events (domain, operation, record_id, application_id)
VALUES (@domain, @operation, @record_id, @application_id)
RETURNING id, occurred_at;

-- name: ListCoexistenceEvents :many
-- The events after a cursor, oldest first, with the slug of the application that made each.
SELECT e.id, e.domain, e.operation, e.record_id, a.slug AS application, e.occurred_at
FROM coexistence_events e
JOIN applications a ON a.id = e.application_id
WHERE e.id > @after
ORDER BY e.id
LIMIT @max_results;
