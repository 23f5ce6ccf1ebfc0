-- +goose Up
-- The change feed that coexisting systems follow (coexistence/touch appends, coexistence/index
-- reads). Readers page by id, so ids must become visible in order: appends are serialized by the
-- transaction-level advisory lock of LockCoexistenceFeed (see sql/queries/coexistence.sql).
CREATE TABLE coexistence_events (
    id              bigserial   PRIMARY KEY,
    domain          text        NOT NULL,   -- a CoexistenceDomain of the contract, e.g. 'clients'
    operation       text        NOT NULL,   -- a CoexistenceOperation, e.g. 'update'
    record_id       bigint      NOT NULL,
    -- The application whose token made the touch.
    application_id  bigint      NOT NULL REFERENCES applications (id),
    occurred_at     timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE coexistence_events;
