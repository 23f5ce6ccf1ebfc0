-- +goose Up
-- The origins (scheme://host[:port]) an application's redirect_url values may point at, managed
-- with `planoauth applications redirects`. An application with none accepts only the service's
-- own public origin (internal/redirect).
CREATE TABLE application_redirect_origins (
    application_id  bigint      NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    origin          text        NOT NULL CHECK (origin ~ '^https?://[^/?#@]+$'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (application_id, origin)
);

-- Until now any string was kept and handed to the UI, javascript: included. What is not even an
-- http(s) URL is dropped from live rows; the rest stays (its origin was never checked, but it
-- was only ever the caller's own redirect).
UPDATE sessions SET redirect_url = '' WHERE redirect_url <> '' AND redirect_url !~* '^https?://';
UPDATE magic_links SET redirect_url = '' WHERE redirect_url <> '' AND redirect_url !~* '^https?://';

-- +goose Down
DROP TABLE application_redirect_origins;
