-- Second factors (internal/impl/mfa.go, passkeys.go): TOTP, recovery codes, passkeys and their
-- ceremonies, and the assurance level of sessions.

-- name: RefreshUserMFA :one
-- Recomputes whether the user has a second factor (a confirmed TOTP or a passkey), in the
-- transaction that added or removed one; the trigger users_notify tells every instance.
UPDATE users u SET mfa_enabled = (
        EXISTS (SELECT 1 FROM totp_secrets t WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL)
        OR EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = u.id)),
    updated_at = now()
WHERE u.id = @user_id
RETURNING mfa_enabled;

-- name: LockUserMFA :one
-- Whether the user has a second factor, locking its row until the end of the transaction, so that
-- changes to one user's factors (the first added, the last removed) happen one at a time, and a
-- revocation of its sessions (a sign-out, sessions/revoke, an operator's) is ordered with them:
-- a change in flight on a session revoked commits before the revocation, or sees it.
SELECT mfa_enabled FROM users WHERE id = @user_id FOR UPDATE;

-- name: HoldUserCredentials :exec
-- Key-share locks a user's row until the transaction ends, before a session is upgraded on one
-- of its passkeys or on its authenticator app (or on a recovery code); a sign-in holds it
-- for share instead (HoldUserForSession), as CreateSession locks it.
-- Every removal of a passkey or of the app, and every revocation of the user's sessions, holds
-- the row FOR UPDATE (LockUserMFA) until it commits, so the statements after this one see every
-- removal that committed, and a removal or revocation that comes later waits for this
-- transaction (a statement that waited for the row instead would still read the factor as it
-- was when it began; and one that waited for the session's row while holding the user's would
-- deadlock with it). Key share leaves the row's other updates (remember_me) free.
SELECT id FROM users WHERE id = @user_id FOR KEY SHARE;

-- name: HoldUserForSession :one
-- A sign-in's hold on its user's row before it reads the roles again and creates its session,
-- for share as CreateSession locks it: a proof, a factor's change (the first added, the last
-- removed) and a revocation of the user's sessions hold the row for update, so the sign-in
-- reads roles, credential, passkeys and whether the user has a second factor (returned: it
-- decides whether the session is limited, auth.Limitation) as they left them, or they wait for
-- its session and then see it. A weaker lock first and a stronger one later would deadlock with
-- a proof, which updates the row before it locks it for update (dropSecondFactors): a sign-in
-- that may save remember_me holds it with HoldUserToRemember instead.
SELECT mfa_enabled FROM users WHERE id = @user_id FOR SHARE;

-- name: HoldUserToRemember :one
-- HoldUserForSession for a sign-in that asked for remember_me, which it saves on the row
-- (SetRememberMe) once it knows the session is complete: it takes the row as strongly first (no
-- key update), so that two such sign-ins of one user, or a proof, wait for it instead of
-- deadlocking with it.
SELECT mfa_enabled FROM users WHERE id = @user_id FOR NO KEY UPDATE;

-- name: HoldUserForWish :exec
-- HoldUserCredentials for a second factor that completes a sign-in which asked for remember_me:
-- the transaction writes the row after upgrading the session (ApplyRememberWish's user), so it
-- takes the row as strongly first (no key update), and a password change, which updates the row
-- before revoking sessions, waits for it instead of deadlocking with it.
SELECT id FROM users WHERE id = @user_id FOR NO KEY UPDATE;

-- name: UpgradeSession :one
-- Records a second factor on a live session: aal2, the method appended once, and a new proof
-- (proved_at: the changes of factors that need a recent one may follow). A passkey checked
-- (@passkey_id) is recorded too (passkey_ids), and only while it is still the user's; a code of
-- the authenticator app (@totp_secret, the sealed secret it was checked against) only while
-- that app is still the user's confirmed one (and the app is recorded: totp_id); a recovery
-- code used (@recovery_code_id) only while its set was not replaced (see HoldUserCredentials,
-- which the caller ran first): no row when the factor was removed meanwhile. The session that
-- made the factor, if known, joins derived_from (DerivedSessions: its removal ends this one).
UPDATE sessions SET aal = 'aal2',
    methods = CASE WHEN @method::text = ANY (methods) THEN methods ELSE array_append(methods, @method::text) END,
    proved_at = @now,
    passkey_ids = CASE WHEN sqlc.narg(passkey_id)::bigint IS NULL OR sqlc.narg(passkey_id) = ANY (passkey_ids) THEN passkey_ids
                       ELSE array_append(passkey_ids, sqlc.narg(passkey_id)) END,
    totp_id = coalesce((SELECT t.id FROM totp_secrets t WHERE t.user_id = sessions.user_id AND t.confirmed_at IS NOT NULL
                          AND t.sealed_secret = sqlc.narg(totp_secret)), totp_id),
    derived_from = ARRAY(SELECT DISTINCT m FROM unnest(derived_from || ARRAY(
        SELECT p.made_by FROM passkeys p WHERE p.id = sqlc.narg(passkey_id) AND p.made_by IS NOT NULL
          AND p.made_by <> sessions.id -- the session that registered its first passkey (addFactor)
        UNION ALL
        SELECT t.made_by FROM totp_secrets t WHERE t.user_id = sessions.user_id AND t.confirmed_at IS NOT NULL
          AND t.sealed_secret = sqlc.narg(totp_secret) AND t.made_by IS NOT NULL
        UNION ALL
        SELECT r.made_by FROM recovery_codes r WHERE r.id = sqlc.narg(recovery_code_id) AND r.made_by IS NOT NULL)) AS m ORDER BY m)
WHERE sessions.id = @id AND sessions.revoked_at IS NULL
  AND (sqlc.narg(passkey_id)::bigint IS NULL OR EXISTS (
      SELECT 1 FROM passkeys p WHERE p.id = sqlc.narg(passkey_id) AND p.user_id = sessions.user_id FOR KEY SHARE))
  AND (sqlc.narg(totp_secret)::bytea IS NULL OR EXISTS (
      SELECT 1 FROM totp_secrets t WHERE t.user_id = sessions.user_id AND t.confirmed_at IS NOT NULL
        AND t.sealed_secret = sqlc.narg(totp_secret) FOR KEY SHARE))
  AND (sqlc.narg(recovery_code_id)::bigint IS NULL OR EXISTS (
      SELECT 1 FROM recovery_codes r WHERE r.id = sqlc.narg(recovery_code_id) AND r.user_id = sessions.user_id FOR KEY SHARE))
RETURNING *;

-- name: SetApplicationRequireMFA :execrows
-- Makes an application require aal2 of every session, or not (`planoauth applications require-mfa`).
UPDATE applications SET require_mfa = @require_mfa, updated_at = now() WHERE slug = @slug;

-- name: GetTOTP :one
SELECT * FROM totp_secrets WHERE user_id = @user_id;

-- name: StartTOTPEnrolment :execrows
-- Stores a new pending TOTP secret for the session that began it, with all of its tries,
-- replacing a pending one; no row when the user's TOTP is confirmed already (it must be
-- disabled first).
INSERT INTO totp_secrets (user_id, sealed_secret, created_at, expires_at, session_id)
VALUES (@user_id, @sealed_secret, @now, @expires_at, @session_id)
ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, created_at = excluded.created_at,
    expires_at = excluded.expires_at, session_id = excluded.session_id, tries = 0, last_step = NULL, last_used_at = NULL
WHERE totp_secrets.confirmed_at IS NULL;

-- name: TakeTOTPEnrolmentTry :one
-- Takes one of the @max_tries tries of the pending, unexpired enrolment that @session_id began,
-- before its code is checked, in one statement: concurrent tries never exceed it. No row when
-- there is none such (none, expired, confirmed, another session's, or its tries used up).
UPDATE totp_secrets SET tries = tries + 1
WHERE user_id = @user_id AND session_id = @session_id AND confirmed_at IS NULL AND expires_at > @now
  AND tries < @max_tries
RETURNING *;

-- name: ConfirmTOTP :execrows
-- Confirms the pending, unexpired enrolment that @session_id began with the time step of its
-- first code; it belongs to no session from then on, and records that session as its maker
-- (made_by: DerivedSessions). No row when there is none (expired,
-- confirmed meanwhile, or replaced: the secret checked is @sealed_secret).
UPDATE totp_secrets SET confirmed_at = @now, expires_at = NULL, session_id = NULL, made_by = session_id, last_step = @step, last_used_at = @now
WHERE user_id = @user_id AND session_id = @session_id AND confirmed_at IS NULL AND expires_at > @now
  AND sealed_secret = @sealed_secret;

-- name: UseTOTPStep :execrows
-- Accepts a code of time step @step once, on the confirmed app it was checked against
-- (@sealed_secret): only a step later than the last accepted one, in one statement, so that of
-- concurrent uses of one code exactly one succeeds. No row when the step was used (a replay) or
-- when that app was turned off, or replaced by another, meanwhile: a code of an app that is gone
-- never uses up a step of its successor (whose owner's code of that step would be refused).
UPDATE totp_secrets SET last_step = @step, last_used_at = @now
WHERE user_id = @user_id AND confirmed_at IS NOT NULL AND sealed_secret = @sealed_secret
  AND (last_step IS NULL OR last_step < @step);

-- name: DeleteTOTP :execrows
-- Every TOTP row of the user, pending or confirmed (the first proof of the email: dropSecondFactors).
DELETE FROM totp_secrets WHERE user_id = @user_id;

-- name: DeleteConfirmedTOTP :execrows
-- Turns off the user's confirmed app whose secret the disable's proof was checked against
-- (@sealed_secret): no row when that app was turned off (or replaced by another) meanwhile, so
-- that a disable in flight never removes an app its proof did not touch.
DELETE FROM totp_secrets WHERE user_id = @user_id AND confirmed_at IS NOT NULL AND sealed_secret = @sealed_secret;

-- name: CreateRecoveryCodes :exec
-- Stores a new set of recovery codes (their hashes), made by the session @made_by; the caller
-- deleted the old set first.
INSERT INTO recovery_codes (user_id, code_hash, created_at, made_by)
SELECT @user_id, h, @now, @made_by::uuid FROM unnest(@code_hashes::bytea[]) AS h;

-- name: DeleteRecoveryCodes :exec
DELETE FROM recovery_codes WHERE user_id = @user_id;

-- name: UseRecoveryCode :one
-- Uses a recovery code once: of concurrent uses of one code exactly one gets the row (its id,
-- which the session it completes records: UpgradeSession). No row when it is no unused code.
UPDATE recovery_codes SET used_at = @now
WHERE user_id = @user_id AND code_hash = @code_hash AND used_at IS NULL
RETURNING id;

-- name: GetRecoveryCodeSet :one
-- When the user's set of recovery codes was made (all at once) and how many are left; no row
-- when it has none.
SELECT created_at, count(*) FILTER (WHERE used_at IS NULL)::integer AS remaining
FROM recovery_codes WHERE user_id = @user_id
GROUP BY created_at ORDER BY created_at DESC LIMIT 1;

-- name: GetWebAuthnHandle :one
SELECT handle FROM webauthn_handles WHERE user_id = @user_id;

-- name: CreateWebAuthnHandle :exec
-- Gives the user its WebAuthn user handle unless it has one (concurrent registrations keep the
-- first; read it again with GetWebAuthnHandle).
INSERT INTO webauthn_handles (user_id, handle) VALUES (@user_id, @handle) ON CONFLICT (user_id) DO NOTHING;

-- name: GetUserByWebAuthnHandle :one
-- The user of a discoverable passkey's user handle.
SELECT u.* FROM webauthn_handles h JOIN users u ON u.id = h.user_id WHERE h.handle = @handle;

-- name: ListUserPasskeys :many
-- A user's passkeys under the relying party id in force, oldest first.
SELECT * FROM passkeys WHERE user_id = @user_id AND rp_id = @rp_id ORDER BY id;

-- name: ListAllUserPasskeys :many
-- Every passkey of a user, whatever its relying party id (mfa/index).
SELECT * FROM passkeys WHERE user_id = @user_id ORDER BY id;

-- name: CountUserPasskeys :one
-- How many passkeys the user holds (impl.MaxPasskeysPerUser bounds them).
SELECT count(*) FROM passkeys WHERE user_id = @user_id;

-- name: CreatePasskey :one
-- Stores a passkey registered by the session @made_by; none when its credential id is
-- registered already (unique).
INSERT INTO passkeys (user_id, rp_id, credential_id, name, credential, created_at, made_by)
VALUES (@user_id, @rp_id, @credential_id, @name, @credential, @now, @made_by::uuid)
ON CONFLICT (rp_id, credential_id) DO NOTHING
RETURNING *;

-- name: RecordPasskeyUse :exec
-- Writes back what a successful assertion changed (sign count, flags) and when it was used.
UPDATE passkeys SET credential = @credential, last_used_at = @now WHERE id = @id;

-- name: DeletePasskey :execrows
DELETE FROM passkeys WHERE id = @id AND user_id = @user_id;

-- name: DerivedSessions :many
-- The sessions of a user whose trust came from a second factor being removed, revoked or not
-- (a thief that logged itself out keeps nothing either), in the removal's transaction after the
-- user's row is locked and before any session is revoked: those that stood on it (signed in or
-- completed a second factor with the passkey @passkey_id, but not the session that registered
-- it, @passkey_made_by, which records it when it was the user's first factor and made it rather
-- than stood on it; proved a code of the app @totp_id, or, for a live session that recorded no
-- app, any code: its first factor, or before 00083, but not the session that set the app up,
-- @totp_made_by, likewise), and, transitively, every session that stood on something one of
-- those made (derived_from).
WITH RECURSIVE derived (id) AS (
    SELECT s.id FROM sessions s
    WHERE s.user_id = @user_id
      AND ((sqlc.narg(passkey_id)::bigint = ANY (s.passkey_ids) AND s.id IS DISTINCT FROM sqlc.narg(passkey_made_by)::uuid)
           OR s.totp_id = sqlc.narg(totp_id)::bigint
           OR (sqlc.narg(totp_id)::bigint IS NOT NULL AND s.totp_id IS NULL AND 'otp' = ANY (s.methods)
               AND s.revoked_at IS NULL AND s.id IS DISTINCT FROM sqlc.narg(totp_made_by)::uuid))
    UNION
    SELECT s.id FROM derived d JOIN sessions s ON s.user_id = @user_id AND s.derived_from <> '{}' AND s.derived_from && ARRAY[d.id]
)
SELECT id FROM derived;

-- name: DeleteMadePasskeys :many
-- Removes the passkeys that the sessions @sessions made (DerivedSessions), and returns them.
DELETE FROM passkeys WHERE user_id = @user_id AND made_by = ANY (@sessions::uuid[])
RETURNING id, made_by;

-- name: DeleteMadeTOTP :many
-- Turns off the authenticator app if one of the sessions @sessions set it up (DerivedSessions).
DELETE FROM totp_secrets WHERE user_id = @user_id AND confirmed_at IS NOT NULL AND made_by = ANY (@sessions::uuid[])
RETURNING made_by;

-- name: DeleteMadeRecoveryCodes :many
-- Removes the recovery codes that one of the sessions @sessions made (DerivedSessions), and
-- returns who made them (one row per set).
WITH deleted AS (
    DELETE FROM recovery_codes WHERE user_id = @user_id AND made_by = ANY (@sessions::uuid[]) RETURNING made_by
)
SELECT DISTINCT made_by FROM deleted;

-- name: DeleteUserPasskeys :exec
DELETE FROM passkeys WHERE user_id = @user_id;

-- name: CreateWebAuthnChallenge :exec
INSERT INTO webauthn_challenges (challenge_hash, ceremony, session_id, application_id, client_address, data, created_at, expires_at)
VALUES (@challenge_hash, @ceremony, sqlc.narg(session_id), sqlc.narg(application_id), @client_address, @data, @now, @expires_at);

-- name: DeleteSessionChallenges :exec
-- Drops a session's earlier ceremonies of a kind when it begins a new one, so that a session
-- holds at most one of each.
DELETE FROM webauthn_challenges WHERE session_id = @session_id AND ceremony = @ceremony;

-- name: ConsumeWebAuthnChallenge :one
-- Uses up the ceremony of a challenge: one DELETE that matches only an unexpired ceremony of
-- that kind begun by the same session (or, for a sign-in, for the same application), so that it
-- completes at most once.
DELETE FROM webauthn_challenges
WHERE challenge_hash = @challenge_hash AND ceremony = @ceremony AND expires_at > @now
  AND session_id IS NOT DISTINCT FROM sqlc.narg(session_id)
  AND application_id IS NOT DISTINCT FROM sqlc.narg(application_id)
RETURNING *;

-- name: DeleteExpiredWebAuthnChallenges :execrows
DELETE FROM webauthn_challenges WHERE id IN (
    SELECT c.id FROM webauthn_challenges c WHERE c.expires_at < @before ORDER BY c.expires_at LIMIT @batch_size);

-- name: DeleteExpiredTOTPEnrolments :execrows
-- Pending TOTP secrets that were never confirmed.
DELETE FROM totp_secrets WHERE user_id IN (
    SELECT t.user_id FROM totp_secrets t WHERE t.expires_at < @before ORDER BY t.expires_at LIMIT @batch_size);
