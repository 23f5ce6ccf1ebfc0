-- name: ListApplications :many
SELECT * FROM applications ORDER BY slug;

-- name: CreateApplicationLike :one
-- Adds an application with the roles, self-registration, scopes and session policy of the
-- template application.
INSERT INTO applications (slug, name, roles, allows_client_registration, scopes, token_hash,
                          session_max_age_seconds, session_idle_timeout_seconds,
                          remember_me_max_age_seconds)
SELECT @slug, @name, t.roles, t.allows_client_registration, t.scopes, @token_hash,
       t.session_max_age_seconds, t.session_idle_timeout_seconds, t.remember_me_max_age_seconds
FROM applications t WHERE t.slug = @template
RETURNING id;

-- name: IssueMissingApplicationToken :execrows
-- Gives a token to an application that has none (first start); never replaces one.
UPDATE applications SET token_hash = @token_hash, updated_at = now()
WHERE slug = @slug AND token_hash IS NULL;

-- name: RotateApplicationToken :execrows
UPDATE applications SET token_hash = @token_hash, updated_at = now() WHERE slug = @slug;

-- name: ListApplicationsWithoutToken :many
SELECT slug FROM applications WHERE token_hash IS NULL ORDER BY slug;

-- name: CopyRoleScopes :exec
-- Gives a new application the role scopes of an existing one.
INSERT INTO role_scopes (application_id, role, scopes)
SELECT @application_id, role, scopes FROM role_scopes
WHERE application_id = (SELECT id FROM applications WHERE slug = @from_slug);

-- name: GetApplicationByTokenHash :one
SELECT * FROM applications WHERE token_hash = @token_hash;

-- name: GetApplicationBySlug :one
SELECT * FROM applications WHERE slug = @slug;

-- name: ListenApplications :exec
-- Subscribes this connection to application changes (see notify_applications_reload()).
LISTEN planoauth_applications;

-- name: GetApplication :one
SELECT * FROM applications WHERE id = @id;

-- name: SetApplicationSessionPolicy :one
-- Changes the parts of an application's session policy that are given (non-NULL); the
-- remember_me cap changes only with set_remember_me_max_age, since NULL there means no cap.
-- No row for an unknown slug. In the same statement, the stored bounds of the application's
-- live sessions are lowered to the new policy where it is shorter (max_expires_at to their
-- creation plus the lifetime, or the remember_me cap; idle_timeout_seconds to the idle
-- timeout): a session the shorter policy expires stays expired when a longer one comes back.
-- Bounds are never raised (LEAST ignores the NULL of no bound).
WITH app AS (
    UPDATE applications SET
        session_max_age_seconds      = COALESCE(sqlc.narg(max_age_seconds), session_max_age_seconds),
        session_idle_timeout_seconds = COALESCE(sqlc.narg(idle_timeout_seconds), session_idle_timeout_seconds),
        remember_me_max_age_seconds  = CASE WHEN @set_remember_me_max_age::boolean
                                            THEN sqlc.narg(remember_me_max_age_seconds)
                                            ELSE remember_me_max_age_seconds END,
        updated_at = now()
    WHERE slug = @slug
    RETURNING *
), bounds AS (
    SELECT s.id,
           LEAST(s.max_expires_at, s.created_at + interval '1 second' *
                 CASE WHEN s.remember_me THEN app.remember_me_max_age_seconds ELSE app.session_max_age_seconds END) AS max_expires_at,
           CASE WHEN s.remember_me THEN s.idle_timeout_seconds
                ELSE LEAST(s.idle_timeout_seconds, app.session_idle_timeout_seconds) END AS idle_timeout_seconds
    FROM sessions s JOIN app ON s.application_id = app.id
    WHERE s.revoked_at IS NULL
), lowered AS (
    UPDATE sessions s SET max_expires_at = b.max_expires_at, idle_timeout_seconds = b.idle_timeout_seconds
    FROM bounds b
    WHERE s.id = b.id AND (s.max_expires_at IS DISTINCT FROM b.max_expires_at
                           OR s.idle_timeout_seconds IS DISTINCT FROM b.idle_timeout_seconds)
    RETURNING s.id
)
SELECT * FROM app;

-- name: CheckRedirectOrigin :one
-- Whether an application's allow-list holds @origin, and how many origins it holds (none: only
-- the service's own origin is allowed).
SELECT (count(*) FILTER (WHERE ro.origin = @origin) > 0)::boolean AS listed, count(*) AS origins
FROM application_redirect_origins ro
JOIN applications a ON a.id = ro.application_id
WHERE a.slug = @slug;

-- name: AddRedirectOrigin :execrows
-- Adds an origin to an application's allow-list; no row when the application is unknown or
-- already lists it.
INSERT INTO application_redirect_origins (application_id, origin)
SELECT a.id, @origin FROM applications a WHERE a.slug = @slug
ON CONFLICT DO NOTHING;

-- name: RemoveRedirectOrigin :execrows
DELETE FROM application_redirect_origins ro
USING applications a
WHERE a.id = ro.application_id AND a.slug = @slug AND ro.origin = @origin;

-- name: ListRedirectOrigins :many
-- The origins of an application's allow-list, in order.
SELECT ro.origin FROM application_redirect_origins ro
JOIN applications a ON a.id = ro.application_id
WHERE a.slug = @slug
ORDER BY ro.origin;
