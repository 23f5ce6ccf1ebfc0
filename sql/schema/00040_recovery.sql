-- +goose Up
-- Password recovery joins the emailed links of 00012 (one table, one mechanism; the pages
-- PlanoAuth serves open each kind: /magic, /verify, /invite, /reset): a password reset is a
-- link of its own kind, used only by sessions/password_reset and the /reset page.
ALTER TABLE magic_links DROP CONSTRAINT magic_links_kind_check;
ALTER TABLE magic_links ADD CONSTRAINT magic_links_kind_check
    CHECK (kind IN ('sign_in', 'verification', 'invitation', 'password_reset'));
-- A reset also carries a short code for another device. It is guessable offline from a fast
-- hash, so it is stored as an argon2id PHC string, and it may be tried code_tries times at most
-- (counted before each evaluation); using the code uses the link, and the link the code.
ALTER TABLE magic_links
    ADD COLUMN code_hash  text,
    ADD COLUMN code_tries integer NOT NULL DEFAULT 0;
-- A code is looked up by its user's newest live reset.
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
ALTER TABLE magic_links DROP COLUMN code_tries, DROP COLUMN code_hash;
DELETE FROM magic_links WHERE kind = 'password_reset';
ALTER TABLE magic_links DROP CONSTRAINT magic_links_kind_check;
ALTER TABLE magic_links ADD CONSTRAINT magic_links_kind_check CHECK (kind IN ('sign_in', 'verification', 'invitation'));
