-- +goose Up
-- The remember_me a sign-in asked for while it has not completed (mfa-required,
-- mfa-enrolment-required): one factor proven changes nothing of the account, so the preference
-- is saved on the user, and applied to the session, only when its second factor completes it.
-- NULL: none asked.
ALTER TABLE sessions ADD COLUMN remember_me_wish boolean;

-- +goose Down
ALTER TABLE sessions DROP COLUMN remember_me_wish;
