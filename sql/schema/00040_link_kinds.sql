-- +goose Up
-- Every emailed link has a kind and lives in this one table, so that sign-in, password reset,
-- verification and invitation links share one mechanism: a 256-bit token stored as its
-- SHA-256, an application, a redirect URL, 15 minutes, used once (used_at set atomically). The
-- pages PlanoAuth serves (/magic, /reset, /verify, /invite) open each kind; a GET only shows a
-- page, the page's button uses the link. Existing rows are sign-in links.
ALTER TABLE magic_links
    ADD COLUMN kind text NOT NULL DEFAULT 'sign_in'
        CHECK (kind IN ('sign_in', 'password_reset', 'verification', 'invitation')),
    -- A password reset also carries a short code for another device. It is guessable offline
    -- from a fast hash, so it is stored as an argon2id PHC string, and it may be tried
    -- code_tries times at most (counted before each evaluation); using the code uses the link.
    ADD COLUMN code_hash  text,
    ADD COLUMN code_tries integer NOT NULL DEFAULT 0;
-- A code is looked up by the user's newest live reset.
CREATE INDEX magic_links_live_user_kind_idx ON magic_links (user_id, kind, created_at DESC) WHERE used_at IS NULL;

-- users/password_update: every role's sessions may change their user's password (the limited
-- session of client-required may not). Live sessions get the scope too.
UPDATE role_scopes SET scopes = array_append(scopes, 'users.password_update')
WHERE role <> 'none' AND NOT 'users.password_update' = ANY (scopes);
UPDATE sessions SET scopes = array_append(scopes, 'users.password_update')
WHERE role <> 'none' AND revoked_at IS NULL AND NOT 'users.password_update' = ANY (scopes);

-- +goose Down
UPDATE sessions SET scopes = array_remove(scopes, 'users.password_update');
UPDATE role_scopes SET scopes = array_remove(scopes, 'users.password_update');
DROP INDEX magic_links_live_user_kind_idx;
DELETE FROM magic_links WHERE kind <> 'sign_in';
ALTER TABLE magic_links DROP COLUMN code_tries, DROP COLUMN code_hash, DROP COLUMN kind;
