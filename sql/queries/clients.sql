-- name: CreateClient :one
INSERT INTO clients (user_id, company_id, company_name)
VALUES (@user_id, @company_id, @company_name)
RETURNING id, created_at;
