-- name: EnqueueEmail :one
-- Queues an email in the caller's transaction; the outbox worker delivers it.
INSERT INTO email_outbox (kind, recipient, subject, body_text, body_html)
VALUES (@kind, @recipient, @subject, @body_text, @body_html)
RETURNING id;
