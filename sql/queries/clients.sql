-- name: CreateClient :one
-- Gives a user the client role; clients_user_id_key makes it once per user.
INSERT INTO clients (user_id, company_id, company_name)
VALUES (@user_id, @company_id, @company_name)
RETURNING id, created_at;

-- name: GetClientProfile :one
SELECT * FROM client_profiles WHERE id = @id;

-- name: GetClientProfileByUserID :one
SELECT * FROM client_profiles WHERE user_id = @user_id;

-- name: ListClientProfiles :many
-- Clients in id order, at most @max_rows: what an employee or application may grant.
SELECT * FROM client_profiles ORDER BY id LIMIT @max_rows;

-- name: ListClientProfilesByID :many
-- The clients of @ids that exist, in id order.
SELECT * FROM client_profiles WHERE id = ANY (@ids::bigint[]) ORDER BY id;

-- name: LockClientOfUser :one
-- A user's client record and the company it is a member of, share-locked until the transaction
-- ends: what a client grants rests on them, so that a removal from the company (which updates the
-- row) waits for the grant, then takes it back.
SELECT id, company_id FROM clients WHERE user_id = @user_id FOR SHARE;
