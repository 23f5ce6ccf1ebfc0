-- +goose Up
-- Failed log-ins counted per key ('email:...' or 'address:...') in fixed windows, in the
-- database so every instance shares the count.
CREATE TABLE login_failures (
    key           text        PRIMARY KEY,
    window_start  timestamptz NOT NULL,
    failures      integer     NOT NULL
);

-- +goose Down
DROP TABLE login_failures;
