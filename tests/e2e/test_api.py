"""End to end: `llmtap run --listen` serves live metrics that equal the
JSON lines it wrote. Real clients call the local TLS mock; then
/api/v1/metrics (by user_id, by model) and /metrics agree with sums over
calls.jsonl, promtool accepts /metrics, and a real Prometheus server
scraping llmtap reports the same number of calls."""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from lib import Llmtap, Mock, Results, Workdir  # noqa
from test_calls import (ANTHROPIC_STREAM, GEMINI_BODY, KEYS,  # noqa
                        OPENAI_BODY, OPENAI_STREAM, Clients)

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
TOKENS = ("input_tokens", "output_tokens", "cached_input_tokens",
          "reasoning_tokens", "cache_write_tokens")
# Other tests may run beside this one, and llmtap sees every process:
# our calls carry user ids no one else uses.
TAG = f"api-e2e-{os.getpid()}"
USERS = [f"{TAG}-alice", f"{TAG}-bob"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url):
    """(status, body text); errors are answers too."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers


def drive(c):
    okey, akey = KEYS["openai"], KEYS["anthropic"]
    alice, bob = (f"Helicone-User-Id: {u}" for u in USERS)
    c.curl("openai", "/v1/chat/completions", OPENAI_BODY,
           "-H", f"Authorization: Bearer {okey}", "-H", alice)
    c.curl("openai_stream", "/v1/chat/completions", OPENAI_STREAM,
           "-H", f"Authorization: Bearer {okey}", "-H", alice,
           http="--http2")
    c.curl("anthropic", "/v1/messages", ANTHROPIC_STREAM,
           "-H", f"x-api-key: {akey}", "-H", "anthropic-version: 2023-06-01",
           "-H", bob)
    c.curl("openai_429", "/v1/chat/completions", OPENAI_BODY,
           "-H", f"Authorization: Bearer {okey}", "-H", "x-mock-status: 429",
           "-H", bob)
    c.py("gemini", "httpx", "/v1beta/models/gemini-2.5-flash:"
         "generateContent", GEMINI_BODY, "--header",
         f"x-goog-api-key:{KEYS['goog_header']}", "--header",
         f"Helicone-User-Id:{USERS[0]}")


def is_error(r):
    return (r["http"]["status"] or 0) >= 400 or r["error"] is not None


def sums(records):
    out = {"requests": len(records),
           "errors": sum(1 for r in records if is_error(r)),
           "cost_usd": sum(r["cost_usd"] or 0 for r in records)}
    for t in TOKENS:
        out[t] = sum((r["usage"] or {}).get(t) or 0 for r in records)
    return out


def same(group, want):
    for k, v in want.items():
        got = group.get(k)
        if got is None or abs(got - v) > 1e-9 * max(1, abs(v)):
            return False
    return True


def read_records(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def metrics_groups(base, by, window="total"):
    q = urllib.parse.urlencode({"by": by, "window": window})
    status, body, _ = http_get(f"{base}/api/v1/metrics?{q}")
    if status != 200:
        return None
    return {g["group"]: g for g in json.loads(body)["groups"]}


def check_by(res, base, calls_path, by, key_of, keys=None):
    """Groups equal sums over the lines. Records may still arrive from
    other tests' clients, so a mismatch is asked again once things
    settle, a few times."""
    for _ in range(10):
        groups = metrics_groups(base, by)
        records = read_records(calls_path)
        want = {}
        for r in records:
            want.setdefault(key_of(r), []).append(r)
        names = keys if keys is not None else list(want)
        bad = [n for n in names if n not in groups or
               not same(groups[n], sums(want.get(n, [])))]
        if groups is not None and not bad:
            break
        time.sleep(0.5)
    res.check(f"/api/v1/metrics by={by}: equal to the JSON lines",
              groups is not None and not bad and len(names) > 0,
              f"mismatch {bad}: api {groups} lines "
              f"{ {n: sums(want.get(n, [])) for n in bad} }")
    return records


def prom_samples(text):
    """{(name, frozenset(labels)): value} from exposition text."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        name, _, labels = series.partition("{")
        pairs = []
        for part in labels.rstrip("}").split('",'):
            if part:
                k, v = part.split('="', 1)
                pairs.append((k, v.rstrip('"')))
        out[(name, frozenset(pairs))] = float(value)
    return out


def prom_sum(samples, name, **labels):
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items()
               if n == name and want <= set(ls))


def check_prometheus_text(res, base, calls_path):
    for _ in range(10):
        status, text, headers = http_get(f"{base}/metrics")
        records = read_records(calls_path)
        s = prom_samples(text)
        want = sums(records)
        got = {"requests": prom_sum(s, "llmtap_requests_total"),
               "errors": prom_sum(s, "llmtap_errors_total"),
               "cost_usd": prom_sum(s, "llmtap_cost_usd_total"),
               "input_tokens": prom_sum(s, "llmtap_tokens_total",
                                        type="input"),
               "output_tokens": prom_sum(s, "llmtap_tokens_total",
                                         type="output")}
        if same(got, {k: want[k] for k in got}):
            break
        time.sleep(0.5)
    res.check("/metrics: text/plain version 0.0.4",
              status == 200 and "version=0.0.4" in
              headers.get("Content-Type", ""), str(headers))
    res.check("/metrics: counters equal sums over the JSON lines",
              same(got, {k: want[k] for k in got}), f"{got} vs {want}")
    res.check("/metrics: duration histogram counts every call",
              prom_sum(s, "llmtap_request_duration_seconds_count") ==
              want["requests"], str(want["requests"]))
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                           capture_output=True, text=True)
    res.check("promtool check metrics passes", check.returncode == 0,
              check.stdout + check.stderr)


class Prometheus:
    """A real Prometheus server scraping llmtap every second."""

    def __init__(self, work, target):
        self.port = free_port()
        cfg = work.file("prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n"
                    "scrape_configs:\n  - job_name: llmtap\n"
                    f"    static_configs:\n      - targets: ['{target}']\n")
        self.data = tempfile.mkdtemp(prefix="prom-", dir=work.path)
        self.log = open(work.file("prometheus.log"), "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={cfg}",
             f"--storage.tsdb.path={self.data}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=self.log)
        self.base = f"http://127.0.0.1:{self.port}"

    def query(self, expr):
        q = urllib.parse.urlencode({"query": expr})
        try:
            status, body, _ = http_get(f"{self.base}/api/v1/query?{q}")
        except OSError:
            return None  # not listening yet
        if status != 200:
            return None
        result = json.loads(body)["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        self.log.close()


def check_prometheus_server(res, work, target, calls_path):
    prom = Prometheus(work, target)
    try:
        got = want = None
        for _ in range(60):  # scrapes every second; start-up takes a few
            got = prom.query("sum(llmtap_requests_total)")
            want = len(read_records(calls_path))
            if got is not None and got == want:
                break
            time.sleep(0.5)
        res.check("Prometheus scrapes llmtap: requests equal the lines",
                  got == want, f"prometheus {got}, lines {want}")
    finally:
        prom.stop()


def check_api_errors(res, base):
    for path, code in (("/api/v1/metrics?window=2m", 400),
                       ("/api/v1/metrics?by=nothing", 400),
                       ("/api/v1/sessions/no-such-session", 404),
                       ("/nothing", 404),
                       ("/api/v1/calls?limit=-1", 400)):
        status, body, _ = http_get(base + path)
        res.check(f"GET {path}: {code} with a JSON error",
                  status == code and "error" in json.loads(body),
                  f"{status} {body}")
    status, body, _ = http_get(base + "/healthz")
    res.check("/healthz: ok", status == 200 and
              json.loads(body)["status"] == "ok", body)
    hz = json.loads(body) if status == 200 else {}
    res.check("/healthz: attached targets, the system libssl among them",
              any(t["stack"] == "OpenSSL" and "libssl" in t["path"] and
                  t["probes"] > 0 for t in hz.get("targets", [])) and
              "exec_gate" in hz, body)


def main():
    res = Results()
    work = Workdir()
    mock = Mock(work)
    port = free_port()
    target = f"127.0.0.1:{port}"
    base = f"http://{target}"
    calls_path = work.file("calls.jsonl")
    tap = None
    try:
        tap = Llmtap(["run", "-o", calls_path, "--db",
                      work.file("calls.db"), "--listen", target], work,
                     "run")
        drive(Clients(work, mock))
        time.sleep(0.5)
        check_by(res, base, calls_path, "user_id",
                 lambda r: r["user_id"], USERS)
        check_by(res, base, calls_path, "model", lambda r: r["model"])
        check_prometheus_text(res, base, calls_path)
        check_api_errors(res, base)
        status, body, _ = http_get(f"{base}/api/v1/calls?user={USERS[1]}")
        res.check("/api/v1/calls?user=: bob's two calls from the store",
                  status == 200 and json.loads(body)["total"] == 2, body)
        check_prometheus_server(res, work, target, calls_path)
    finally:
        if tap:
            rc = tap.stop()
            res.check("run exits 0 on SIGINT", rc == 0, tap.stderr())
        mock.stop()
    res.finish()


if __name__ == "__main__":
    main()
