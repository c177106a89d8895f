# Shared by the integration tests (bash). Each test script sources this,
# gets its own temporary folder $T, and reports "PASS: name: what" or
# "FAIL: name: what" per check. Daemons started with ca_start are stopped on
# exit; the folder (logs, databases) is removed when every check passed and
# kept, with its path printed, when one failed.

set -u
TEST_NAME=$(basename "$0" .sh)
T=$(mktemp -d "${TMPDIR:-/tmp}/set-$TEST_NAME.XXXXXX")
TEST_FAILED=0
TEST_PIDS=""

cleanup() {
	local pid
	for pid in $TEST_PIDS; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in $TEST_PIDS; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
	done
	if [ "$TEST_FAILED" -eq 0 ]; then
		rm -rf "$T"
	else
		echo "$TEST_NAME: files and logs kept in $T"
		for log in "$T"/*.log "$T"/*/*.log; do
			[ -f "$log" ] || continue
			echo "---- $log (last 20 lines)"
			tail -n 20 "$log"
		done
	fi
}
trap cleanup EXIT

pass() { echo "PASS: $TEST_NAME: $1"; }
fail() {
	echo "FAIL: $TEST_NAME: $1"
	[ $# -gt 1 ] && printf '    %s\n' "$2"
	TEST_FAILED=1
}
skip() { echo "SKIP: $TEST_NAME: $1"; }

# check "what" command...: passes when the command exits 0.
check() {
	local what=$1
	shift
	if "$@" >"$T/last.out" 2>&1; then
		pass "$what"
	else
		fail "$what" "$(tail -n 5 "$T/last.out")"
	fi
}

# refuse "what" command...: passes when the command exits non-zero.
refuse() {
	local what=$1
	shift
	if "$@" >"$T/last.out" 2>&1; then
		fail "$what" "the command succeeded: $(tail -n 3 "$T/last.out")"
	else
		pass "$what"
	fi
}

# contains "what" file pattern: passes when grep -E finds the pattern.
contains() {
	if grep -Eq -- "$3" "$2" 2>/dev/null; then
		pass "$1"
	else
		fail "$1" "\"$3\" not in $2: $(tail -n 3 "$2" 2>/dev/null)"
	fi
}

# same "what" actual expected
same() {
	if [ "$2" = "$3" ]; then
		pass "$1"
	else
		fail "$1" "got \"$2\", expected \"$3\""
	fi
}

# Waits up to 10 s for a file to appear.
wait_file() {
	for _ in $(seq 100); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# ca_init DIR brand...: a new hierarchy on an ephemeral port.
ca_init() {
	local dir=$1
	shift
	local args=""
	for b in "$@"; do args="$args --brand $b"; done
	# shellcheck disable=SC2086
	set-ca init -D "$dir" --listen 127.0.0.1:0 $args >"$dir.init.log" 2>&1
}

# ca_start DIR: starts the daemon as an operator would (foreground under a
# supervisor, logs to DIR/ca.log) and waits until it serves. Sets CA_PORT.
ca_start() {
	local dir=$1
	rm -f "$dir/ca.port"
	set-ca serve -d -f "$dir/ca.json" >>"$dir/ca.log" 2>&1 &
	CA_PID=$!
	TEST_PIDS="$TEST_PIDS $CA_PID"
	if ! wait_file "$dir/ca.port"; then
		fail "CA daemon starts" "$(tail -n 5 "$dir/ca.log")"
		return 1
	fi
	CA_PORT=$(cat "$dir/ca.port")
	CA_ADDR="127.0.0.1:$CA_PORT"
	return 0
}

# ca_stop: TERM, then wait for a clean exit. Returns the exit status.
ca_stop() {
	kill -TERM "$CA_PID" 2>/dev/null
	wait "$CA_PID"
	local rc=$?
	TEST_PIDS=$(echo "$TEST_PIDS" | sed "s/ $CA_PID//")
	return $rc
}

# https GET/POST against a daemon, trusting only our root.
ca_curl() {
	curl -sS --max-time 10 --cacert "$CA_DIR/root.pem" "$@"
}

# faketime OFFSET command...: runs a command with the clock moved (e.g.
# "-3h"). libfaketime is preloaded; under AddressSanitizer the runtime must
# then be told not to insist on coming first.
at_time() {
	local offset=$1
	shift
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
		faketime -f "$offset" "$@"
}
