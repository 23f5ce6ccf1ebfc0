#!/usr/bin/env bash
# links-check: the emailed links as a person uses them, in a real browser. It serves a fresh build
# of PlanoAuth against a throwaway database (scripts/with-server.sh) and runs
# scripts/links-check/links.mjs, which drives Debian's Chromium with Playwright (the npm package
# playwright-core, which brings no browser of its own): it asks for a password reset, a sign-in
# link, an invitation and a welcome's verification link, reads each email from the local mailer (`planoauth emails list/show`),
# opens each link twice (as a mail scanner would, then its owner) and checks that the link still
# works, uses the page's button, and signs in with the result. It saves a screenshot of each page
# under docs/ (LINKS_SCREENSHOTS to change the folder), phone-sized.
#
# Usage: scripts/links-check.sh   (make links-check)
#
# Network: as in scripts/docs-check.sh, as root the server and the browser run in a network
# namespace whose only interface is loopback (unshare --net); elsewhere the check warns and relies
# on Chromium's host resolver rules, which send every name but 127.0.0.1 nowhere.
set -euo pipefail
SELF=$(realpath "$0")
cd "$(dirname "$SELF")/.."

CHROMIUM=/usr/bin/chromium
export LINKS_SCREENSHOTS=${LINKS_SCREENSHOTS:-docs}
export CHROMIUM

main() {
	case ${1:-} in
	--isolated) # in the namespace: bring loopback up, then serve and browse
		ip link set lo up
		exec scripts/with-server.sh node scripts/links-check/links.mjs
		;;
	esac
	install_missing_packages
	[[ -d node_modules/playwright-core ]] || npm ci --no-audit --no-fund
	# Build here, with the network, so that with-server.sh's build in the namespace is a cache hit.
	go build -o /dev/null ./cmd/planoauth
	mkdir -p "$LINKS_SCREENSHOTS"
	if can_isolate; then
		echo "links-check: server and browser in a network namespace with loopback only"
		unshare --net -- "$SELF" --isolated
	else
		echo "links-check: WARNING: no network namespace; only Chromium's host resolver rules keep it off the network" >&2
		scripts/with-server.sh node scripts/links-check/links.mjs
	fi
}

install_missing_packages() {
	local missing=()
	[[ -x $CHROMIUM ]] || missing+=(chromium)
	command -v curl >/dev/null || missing+=(curl) # with-server.sh asks /readyz with it
	[[ $(id -u) -ne 0 ]] || command -v ip >/dev/null || missing+=(iproute2)
	((${#missing[@]} == 0)) && return
	if [[ $(id -u) -ne 0 ]]; then
		echo "links-check: install ${missing[*]} first (or run as root to have them installed)" >&2
		exit 1
	fi
	echo "links-check: installing ${missing[*]} from Debian's packages"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

can_isolate() {
	[[ -z ${DATABASE_URL:-} && $(id -u) -eq 0 ]] && command -v unshare >/dev/null &&
		unshare --net -- ip link set lo up 2>/dev/null
}

main "$@"
