-- +goose Up
-- A session's lifetime is fixed when it is created: it copies its user's remember_me then.
-- Judging expiry by the user's current preference would bring expired sessions back to life
-- when the user later turns remember_me on.
ALTER TABLE sessions ADD COLUMN remember_me boolean NOT NULL DEFAULT false;
UPDATE sessions s SET remember_me = u.remember_me FROM users u WHERE u.id = s.user_id;

-- +goose Down
ALTER TABLE sessions DROP COLUMN remember_me;
