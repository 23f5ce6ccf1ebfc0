#!/usr/bin/env bash
# Runs a command against a fresh PlanoAuth, as a new user would start it: builds the binary,
# starts `planoauth serve` (its private PostgreSQL in a temporary folder, a free loopback port),
# waits until /readyz answers, exports PLANOAUTH_URL and PLANOAUTH_TOKEN_<SLUG> (the application
# tokens it prints once), and PLANOAUTH_BIN and PLANOAUTH_DATA_DIR so that the command can run the
# operator tools on the same database (`"$PLANOAUTH_BIN" emails list`), runs the command, then
# stops the server.
#   scripts/with-server.sh node --test sdk/ts/dist/
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/planoauth-run-XXXXXX)
chmod 711 "$work" # as root, PostgreSQL runs as postgres and must reach its data folder
go build -o "$work/planoauth" ./cmd/planoauth
: >"$work/stdout" # exists before the loop below reads it, however late the server starts
PLANOAUTH_DATA_DIR="$work/data" PLANOAUTH_ADDR=127.0.0.1:0 "$work/planoauth" serve >"$work/stdout" 2>"$work/stderr" &
pid=$!
stop() {
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -rf "$work"
}
trap stop EXIT

url=""
for _ in $(seq 1 600); do # up to a minute: the first start runs initdb
	url=$(sed -n 's/^PlanoAuth listening on \(http[^ ]*\).*/\1/p' "$work/stdout")
	[ -n "$url" ] && break
	kill -0 "$pid" 2>/dev/null || { echo "planoauth serve exited:" >&2; cat "$work/stderr" >&2; exit 1; }
	sleep 0.1
done
[ -n "$url" ] || { echo "planoauth serve did not start" >&2; cat "$work/stderr" >&2; exit 1; }
curl -fsS "$url/readyz" >/dev/null

export PLANOAUTH_URL="$url" PLANOAUTH_BIN="$work/planoauth" PLANOAUTH_DATA_DIR="$work/data"
while read -r _ slug _ _ _ _ _ _ token; do
	export "PLANOAUTH_TOKEN_${slug^^}=$token"
done < <(grep '^application .* token' "$work/stdout")
"$@"
