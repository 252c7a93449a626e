"""End to end: `llmtap run` turns real clients' calls to the local TLS
mock provider into the right llm_call records: providers, models,
normalised usage, cost, timing, attribution, errors, broken streams;
and no API key used here appears in anything llmtap wrote."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import CLIENTS, PYTHON, Llmtap, Mock, Results, Workdir  # noqa

# Fake keys the clients send; none may appear in llmtap's output or
# log. Written in two parts so secret scanners do not take them for
# real ones.
KEYS = {
    "openai": "sk-llmtaptest-openai-0123456789abcdef",
    "anthropic": "sk-ant-" "llmtaptest-0123456789abcdef",
    "gemini": "AIza" "LLMTAPTESTgeminikey0123456789ab",
    "goog_header": "AIza" "LLMTAPTESTheaderkey0123456789a",
    "node_openai": "sk-llmtaptest-nodeopenai-0123456789",
    "node_anthropic": "sk-ant-" "llmtaptest-node-0123456789",
}

# The mock's token counts (tests/e2e/mock/README.md): in=120 cached=20
# out=30 reasoning=5 cache_write=10. Prices from tools/pricing.json,
# USD per million tokens; costs worked out here by hand.
#
# gpt-4o-mini: input 0.15, cached_input 0.075, output 0.60.
#   OpenAI counts cached inside prompt_tokens: 100 uncached + 20 cached.
#   (100 * 0.15 + 20 * 0.075 + 30 * 0.60) / 1e6 = 34.5e-6
COST_GPT_4O_MINI = 34.5e-6
# claude-sonnet-4-5: input 3, cached_input 0.30, cache_write 3.75,
#   output 15. Anthropic reports cache reads and writes apart from
#   input_tokens: input = 120 + 20 + 10 = 150.
#   (120 * 3 + 20 * 0.3 + 10 * 3.75 + 30 * 15) / 1e6 = 853.5e-6
COST_SONNET_4_5 = 853.5e-6
# gemini-2.5-flash: input 0.30, cached_input 0.03, output 2.50.
#   promptTokenCount 120 holds the 20 cached; thoughts (5) are billed as
#   output on top of candidates (30): output = 35.
#   (100 * 0.3 + 20 * 0.03 + 35 * 2.5) / 1e6 = 118.1e-6
COST_GEMINI_2_5_FLASH = 118.1e-6

OPENAI_BODY = json.dumps({
    "model": "gpt-4o-mini-2024-07-18", "user": "body-user-7",
    "messages": [{"role": "user", "content": "hello"}]})
OPENAI_STREAM = json.dumps({
    "model": "gpt-4o-mini", "stream": True,
    "stream_options": {"include_usage": True},
    "messages": [{"role": "user", "content": "hello"}]})
ANTHROPIC_STREAM = json.dumps({
    "model": "claude-sonnet-4-5-20250929", "max_tokens": 64,
    "stream": True, "metadata": {"user_id": "anthropic-user-3"},
    "messages": [{"role": "user", "content": "hello"}]})
GEMINI_BODY = json.dumps({"contents": [{"parts": [{"text": "hello"}]}]})


class Clients:
    """Starts each client, remembers its pid under a name."""

    def __init__(self, work, mock):
        self.work = work
        self.mock = mock
        self.pids = {}
        self.env = dict(os.environ, NODE_EXTRA_CA_CERTS=work.ca)

    def run(self, name, args, env=None):
        p = subprocess.Popen(args, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env or self.env)
        out, err = p.communicate(timeout=60)
        self.pids[name] = p.pid
        return p.returncode, out, err

    def curl(self, name, path, body, *extra, http="--http1.1"):
        url = f"https://localhost:{self.mock.port}{path}"
        return self.run(name, ["curl", "-s", http, "--cacert",
                               self.work.ca, url, "-d", body,
                               "-H", "content-type: application/json",
                               *extra])

    def py(self, name, lib, path, body, *extra):
        url = f"https://localhost:{self.mock.port}{path}"
        return self.run(name, [PYTHON, os.path.join(CLIENTS, "py_client.py"),
                               "--lib", lib, "--ca", self.work.ca, "--url",
                               url, "--json", body, *extra])

    def node(self, name, script, *args):
        return self.run(name, ["node", os.path.join(CLIENTS, script),
                               "--base-url",
                               f"https://localhost:{self.mock.port}",
                               *args])


def drive(c):
    okey, akey, gkey = KEYS["openai"], KEYS["anthropic"], KEYS["gemini"]
    c.curl("curl_openai", "/v1/chat/completions", OPENAI_BODY,
           "-H", f"Authorization: Bearer {okey}",
           "-H", "Helicone-User-Id: alice",
           "-H", "Helicone-Session-Id: sess-1",
           "-H", "Helicone-Session-Path: /plan/step1",
           "-H", "Helicone-Session-Name: planner",
           "-H", "Helicone-Property-Environment: production",
           "-H", "Cookie: session=secretcookie123")
    c.curl("curl_h2_stream_gzip", "/v1/chat/completions", OPENAI_STREAM,
           "-H", f"Authorization: Bearer {okey}", "-H",
           "x-mock-encoding: gzip", "--compressed", "-H",
           "x-mock-delay-ms: 60", http="--http2")
    c.curl("curl_anthropic_stream", "/v1/messages", ANTHROPIC_STREAM,
           "-H", f"x-api-key: {akey}", "-H", "anthropic-version: 2023-06-01")
    c.curl("curl_openai_chunked", "/v1/chat/completions", OPENAI_BODY,
           "-H", f"api-key: {okey}", "-H", "x-mock-chunked: 1",
           http="--http2")
    c.curl("curl_429", "/v1/chat/completions", OPENAI_BODY,
           "-H", f"Authorization: Bearer {okey}", "-H", "x-mock-status: 429")
    c.curl("curl_500", "/v1/messages", ANTHROPIC_STREAM,
           "-H", f"x-api-key: {akey}", "-H", "x-mock-status: 500")
    c.curl("curl_server_dies", "/v1/messages", ANTHROPIC_STREAM,
           "-H", f"x-api-key: {akey}", "-H", "x-mock-die-after: 3")
    c.py("py_httpx_gemini_stream", "httpx",
         f"/v1beta/models/gemini-2.5-flash:streamGenerateContent"
         f"?alt=sse&key={gkey}", GEMINI_BODY, "--stream", "--http2")
    c.py("py_requests_gemini", "requests",
         "/v1beta/models/gemini-2.5-flash:generateContent", GEMINI_BODY,
         "--header", f"x-goog-api-key:{KEYS['goog_header']}")
    c.py("py_httpx_openai", "httpx", "/v1/chat/completions", OPENAI_BODY,
         "--header", f"Authorization:Bearer {okey}")
    for stream in ([], ["--stream"]):
        tag = "_stream" if stream else ""
        c.node("node_openai" + tag, "openai_client.mjs", "--model",
               "gpt-4o-mini", "--api-key", KEYS["node_openai"], *stream)
        c.node("node_anthropic" + tag, "anthropic_client.mjs", "--model",
               "claude-sonnet-4-5", "--api-key", KEYS["node_anthropic"],
               *stream)
    kill_mid_stream(c)


def kill_mid_stream(c):
    """A client killed while its stream is still arriving."""
    url = f"https://localhost:{c.mock.port}/v1/chat/completions"
    p = subprocess.Popen(["curl", "-sN", "--http1.1", "--cacert", c.work.ca,
                          url, "-d", OPENAI_STREAM, "-H",
                          "x-mock-events: 40", "-H", "x-mock-delay-ms: 100",
                          "-H", f"Authorization: Bearer {KEYS['openai']}"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    p.stdout.read(200)  # the stream has begun
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    c.pids["curl_killed"] = p.pid


def by_pid(records):
    out = {}
    for r in records:
        out.setdefault(r["process"]["pid"], []).append(r)
    return out


def close(a, b):
    return a is not None and abs(a - b) < 1e-9


def check_usage(res, name, rec, want):
    u = rec.get("usage") or {}
    got = {k: u.get(k) for k in want}
    res.check(f"{name}: usage {want}", got == want, str(u))


def check_openai(res, recs):
    r = recs["curl_openai"]
    res.check("curl openai: provider, operation, model",
              (r["provider"], r["operation"], r["model"]) ==
              ("openai", "chat", "gpt-4o-mini-2024-07-18"), str(r))
    check_usage(res, "curl openai", r, {
        "input_tokens": 120, "cached_input_tokens": 20,
        "output_tokens": 30, "reasoning_tokens": 5, "total_tokens": 150})
    res.check("curl openai: cost from the table (dated name)",
              close(r["cost_usd"], COST_GPT_4O_MINI), str(r["cost_usd"]))
    res.check("curl openai: http", r["http"]["version"] == "1.1" and
              r["http"]["method"] == "POST" and r["http"]["status"] == 200
              and r["http"]["path"] == "/v1/chat/completions", str(r["http"]))
    res.check("curl openai: process", r["process"]["comm"] == "curl" and
              r["process"]["exe"].endswith("curl") and
              r["process"]["user"] == "root", str(r["process"]))
    res.check("curl openai: Helicone attribution",
              r["user_id"] == "alice" and r["session"] == {
                  "id": "sess-1", "path": "/plan/step1", "name": "planner",
                  "inferred": False}
              and r["properties"] == {"Environment": "production"},
              str((r["user_id"], r["session"], r["properties"])))
    res.check("curl openai: request id, not a stream, complete",
              r["request_id"].startswith("req_mock") and
              r["stream"] is False and r["incomplete"] is False and
              r["error"] is None and r["ttft_ms"] is None, str(r))

    r = recs["curl_h2_stream_gzip"]
    res.check("curl h2 gzip stream: HTTP/2, streamed, usage, cost",
              r["http"]["version"] == "2" and r["stream"] is True and
              r["usage"] and r["usage"]["input_tokens"] == 120 and
              close(r["cost_usd"], COST_GPT_4O_MINI), str(r))
    res.check("curl h2 gzip stream: ttft after the first event delay",
              r["ttft_ms"] is not None and 50 <= r["ttft_ms"] and
              r["ttft_ms"] <= r["duration_ms"], str(r))
    r = recs["curl_openai_chunked"]
    res.check("curl h2 openai (api-key header): usage and cost",
              close(r["cost_usd"], COST_GPT_4O_MINI), str(r))
    r = recs["py_httpx_openai"]
    res.check("httpx openai: comm python3, body user as user_id",
              r["process"]["comm"] == "python3" and
              r["user_id"] == "body-user-7" and
              close(r["cost_usd"], COST_GPT_4O_MINI), str(r))


def check_anthropic(res, recs):
    r = recs["curl_anthropic_stream"]
    res.check("curl anthropic stream: provider, operation, model",
              (r["provider"], r["operation"], r["model"]) ==
              ("anthropic", "messages", "claude-sonnet-4-5-20250929"),
              str(r))
    check_usage(res, "curl anthropic stream", r, {
        "input_tokens": 150, "cached_input_tokens": 20,
        "cache_write_tokens": 10, "output_tokens": 30, "total_tokens": 180})
    res.check("curl anthropic stream: cost", close(
        r["cost_usd"], COST_SONNET_4_5), str(r["cost_usd"]))
    res.check("curl anthropic stream: metadata.user_id, ttft",
              r["user_id"] == "anthropic-user-3" and r["ttft_ms"] and
              r["ttft_ms"] > 0, str(r))
    r = recs["curl_500"]
    res.check("anthropic 500: status, error type, no cost",
              r["http"]["status"] == 500 and r["error"] and
              r["error"]["type"] == "api_error" and r["cost_usd"] is None,
              str(r))
    r = recs["curl_server_dies"]
    res.check("anthropic stream cut by the server: incomplete",
              r["incomplete"] is True and r["model"] ==
              "claude-sonnet-4-5-20250929", str(r))


def check_gemini(res, recs):
    r = recs["py_httpx_gemini_stream"]
    res.check("httpx h2 gemini stream: provider, model, HTTP/2",
              r["provider"] == "gemini" and r["model"] ==
              "gemini-2.5-flash" and r["http"]["version"] == "2" and
              r["stream"] is True, str(r))
    check_usage(res, "httpx gemini stream", r, {
        "input_tokens": 120, "cached_input_tokens": 20,
        "output_tokens": 35, "reasoning_tokens": 5, "total_tokens": 155})
    res.check("httpx gemini stream: cost", close(
        r["cost_usd"], COST_GEMINI_2_5_FLASH), str(r["cost_usd"]))
    res.check("httpx gemini stream: key= redacted in the path",
              KEYS["gemini"] not in r["http"]["path"] and
              "key=" in r["http"]["path"], r["http"]["path"])
    r = recs["py_requests_gemini"]
    res.check("requests gemini: usage and cost", close(
        r["cost_usd"], COST_GEMINI_2_5_FLASH) and r["stream"] is False,
        str(r))


def check_node(res, recs):
    for name, provider in (("node_openai", "openai"),
                           ("node_anthropic", "anthropic")):
        for tag in ("", "_stream"):
            r = recs[name + tag]
            res.check(f"{name}{tag}: provider, usage, comm node",
                      r["provider"] == provider and r["usage"] and
                      r["process"]["comm"] == "node" and
                      r["stream"] is bool(tag) and
                      r["cost_usd"] is not None, str(r))


def check_errors(res, recs):
    r = recs["curl_429"]
    res.check("openai 429: status, error, no usage, no cost",
              r["http"]["status"] == 429 and r["error"] and
              r["error"]["type"] and r["usage"] is None and
              r["cost_usd"] is None, str(r))
    r = recs["curl_killed"]
    res.check("client killed mid-stream: incomplete record",
              r["incomplete"] is True and r["stream"] is True, str(r))


def check_no_keys(res, work, paths):
    leaks = []
    for path in paths:
        text = open(path, "rb").read()
        leaks += [(os.path.basename(path), k) for k, v in KEYS.items()
                  if v.encode() in text]
        if b"secretcookie123" in text:
            leaks.append((os.path.basename(path), "cookie"))
    res.check("no API key or cookie in any output, log or database "
              f"({len(paths)} files)", not leaks and len(paths) >= 3,
              str(leaks))


def main():
    res = Results()
    work = Workdir()
    mock = Mock(work)
    calls_path = work.file("calls.jsonl")
    try:
        # With a store and --bodies: neither may keep a secret either.
        db = work.file("calls.db")
        tap = Llmtap(["run", "-o", calls_path, "--db", db, "--no-api",
                      "--bodies"], work, "run")
        clients = Clients(work, mock)
        drive(clients)
        time.sleep(0.5)
        rc = tap.stop()
        res.check("run exits 0 on SIGINT", rc == 0, tap.stderr())
        records = [json.loads(line) for line in open(calls_path)]
        pids = by_pid(records)
        recs = {}
        for name, pid in clients.pids.items():
            got = pids.get(pid, [])
            res.check(f"{name}: exactly one llm_call", len(got) == 1 and
                      got[0]["type"] == "llm_call", str(got))
            recs[name] = got[0] if got else None
        if all(recs.values()):
            check_openai(res, recs)
            check_anthropic(res, recs)
            check_gemini(res, recs)
            check_node(res, recs)
            check_errors(res, recs)
        check_no_keys(res, work, [calls_path, tap.err_path] + [
            p for p in (db, db + "-wal", db + "-shm") if os.path.exists(p)])
    finally:
        mock.stop()
    res.finish()


if __name__ == "__main__":
    main()
