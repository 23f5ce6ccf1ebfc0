-- +goose Up
-- users.email now holds emailaddr.Normalize(email) (see 00021) and equality is the comparison.
--
-- Two users whose emails normalize alike (e.g. "ÉVA@x.example" and "éva@x.example", which the
-- old index on lower(email) told apart) cannot both keep the address. The one whose email was
-- proven first keeps it, else the oldest (lowest id); the other is renamed to the undeliverable
-- 'duplicate-<id>@invalid' (registration refuses a domain without a dot, so no one can take it),
-- its sessions are revoked, and a notification of kind 'email-collision' tells operators which
-- two accounts to merge by hand. Nothing is deleted.
DROP INDEX users_email_key;

CREATE VIEW email_collisions AS
SELECT ranked.id, ranked.email, ranked.kept_id, ranked.rank
FROM (
    SELECT u.id, coalesce(r.email, u.email) AS email,
           row_number() OVER same_email AS rank, first_value(u.id) OVER same_email AS kept_id
    FROM users u LEFT JOIN email_renormalized r ON r.user_id = u.id
    WINDOW same_email AS (PARTITION BY coalesce(r.email, u.email)
                          ORDER BY u.email_verified_at IS NULL, u.email_verified_at, u.id)
) ranked;

INSERT INTO notifications (kind, message, context)
SELECT 'email-collision',
       format('Users %s and %s had one email in two spellings; user %s was renamed to %s. Merge them by hand.',
              c.kept_id, c.id, c.id, 'duplicate-' || c.id || '@invalid'),
       jsonb_build_object('email', c.email, 'kept_user_id', c.kept_id, 'renamed_user_id', c.id,
                          'renamed_to', 'duplicate-' || c.id || '@invalid')
FROM email_collisions c WHERE c.rank > 1;

UPDATE sessions s SET revoked_at = now()
FROM email_collisions c WHERE c.rank > 1 AND s.user_id = c.id AND s.revoked_at IS NULL;

UPDATE users u
SET email = CASE WHEN c.rank > 1 THEN 'duplicate-' || u.id || '@invalid' ELSE c.email END, updated_at = now()
FROM email_collisions c
WHERE c.id = u.id AND (c.rank > 1 OR c.email <> u.email);

DROP VIEW email_collisions;
DROP TABLE email_renormalized;

CREATE UNIQUE INDEX users_email_key ON users (email);
-- Catches a write that forgot to normalize, for ASCII letters at least: COLLATE "C" makes
-- lower() fold only ASCII, whatever the server's locale, so it never disagrees with Go.
ALTER TABLE users ADD CONSTRAINT users_email_normalized CHECK (email = lower(email COLLATE "C"));

-- +goose Down
ALTER TABLE users DROP CONSTRAINT users_email_normalized;
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE TABLE email_renormalized (
    user_id  bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    email    text   NOT NULL
);
