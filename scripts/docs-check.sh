#!/usr/bin/env bash
# docs-check: prove that the API reference renders for the people who read it. It builds
# PlanoAuth, serves it against a throwaway database, opens /docs in headless Chromium with no
# network but loopback, checks that every operation of the contract is rendered under its
# summary (scripts/docscheck), saves a screenshot, and stops the server.
#
# Usage: scripts/docs-check.sh   (make docs-check)
#   DOCS_SCREENSHOT  where to save the screenshot (default docs/screenshot.png)
#   DATABASE_URL     an existing PostgreSQL to use instead of a throwaway private cluster
#   READY_TIMEOUT    seconds to wait for /readyz (default 120)
#
# Network: as root, the server and the browser run in a network namespace of their own
# (unshare --net) whose only interface is loopback, so nothing outside can be reached, let
# alone fetched. Where that is impossible (not root, no unshare, a container that forbids it,
# or DATABASE_URL, which may be elsewhere), the check says so and relies on Chromium's host
# resolver rules alone, which map every name but 127.0.0.1 to nowhere; those apply in the
# namespace too, as a second fence.
#
# Chromium comes from Debian's packages: when /usr/bin/chromium is missing it is installed
# with apt-get (as root, as in CI), with curl and iproute2 if those are missing too.
set -euo pipefail
cd "$(dirname "$0")/.."

SCREENSHOT=${DOCS_SCREENSHOT:-docs/screenshot.png}
READY_TIMEOUT=${READY_TIMEOUT:-120}
CHROMIUM=/usr/bin/chromium

SERVER_PID=    # the server to stop on exit
REMOVE_DIR=    # the work folder to remove on exit (by the process that made it)
trap cleanup EXIT

main() {
	if [[ ${1:-} == --isolated ]]; then
		ip link set lo up
		check "$2"
		return
	fi
	install_missing_packages
	REMOVE_DIR=$(mktemp -d)
	local work=$REMOVE_DIR
	chmod 755 "$work" # the private cluster runs as the postgres user, which must enter it
	go build -o "$work/planoauth" ./cmd/planoauth
	go build -o "$work/docscheck" ./scripts/docscheck
	if can_isolate; then
		echo "docs-check: server and browser in a network namespace with loopback only"
		unshare --net -- bash "$0" --isolated "$work"
	else
		echo "docs-check: WARNING: no network namespace; only Chromium's host resolver rules keep it off the network" >&2
		check "$work"
	fi
}

cleanup() {
	stop_server
	if [[ -n $REMOVE_DIR ]]; then rm -rf "$REMOVE_DIR"; fi
}

install_missing_packages() {
	local missing=()
	[[ -x $CHROMIUM ]] || missing+=(chromium)
	command -v curl >/dev/null || missing+=(curl)
	# ip brings loopback up in the namespace, which only root can make.
	[[ $(id -u) -ne 0 ]] || command -v ip >/dev/null || missing+=(iproute2)
	((${#missing[@]} == 0)) && return
	if [[ $(id -u) -ne 0 ]]; then
		echo "docs-check: install ${missing[*]} first (or run as root to have them installed)" >&2
		exit 1
	fi
	echo "docs-check: installing ${missing[*]} from Debian's packages"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

can_isolate() {
	[[ -z ${DATABASE_URL:-} && $(id -u) -eq 0 ]] && command -v unshare >/dev/null &&
		unshare --net -- ip link set lo up 2>/dev/null
}

# check serves from $1 (the built binaries, the data folder, the outputs) and judges /docs.
check() {
	local work=$1 port
	port=$(free_port)
	local base=http://127.0.0.1:$port
	start_server "$work" "$port"
	wait_ready "$base/readyz" "$work/server.log"
	browse "$work" --dump-dom "$base/docs" >"$work/dom.html"
	mkdir -p "$(dirname "$SCREENSHOT")"
	browse "$work" --screenshot="$(realpath "$SCREENSHOT")" --window-size=1400,2000 --hide-scrollbars "$base/docs"
	"$work/docscheck" "$work/dom.html"
	echo "docs-check: screenshot saved to $SCREENSHOT"
	stop_server
}

# free_port prints a loopback port that nothing listens on (in a fresh namespace, any is free).
free_port() {
	local port
	for _ in $(seq 100); do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
	echo "docs-check: no free port found" >&2
	return 1
}

start_server() {
	local work=$1 port=$2
	PLANOAUTH_DATA_DIR="$work/data" PLANOAUTH_ADDR="127.0.0.1:$port" PLANOAUTH_LOG_LEVEL=warn \
		"$work/planoauth" serve >"$work/server.log" 2>&1 &
	SERVER_PID=$!
}

# stop_server asks the server to shut down (it stops its PostgreSQL) and waits for it.
stop_server() {
	[[ -n $SERVER_PID ]] || return 0
	kill -TERM "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
}

wait_ready() {
	local url=$1 log=$2 deadline=$((SECONDS + READY_TIMEOUT))
	until curl -fs -o /dev/null --max-time 2 "$url"; do
		if ! kill -0 "$SERVER_PID" 2>/dev/null || ((SECONDS >= deadline)); then
			echo "docs-check: the server did not become ready (/readyz); its log:" >&2
			grep -v 'shown once' "$log" | tail -n 30 >&2 # application tokens stay private
			exit 1
		fi
		sleep 0.5
	done
}

# browse runs headless Chromium on a fresh profile with everything that phones home turned off.
# Virtual time lets Redoc fetch the contract and render without waiting in real time.
browse() {
	local work=$1
	shift
	local profile
	profile=$(mktemp -d "$work/profile.XXXXXX")
	if ! timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
		--disable-background-networking --disable-component-update --disable-sync --no-first-run \
		--no-proxy-server --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" \
		--user-data-dir="$profile" --virtual-time-budget=15000 "$@" 2>"$work/chromium.log"; then
		echo "docs-check: Chromium failed; its log:" >&2
		tail -n 30 "$work/chromium.log" >&2
		exit 1
	fi
}

main "$@"
