"""End to end: `llmtap replay` of a recording gives the records that
`llmtap run` gave live for the same calls, because both drive one
pipeline; and the recording holds no secret the clients sent."""
import base64
import calendar
import http.server
import json
import os
import subprocess
import sys
import threading
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


class Hits:
    """A local webhook receiver that only counts: a replay must not
    call it."""

    def __init__(self):
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                hits.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()


def shifted(src, dst, days):
    """A copy of the recording with every time moved days back."""
    step = days * 86400 * 10**9
    with open(src) as f, open(dst, "w") as g:
        for line in f:
            obj = json.loads(line)
            if "ts" in obj:
                obj["ts"] -= step
            g.write(json.dumps(obj, separators=(",", ":")) + "\n")


def backtest(res, work, rec_path):
    """replay --config: the recording's one 429 among its calls fires
    an error-rate rule on the recording's clock (moved two days back,
    so it cannot be mistaken for now), and no notifier is called."""
    hits = Hits()
    old = work.file("rec-2d.jsonl")
    shifted(rec_path, old, 2)
    cfg, out = work.file("backtest.yaml"), work.file("backtest.jsonl")
    with open(cfg, "w") as f:
        f.write(f"""evaluate_every: 1s
notifiers:
  hook: {{type: webhook, url: "http://127.0.0.1:{hits.port}/hook"}}
alerts:
  - name: AnyError
    metric: error_rate
    threshold: "> 0%"
    window: 1m
    notify: [hook]
""")
    os.chmod(cfg, 0o600)
    p = subprocess.run([LLMTAP, "replay", "--config", cfg, "-o", out,
                        old], capture_output=True, text=True, timeout=60)
    alerts = [r for r in map(json.loads, open(out))
              if r.get("type") == "alert"]
    firing = [a for a in alerts if a.get("state") == "firing"]
    res.check("backtest: replay --config exits 0", p.returncode == 0,
              p.stderr[-500:])
    res.check("backtest: the error-rate rule fires on the recording",
              len(firing) == 1 and firing[0]["rule"] == "AnyError" and
              firing[0]["errors"] >= 1, str(alerts))
    # Alert times are to the second: "2026-12-01T20:12:54Z".
    age_h = (time.time() - calendar.timegm(time.strptime(
        firing[0]["ts"], "%Y-%m-%dT%H:%M:%SZ"))) / 3600 if firing else 0
    res.check("backtest: it fires at the recording's time, not now",
              47 < age_h < 49, f"{age_h:.2f} hours ago: {firing}")
    time.sleep(0.5)
    # Delivery runs on its own thread: a message it was handed is
    # either received here or logged as not delivered at exit.
    res.check("backtest: no notifier is called",
              not hits.hits and "not delivered" not in p.stderr,
              f"{hits.hits} {p.stderr[-300:]}")
    hits.server.shutdown()


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

    backtest(res, work, rec_path)

    plain = recorded_plaintext(rec_path)
    leaks = [k for k, v in KEYS.items() if v.encode() in plain]
    if b"secretcookie123" in plain:
        leaks.append("cookie")
    res.check("recording holds no API key or cookie", not leaks,
              str(leaks))
    res.finish()


if __name__ == "__main__":
    main()
