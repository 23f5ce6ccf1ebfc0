-- name: GetUserByEmail :one
-- @email must be emailaddr.Normalize'd, as every stored email is.
SELECT * FROM users WHERE email = @email;

-- name: GetUser :one
SELECT * FROM users WHERE id = @id;

-- name: GetUserRoles :one
-- Which role records a user has.
SELECT EXISTS (SELECT 1 FROM clients c WHERE c.user_id = @user_id)   AS is_client,
       EXISTS (SELECT 1 FROM employees e WHERE e.user_id = @user_id) AS is_employee,
       EXISTS (SELECT 1 FROM liaisons l WHERE l.user_id = @user_id)  AS is_liaison;

-- name: SetRememberMe :exec
UPDATE users SET remember_me = @remember_me, updated_at = now() WHERE id = @id AND remember_me <> @remember_me;

-- name: SetPasswordHash :exec
-- Replaces a hash made with weaker parameters after a successful log-in.
UPDATE users SET password_hash = @password_hash, updated_at = now() WHERE id = @id;

-- name: CreateUser :one
INSERT INTO users (email, password_hash, first_name, last_name, phone)
VALUES (@email, @password_hash, @first_name, @last_name, @phone)
RETURNING *;

-- name: CreateEmployee :one
INSERT INTO employees (user_id) VALUES (@user_id) RETURNING id;

-- name: CreateLiaison :one
INSERT INTO liaisons (user_id) VALUES (@user_id) RETURNING id;

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

-- name: ClaimVerifiedEmail :one
-- Records that the owner of a user's email signed in with proof of it. The first time, a
-- password that was set before (by whoever registered the email, possibly not its owner) is
-- dropped; had_password tells the caller to revoke the sessions it may have opened. No row
-- when the email was proven before.
UPDATE users u SET email_verified_at = @now, password_hash = NULL, updated_at = now()
FROM (SELECT p.id, p.password_hash FROM users p WHERE p.id = @user_id FOR UPDATE) old
WHERE u.id = old.id AND u.email_verified_at IS NULL
RETURNING (coalesce(btrim(old.password_hash), '') <> '')::boolean AS had_password;
