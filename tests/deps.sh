#!/bin/sh
# Makes sure the Debian packages this project needs are installed.
#
#   tests/deps.sh build        what compiling needs
#   tests/deps.sh test         what the test suite and the demo also need
#
# Missing packages are installed with apt-get when running as root;
# otherwise the script stops and prints the exact command to run.
set -eu

build_pkgs="gcc make pkg-config libssl-dev libevent-dev libsqlite3-dev libjansson-dev"
test_pkgs="openssl curl sqlite3 faketime jq"

want=""
for group in "$@"; do
	case "$group" in
	build) want="$want $build_pkgs" ;;
	test) want="$want $test_pkgs" ;;
	*) echo "deps.sh: unknown group '$group' (use build or test)" >&2; exit 2 ;;
	esac
done

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "Missing Debian packages:$missing" >&2
	echo "Install them with:" >&2
	echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
	exit 1
fi

echo "Installing missing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# shellcheck disable=SC2086
apt-get install -y -qq $missing >&2
