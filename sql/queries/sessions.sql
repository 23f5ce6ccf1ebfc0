-- name: GetSessionByTokenHash :one
-- Resolves a session token in one indexed lookup: the session with its user, so that a
-- token-checked read costs a single query (applications are kept in memory, see
-- ListenApplications).
SELECT sqlc.embed(s), sqlc.embed(u)
FROM sessions s
JOIN users u ON u.id = s.user_id
WHERE s.token_hash = @token_hash;

-- name: CreateSession :one
-- A new session, with the bounds of its application's session policy at its creation
-- (max_expires_at, idle_timeout_seconds; NULL is no bound).
INSERT INTO sessions (token_hash, user_id, application_id, role, scopes, redirect_url,
                      client_address, user_agent, remember_me, max_expires_at,
                      idle_timeout_seconds, created_at, last_used_at)
VALUES (@token_hash, @user_id, @application_id, @role, @scopes, @redirect_url,
        @client_address, @user_agent, @remember_me, sqlc.narg(max_expires_at),
        sqlc.narg(idle_timeout_seconds), @now, @now)
RETURNING *;

-- name: TouchSession :execrows
-- Records a use only when the last one is older than @stale_before: concurrent requests that all
-- saw an old value update the row once, the others find the condition false.
UPDATE sessions SET last_used_at = @now
WHERE id = @id AND last_used_at < @stale_before;

-- name: RevokeSession :execrows
UPDATE sessions SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL;

-- name: RevokeUserSessions :execrows
UPDATE sessions SET revoked_at = @now WHERE user_id = @user_id AND revoked_at IS NULL;

-- name: RevokeUserSession :one
-- Revokes one session of a user by id. found says whether the user has a session with that id
-- at all (revoked or not), so that an id of another user's session is told from none apart by
-- nobody: both are not found.
WITH target AS (
    SELECT c.id, c.revoked_at FROM sessions c WHERE c.id = @id AND c.user_id = @user_id
), revoked AS (
    UPDATE sessions s SET revoked_at = @now
    FROM target t WHERE s.id = t.id AND t.revoked_at IS NULL
    RETURNING s.id
)
SELECT EXISTS (SELECT 1 FROM target) AS found, (SELECT count(*) FROM revoked) AS revoked;

-- name: RevokeOtherUserSessions :execrows
-- Revokes every session of a user but one (the caller's own).
UPDATE sessions SET revoked_at = @now
WHERE user_id = @user_id AND id <> @keep AND revoked_at IS NULL;

-- name: RevokeUserSessionsInApplication :execrows
-- Revokes a user's sessions in one application (what an application token may end).
UPDATE sessions SET revoked_at = @now
WHERE user_id = @user_id AND application_id = @application_id AND revoked_at IS NULL;

-- name: ListUserSessions :many
-- A user's sessions that are not revoked, newest first, at most @max_rows; expiry is judged by
-- the caller.
SELECT * FROM sessions
WHERE user_id = @user_id AND revoked_at IS NULL
ORDER BY created_at DESC, id
LIMIT @max_rows;

-- name: GetRoleScopes :one
SELECT scopes FROM role_scopes WHERE application_id = @application_id AND role = @role;

-- name: PromoteSession :execrows
-- Gives the limited session of client-required its new role and scopes; only a live session
-- that is still limited changes.
UPDATE sessions SET role = @role, scopes = @scopes
WHERE id = @id AND role = 'none' AND revoked_at IS NULL;

-- name: CreateMagicLink :exec
-- Stores a sign-in link's token hash for the user and application it was requested for.
INSERT INTO magic_links (token_hash, user_id, application_id, redirect_url, expires_at, created_at)
VALUES (@token_hash, @user_id, @application_id, @redirect_url, @expires_at, @now);

-- name: ConsumeMagicLink :one
-- Uses a sign-in link: one statement that only matches an unused, unexpired link of the
-- application, so under concurrency exactly one caller gets the row and the others none.
UPDATE magic_links m SET used_at = @now::timestamptz
FROM applications a
WHERE m.token_hash = @token_hash AND a.id = m.application_id AND a.slug = @application
  AND m.used_at IS NULL AND m.expires_at > @now
RETURNING m.user_id, m.redirect_url;

-- name: ListenSessions :exec
-- Subscribes this connection to session invalidations (see notify_session_changed()).
LISTEN planoauth_sessions;
