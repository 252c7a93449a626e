#!/usr/bin/env bash
# llmtap's benchmarks (README.md, "Performance"); every figure is
# printed next to its target. Parts, all by default:
#   probe     ns per SSL call: untraced, the cheapest probe (bpftrace),
#             llmtap with a comm filter matching nothing, llmtap
#   e2e       keep-alive calls/s to a local TLS server, untraced and
#             under `llmtap run`, and through an nginx TLS proxy
#   pipeline  `llmtap replay` of a generated mixed recording
#   loss      1,000 calls/s with 8 KiB prompts under `llmtap record`,
#             then a flood into a small ring buffer
# Knobs: ROUNDS (probe, 200000), SECONDS_E2E (10), LOSS_SECONDS (60),
# LOSS_RATE (1000), PIPELINE_CALLS (20000), PIPELINE_RUNS (5).
# Usage: tools/bench.sh [PART...]     (as root: BPF)
set -u
cd "$(dirname "$0")/.."

B=build/bench
LLMTAP=build/llmtap
PY=/usr/bin/python3
LIBSSL=/usr/lib/x86_64-linux-gnu/libssl.so.3
work=$(mktemp -d /tmp/llmtap-bench.XXXXXX)
pids=()
mkdir -p "$B"

cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT

# Waits until FILE holds TEXT (at most 30 s).
wait_for() {
	local i
	for i in $(seq 300); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "bench: timed out waiting for '$2' in $1" >&2
	return 1
}

# llmtap in the background: lt_start NAME ARGS...; lt_stop NAME.
lt_start() {
	local name=$1
	shift
	"$LLMTAP" "$@" 2>"$work/$name.err" >/dev/null &
	echo $! >"$work/$name.pid"
	pids+=($!)
	wait_for "$work/$name.err" 'recording to\|info: running'
}

lt_stop() {
	local pid
	pid=$(cat "$work/$1.pid")
	sleep 0.3	# the last ring-buffer poll
	kill -INT "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

machine() {
	echo "machine: $(nproc) cores, $(sed -n 's/^model name\t: //p' \
		/proc/cpuinfo | head -1), kernel $(uname -r)"
	echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the" \
		"machine makes every figure noisy)"
}

# ---- probe: ns per SSL call over a memory BIO pair ----

bio_ns() {	# prints "ns_1k ns_16k"
	"$B/bio_pair" "${ROUNDS:-200000}" 1024 16384 |
		sed -n 's/.*ns_per_call=//p' | tr '\n' ' '
}

bpftrace_floor() {
	local prog="" fn
	for fn in SSL_write SSL_read; do
		prog+="uprobe:$LIBSSL:$fn { @e = count(); } "
		prog+="uretprobe:$LIBSSL:$fn { @r = count(); } "
	done
	command -v bpftrace >/dev/null || return 1
	bpftrace -e "$prog" >"$work/bt.out" 2>&1 &
	local pid=$!
	pids+=($pid)
	wait_for "$work/bt.out" 'Attaching' || return 1
	sleep 1
	bio_ns
	kill -INT "$pid"
	wait "$pid" 2>/dev/null
}

part_probe() {
	local un bt fl lt en
	clang -O2 -Wall -Wextra -Werror tests/bench/bio_pair.c -lssl \
		-lcrypto -o "$B/bio_pair" || return 1
	read -r -a un <<<"$(bio_ns)"
	read -r -a bt <<<"$(bpftrace_floor)"
	lt_start floor record -o /dev/null --comm llmtap-nomatch
	read -r -a fl <<<"$(bio_ns)"
	lt_stop floor
	lt_start full record -o /dev/null
	read -r -a lt <<<"$(bio_ns)"
	lt_stop full
	# The same with the probes at the public entries (the fallback
	# where OpenSSL's internal functions cannot be found).
	LLMTAP_PROBE_ENTRY=1 lt_start entry record -o /dev/null
	read -r -a en <<<"$(bio_ns)"
	lt_stop entry
	local i size
	for i in 0 1; do
		size=$([ "$i" = 0 ] && echo 1KiB || echo 16KiB)
		echo "probe $size: untraced ${un[$i]} ns/call," \
			"bpftrace entry+return ${bt[$i]:-n/a}," \
			"llmtap filtered-out ${fl[$i]}, llmtap ${lt[$i]} ns/call," \
			"llmtap at the public entries ${en[$i]} ns/call"
		[ -n "${bt[$i]:-}" ] && echo "probe $size: llmtap / bpftrace" \
			"floor = $(ratio "${lt[$i]}" "${bt[$i]}")x (target <= 1.5x)"
		echo "probe $size: llmtap / filtered floor =" \
			"$(ratio "${lt[$i]}" "${fl[$i]}")x (target <= 1.5x)"
	done
	grep -h 'lost' "$work/full.err" | sed 's/^/probe: /'
}

# ---- nginx: a fast TLS server with a fixed body, and a TLS proxy ----

free_port() {
	$PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0));
print(s.getsockname()[1])'
}

BODY='{"id":"chatcmpl-b","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"ok"}}],"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}}'

# nginx_start UPSTREAM_PORT: serves on $NGX_PORT, proxies on $PROXY_PORT
# (to UPSTREAM_PORT if given, else to $NGX_PORT).
nginx_start() {
	[ -n "${NGX_PORT:-}" ] && return 0
	command -v nginx >/dev/null || { echo "bench: no nginx"; return 1; }
	[ -f "$work/server.pem" ] || tools/gen-cert.sh "$work" >/dev/null 2>&1
	NGX_PORT=$(free_port)
	PROXY_PORT=$(free_port)
	cat >"$work/nginx.conf" <<NGX
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.log;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $work;
	ssl_certificate $work/server.pem;
	ssl_certificate_key $work/server.key;
	keepalive_requests 1000000;
	upstream up { server 127.0.0.1:${1:-$NGX_PORT}; keepalive 16; }
	server {
		listen 127.0.0.1:$NGX_PORT ssl;
		location / { default_type application/json;
			client_body_buffer_size 64k; return 200 '$BODY'; }
	}
	server {
		listen 127.0.0.1:$PROXY_PORT ssl;
		location / { proxy_pass https://up; proxy_http_version 1.1;
			proxy_set_header Connection ""; }
	}
}
NGX
	nginx -c "$work/nginx.conf" -p "$work" &
	pids+=($!)
	sleep 0.5
}

client() {	# client URL [args]: prints the calls/s
	$PY tests/bench/client.py "$@" | sed -n 's/.*rate=\([0-9.]*\).*/\1/p'
}

part_e2e() {
	local s=${SECONDS_E2E:-10} un tr px mun mtr
	nginx_start || return 1
	un=$(client "https://127.0.0.1:$NGX_PORT/v1/chat/completions" \
		--seconds "$s")
	px=$(client "https://127.0.0.1:$PROXY_PORT/v1/chat/completions" \
		--seconds "$s")
	lt_start run run -o /dev/null --no-db --no-api
	tr=$(client "https://127.0.0.1:$NGX_PORT/v1/chat/completions" \
		--seconds "$s")
	lt_stop run
	echo "e2e nginx (fixed JSON, 1 KiB prompts, one keep-alive" \
		"connection): untraced $un calls/s, under llmtap run $tr calls/s" \
		"= $(ratio "$tr" "$un" | awk '{ printf "%.1f", $1 * 100 }')%" \
		"(target >= 97%)"
	echo "e2e nginx TLS proxy in the path: $px calls/s =" \
		"$(ratio "$px" "$un" | awk '{ printf "%.1f", $1 * 100 }')% of direct"
	$PY tests/e2e/mock/provider.py --cert "$work/server.pem" \
		--key "$work/server.key" --port 0 >"$work/mock.port" \
		2>/dev/null &
	pids+=($!)
	wait_for "$work/mock.port" PORT || return 1
	local mp
	mp=$(awk '{ print $2 }' "$work/mock.port")
	mun=$(client "https://127.0.0.1:$mp/v1/chat/completions" --seconds "$s")
	lt_start run2 run -o /dev/null --no-db --no-api
	mtr=$(client "https://127.0.0.1:$mp/v1/chat/completions" --seconds "$s")
	lt_stop run2
	echo "e2e python mock provider: untraced $mun calls/s, traced $mtr" \
		"= $(ratio "$mtr" "$mun" | awk '{ printf "%.1f", $1 * 100 }')%" \
		"(the mock is the bottleneck: nginx is the figure)"
}

# ---- pipeline: replay throughput ----

# One replay of REC: "calls cpu_seconds rss_kib".
replay_once() {
	rm -f "$work/replay.jsonl"
	/usr/bin/time -v "$LLMTAP" replay -o "$work/replay.jsonl" "$1" \
		2>"$work/time.txt" || { cat "$work/time.txt" >&2; return 1; }
	echo "$(wc -l <"$work/replay.jsonl")" \
		"$(awk -F': ' '/User time|System time/ { s += $2 }
			END { print s }' "$work/time.txt")" \
		"$(awk -F': ' '/Maximum resident/ { print $2 }' \
			"$work/time.txt")"
}

# PIPELINE_RUNS replays (default 5): one run on a shared VM swings by
# a tenth either way, so the median is the figure and the best and
# worst are shown beside it.
part_pipeline() {
	local n=${PIPELINE_CALLS:-20000} runs=${PIPELINE_RUNS:-5}
	local rec="$B/mixed-${PIPELINE_CALLS:-20000}.rec" i mb
	[ -s "$rec" ] || $PY tools/gen_recording.py --calls "$n" --conns 256 \
		-o "$rec" || return 1
	mb=$(du -m "$rec" | cut -f1)
	for i in $(seq "$runs"); do
		replay_once "$rec" || return 1
	done >"$work/runs.txt"
	sort -n -k2 "$work/runs.txt" | awk -v mb="$mb" '
		{ c = $1; t[NR] = $2; if ($3 > rss) rss = $3 }
		END {
			med = t[int((NR + 1) / 2)]
			printf "pipeline: %d calls from a %d MB recording, " \
				"%d runs: median %.2fs CPU = %.0f calls/s per " \
				"core (target >= 50000), %.1f MB/s; best %.0f, " \
				"worst %.0f calls/s; peak RSS %d MiB\n", c, mb, NR,
				med, c / med, mb / med, c / t[1], c / t[NR],
				rss / 1024
		}'
}

# ---- loss: sustained rate, then a flood ----

loss_sum() {	# sums the loss lines of a recording
	grep '"type":"loss"' "$1" | $PY -c '
import json, sys
t = {}
for l in sys.stdin:
    for k, v in json.loads(l).items():
        if k not in ("type", "ts"):
            t[k] = t.get(k, 0) + v
print(" ".join(f"{k}={v}" for k, v in sorted(t.items())) or "no loss lines")'
}

part_loss() {
	local s=${LOSS_SECONDS:-60} rate=${LOSS_RATE:-1000} got i
	nginx_start || return 1
	lt_start rec record -o "$work/loss.rec"
	got=$(client "https://127.0.0.1:$NGX_PORT/v1/chat/completions" \
		--seconds "$s" --rate "$rate" --prompt-bytes 8192)
	lt_stop rec
	echo "loss: $got calls/s for ${s}s (asked $rate), 8 KiB prompts:" \
		"$(loss_sum "$work/loss.rec") (target: no drops)"
	lt_start flood record -o "$work/flood.rec" --ringbuf-bytes 65536
	for i in 1 2 3 4; do
		client "https://127.0.0.1:$NGX_PORT/v1/chat/completions" \
			--seconds 10 --prompt-bytes 65536 >/dev/null &
		pids+=($!)
	done
	wait "${pids[@]: -4}"
	lt_stop flood
	echo "loss flood: 4 clients, 64 KiB prompts, 64 KiB ring buffer:" \
		"$(loss_sum "$work/flood.rec") (losses counted, as they must be)"
	grep -h 'lost' "$work/flood.err" | head -2 | sed 's/^/loss flood log: /'
}

parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(probe e2e pipeline loss)
[ -x "$LLMTAP" ] || { echo "bench: build $LLMTAP first (make)"; exit 1; }
machine
for p in "${parts[@]}"; do
	"part_$p" || echo "bench: part $p failed"
done
