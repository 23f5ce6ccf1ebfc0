-- +goose Up
-- Emails that follow a change are written here in the change's transaction and delivered by the
-- outbox worker, with retries and backoff.
CREATE TABLE email_outbox (
    id               bigserial   PRIMARY KEY,
    kind             text        NOT NULL,           -- e.g. 'welcome'
    recipient        text        NOT NULL,
    subject          text        NOT NULL,
    body_text        text        NOT NULL,
    body_html        text        NOT NULL DEFAULT '',
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text        NOT NULL DEFAULT '',
    sent_at          timestamptz,
    failed_at        timestamptz,                    -- given up after the last attempt
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_outbox_due_idx ON email_outbox (next_attempt_at)
    WHERE sent_at IS NULL AND failed_at IS NULL;

-- What operators must look at ("the production notifications tab"): failed emails and the like.
CREATE TABLE notifications (
    id          bigserial   PRIMARY KEY,
    kind        text        NOT NULL,                -- e.g. 'mandrill-email-failed'
    message     text        NOT NULL,
    context     jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_created_at_idx ON notifications (created_at DESC);

-- +goose Down
DROP TABLE notifications, email_outbox;
