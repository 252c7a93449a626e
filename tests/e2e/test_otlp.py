"""End to end: `llmtap run --otlp URL` sends every call as an
OpenTelemetry span. A small OTLP/HTTP receiver (stdlib http.server on
127.0.0.1) records what it is sent; real clients call the local TLS
mock; each call must arrive once, as a well-formed span whose GenAI
and llmtap attributes equal the JSON line llmtap wrote. Then the
receiver answers 503 a few times, and retries must still deliver
everything, waiting as long as Retry-After asks."""
import calendar
import http.server
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import Llmtap, Mock, Results, Workdir  # noqa
from test_calls import (ANTHROPIC_STREAM, GEMINI_BODY, KEYS,  # noqa
                        OPENAI_BODY, OPENAI_STREAM, Clients)

# Sent with --otlp-header; must reach the receiver, never the log.
AUTH = "Bearer otlp-e2e-" "secret-4242"
VALUE_TYPES = {"stringValue", "intValue", "doubleValue", "boolValue"}
# How long we wait for spans to arrive; not a claim about speed.
ARRIVAL_LIMIT_S = 40
RETRY_AFTER_S = 1


class Receiver(http.server.ThreadingHTTPServer):
    """Records every POST; answers 503 to the next `fail` of them."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.posts = []  # (time, status, path, headers, body)
        self.fail = 0
        self.url = f"http://127.0.0.1:{self.server_address[1]}/v1/traces"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def accepted_spans(self):
        out = []
        with self.lock:
            for _, status, _, _, body in self.posts:
                if status == 200:
                    out += spans_of(body)
        return out


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        srv = self.server
        with srv.lock:
            status = 503 if srv.fail > 0 else 200
            # The first failures ask for a pause; the last relies on
            # llmtap's own backoff.
            after = RETRY_AFTER_S if srv.fail > 1 else None
            srv.fail -= 1 if srv.fail > 0 else 0
            srv.posts.append((time.time(), status, self.path,
                              dict(self.headers), body))
        out = b"{}" if status == 200 else b"busy"
        self.send_response(status)
        if after:
            self.send_header("Retry-After", str(after))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


def spans_of(body):
    req = json.loads(body)
    out = []
    for rs in req["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            out += ss["spans"]
    return out


def attrs(span):
    """{key: (type, value)} with exactly one typed value each."""
    out = {}
    for a in span["attributes"]:
        (t, v), = a["value"].items()
        out[a["key"]] = (t, v)
    return out


def ts_ns(ts):
    m = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z", ts)
    sec = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    frac = (m.group(2) or "0").ljust(9, "0")
    return int(sec) * 10**9 + int(frac)


def well_formed(span):
    a = attrs(span)
    return (re.fullmatch(r"[0-9a-f]{32}", span["traceId"]) and
            re.fullmatch(r"[0-9a-f]{16}", span["spanId"]) and
            span["kind"] == 3 and
            span["startTimeUnixNano"].isdigit() and
            span["endTimeUnixNano"].isdigit() and
            int(span["endTimeUnixNano"]) >= int(span["startTimeUnixNano"])
            and all(t in VALUE_TYPES for t, _ in a.values()) and
            all(str(v).lstrip("-").isdigit()
                for t, v in a.values() if t == "intValue"))


def expected(rec):
    """The attributes a record's span must carry, as (type, value)."""
    u = rec["usage"] or {}
    want = {
        "gen_ai.request.model": ("stringValue", rec["model"]),
        "gen_ai.response.model": ("stringValue", rec["response_model"]),
        "gen_ai.response.id": ("stringValue", rec["request_id"]),
        "gen_ai.usage.input_tokens": ("intValue",
                                      str(u.get("input_tokens"))),
        "gen_ai.usage.output_tokens": ("intValue",
                                       str(u.get("output_tokens"))),
        "http.response.status_code": ("intValue",
                                      str(rec["http"]["status"])),
        "llmtap.cost_usd": ("doubleValue", rec["cost_usd"]),
        "llmtap.user_id": ("stringValue", rec["user_id"]),
        "llmtap.process.pid": ("intValue", str(rec["process"]["pid"])),
        "llmtap.process.comm": ("stringValue", rec["process"]["comm"]),
        "llmtap.process.exe": ("stringValue", rec["process"]["exe"]),
        "llmtap.ttft_ms": ("doubleValue", rec["ttft_ms"]),
        "llmtap.session.id": ("stringValue",
                              (rec["session"] or {}).get("id")),
        "server.address": ("stringValue",
                           rec["http"]["host"].rsplit(":", 1)[0]),
    }
    for k, v in (rec["properties"] or {}).items():
        want["llmtap.property." + k] = ("stringValue", v)
    # Attributes with no value in the record are left out of the span.
    return {k: v for k, v in want.items()
            if v[1] is not None and v[1] != "None"}


def check_span(res, name, rec, span):
    a = attrs(span)
    want = expected(rec)
    got = {k: a.get(k) for k in want}
    res.check(f"{name}: attributes equal the JSON line", got == want,
              f"got {got}, want {want}")
    system = {"openai": "openai", "anthropic": "anthropic",
              "gemini": "gcp.gemini"}[rec["provider"]]
    res.check(f"{name}: gen_ai.system, operation, span name",
              a.get("gen_ai.system") == ("stringValue", system) and
              span["name"].endswith(" " + rec["model"]) and
              a.get("gen_ai.operation.name", ("", ""))[1] in
              ("chat", "generate_content"), str((span["name"], a)))
    start, end = int(span["startTimeUnixNano"]), int(span["endTimeUnixNano"])
    res.check(f"{name}: start is ts, length is duration_ms",
              start == ts_ns(rec["ts"]) and
              abs((end - start) / 1e6 - rec["duration_ms"]) < 0.01,
              f"{start} {end} {rec['ts']} {rec['duration_ms']}")
    failed = rec["error"] is not None or rec["http"]["status"] >= 400
    status = span.get("status", {})
    res.check(f"{name}: status {'ERROR' if failed else 'unset'}",
              (status.get("code") == 2 and "error.type" in a) if failed
              else (status == {} and "error.type" not in a), str(status))


def drive_first(c):
    okey, akey = KEYS["openai"], KEYS["anthropic"]
    c.curl("curl_openai", "/v1/chat/completions", OPENAI_BODY,
           "-H", f"Authorization: Bearer {okey}",
           "-H", "Helicone-User-Id: otlp-alice",
           "-H", "Helicone-Session-Id: otlp-sess",
           "-H", "Helicone-Property-Environment: production")
    c.curl("curl_anthropic_stream", "/v1/messages", ANTHROPIC_STREAM,
           "-H", f"x-api-key: {akey}", "-H", "anthropic-version: 2023-06-01")
    c.curl("curl_429", "/v1/chat/completions", OPENAI_BODY,
           "-H", f"Authorization: Bearer {okey}", "-H", "x-mock-status: 429")
    c.py("py_requests_gemini", "requests",
         "/v1beta/models/gemini-2.5-flash:generateContent", GEMINI_BODY,
         "--header", f"x-goog-api-key:{KEYS['goog_header']}")
    c.node("node_openai", "openai_client.mjs", "--model", "gpt-4o-mini",
           "--api-key", KEYS["node_openai"])


def drive_second(c):
    okey = KEYS["openai"]
    c.curl("retry_stream", "/v1/chat/completions", OPENAI_STREAM,
           "-H", f"Authorization: Bearer {okey}", http="--http2")
    c.py("retry_httpx", "httpx", "/v1/chat/completions", OPENAI_BODY,
         "--header", f"Authorization:Bearer {okey}")


def wait_for_pids(recv, pids):
    """Accepted spans of these pids, once all have come (or time ran
    out: the checks then say what is missing)."""
    deadline = time.time() + ARRIVAL_LIMIT_S
    while True:
        got = [s for s in recv.accepted_spans()
               if attrs(s).get("llmtap.process.pid", ("", ""))[1] in pids]
        if len(got) >= len(pids) or time.time() > deadline:
            return got
        time.sleep(0.2)


def check_phase(res, tag, clients, names, recv, records):
    pids = {str(clients.pids[n]): n for n in names}
    spans = wait_for_pids(recv, pids)
    by_pid = {}
    for s in spans:
        by_pid.setdefault(attrs(s)["llmtap.process.pid"][1], []).append(s)
    for pid, name in pids.items():
        got = by_pid.get(pid, [])
        res.check(f"{tag} {name}: exactly one span", len(got) == 1,
                  f"{len(got)} spans")
        recs = [r for r in records() if str(r["process"]["pid"]) == pid]
        if len(got) == 1 and len(recs) == 1:
            res.check(f"{tag} {name}: well formed", well_formed(got[0]),
                      json.dumps(got[0]))
            check_span(res, f"{tag} {name}", recs[0], got[0])


def check_requests(res, recv):
    with recv.lock:
        posts = list(recv.posts)
    ok = [p for p in posts if p[1] == 200]
    res.check("requests: POST /v1/traces, JSON, our auth header",
              ok and all(p[2] == "/v1/traces" and
                         p[3].get("Content-Type") == "application/json" and
                         p[3].get("Authorization") == AUTH for p in ok),
              str([(p[2], p[3]) for p in posts[:2]]))
    req = json.loads(ok[0][4]) if ok else {}
    rs = (req.get("resourceSpans") or [{}])[0]
    ra = {a["key"]: a["value"] for a in
          rs.get("resource", {}).get("attributes", [])}
    scope = (rs.get("scopeSpans") or [{}])[0].get("scope")
    res.check("request: resource service.name llmtap, host.name, scope",
              ra.get("service.name") == {"stringValue": "llmtap"} and
              ra.get("host.name") == {"stringValue": os.uname().nodename}
              and scope == {"name": "llmtap"}, str((ra, scope)))


def check_retries(res, recv, first_fail):
    with recv.lock:
        posts = recv.posts[first_fail:]
    statuses = [p[1] for p in posts]
    res.check("503 x3, then delivered", statuses[:4] == [503] * 3 + [200],
              str(statuses))
    if len(posts) >= 2:
        gap = posts[1][0] - posts[0][0]
        res.check("the retry waited at least Retry-After",
                  gap >= RETRY_AFTER_S - 0.05, f"{gap:.3f}s")
    ids = [s["spanId"] for s in recv.accepted_spans()]
    res.check("no span accepted twice", len(ids) == len(set(ids)),
              f"{len(ids)} spans, {len(set(ids))} distinct")


def main():
    res = Results()
    work = Workdir()
    mock = Mock(work)
    recv = Receiver()
    calls_path = work.file("calls.jsonl")

    def records():
        return [json.loads(line) for line in open(calls_path)]

    try:
        tap = Llmtap(["run", "-o", calls_path, "--no-db", "--no-api",
                      "--otlp", recv.url, "--otlp-header",
                      f"Authorization:{AUTH}"], work, "otlp")
        clients = Clients(work, mock)
        drive_first(clients)
        check_phase(res, "first", clients, list(clients.pids), recv,
                    records)
        check_requests(res, recv)

        with recv.lock:
            recv.fail = 3
            first_fail = len(recv.posts)
        drive_second(clients)
        check_phase(res, "retried", clients, ["retry_stream", "retry_httpx"],
                    recv, records)
        check_retries(res, recv, first_fail)

        rc = tap.stop()
        err = tap.stderr()
        res.check("run exits 0 on SIGINT", rc == 0, err)
        res.check("log: the failure once, the recovery once",
                  err.count("answered HTTP 503") == 1 and
                  err.count("exporting again") == 1, err)
        res.check("the auth header value is never logged",
                  "secret-4242" not in err, err)
        m = re.search(r"otlp: (\d+) spans sent, (\d+) dropped", err)
        res.check("final count: every span sent, none dropped",
                  m and int(m.group(1)) >= len(clients.pids) and
                  m.group(2) == "0", err)
    finally:
        mock.stop()
        recv.shutdown()
    res.finish()


if __name__ == "__main__":
    main()
