-- +goose Up
-- Before 00013, liaisons/register took a password for the liaison it created: the inviter chose
-- it, and 00013 left it in place for the liaisons whose email was never proven (their role waits
-- for an invitation). Whoever chose it could sign in as them. Their passwords are dropped here,
-- with their sessions (device tokens and known addresses only ever gave an allowance of
-- attempts, never access; the first proof forgets them); they sign in with an emailed link
-- (registering them again as liaisons sends an invitation, which also lets them choose a
-- password) or set a password with a reset. Only liaison records from before 00013 (no recorded
-- inviter) that were never accepted, of users whose email is still unproven, are concerned: a
-- liaison invited since then was never given a password by its inviter.
WITH dropped AS (
    UPDATE users u SET password_hash = NULL, credential_version = u.credential_version + 1, updated_at = now()
    FROM liaisons l
    WHERE l.user_id = u.id AND u.email_verified_at IS NULL AND u.password_hash IS NOT NULL
      AND l.accepted_at IS NULL AND l.invited_by_user_id IS NULL
    RETURNING u.id
)
UPDATE sessions SET revoked_at = now()
WHERE revoked_at IS NULL AND user_id IN (SELECT id FROM dropped);

-- +goose Down
-- The dropped passwords are not restored.
SELECT 1;
