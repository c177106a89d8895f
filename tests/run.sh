#!/bin/sh
# The test runner: every unit test binary, then every integration test
# script, each in its own process. Lines "PASS: ...", "FAIL: ..." and
# "SKIP: ..." are counted; a program that exits non-zero without reporting a
# failure counts as one failure. Closes with "N passed, N failed".
#
#   tests/run.sh [--unit | --integration] BUILD_DIR [NAME ...]
#
# NAME restricts the run to the unit tests or scripts of that name.
set -u

mode=all
case "${1:-}" in
--unit) mode=unit; shift ;;
--integration) mode=integration; shift ;;
esac
[ $# -ge 1 ] || { echo "usage: tests/run.sh [--unit|--integration] BUILD [NAME...]" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
shift
only="$*"

export SET_BUILD="$build"
export SET_TOP="$top"
export PATH="$build/bin:$build/tests:$PATH"
# Sanitizer builds: fail loudly, and leak reports are failures too.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

passed=0
failed=0
skipped=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

wanted() {
	[ -z "$only" ] && return 0
	for n in $only; do [ "$n" = "$1" ] && return 0; done
	return 1
}

run_one() {
	name=$1
	shift
	"$@" >"$out" 2>&1
	rc=$?
	p=$(grep -c '^PASS: ' "$out")
	f=$(grep -c '^FAIL: ' "$out")
	s=$(grep -c '^SKIP: ' "$out")
	if [ "$f" -gt 0 ] || [ "$rc" -ne 0 ]; then
		cat "$out"
		if [ "$f" -eq 0 ]; then
			echo "FAIL: $name: exited with status $rc"
			f=1
		fi
	else
		grep -E '^(PASS|SKIP): ' "$out"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
}

if [ "$mode" != integration ]; then
	for t in "$build"/tests/test_*; do
		[ -x "$t" ] || continue
		n=$(basename "$t")
		wanted "$n" || continue
		run_one "$n" "$t"
	done
fi
if [ "$mode" != unit ]; then
	for t in "$top"/tests/integration/*.sh; do
		[ -f "$t" ] || continue
		n=$(basename "$t" .sh)
		wanted "$n" || continue
		run_one "$n" bash "$t"
	done
fi

if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
