-- name: EnqueueEmail :one
-- Queues an email in the caller's transaction, due at once by the caller's clock (the one the
-- worker judges due times and link expiry by); the outbox worker delivers it, minting the token
-- of its link (magic_link_id) as it sends it.
INSERT INTO email_outbox (kind, recipient, subject, body_text, body_html, magic_link_id, next_attempt_at, created_at)
VALUES (@kind, @recipient, @subject, @body_text, @body_html, sqlc.narg(magic_link_id), @now, @now)
RETURNING id;

-- name: ClaimDueEmails :many
-- Claims up to @batch_size due emails for one worker: counts the attempt and moves
-- next_attempt_at to @lease_until, so that no other worker claims them while this one sends
-- (SKIP LOCKED lets concurrent workers pass over rows being claimed instead of waiting), and so
-- that they become due again if this worker dies before recording the outcome.
UPDATE email_outbox o
SET attempts = o.attempts + 1, next_attempt_at = @lease_until
WHERE o.id IN (
    SELECT d.id FROM email_outbox d
    WHERE d.sent_at IS NULL AND d.failed_at IS NULL AND d.next_attempt_at <= @now
    ORDER BY d.next_attempt_at, d.id
    LIMIT @batch_size
    FOR UPDATE SKIP LOCKED
)
RETURNING o.id, o.kind, o.recipient, o.subject, o.body_text, o.body_html, o.attempts, o.magic_link_id;

-- name: MarkEmailSent :execrows
UPDATE email_outbox SET sent_at = @now::timestamptz, last_error = ''
WHERE id = @id AND sent_at IS NULL;

-- name: RetryEmailLater :execrows
-- Records a failed attempt and when to try again. @attempts fences out a worker whose lease ran
-- out and whose row was claimed again meanwhile.
UPDATE email_outbox SET last_error = @last_error, next_attempt_at = @next_attempt_at
WHERE id = @id AND attempts = @attempts AND sent_at IS NULL AND failed_at IS NULL;

-- name: GiveUpEmail :execrows
-- Marks an email as failed for good after its last attempt (fenced like RetryEmailLater).
UPDATE email_outbox SET last_error = @last_error, failed_at = @now::timestamptz
WHERE id = @id AND attempts = @attempts AND sent_at IS NULL AND failed_at IS NULL;

-- name: CreateNotification :one
-- Writes what operators must look at ("the production notifications tab").
INSERT INTO notifications (kind, message, context, created_at)
VALUES (@kind, @message, @context, @now)
RETURNING id;

-- name: ListNotifications :many
-- The newest notifications first.
SELECT id, kind, message, context, created_at
FROM notifications
ORDER BY created_at DESC, id DESC
LIMIT @max_rows;

-- name: RecordSentEmail :one
-- The local (development) mailer's record of an email it "sent".
INSERT INTO sent_emails (kind, recipient, subject, body_text, body_html, created_at)
VALUES (@kind, @recipient, @subject, @body_text, @body_html, @now)
RETURNING id;

-- name: ListSentEmails :many
-- The local mailer's emails, newest first, without their bodies.
SELECT id, kind, recipient, subject, created_at
FROM sent_emails
ORDER BY created_at DESC, id DESC
LIMIT @max_rows;

-- name: GetSentEmail :one
SELECT id, kind, recipient, subject, body_text, body_html, created_at
FROM sent_emails WHERE id = @id;
