-- +goose Up
-- Each application's webhook endpoint (set by operators: `planoauth webhooks`), and the
-- deliveries of audit events to it: AppendAuditEvent queues one delivery per event of the
-- application in the event's own statement, and the delivery worker (internal/webhooks) sends
-- them with retries, leases and backoff, like the email outbox.
CREATE TABLE webhooks (
    id              bigserial   PRIMARY KEY,
    application_id  bigint      NOT NULL UNIQUE REFERENCES applications (id) ON DELETE CASCADE,
    url             text        NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    -- The whsec_ signing secret, sealed with PLANOAUTH_WEBHOOK_KEY (AES-256-GCM): it must be
    -- usable to sign, so it cannot be hashed, and a copy of the database alone cannot forge.
    secret_sealed   bytea       NOT NULL,
    -- After a rotation the previous secret also signs until previous_until.
    previous_sealed bytea,
    previous_until  timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id               bigserial   PRIMARY KEY,
    webhook_id       bigint      NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id         bigint      NOT NULL REFERENCES audit_events (id) ON DELETE CASCADE,
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    last_error       text        NOT NULL DEFAULT '',
    delivered_at     timestamptz,
    failed_at        timestamptz,                    -- given up after the last attempt
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);
CREATE INDEX webhook_deliveries_finished_idx ON webhook_deliveries (created_at)
    WHERE delivered_at IS NOT NULL OR failed_at IS NOT NULL;

-- +goose Down
DROP TABLE webhook_deliveries, webhooks;
