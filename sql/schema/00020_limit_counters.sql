-- +goose Up
-- Every limit counts in one table of fixed windows (internal/limits): login_failures becomes
-- limit_counters. A counter holds how many uses of its key's allowance were taken in its window
-- (a use is taken before the work it pays for, and given back when it turns out not to count),
-- and when the window ends, so that the retention worker can delete it then.
ALTER TABLE login_failures RENAME TO limit_counters;
ALTER TABLE limit_counters RENAME COLUMN failures TO count;
ALTER TABLE limit_counters RENAME CONSTRAINT login_failures_pkey TO limit_counters_pkey;
ALTER TABLE limit_counters ADD COLUMN expires_at timestamptz;
-- The windows of the defaults (a configured window is not known here): at worst a counter that
-- was carried forward ends early or late once.
UPDATE limit_counters
SET expires_at = window_start + CASE WHEN key LIKE 'register:%' THEN interval '1 hour' ELSE interval '15 minutes' END;
ALTER TABLE limit_counters ALTER COLUMN expires_at SET NOT NULL;
CREATE INDEX limit_counters_expires_at_idx ON limit_counters (expires_at);

-- The keys carried forward: per email becomes per account, per address gets its kind.
UPDATE limit_counters c SET key = 'signin:account:' || u.id FROM users u WHERE c.key = 'email:' || lower(u.email);
UPDATE limit_counters c SET key = 'link:account:' || u.id FROM users u WHERE c.key = 'magic_link:' || lower(u.email);
DELETE FROM limit_counters WHERE key LIKE 'email:%' OR key LIKE 'magic_link:%'; -- no account to protect
UPDATE limit_counters SET key = 'register:address:' || substr(key, length('register:') + 1) WHERE key LIKE 'register:%';
UPDATE limit_counters SET key = 'signin:' || key WHERE key LIKE 'address:%';

-- Device tokens (OWASP's device cookie, for an API): every successful sign-in hands the caller a
-- new one; presenting it later lets the caller sign in to that account with an allowance of its
-- own while strangers are throttled. Only the SHA-256 is stored, bound to the user.
CREATE TABLE device_tokens (
    id          bigserial   PRIMARY KEY,
    token_hash  bytea       NOT NULL UNIQUE,
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX device_tokens_user_id_idx ON device_tokens (user_id);
CREATE INDEX device_tokens_expires_at_idx ON device_tokens (expires_at);

-- The addresses (peer.Group: an IPv4 address or an IPv6 /64) each user signed in from
-- successfully, until expires_at: a caller there has an allowance of its own, like a device
-- token's.
CREATE TABLE known_addresses (
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address     text        NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, address)
);
CREATE INDEX known_addresses_expires_at_idx ON known_addresses (expires_at);

-- +goose Down
DROP TABLE known_addresses, device_tokens;
DROP INDEX limit_counters_expires_at_idx;
DELETE FROM limit_counters;
ALTER TABLE limit_counters DROP COLUMN expires_at;
ALTER TABLE limit_counters RENAME COLUMN count TO failures;
ALTER TABLE limit_counters RENAME CONSTRAINT limit_counters_pkey TO login_failures_pkey;
ALTER TABLE limit_counters RENAME TO login_failures;
