#!/usr/bin/env bash
# Checks the mock provider and every e2e client against each other,
# without llmtap: if this fails, an e2e failure is not llmtap's fault.
# Usage: tests/e2e/mock/selftest.sh   (ends with "N passed, N failed")
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
clients=$root/tests/e2e/clients
work=$(mktemp -d)
mock_pid=

cleanup() {
	[ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null
	[ -n "$mock_pid" ] && wait "$mock_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

"$root/tools/gen-cert.sh" "$work/cert" >/dev/null || exit 1
ca=$work/cert/ca.pem

# Start the mock and read its port from the first stdout line.
/usr/bin/python3 "$here/provider.py" --cert "$work/cert/server.pem" \
	--key "$work/cert/server.key" >"$work/mock.out" 2>"$work/mock.log" &
mock_pid=$!
for _ in $(seq 50); do
	port=$(awk '/^PORT /{print $2}' "$work/mock.out")
	[ -n "$port" ] && break
	sleep 0.1
done
if [ -z "$port" ]; then
	echo "selftest: mock did not start" >&2
	cat "$work/mock.log" >&2
	exit 1
fi
url=https://127.0.0.1:$port

if [ ! -d "$clients/node_modules" ]; then
	(cd "$clients" && npm ci --no-audit --no-fund >/dev/null) || exit 1
fi
export NODE_EXTRA_CA_CERTS=$ca

passed=0
failed=0

# check NAME NEEDLE CMD...: CMD's stdout must contain NEEDLE.
check() {
	local name=$1 needle=$2
	shift 2
	local out
	out=$("$@" 2>"$work/stderr")
	if grep -qF -- "$needle" <<<"$out"; then
		passed=$((passed + 1))
		echo "ok   $name"
	else
		failed=$((failed + 1))
		echo "FAIL $name: wanted '$needle'"
		head -c 400 <<<"$out"
		echo
		head -5 "$work/stderr"
	fi
}

py() { /usr/bin/python3 "$clients/py_client.py" --ca "$ca" "$@"; }
curlx() { curl -sS --cacert "$ca" "$@"; }
node_openai() { node "$clients/openai_client.mjs" --base-url "$url" "$@"; }
node_anthropic() {
	node "$clients/anthropic_client.mjs" --base-url "$url" "$@"
}

chat='{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
chat_stream='{"model":"gpt-4o","stream":true,'
chat_stream+='"stream_options":{"include_usage":true}}'
msg_stream='{"model":"claude-x","stream":true}'
usage_json='"prompt_tokens":120,"completion_tokens":30'
die='x-mock-die-after:3'

# curl, HTTP/1.1 and HTTP/2.
for v in --http1.1 --http2; do
	check "curl $v chat" "$usage_json" \
		curlx $v "$url/v1/chat/completions" -d "$chat"
	check "curl $v chat stream" "data: [DONE]" \
		curlx $v -N "$url/v1/chat/completions" -d "$chat_stream"
	check "curl $v messages 429" '"rate_limit_error"' \
		curlx $v "$url/v1/messages" -d '{}' -H 'x-mock-status: 429'
	check "curl $v gemini sse" '"thoughtsTokenCount":5' \
		curlx $v -d '{}' \
		"$url/v1beta/models/g1:streamGenerateContent?alt=sse"
	check "curl $v gzip" '"total_tokens":120' \
		curlx $v --compressed "$url/v1/embeddings" -d '{}' \
		-H 'x-mock-encoding: gzip'
	check "curl $v die-after" 'events=3' \
		sh -c "echo events=\$(curl -sS --cacert $ca $v \
		$url/v1/messages -d '$msg_stream' -H '$die' 2>/dev/null \
		| grep -c '^event:')"
done
check "curl http1.1 chunked" '"completion_tokens":30' \
	curlx --http1.1 "$url/v1/completions" -d '{}' -H 'x-mock-chunked: 1'
check "curl keep-alive" 'c1 c0 c0' \
	curlx --http1.1 "$url/bytes?n=1" "$url/bytes?n=1" "$url/bytes?n=1" \
	-o /dev/null -o /dev/null -o /dev/null -w 'c%{num_connects} '

# Python: httpx over HTTP/1.1 and HTTP/2, requests over HTTP/1.1.
head -c 1048576 /dev/urandom >"$work/body.bin"
sum=$(sha256sum "$work/body.bin" | cut -d' ' -f1)
for lib in "httpx" "httpx --http2" "requests"; do
	check "py $lib chat" '"cached_tokens":20' \
		py --lib $lib --url "$url/v1/chat/completions" --json "$chat"
	check "py $lib stream gzip" 'event: message_stop' \
		py --lib $lib --stream --url "$url/v1/messages" \
		--json "$msg_stream" --header x-mock-encoding:gzip
	check "py $lib die-after" 'exit=3' \
		sh -c "/usr/bin/python3 $clients/py_client.py --ca $ca \
		--lib $lib --stream --url $url/v1/messages \
		--json '$msg_stream' --header '$die' >/dev/null 2>&1; \
		echo exit=\$?"
	check "py $lib 1 MiB echo" "$sum" \
		sh -c "/usr/bin/python3 $clients/py_client.py --ca $ca \
		--lib $lib --url $url/echo --body-file $work/body.bin \
		2>/dev/null | sha256sum"
done

# Node SDKs and node's https module.
check "openai sdk chat" '"model":"gpt-4o-mini","usage":{"prompt_tokens":120' \
	node_openai
check "openai sdk stream" '"completion_tokens":30' node_openai --stream
check "openai sdk responses stream" '"output_tokens":30' \
	node_openai --api responses --stream
check "openai sdk 500" '"status":500' node_openai --header x-mock-status:500
check "openai sdk die-after" '"message":"terminated"' \
	node_openai --stream --header "$die"
check "anthropic sdk" '"cache_read_input_tokens":20' node_anthropic
check "anthropic sdk stream" '"output_tokens":30}' \
	node_anthropic --stream --header x-mock-encoding:gzip
check "anthropic sdk 429" '"status":429' \
	node_anthropic --header x-mock-status:429
check "node https 1 MiB echo" "$sum" \
	sh -c "node $clients/node_raw.mjs --url $url/echo \
	--body-file $work/body.bin 2>/dev/null | sha256sum"

echo "selftest: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
