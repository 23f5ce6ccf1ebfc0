-- +goose Up
-- One-time sign-in links. Only the SHA-256 of a link's token is stored; a link works for the
-- application it was requested for, until expires_at, and once (used_at is set atomically when
-- it is exchanged for a session).
CREATE TABLE magic_links (
    id              bigserial   PRIMARY KEY,
    token_hash      bytea       NOT NULL UNIQUE,
    user_id         bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    application_id  bigint      NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    redirect_url    text        NOT NULL DEFAULT '',
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX magic_links_user_id_idx ON magic_links (user_id);

-- +goose Down
DROP TABLE magic_links;
