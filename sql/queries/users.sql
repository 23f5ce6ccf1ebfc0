-- name: GetUserByEmail :one
-- @email must be emailaddr.Normalize'd, as every stored email is.
SELECT * FROM users WHERE email = @email;

-- name: GetUser :one
SELECT * FROM users WHERE id = @id;

-- name: GetUserRoles :one
-- Which roles a user acts with: a liaison role only once its invitation was accepted.
SELECT EXISTS (SELECT 1 FROM clients c WHERE c.user_id = @user_id)   AS is_client,
       EXISTS (SELECT 1 FROM employees e WHERE e.user_id = @user_id) AS is_employee,
       EXISTS (SELECT 1 FROM liaisons l WHERE l.user_id = @user_id AND l.accepted_at IS NOT NULL) AS is_liaison;

-- name: SetRememberMe :exec
UPDATE users SET remember_me = @remember_me, updated_at = now() WHERE id = @id AND remember_me <> @remember_me;

-- name: SetPasswordHash :execrows
-- Replaces a hash made with weaker parameters after a successful log-in: the same password, so
-- credential_version stays. Only while the credential is still the one the log-in checked
-- (@credential_version, read before the password was verified): a proof, reset or change that
-- committed meanwhile wins, and the stale password is not written back over it (no row then).
-- Anything that sets a different password (or drops it) must move credential_version instead,
-- as ProveUserEmail does.
UPDATE users SET password_hash = @password_hash, updated_at = now()
WHERE id = @id AND credential_version = @credential_version;

-- name: CreateUser :one
-- Creates a user; email_verified_at is NULL except for test fixtures standing for proven users.
INSERT INTO users (email, password_hash, first_name, last_name, phone, email_verified_at)
VALUES (@email, @password_hash, @first_name, @last_name, @phone, sqlc.narg(email_verified_at))
RETURNING *;

-- name: CreateEmployee :one
INSERT INTO employees (user_id) VALUES (@user_id) RETURNING id;

-- name: LockEmployee :one
-- A user's employee record, share-locked until the transaction ends: what an employee grants
-- or sets (any company, a new user's password) rests on it.
SELECT id FROM employees WHERE user_id = @user_id FOR SHARE;

-- name: CreateLiaison :one
-- Gives a user an accepted liaison role at once, as an operator (or a test fixture) would;
-- liaisons/register invites instead (CreateLiaisonUnlessExists).
INSERT INTO liaisons (user_id, accepted_at) VALUES (@user_id, now()) RETURNING id;

-- name: CreateUserUnlessExists :one
-- Creates a user unless the (normalized) email has one; no row then (read it with
-- GetUserByEmail). The unique index decides, so concurrent calls cannot both create.
INSERT INTO users (email, password_hash, first_name, last_name, phone)
VALUES (@email, @password_hash, @first_name, @last_name, @phone)
ON CONFLICT (email) DO NOTHING
RETURNING *;

-- name: UpdateUserProfile :exec
-- Sets the names and phone that are given (non-NULL), keeping the others.
UPDATE users SET first_name = COALESCE(sqlc.narg(first_name), first_name),
                 last_name  = COALESCE(sqlc.narg(last_name), last_name),
                 phone      = COALESCE(sqlc.narg(phone), phone),
                 updated_at = now()
WHERE id = @id;

-- name: ProveUserEmail :one
-- Records the first proof that the owner of a user's email holds it, and drops what whoever
-- registered the email (possibly not its owner) set on the user: the password, moving
-- credential_version so that no password log-in in flight completes; the saved remember_me
-- preference (which would make the owner's sessions never expire by time); the phone (what a
-- second factor or a recovery by SMS would trust). The names stay: they grant nothing. No row
-- when the email was proven before. The caller then removes the rest of what the unverified
-- account set up, in the same transaction. had_password says whether a password was dropped
-- (for the audit trail).
UPDATE users u SET email_verified_at = @now, password_hash = NULL, remember_me = false, phone = '',
                   credential_version = u.credential_version + 1, updated_at = now()
FROM (SELECT p.id, p.password_hash FROM users p WHERE p.id = @user_id FOR UPDATE) old
WHERE u.id = old.id AND u.email_verified_at IS NULL
RETURNING u.credential_version, (coalesce(btrim(old.password_hash), '') <> '')::boolean AS had_password;

-- name: ProveUserEmailKeeping :execrows
-- Records the first proof of a user's email by a prover who also showed the account's password,
-- checked at @credential_version: the prover set the account up, so everything stays. No row
-- when the email was proven before, or when the credential changed since the check (then
-- ProveUserEmail decides, as for a proof without the password).
UPDATE users SET email_verified_at = @now, updated_at = now()
WHERE id = @user_id AND email_verified_at IS NULL AND credential_version = @credential_version;

-- name: LockUserForGrant :one
-- Whether a user's email is proven, read with a share lock on the user so that a proof (which
-- updates the row) cannot commit between this check and the grant made in the same transaction.
SELECT (email_verified_at IS NOT NULL)::boolean AS email_verified
FROM users WHERE id = @id FOR SHARE;

-- name: LockUserForLinks :one
-- Locks a user's row until the transaction ends, so that what ends the user's earlier links
-- (a new reset request) runs one at a time: the statement after the lock sees the links that a
-- request holding it before committed. FOR NO KEY UPDATE leaves the links' foreign keys, which
-- key-share the row, free.
SELECT id FROM users WHERE id = @id FOR NO KEY UPDATE;

-- name: SetNewPassword :exec
-- Sets a password chosen by the user's owner (a reset, an accepted invitation), moving
-- credential_version so that no log-in with the old one in flight completes. Unconditional, unlike
-- SetPasswordHash and ChangePasswordHash: nothing read before decides it (the new password is
-- the prover's, and the link or code that allows it is used up in the same transaction).
UPDATE users SET password_hash = @password_hash, credential_version = credential_version + 1, updated_at = now()
WHERE id = @id;

-- name: MoveCredentialVersion :exec
-- Moves credential_version and leaves the password: for a change of the user's other
-- credentials (an operator's reset of its second factors, keeping the password) that no log-in
-- in flight may outlive: a passkey sign-in whose passkey was verified just before it creates no
-- session (CreateSession's check_credential; passkeyStillHeld then finds the passkey gone).
UPDATE users SET credential_version = credential_version + 1, updated_at = now()
WHERE id = @id;

-- name: ChangePasswordHash :execrows
-- Sets a new password unless the credential changed since the caller checked the current one
-- (@credential_version, read before the check; a version never comes back, where a hash could):
-- of two concurrent changes, the second finds no row, as does a change racing a proof that
-- dropped the password. It moves credential_version, so that no log-in with the old password in
-- flight completes.
UPDATE users SET password_hash = @password_hash, credential_version = credential_version + 1, updated_at = now()
WHERE id = @id AND credential_version = @credential_version;
