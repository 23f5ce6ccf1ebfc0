-- +goose Up
-- The audit trail (internal/audit): every security event, appended in the transaction of the
-- change it records. Readers follow it by id, so ids must become visible in order: appends are
-- serialized by the transaction-level advisory lock taken in AppendAuditEvent (see
-- sql/queries/audit.sql). Rows are never updated; the retention worker deletes old ones.
CREATE TABLE audit_events (
    id              bigserial   PRIMARY KEY,
    occurred_at     timestamptz NOT NULL,
    kind            text        NOT NULL,   -- an AuditKind of the contract, e.g. 'login.failed'
    -- Who acted (an AuditActorType); actor_user_id for 'user'.
    actor_type      text        NOT NULL CHECK (actor_type IN ('user', 'application', 'operator', 'anonymous')),
    actor_user_id   bigint,
    -- The user the event is about. No foreign keys to users: the trail outlives what it names.
    user_id         bigint,
    -- The application it happened in; an application token reads these rows only.
    application_id  bigint      REFERENCES applications (id),
    client_address  text        NOT NULL DEFAULT '',
    request_id      text        NOT NULL DEFAULT '',
    -- The contract's AuditDetails (method, reason, role, session_id, ...), never a secret.
    details         jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_application_idx ON audit_events (application_id, id);
CREATE INDEX audit_events_user_idx ON audit_events (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX audit_events_kind_idx ON audit_events (kind, id);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);

-- audit/index: every application's token, and employees in every application.
UPDATE applications SET scopes = array_append(scopes, 'audit.index')
WHERE NOT 'audit.index' = ANY (scopes);
UPDATE role_scopes SET scopes = array_append(scopes, 'audit.index')
WHERE role = 'employee' AND NOT 'audit.index' = ANY (scopes);

-- +goose Down
UPDATE role_scopes SET scopes = array_remove(scopes, 'audit.index');
UPDATE applications SET scopes = array_remove(scopes, 'audit.index');
DROP TABLE audit_events;
