#!/usr/bin/env bash
# browser-check: a flow of PlanoAuth's pages as a person uses them, in a real browser. It serves a
# fresh build of PlanoAuth against a throwaway database (scripts/with-server.sh) and runs a
# Node script that drives Debian's Chromium with Playwright (the npm package playwright-core,
# which brings no browser of its own):
#   scripts/links-check/links.mjs  the emailed links: a reset, a sign-in link and an invitation
#                                  read from the local mailer, each opened twice before its
#                                  button is pressed (make links-check)
#   scripts/mfa-check/mfa.mjs      the /security page: an authenticator app set up and used with
#                                  codes computed by the test, a passkey registered and signed in
#                                  with on Chromium's virtual authenticator (make mfa-check)
# Each saves screenshots of its pages under docs/ (LINKS_SCREENSHOTS, MFA_SCREENSHOTS to change).
#
# Usage: scripts/browser-check.sh SCRIPT.mjs
#
# Network: as in scripts/docs-check.sh, as root the server and the browser run in a network
# namespace whose only interface is loopback (unshare --net); elsewhere the check warns and relies
# on Chromium's host resolver rules, which send every name but 127.0.0.1 and localhost nowhere.
set -euo pipefail
SELF=$(realpath "$0")
cd "$(dirname "$SELF")/.."

CHROMIUM=/usr/bin/chromium
export LINKS_SCREENSHOTS=${LINKS_SCREENSHOTS:-docs} MFA_SCREENSHOTS=${MFA_SCREENSHOTS:-docs}
export CHROMIUM

main() {
	case ${1:-} in
	--isolated) # in the namespace: bring loopback up, then serve and browse
		ip link set lo up
		exec scripts/with-server.sh node "$2"
		;;
	"")
		echo "usage: scripts/browser-check.sh SCRIPT.mjs" >&2
		exit 2
		;;
	esac
	local script=$1
	local name
	name=$(basename "$script" .mjs)
	install_missing_packages
	[[ -d node_modules/playwright-core ]] || npm ci --no-audit --no-fund
	# Build here, with the network, so that with-server.sh's build in the namespace is a cache hit.
	go build -o /dev/null ./cmd/planoauth
	mkdir -p "$LINKS_SCREENSHOTS" "$MFA_SCREENSHOTS"
	if can_isolate; then
		echo "$name-check: server and browser in a network namespace with loopback only"
		unshare --net -- "$SELF" --isolated "$script"
	else
		echo "$name-check: WARNING: no network namespace; only Chromium's host resolver rules keep it off the network" >&2
		scripts/with-server.sh node "$script"
	fi
}

install_missing_packages() {
	local missing=()
	[[ -x $CHROMIUM ]] || missing+=(chromium)
	command -v curl >/dev/null || missing+=(curl) # with-server.sh asks /readyz with it
	[[ $(id -u) -ne 0 ]] || command -v ip >/dev/null || missing+=(iproute2)
	((${#missing[@]} == 0)) && return
	if [[ $(id -u) -ne 0 ]]; then
		echo "browser-check: install ${missing[*]} first (or run as root to have them installed)" >&2
		exit 1
	fi
	echo "browser-check: installing ${missing[*]} from Debian's packages"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

can_isolate() {
	[[ -z ${DATABASE_URL:-} && $(id -u) -eq 0 ]] && command -v unshare >/dev/null &&
		unshare --net -- ip link set lo up 2>/dev/null
}

main "$@"
