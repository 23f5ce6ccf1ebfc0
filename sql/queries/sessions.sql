-- name: GetSessionByTokenHash :one
-- Resolves a session token in one indexed lookup on sessions alone: its user and application
-- are kept in memory (auth.SessionCache's users, auth.Applications), so a token-checked read
-- joins nothing.
SELECT * FROM sessions WHERE token_hash = @token_hash;

-- name: GetSessionWithUserByTokenHash :one
-- A session token's session and its user in one statement, so from one snapshot: what the
-- authenticator reads when it keeps no user it may pair with the session it just read
-- (auth.Authenticator.load). The user read by a statement of its own could be newer than the
-- session: an email's first proof, committed between the two, revokes the squatter's session and
-- proves the email at once, and the session read before it would be paired with the proven user.
SELECT sqlc.embed(s), sqlc.embed(u)
FROM sessions s
JOIN users u ON u.id = s.user_id
WHERE s.token_hash = @token_hash;

-- name: CreateSession :one
-- Creates a session, with the bounds of its application's session policy at its creation
-- (max_expires_at, idle_timeout_seconds; NULL is no bound). A session made from a password
-- (@check_credential) is created only while
-- the user's credential_version is still the one read before the password was checked: no row
-- when the password was set, replaced or dropped meanwhile. The share lock makes a change in
-- flight (which holds the user row) finish first; the condition is then checked again on the
-- row as it committed, so the change's revocation of sessions, which ran before, cannot have
-- missed this one. (Other sessions come from a proof of the email, which a password change does
-- not undo.) @aal and @methods are what the sign-in proved (internal/mfa), and it proved it now
-- (proved_at); @remember_me_wish is the remember_me of a sign-in that is not complete yet
-- (ApplyRememberWish). A session signed in with a passkey (@passkey_id) records it
-- (passkey_ids) and is created only while that passkey is still the user's: the caller holds
-- the user's row first (HoldUserForSession), so this statement sees every removal that
-- committed before, and a removal that comes after waits for this session and then ends it
-- (RevokeFactorSessions); the session that registered the passkey, if known, is recorded in
-- derived_from (DerivedSessions).
INSERT INTO sessions (token_hash, user_id, application_id, role, scopes, redirect_url,
                      client_address, user_agent, remember_me, max_expires_at,
                      idle_timeout_seconds, created_at, last_used_at, aal, methods, proved_at,
                      remember_me_wish, passkey_ids, derived_from)
SELECT @token_hash, u.id, @application_id, @role, @scopes, @redirect_url,
       @client_address, @user_agent, @remember_me, sqlc.narg(max_expires_at),
       sqlc.narg(idle_timeout_seconds), @now, @now, coalesce(nullif(@aal, ''), 'aal1'), coalesce(@methods::text[], '{}'), @now,
       sqlc.narg(remember_me_wish), array_remove(ARRAY[sqlc.narg(passkey_id)::bigint], NULL),
       ARRAY(SELECT p.made_by FROM passkeys p WHERE p.id = sqlc.narg(passkey_id) AND p.made_by IS NOT NULL)
FROM users u
WHERE u.id = @user_id AND (NOT @check_credential::boolean OR u.credential_version = @credential_version)
  AND (sqlc.narg(passkey_id)::bigint IS NULL OR EXISTS (
      SELECT 1 FROM passkeys p WHERE p.id = sqlc.narg(passkey_id) AND p.user_id = u.id FOR KEY SHARE))
FOR SHARE OF u
RETURNING *;

-- name: TouchSession :execrows
-- Records a use only when the last one is older than @stale_before: concurrent requests that all
-- saw an old value update the row once, the others find the condition false.
UPDATE sessions SET last_used_at = @now
WHERE id = @id AND last_used_at < @stale_before;

-- name: RevokeSession :execrows
UPDATE sessions SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL;

-- name: RevokeUserSession :one
-- Revokes one session of a user by id. found says whether the user has a session with that id
-- at all (revoked or not), so that an id of another user's session is told from none apart by
-- nobody: both are not found.
WITH target AS (
    SELECT c.id, c.revoked_at FROM sessions c WHERE c.id = @id AND c.user_id = @user_id
), revoked AS (
    UPDATE sessions s SET revoked_at = @now
    FROM target t WHERE s.id = t.id AND t.revoked_at IS NULL
    RETURNING s.id, s.application_id
)
SELECT EXISTS (SELECT 1 FROM target) AS found, (SELECT count(*) FROM revoked) AS revoked,
       coalesce((SELECT r.application_id FROM revoked r), 0)::bigint AS application_id;

-- name: RevokeUserSessionsInApplication :many
-- Revokes a user's sessions in one application (what an application token may end), and
-- returns the application of each (as RevokeUserSessionsInApplications does).
UPDATE sessions SET revoked_at = @now
WHERE user_id = @user_id AND application_id = @application_id AND revoked_at IS NULL
RETURNING application_id;

-- name: IsSessionLive :one
-- Whether a session is not revoked; read after LockUserForGrant, whose wait for a proof in flight
-- makes this statement see the revocations that proof made.
SELECT (revoked_at IS NULL)::boolean AS live FROM sessions WHERE id = @id;

-- name: RevokeRoleSessions :execrows
-- Revokes the sessions that users act in with a role they no longer have, after their rows were
-- locked (LockProverAndLiaisons: a sign-in in flight holds its user's row, HoldUserForSession,
-- before it reads the roles, so it either created its session before, and the revocation, which
-- waited, ends it, or waits and finds the role gone) and the role removed.
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

-- name: ListenSessions :exec
-- Subscribes this connection to session invalidations (see notify_session_changed()).
LISTEN planoauth_sessions;

-- name: RevokeFactorSessions :many
-- Revokes the live sessions of a user that stood on a second factor just removed, in the
-- transaction that removes it, after the removal (a session created or upgraded on the factor
-- meanwhile held the user's row, so this statement sees it): those that signed in or completed
-- a second factor with the passkey @passkey_id (mfa/passkey_delete), or whose methods name
-- @method (otp: mfa/totp_disable; a user has one authenticator app at a time). It returns the
-- id and application of each (for the audit trail's sessions.revoked).
UPDATE sessions SET revoked_at = @now
WHERE user_id = @user_id AND revoked_at IS NULL
  AND (sqlc.narg(passkey_id)::bigint = ANY (passkey_ids) OR sqlc.narg(method)::text = ANY (methods))
RETURNING id, application_id;

-- name: RevokeSessionsByID :many
-- Revokes the live sessions among @ids of a user (DerivedSessions, in a factor's removal) and
-- returns the id and application of each (for the audit trail's sessions.revoked).
UPDATE sessions SET revoked_at = @now
WHERE user_id = @user_id AND revoked_at IS NULL AND id = ANY (@ids::uuid[])
RETURNING id, application_id;

-- name: RevokeOtherUserSessions :many
-- Revokes every session of a user but one (the caller's: sessions/delete with others, and
-- after a password change), and returns the application of each (for the audit trail's
-- sessions.revoked, per application).
UPDATE sessions SET revoked_at = @now WHERE user_id = @user_id AND id <> @keep AND revoked_at IS NULL
RETURNING application_id;

-- name: RevokeUserSessionsInApplications :many
-- Revokes every live session of a user and returns the application of each, so that the audit
-- trail can say, per application, how many were revoked.
UPDATE sessions SET revoked_at = @now WHERE user_id = @user_id AND revoked_at IS NULL
RETURNING application_id;

-- name: ApplyRememberWish :one
-- Gives a session that just completed its sign-in the remember_me its sign-in asked for, with
-- the bounds that go with it (computed from its creation), and clears the wish.
UPDATE sessions SET remember_me = @remember_me, max_expires_at = sqlc.narg(max_expires_at),
    idle_timeout_seconds = sqlc.narg(idle_timeout_seconds), remember_me_wish = NULL
WHERE id = @id AND revoked_at IS NULL
RETURNING *;
