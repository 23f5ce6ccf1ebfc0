-- name: TryRetentionLock :one
-- Takes the session-level advisory lock that makes one retention worker run at a time, on
-- this connection; false when another instance holds it.
SELECT pg_try_advisory_lock(@lock_key::bigint)::boolean AS locked;

-- name: ReleaseRetentionLock :one
SELECT pg_advisory_unlock(@lock_key::bigint)::boolean AS released;

-- name: DeleteExpiredLimitCounters :execrows
-- Counters whose window ended before @before (each batch at most @batch_size rows, so no
-- statement holds many locks for long).
DELETE FROM limit_counters WHERE key IN (
    SELECT c.key FROM limit_counters c WHERE c.expires_at < @before ORDER BY c.expires_at LIMIT @batch_size);

-- name: DeleteOldSessions :execrows
-- Sessions revoked before @revoked_before, and sessions that could not be used after
-- @expired_before (the latest they could expire, whatever their application's policy now),
-- but those a device token or a known address still names (the session it came with: removing
-- the factor that session stood on drops it, limits.ForgetEnded, even long after), and those
-- that made a passkey, an app or recovery codes still there; they go once those go. A session
-- named by another's derived_from stays while that one is needed (DerivedSessions walks from
-- the session on a factor to those that stood on what it made): needed is every session named,
-- transitively, by one that is kept of its own (not past retention, or holding one of the
-- above). Sessions that name only each other (a cycle: each used what the other made) and hold
-- nothing go (review 17: they stayed forever). needed is built once per batch from the sessions
-- that name any (derived_from <> '{}': the partial index sessions_derived_from_named_idx, 00085)
-- and joined against, not asked per session: asking, for each session, whether any other names
-- it scanned the table each time (two minutes a batch at 200,000 sessions), and scanning needed
-- for each one named grew with every batch, since those kept are asked again (README, Retention).
WITH RECURSIVE needed (id) AS (
    SELECT m.id FROM sessions s CROSS JOIN LATERAL unnest(s.derived_from) AS m (id)
    WHERE s.derived_from <> '{}'
      AND (NOT (coalesce(s.revoked_at < @revoked_before, false) OR coalesce(s.max_expires_at < @expired_before, false))
           OR EXISTS (SELECT 1 FROM device_tokens d WHERE d.session_id = s.id)
           OR EXISTS (SELECT 1 FROM known_addresses k WHERE k.session_id = s.id)
           OR EXISTS (SELECT 1 FROM passkeys p WHERE p.made_by = s.id)
           OR EXISTS (SELECT 1 FROM totp_secrets t WHERE t.made_by = s.id)
           OR EXISTS (SELECT 1 FROM recovery_codes r WHERE r.made_by = s.id))
    UNION
    SELECT m.id FROM needed n JOIN sessions s ON s.id = n.id AND s.derived_from <> '{}'
    CROSS JOIN LATERAL unnest(s.derived_from) AS m (id)
)
DELETE FROM sessions WHERE id IN (
    SELECT s.id FROM sessions s WHERE s.revoked_at < @revoked_before
      AND NOT EXISTS (SELECT 1 FROM device_tokens d WHERE d.session_id = s.id)
      AND NOT EXISTS (SELECT 1 FROM known_addresses k WHERE k.session_id = s.id)
      AND NOT EXISTS (SELECT 1 FROM passkeys p WHERE p.made_by = s.id)
      AND NOT EXISTS (SELECT 1 FROM totp_secrets t WHERE t.made_by = s.id)
      AND NOT EXISTS (SELECT 1 FROM recovery_codes r WHERE r.made_by = s.id)
      AND NOT EXISTS (SELECT 1 FROM needed n WHERE n.id = s.id) LIMIT @batch_size)
OR id IN (
    SELECT s.id FROM sessions s WHERE s.max_expires_at < @expired_before
      AND NOT EXISTS (SELECT 1 FROM device_tokens d WHERE d.session_id = s.id)
      AND NOT EXISTS (SELECT 1 FROM known_addresses k WHERE k.session_id = s.id)
      AND NOT EXISTS (SELECT 1 FROM passkeys p WHERE p.made_by = s.id)
      AND NOT EXISTS (SELECT 1 FROM totp_secrets t WHERE t.made_by = s.id)
      AND NOT EXISTS (SELECT 1 FROM recovery_codes r WHERE r.made_by = s.id)
      AND NOT EXISTS (SELECT 1 FROM needed n WHERE n.id = s.id) LIMIT @batch_size);

-- name: DeleteExpiredMagicLinks :execrows
DELETE FROM magic_links WHERE id IN (
    SELECT m.id FROM magic_links m WHERE m.expires_at < @before ORDER BY m.expires_at LIMIT @batch_size);

-- name: DeleteOldSentEmails :execrows
DELETE FROM sent_emails WHERE id IN (
    SELECT e.id FROM sent_emails e WHERE e.created_at < @before ORDER BY e.created_at LIMIT @batch_size);

-- name: DeleteOldNotifications :execrows
DELETE FROM notifications WHERE id IN (
    SELECT n.id FROM notifications n WHERE n.created_at < @before ORDER BY n.created_at LIMIT @batch_size);

-- name: DeleteFinishedOutboxEmails :execrows
-- Queued emails sent, or given up on, before @before.
DELETE FROM email_outbox WHERE id IN (
    SELECT o.id FROM email_outbox o WHERE o.sent_at < @before LIMIT @batch_size)
OR id IN (
    SELECT o.id FROM email_outbox o WHERE o.failed_at < @before LIMIT @batch_size);

-- name: DeleteExpiredDeviceTokens :execrows
DELETE FROM device_tokens WHERE id IN (
    SELECT d.id FROM device_tokens d WHERE d.expires_at < @before ORDER BY d.expires_at LIMIT @batch_size);

-- name: DeleteExpiredKnownAddresses :execrows
DELETE FROM known_addresses WHERE (user_id, address) IN (
    SELECT k.user_id, k.address FROM known_addresses k WHERE k.expires_at < @before ORDER BY k.expires_at LIMIT @batch_size);

-- name: TurnOffJIT :exec
-- For the retention round's connection (ResetJIT gives it back as configured): see RunOnce.
SET jit = off;

-- name: ResetJIT :exec
RESET jit;
