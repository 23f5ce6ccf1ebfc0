-- name: GetUserByEmail :one
SELECT id, email, password_hash, first_name, last_name, phone, remember_me, created_at
FROM users WHERE lower(email) = lower(@email);

-- name: GetUser :one
SELECT id, email, password_hash, first_name, last_name, phone, remember_me, created_at
FROM users WHERE id = @id;

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
RETURNING id, created_at;

-- name: CreateEmployee :one
INSERT INTO employees (user_id) VALUES (@user_id) RETURNING id;

-- name: CreateLiaison :one
INSERT INTO liaisons (user_id) VALUES (@user_id) RETURNING id;

-- name: CreatePasswordlessUser :exec
-- Creates a user who signs in with Google or a link (password_hash NULL); an existing user of
-- the email is left as is, so two concurrent first sign-ins both succeed.
INSERT INTO users (email, password_hash, first_name, last_name)
VALUES (@email, NULL, @first_name, @last_name)
ON CONFLICT ((lower(email))) DO NOTHING;
