-- name: GetSessionByTokenHash :one
-- Resolves a session token in one indexed lookup: the session with its user, so that a
-- token-checked read costs a single query (applications are kept in memory, see
-- ListenApplications).
SELECT sqlc.embed(s), sqlc.embed(u)
FROM sessions s
JOIN users u ON u.id = s.user_id
WHERE s.token_hash = @token_hash;

-- name: CreateSession :one
-- Creates a session. A session made from a password (@check_credential) is created only while
-- the user's credential_version is still the one read before the password was checked: no row
-- when the password was set, replaced or dropped meanwhile. The share lock makes a change in
-- flight (which holds the user row) finish first; the condition is then checked again on the
-- row as it committed, so the change's revocation of sessions, which ran before, cannot have
-- missed this one. (Other sessions come from a proof of the email, which a password change does
-- not undo.) @aal and @methods are what the sign-in proved (internal/mfa).
INSERT INTO sessions (token_hash, user_id, application_id, role, scopes, redirect_url,
                      client_address, user_agent, remember_me, created_at, last_used_at, aal, methods)
SELECT @token_hash, u.id, @application_id, @role, @scopes, @redirect_url,
       @client_address, @user_agent, @remember_me, @now, @now, coalesce(nullif(@aal, ''), 'aal1'), coalesce(@methods::text[], '{}')
FROM users u
WHERE u.id = @user_id AND (NOT @check_credential::boolean OR u.credential_version = @credential_version)
FOR SHARE OF u
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

-- name: IsSessionLive :one
-- Whether a session is not revoked; read after LockUserForGrant, whose wait for a proof in flight
-- makes this statement see the revocations that proof made.
SELECT (revoked_at IS NULL)::boolean AS live FROM sessions WHERE id = @id;

-- name: RevokeRoleSessions :execrows
-- Revokes the sessions that users act in with a role they no longer have.
UPDATE sessions SET revoked_at = @now
WHERE user_id = ANY (@user_ids::bigint[]) AND role = @role AND revoked_at IS NULL;

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

-- name: CreateMagicLink :one
-- Stores an emailed link for the user and application it is for. A link sent at once carries
-- its token's hash; one sent with a queued email has none (NULL) until the outbox worker mints
-- its token as it sends the email (MintMagicLinkToken).
INSERT INTO magic_links (token_hash, user_id, application_id, redirect_url, expires_at, created_at, kind, liaison_id)
VALUES (sqlc.narg(token_hash), @user_id, @application_id, @redirect_url, @expires_at, @now, @kind, sqlc.narg(liaison_id))
RETURNING id;

-- name: MintMagicLinkToken :execrows
-- Gives a queued email's link its token as the email is sent; a new attempt replaces the token
-- of an earlier one, so one token at most works. No row when the link was used or expired.
UPDATE magic_links SET token_hash = @token_hash
WHERE id = @id AND used_at IS NULL AND expires_at > @now;

-- name: ConsumeMagicLink :one
-- Uses a link: one statement that only matches an unused, unexpired link of the application,
-- so under concurrency exactly one caller gets the row and the others none.
UPDATE magic_links m SET used_at = @now::timestamptz
FROM applications a
WHERE m.token_hash = @token_hash AND a.id = m.application_id AND a.slug = @application
  AND m.used_at IS NULL AND m.expires_at > @now
RETURNING m.user_id, m.redirect_url, m.kind, m.liaison_id;

-- name: ListenSessions :exec
-- Subscribes this connection to session invalidations (see notify_session_changed()).
LISTEN planoauth_sessions;
