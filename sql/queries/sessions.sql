-- name: GetSessionByTokenHash :one
-- Resolves a session token in one indexed lookup: the session with its user, so that a
-- token-checked read costs a single query (applications are kept in memory, see
-- ListenApplications).
SELECT sqlc.embed(s), sqlc.embed(u)
FROM sessions s
JOIN users u ON u.id = s.user_id
WHERE s.token_hash = @token_hash;

-- name: CreateSession :one
INSERT INTO sessions (token_hash, user_id, application_id, role, scopes, redirect_url,
                      client_address, user_agent, remember_me, created_at, last_used_at)
VALUES (@token_hash, @user_id, @application_id, @role, @scopes, @redirect_url,
        @client_address, @user_agent, @remember_me, @now, @now)
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
RETURNING m.user_id, m.application_id, m.redirect_url;

-- name: ListenSessions :exec
-- Subscribes this connection to session invalidations (see notify_session_changed()).
LISTEN planoauth_sessions;

-- name: RevokeUserSessionsInApplications :many
-- Revokes every live session of a user and returns the application of each, so that the audit
-- trail can say, per application, how many were revoked.
UPDATE sessions SET revoked_at = @now WHERE user_id = @user_id AND revoked_at IS NULL
RETURNING application_id;
