-- The audit trail (internal/audit). AppendAuditEvent is the only writer, and always the last
-- statement of its transaction (see its comment).

-- name: AppendAuditEvent :one
-- Appends an event and queues its delivery to the webhook of its application, in one statement,
-- so that an event outside any transaction (a failed log-in) is never half-written either.
-- Ids come from a sequence, and the transactions holding them may commit in any order: a reader
-- following the trail could see id 6, move its cursor past it, and never see id 5 committed a
-- moment later. The transaction-level advisory lock, taken before nextval() and held until
-- commit, makes ids commit in order, so what a reader sees is always a prefix of the trail.
-- Because it is held until commit, callers append as the last statements of a transaction: a
-- holder then waits for nothing, so no deadlock can involve it. The key is the ASCII of
-- "audittrl", unique among the project's advisory locks.
WITH locked AS (
    SELECT pg_advisory_xact_lock(7022629598042288748)
), event AS (
    INSERT INTO audit_events (occurred_at, kind, actor_type, actor_user_id, user_id, application_id,
                              client_address, request_id, details)
    SELECT @occurred_at::timestamptz, @kind::text, @actor_type::text, sqlc.narg(actor_user_id)::bigint,
           sqlc.narg(user_id)::bigint, sqlc.narg(application_id)::bigint, @client_address::text,
           @request_id::text, @details::jsonb
    FROM locked
    RETURNING id, application_id, occurred_at
), queued AS (
    INSERT INTO webhook_deliveries (webhook_id, event_id, next_attempt_at)
    SELECT w.id, e.id, e.occurred_at FROM event e JOIN webhooks w ON w.application_id = e.application_id
)
SELECT id FROM event;

-- name: ListAuditEventsAfter :many
-- Events after a cursor, oldest first (following the trail), with the slug of their application.
-- Each filter applies when given (non-NULL); @application_id confines an application's token to
-- its own events.
SELECT sqlc.embed(e), a.slug AS application
FROM audit_events e
LEFT JOIN applications a ON a.id = e.application_id
WHERE e.id > @after
  AND (sqlc.narg(application_id)::bigint IS NULL OR e.application_id = sqlc.narg(application_id))
  AND (sqlc.narg(user_id)::bigint IS NULL OR e.user_id = sqlc.narg(user_id))
  AND (sqlc.narg(kind)::text IS NULL OR e.kind = sqlc.narg(kind))
ORDER BY e.id
LIMIT @max_results;

-- name: ListAuditEventsNewest :many
-- Events newest first, before a cursor when given, with the same filters as ListAuditEventsAfter.
SELECT sqlc.embed(e), a.slug AS application
FROM audit_events e
LEFT JOIN applications a ON a.id = e.application_id
WHERE (sqlc.narg(before)::bigint IS NULL OR e.id < sqlc.narg(before))
  AND (sqlc.narg(application_id)::bigint IS NULL OR e.application_id = sqlc.narg(application_id))
  AND (sqlc.narg(user_id)::bigint IS NULL OR e.user_id = sqlc.narg(user_id))
  AND (sqlc.narg(kind)::text IS NULL OR e.kind = sqlc.narg(kind))
ORDER BY e.id DESC
LIMIT @max_results;

-- name: DeleteOldAuditEvents :execrows
-- Events that occurred before @before, at most @batch_size (the retention worker's batch); their
-- deliveries go with them.
DELETE FROM audit_events WHERE id IN (
    SELECT o.id FROM audit_events o WHERE o.occurred_at < @before ORDER BY o.occurred_at LIMIT @batch_size);
