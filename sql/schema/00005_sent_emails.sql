-- +goose Up
-- What the local mailer "sends" when no Mandrill key is configured (development): the whole
-- message, so a developer can read it with `planoauth emails list|show`. Bodies are kept in
-- plain text, sign-in links included, which is why production sets a Mandrill key.
CREATE TABLE sent_emails (
    id          bigserial   PRIMARY KEY,
    kind        text        NOT NULL,                -- e.g. 'magic_link', 'welcome'
    recipient   text        NOT NULL,
    subject     text        NOT NULL,
    body_text   text        NOT NULL,
    body_html   text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sent_emails_created_at_idx ON sent_emails (created_at DESC);

-- +goose Down
DROP TABLE sent_emails;
