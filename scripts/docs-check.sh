#!/usr/bin/env bash
# docs-check: prove that the API reference renders for the people who read it. It serves a
# fresh build of PlanoAuth against a throwaway database (scripts/with-server.sh), opens /docs in
# headless Chromium with no network but loopback, checks that every operation of the contract
# is rendered under its summary (scripts/docscheck), saves a screenshot, and stops the server.
#
# Usage: scripts/docs-check.sh   (make docs-check)
#   DOCS_SCREENSHOT  where to save the screenshot (default docs/screenshot.png)
#   DATABASE_URL     an existing PostgreSQL to use instead of a throwaway private cluster
#
# Network: as root, the server and the browser run in a network namespace of their own
# (unshare --net) whose only interface is loopback, so nothing outside can be reached, let
# alone fetched. Where that is impossible (not root, no unshare, a container that forbids it,
# or DATABASE_URL, which may be elsewhere), the check says so and relies on Chromium's host
# resolver rules alone, which map every name but 127.0.0.1 to nowhere; those apply in the
# namespace too, as a second fence.
#
# Chromium comes from Debian's packages: when /usr/bin/chromium is missing it is installed
# with apt-get (as root, as in CI), with curl (and, for root, iproute2) if missing too.
set -euo pipefail
SELF=$(realpath "$0") # run again in the namespace and by with-server.sh
cd "$(dirname "$SELF")/.."

SCREENSHOT=${DOCS_SCREENSHOT:-docs/screenshot.png}
CHROMIUM=/usr/bin/chromium

main() {
	case ${1:-} in
	--isolated) # in the namespace: bring loopback up, then serve and browse
		ip link set lo up
		exec scripts/with-server.sh "$SELF" --browse "$2"
		;;
	--browse) # with-server.sh runs this with PLANOAUTH_URL set
		browse_and_check "$2"
		return
		;;
	esac
	install_missing_packages
	WORK=$(mktemp -d) # global: the exit trap outlives main
	trap 'rm -rf "$WORK"' EXIT
	local work=$WORK
	go build -o "$work/docscheck" ./scripts/docscheck
	# Build here, with the network, so that with-server.sh's build in the namespace is a cache hit.
	go build -o /dev/null ./cmd/planoauth
	if can_isolate; then
		echo "docs-check: server and browser in a network namespace with loopback only"
		unshare --net -- "$SELF" --isolated "$work"
	else
		echo "docs-check: WARNING: no network namespace; only Chromium's host resolver rules keep it off the network" >&2
		scripts/with-server.sh "$SELF" --browse "$work"
	fi
}

install_missing_packages() {
	local missing=()
	[[ -x $CHROMIUM ]] || missing+=(chromium)
	command -v curl >/dev/null || missing+=(curl) # with-server.sh asks /readyz with it
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

# browse_and_check renders $PLANOAUTH_URL/docs twice (its DOM, then a screenshot) and checks
# the DOM with the docscheck binary in $1.
browse_and_check() {
	local work=$1
	browse "$work" --dump-dom "$PLANOAUTH_URL/docs" >"$work/dom.html"
	mkdir -p "$(dirname "$SCREENSHOT")"
	browse "$work" --screenshot="$(realpath "$SCREENSHOT")" --window-size=1400,2000 --hide-scrollbars "$PLANOAUTH_URL/docs"
	"$work/docscheck" "$work/dom.html"
	echo "docs-check: screenshot saved to $SCREENSHOT"
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
