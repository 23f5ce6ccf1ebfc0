-- Webhook endpoints (`planoauth webhooks`) and the delivery queue (internal/webhooks). Deliveries
-- are queued by AppendAuditEvent (sql/queries/audit.sql) and by ReplayWebhookEvents.

-- name: CreateWebhook :one
-- Registers an application's endpoint; no row when it has one already (change it with
-- UpdateWebhookURL).
INSERT INTO webhooks (application_id, url, secret_sealed)
VALUES (@application_id, @url, @secret_sealed)
ON CONFLICT (application_id) DO NOTHING
RETURNING id;

-- name: UpdateWebhookURL :execrows
UPDATE webhooks SET url = @url, updated_at = now() WHERE application_id = @application_id;

-- name: DeleteWebhook :execrows
-- Deletes an application's endpoint; its pending deliveries go with it.
DELETE FROM webhooks WHERE application_id = @application_id;

-- name: RotateWebhookSecret :execrows
-- Gives an endpoint a new secret; the current one keeps signing beside it until @previous_until.
UPDATE webhooks SET previous_sealed = secret_sealed, previous_until = @previous_until,
                    secret_sealed = @secret_sealed, updated_at = now()
WHERE application_id = @application_id;

-- name: ListWebhooks :many
-- Every endpoint with its application and what its queue holds.
SELECT a.slug AS application, w.url, w.created_at, w.updated_at, w.previous_until,
       count(*) FILTER (WHERE d.delivered_at IS NULL AND d.failed_at IS NULL) AS pending,
       count(*) FILTER (WHERE d.delivered_at IS NOT NULL) AS delivered,
       count(*) FILTER (WHERE d.failed_at IS NOT NULL) AS failed
FROM webhooks w
JOIN applications a ON a.id = w.application_id
LEFT JOIN webhook_deliveries d ON d.webhook_id = w.id
GROUP BY a.slug, w.id
ORDER BY a.slug;

-- name: ClaimDueWebhookDeliveries :many
-- Claims up to @batch_size due deliveries for one worker, as ClaimDueEmails does: counts the
-- attempt and moves next_attempt_at to @lease_until, so that no other worker claims them while
-- this one sends, and so that they become due again if this worker dies first.
UPDATE webhook_deliveries d
SET attempts = d.attempts + 1, next_attempt_at = @lease_until
WHERE d.id IN (
    SELECT x.id FROM webhook_deliveries x
    WHERE x.delivered_at IS NULL AND x.failed_at IS NULL AND x.next_attempt_at <= @now
    ORDER BY x.next_attempt_at, x.id
    LIMIT @batch_size
    FOR UPDATE SKIP LOCKED
)
RETURNING d.id, d.attempts;

-- name: GetWebhookDelivery :one
-- What sending a claimed delivery needs: its event, the event's application, the endpoint and
-- its secrets.
SELECT sqlc.embed(e), a.slug AS application, w.url, w.secret_sealed, w.previous_sealed, w.previous_until
FROM webhook_deliveries d
JOIN webhooks w ON w.id = d.webhook_id
JOIN audit_events e ON e.id = d.event_id
JOIN applications a ON a.id = w.application_id
WHERE d.id = @id;

-- name: MarkWebhookDelivered :execrows
UPDATE webhook_deliveries SET delivered_at = @now::timestamptz, last_error = ''
WHERE id = @id AND delivered_at IS NULL;

-- name: RetryWebhookDeliveryLater :execrows
-- Records a failed attempt and when to try again. @attempts fences out a worker whose lease ran
-- out and whose delivery was claimed again meanwhile.
UPDATE webhook_deliveries SET last_error = @last_error, next_attempt_at = @next_attempt_at
WHERE id = @id AND attempts = @attempts AND delivered_at IS NULL AND failed_at IS NULL;

-- name: GiveUpWebhookDelivery :execrows
-- Marks a delivery failed for good after its last attempt (fenced like RetryWebhookDeliveryLater).
UPDATE webhook_deliveries SET last_error = @last_error, failed_at = @now::timestamptz
WHERE id = @id AND attempts = @attempts AND delivered_at IS NULL AND failed_at IS NULL;

-- name: ReplayWebhookEvents :execrows
-- Queues again, for an application's endpoint, every event of the application after @after
-- that has no delivery pending already.
INSERT INTO webhook_deliveries (webhook_id, event_id, next_attempt_at)
SELECT w.id, e.id, @now::timestamptz
FROM webhooks w
JOIN audit_events e ON e.application_id = w.application_id
WHERE w.application_id = @application_id AND e.id > @after
  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
                  WHERE p.webhook_id = w.id AND p.event_id = e.id
                    AND p.delivered_at IS NULL AND p.failed_at IS NULL)
ORDER BY e.id;

-- name: DeleteFinishedWebhookDeliveries :execrows
-- Deliveries made or given up on that were queued before @before, at most @batch_size.
DELETE FROM webhook_deliveries WHERE id IN (
    SELECT o.id FROM webhook_deliveries o
    WHERE (o.delivered_at IS NOT NULL OR o.failed_at IS NOT NULL) AND o.created_at < @before
    ORDER BY o.created_at LIMIT @batch_size);

-- name: GetWebhookID :one
SELECT id FROM webhooks WHERE application_id = @application_id;
