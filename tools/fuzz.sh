#!/usr/bin/env bash
# Runs every libFuzzer target in build/fuzz/ (make fuzz) for SECONDS
# each (default 30), JOBS at a time (default 2), and prints one line
# per target with its executions. New inputs collect in
# build/fuzz/corpus/TARGET (seeded from tests/fuzz/corpus/TARGET);
# a crash leaves its input in build/fuzz/artifacts/TARGET/ and makes
# the script exit 1. Logs go to $FUZZ_OUT (default build/fuzz/runs).
# Usage: tools/fuzz.sh [SECONDS] [TARGET...]
set -u
cd "$(dirname "$0")/.."

secs=${1:-30}
[ $# -gt 0 ] && shift
jobs=${JOBS:-2}
out=${FUZZ_OUT:-build/fuzz/runs}
mkdir -p "$out"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for bin in build/fuzz/fuzz_*; do
		[ -x "$bin" ] && targets+=("$(basename "$bin")")
	done
fi
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no targets in build/fuzz; run 'make fuzz' first" >&2
	exit 1
fi

# One target: its log in build/fuzz/runs/TARGET.log.
run_one() {
	local t=$1 corpus=build/fuzz/corpus/$1 art=build/fuzz/artifacts/$1/
	mkdir -p "$corpus" "$art"
	"build/fuzz/$t" -max_total_time="$secs" -timeout=20 \
		-rss_limit_mb=2048 -max_len=262144 -print_final_stats=1 \
		-artifact_prefix="$art" "$corpus" "tests/fuzz/corpus/$t" \
		>"$out/$t.log" 2>&1
}

# Executions from libFuzzer's final stats; a crash from its summary.
report() {
	local t=$1 rc=$2 execs found
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' \
		"$out/$t.log" | tail -1)
	found=$(grep -m1 -E '^SUMMARY|ERROR: libFuzzer|==ERROR' \
		"$out/$t.log")
	if [ "$rc" -eq 0 ]; then
		echo "fuzz $t: ${execs:-?} executions in ${secs}s, no crash"
	else
		echo "fuzz $t: CRASH after ${execs:-?} executions: ${found:-rc $rc}" \
			"(input in build/fuzz/artifacts/$t/, log $out/$t.log)"
	fi
}

failed=0
declare -A pids
for t in "${targets[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		wait -n
	done
	run_one "$t" &
	pids[$t]=$!
done
for t in "${targets[@]}"; do
	wait "${pids[$t]}"
	rc=$?
	report "$t" "$rc"
	[ "$rc" -ne 0 ] && failed=$((failed + 1))
done
echo "fuzz: ${#targets[@]} targets, $failed crashed"
[ "$failed" -eq 0 ]
