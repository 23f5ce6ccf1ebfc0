-- +goose NO TRANSACTION
-- +goose Up
-- The retention worker asks, of every session past retention, whether another session names it
-- in derived_from (DeleteOldSessions), and the removal of a factor walks derived_from
-- (DerivedSessions). 00083's GIN index over every session (nearly all with an empty array) was
-- not used for it: PostgreSQL scanned the table once per session asked about, 56 ms each at
-- 200,000 sessions, two minutes per batch of 1,000 (README, Retention). A partial index over the
-- sessions that name any (the queries say derived_from <> '{}') is used, and is small.
--
-- Built CONCURRENTLY, outside a transaction (goose's NO TRANSACTION), so that sign-ins and token
-- touches go on writing sessions while it builds; a plain CREATE INDEX would hold them for the
-- whole build. Under internal/migrate's lock_timeout a build that waited too long for a
-- transaction in flight fails and leaves an invalid index behind: the migration, tried again,
-- drops that first.
DROP INDEX CONCURRENTLY IF EXISTS sessions_derived_from_named_idx;
CREATE INDEX CONCURRENTLY sessions_derived_from_named_idx ON sessions USING gin (derived_from) WHERE derived_from <> '{}';
DROP INDEX CONCURRENTLY IF EXISTS sessions_derived_from_idx;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS sessions_derived_from_idx;
CREATE INDEX CONCURRENTLY sessions_derived_from_idx ON sessions USING gin (derived_from);
DROP INDEX CONCURRENTLY IF EXISTS sessions_derived_from_named_idx;
