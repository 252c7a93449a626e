"""End to end: `llmtap replay` of a recording gives the records that
`llmtap run` gave live for the same calls, because both drive one
pipeline; and the recording holds no secret the clients sent."""
import base64
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import LLMTAP, Llmtap, Mock, Results, Workdir  # noqa
from test_calls import (ANTHROPIC_STREAM, KEYS, OPENAI_BODY,  # noqa
                        OPENAI_STREAM, Clients)

# What a replay can know as well as the live daemon. The process's exe
# comes from the recorded exec; user and container need the live /proc.
SAME_KEYS = ("http", "provider",
             "operation", "model", "response_model", "stream", "usage",
             "cost_usd", "user_id", "session", "properties", "request_id",
             "error", "incomplete")


# Times: the live daemon and the recorder each turn kernel boot time
# into wall-clock time with their own reading of the two clocks, a few
# microseconds apart, and each refreshes its reading every second.
TIME_TOLERANCE_MS = 1.0


def ts_ms(ts):
    """RFC 3339 with microseconds to ms since the epoch."""
    from datetime import datetime
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1e3


def times_differ(a, b):
    pairs = [(ts_ms(a["ts"]), ts_ms(b["ts"])),
             (a["duration_ms"], b["duration_ms"])]
    if a["ttft_ms"] is not None or b["ttft_ms"] is not None:
        if a["ttft_ms"] is None or b["ttft_ms"] is None:
            return True
        pairs.append((a["ttft_ms"], b["ttft_ms"]))
    return any(abs(x - y) > TIME_TOLERANCE_MS for x, y in pairs)


def drive(c):
    okey, akey = KEYS["openai"], KEYS["anthropic"]
    c.curl("h1_openai", "/v1/chat/completions", OPENAI_BODY,
           "-H", f"Authorization: Bearer {okey}",
           "-H", "Helicone-User-Id: bob", "-H", "Cookie: sid=secretcookie123")
    c.curl("h2_openai_stream", "/v1/chat/completions", OPENAI_STREAM,
           "-H", f"Authorization: Bearer {okey}", http="--http2")
    c.curl("h2_anthropic_stream", "/v1/messages", ANTHROPIC_STREAM,
           "-H", f"x-api-key: {akey}", "-H", "x-mock-encoding: gzip",
           "--compressed", http="--http2")
    c.node("node_anthropic", "anthropic_client.mjs", "--model",
           "claude-sonnet-4-5", "--api-key", KEYS["node_anthropic"],
           "--stream")
    c.curl("h1_429", "/v1/chat/completions", OPENAI_BODY,
           "-H", f"Authorization: Bearer {okey}", "-H", "x-mock-status: 429")


def recorded_plaintext(path):
    """Every data chunk decoded, with the raw lines, for the key grep."""
    out = bytearray(open(path, "rb").read())
    for line in open(path):
        o = json.loads(line)
        if o["type"] == "data":
            out += base64.b64decode(o["data"])
    return bytes(out)


def main():
    res = Results()
    work = Workdir()
    mock = Mock(work)
    live_path = work.file("live.jsonl")
    rec_path = work.file("rec.jsonl")
    replay_path = work.file("replayed.jsonl")
    try:
        run = Llmtap(["run", "-o", live_path, "--no-db", "--no-api"], work,
                     "run")
        rec = Llmtap(["record", "-o", rec_path], work, "record")
        clients = Clients(work, mock)
        drive(clients)
        time.sleep(0.3)
        res.check("run and record exit 0",
                  run.stop() == 0 and rec.stop() == 0,
                  run.stderr() + rec.stderr())
    finally:
        mock.stop()

    p = subprocess.run([LLMTAP, "replay", "-o", replay_path, rec_path],
                       capture_output=True, text=True, timeout=60)
    res.check("replay exits 0, no bad lines", p.returncode == 0 and
              " 0 bad lines" in p.stderr, p.stderr)

    pids = set(clients.pids.values())
    live = [r for r in map(json.loads, open(live_path))
            if r["process"]["pid"] in pids]
    replayed = [r for r in map(json.loads, open(replay_path))
                if r["process"]["pid"] in pids]
    key = lambda r: (r["process"]["pid"], r["ts"])  # noqa: E731
    live.sort(key=key)
    replayed.sort(key=key)
    res.check("replay gives one record per live record",
              len(live) == len(clients.pids) == len(replayed),
              f"{len(live)} live, {len(replayed)} replayed")
    for a, b in zip(live, replayed):
        name = [n for n, pid in clients.pids.items()
                if pid == a["process"]["pid"]][0]
        diff = {k: (a.get(k), b.get(k)) for k in SAME_KEYS
                if a.get(k) != b.get(k)}
        if times_differ(a, b):
            diff["times"] = [(a[k], b[k]) for k in
                             ("ts", "duration_ms", "ttft_ms")]
        res.check(f"{name}: replayed record equals the live one",
                  not diff, str(diff))
        res.check(f"{name}: replay names the process from the recording",
                  b["process"]["comm"] == a["process"]["comm"] and
                  b["process"]["exe"] == a["process"]["exe"], str(b))

    plain = recorded_plaintext(rec_path)
    leaks = [k for k, v in KEYS.items() if v.encode() in plain]
    if b"secretcookie123" in plain:
        leaks.append("cookie")
    res.check("recording holds no API key or cookie", not leaks,
              str(leaks))
    res.finish()


if __name__ == "__main__":
    main()
