#!/usr/bin/env bash
# Runs the unit tests (cmocka binaries in build/tests) and the
# end-to-end tests (tests/e2e/test_*.py, real BPF, as root), and ends
# with one line: 'tests: N passed, N failed'.
# With the targets built (make fuzz), a full run and --fuzz also run
# each libFuzzer target briefly: FUZZ_SECONDS each (default 20).
# Usage: tests/run.sh [--unit | --e2e | --fuzz] [E2E_TEST_NAME...]
set -u
cd "$(dirname "$0")/.."

mode=all
case "${1:-}" in
--unit) mode=unit; shift ;;
--e2e) mode=e2e; shift ;;
--fuzz) mode=fuzz; shift ;;
esac

passed=0
failed=0
failures=()

# cmocka prints '[  PASSED  ] N test(s).' and '[  FAILED  ] N test(s)'.
run_unit() {
	local bin out p f
	for bin in build/tests/test_*; do
		[ -x "$bin" ] || continue
		out=$("$bin" 2>&1)
		local rc=$?
		echo "$out" | grep -E '^\[  (FAILED|ERROR)' || true
		p=$(echo "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p')
		f=$(echo "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p')
		p=${p:-0}
		f=${f:-0}
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			f=1 # crashed or failed before cmocka's summary
		fi
		echo "unit $(basename "$bin"): $p passed, $f failed"
		passed=$((passed + p))
		failed=$((failed + f))
		[ "$f" -gt 0 ] && failures+=("$(basename "$bin")")
	done
}

# Each e2e script prints 'ok NAME' / 'FAIL NAME: why' and ends with
# its own 'N passed, N failed' line.
run_e2e() {
	local t out p f rc
	if [ "$(id -u)" -ne 0 ]; then
		echo "e2e: FAIL: the end-to-end tests load BPF and must run as root"
		failed=$((failed + 1))
		return
	fi
	for t in tests/e2e/test_*.py; do
		local name
		name=$(basename "$t" .py)
		if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then
			continue
		fi
		out=$(/usr/bin/python3 "$t" 2>&1)
		rc=$?
		echo "$out" | sed "s/^/  [$name] /"
		p=$(echo "$out" | sed -n 's/^\([0-9]*\) passed, [0-9]* failed$/\1/p' | tail -1)
		f=$(echo "$out" | sed -n 's/^[0-9]* passed, \([0-9]*\) failed$/\1/p' | tail -1)
		p=${p:-0}
		f=${f:-0}
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			f=1
		fi
		echo "e2e $name: $p passed, $f failed"
		passed=$((passed + p))
		failed=$((failed + f))
		[ "$f" -gt 0 ] && failures+=("$name")
	done
}

# tools/fuzz.sh prints 'fuzz TARGET: ... no crash' or '... CRASH ...'.
run_fuzz() {
	local out p f
	ls build/fuzz/fuzz_* >/dev/null 2>&1 || return 0
	out=$(tools/fuzz.sh "${FUZZ_SECONDS:-20}" 2>&1)
	echo "$out" | grep '^fuzz '
	p=$(echo "$out" | grep -c '^fuzz .*no crash$')
	f=$(echo "$out" | grep -c '^fuzz .*CRASH')
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$f" -gt 0 ] && failures+=("fuzz")
}

[ "$mode" = all ] || [ "$mode" = unit ] && run_unit
[ "$mode" = all ] || [ "$mode" = e2e ] && run_e2e "$@"
[ "$mode" = all ] || [ "$mode" = fuzz ] && run_fuzz

[ ${#failures[@]} -gt 0 ] && echo "failing: ${failures[*]}"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
