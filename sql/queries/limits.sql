-- name: TakeAllowance :one
-- Takes one use of a key's allowance of @max per window, unless the window's uses are all
-- taken: then no row (see GetLimitWindowEnd for when the window ends). One statement, so that
-- concurrent takers of one key are serialized on its row and exactly @max of them get a row;
-- a window that has ended starts again at @now.
INSERT INTO limit_counters AS c (key, window_start, expires_at, count)
VALUES (@key, @now, @expires_at, 1)
ON CONFLICT (key) DO UPDATE SET
    count        = CASE WHEN c.expires_at > @now THEN c.count + 1 ELSE 1 END,
    window_start = CASE WHEN c.expires_at > @now THEN c.window_start ELSE @now END,
    expires_at   = CASE WHEN c.expires_at > @now THEN c.expires_at ELSE @expires_at END
WHERE c.expires_at <= @now OR c.count < @max::integer
RETURNING c.window_start;

-- name: GetLimitWindowEnd :one
-- When the current window of a key ends.
SELECT expires_at FROM limit_counters WHERE key = @key;

-- name: ReturnAllowance :exec
-- Gives back the uses of @keys taken at @taken_at, for attempts that turned out not to count
-- (a right password, work refused before it began). A window that started again since is not
-- touched.
UPDATE limit_counters SET count = count - 1
WHERE key = ANY (@keys::text[]) AND count > 0 AND window_start <= @taken_at;

-- name: GetClientTrust :one
-- What an account knows of a caller: the id of the device token it presented, if that token is
-- the user's and unexpired (0 otherwise), whether the user signed in from the caller's address
-- before, and for each whether the sign-in that made it (the session it records) proved @proof
-- (a method of sessions.methods: pwd). A row from before 00082 records no session: it proved
-- nothing known.
SELECT coalesce(d.id, 0)::bigint AS device_id,
       coalesce(@proof::text = ANY (ds.methods), false)::boolean AS device_proved,
       (k.user_id IS NOT NULL)::boolean AS known_address,
       coalesce(@proof::text = ANY (ks.methods), false)::boolean AS address_proved
FROM (SELECT 1) AS one
LEFT JOIN device_tokens d ON d.token_hash = @token_hash AND d.user_id = @user_id AND d.expires_at > @now
LEFT JOIN sessions ds ON ds.id = d.session_id
LEFT JOIN known_addresses k ON k.user_id = @user_id AND k.address = @address AND k.expires_at > @now
LEFT JOIN sessions ks ON ks.id = k.session_id;

-- name: CreateDeviceToken :exec
-- Issues a device token to the user with the session @session_id (removing the factor that
-- session stood on drops it: ForgetSessionDevices), recording the credential it signed in with,
-- and retires the user's old ones of that credential but the newest @keep_per_credential, and,
-- while it then holds more than @keep_old old ones, the oldest of the credential that holds the
-- most (the new one counted with its own): a thief who registered passkeys of its own from a
-- copy of one and signed in ten times with each fills buckets of ten, and retires its own
-- before the owner's one or two per device (review 17: the oldest of any went, hers first).
-- A token from before 00083 (credential '') counts as a device of its own: they share no one
-- credential.
-- The DELETE does not see the new row in its snapshot.
WITH created AS (
    INSERT INTO device_tokens (token_hash, user_id, session_id, credential, created_at, expires_at)
    VALUES (@token_hash, @user_id, @session_id::uuid, @credential, @now, @expires_at)
), per_credential AS (
    SELECT o.id FROM device_tokens o WHERE o.user_id = @user_id AND o.credential = @credential
    ORDER BY o.id DESC OFFSET @keep_per_credential
), kept AS (
    SELECT o.id, o.credential FROM device_tokens o
    WHERE o.user_id = @user_id AND o.id NOT IN (SELECT p.id FROM per_credential p)
), ranked AS (
    SELECT k.id, CASE WHEN k.credential = '' THEN 1
                      ELSE count(*) OVER (PARTITION BY k.credential) + (k.credential = @credential)::int END AS held
    FROM kept k
), beyond_total AS (
    SELECT r.id FROM ranked r ORDER BY r.held DESC, r.id
    LIMIT greatest((SELECT count(*) FROM kept) - @keep_old::bigint, 0)
)
DELETE FROM device_tokens d WHERE d.id IN (SELECT p.id FROM per_credential p) OR d.id IN (SELECT b.id FROM beyond_total b);

-- name: DeleteDeviceToken :exec
-- Retires the device token a caller presented at a sign-in that handed it a new one.
DELETE FROM device_tokens WHERE token_hash = @token_hash AND user_id = @user_id;

-- name: RememberAddress :exec
-- Records that the user signed in from the address, until @expires_at, with the session
-- @session_id: the address is known by its latest sign-in (removing the factor that session
-- stood on may forget it: ForgetSessionAddresses), unless that proved no password and the one it
-- is known by did, and is live: a copy of a passkey signing in from the owner's home must not
-- make her address a stranger's for her password's guesses (GetClientTrust).
INSERT INTO known_addresses (user_id, address, expires_at, session_id) VALUES (@user_id, @address, @expires_at, @session_id::uuid)
ON CONFLICT (user_id, address) DO UPDATE SET expires_at = greatest(known_addresses.expires_at, excluded.expires_at),
    session_id = CASE
        WHEN EXISTS (SELECT 1 FROM sessions o WHERE o.id = known_addresses.session_id AND o.revoked_at IS NULL AND 'pwd' = ANY (o.methods))
         AND NOT EXISTS (SELECT 1 FROM sessions n WHERE n.id = excluded.session_id AND 'pwd' = ANY (n.methods))
        THEN known_addresses.session_id ELSE excluded.session_id END;

-- name: ForgetUserClients :exec
-- Drops every device token and known address of a user: whoever signed in before (possibly not
-- the email's owner) is a stranger again.
WITH devices AS (DELETE FROM device_tokens d WHERE d.user_id = @user_id)
DELETE FROM known_addresses k WHERE k.user_id = @user_id;

-- name: ForgetSessionAddresses :exec
-- Forgets, after a second factor of the user was removed and its sessions ended in this
-- transaction, the addresses whose latest sign-in was one of @sessions (those whose trust came
-- from the factor, revoked now or before: limits.ForgetEnded). But @keep_address, the caller's
-- own: an address it shares with them is its own too. Run before ForgetSessionDevices: the rows
-- are locked in the order a sign-in locks them (Trust).
DELETE FROM known_addresses k USING sessions s
WHERE k.user_id = @user_id AND s.id = k.session_id AND k.address <> @keep_address
  AND s.revoked_at IS NOT NULL AND s.id = ANY (@sessions::uuid[]);

-- name: ForgetSessionDevices :exec
-- Deletes the device tokens issued with @sessions, chosen as for ForgetSessionAddresses. A
-- statement after the revocation, so that it sees a device token that a second factor the
-- removal waited for (the user's row) committed with its session.
DELETE FROM device_tokens d USING sessions s
WHERE d.user_id = @user_id AND s.id = d.session_id
  AND s.revoked_at IS NOT NULL AND s.id = ANY (@sessions::uuid[]);

-- name: DeleteLimitCounters :exec
-- Ends the windows of @keys now (limits.Reopen): what they bound may happen again at once.
DELETE FROM limit_counters WHERE key = ANY(@keys::text[]);
