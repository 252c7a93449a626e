"""End to end: alert rules over real captured calls. A local webhook
receiver and a local SMTP sink (both on 127.0.0.1) take the
notifications; `llmtap run --config` evaluates every second over 5 s
windows. Each rule fires (webhook, Slack-style webhook, mail, exec,
an alert line in the output) and resolves once its window has slid
past the bad calls; the grouped rule names the right user; SIGHUP
with a broken file logs the error and keeps the running rules."""
import http.server
import json
import os
import signal
import socketserver
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import Llmtap, Mock, Results, Workdir  # noqa
from test_calls import Clients  # noqa

BODY = json.dumps({"model": "gpt-4o-mini",
                   "messages": [{"role": "user", "content": "hi"}]})
WAIT_S = 20
# Other tests may run on this host meanwhile, and llmtap sees their
# calls too: every rule here looks only at calls with this property.
TAG = f"alerts-{os.getpid()}"


class Hooks:
    """An HTTP server that keeps every POST body it is sent, by path."""

    def __init__(self):
        self.posts = []
        self.lock = threading.Lock()
        hooks = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with hooks.lock:
                    hooks.posts.append((self.path, json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def of(self, path):
        with self.lock:
            return [b for p, b in self.posts if p == path]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class SmtpSink:
    """Just enough SMTP (RFC 5321) to take mail: each message is kept
    and appended to a file."""

    def __init__(self, path):
        self.path = path
        self.messages = []
        self.lock = threading.Lock()
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line):
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self):
                self.reply("220 sink ESMTP")
                rcpt, sender = [], None
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    cmd = line.decode(errors="replace").strip()
                    verb = cmd.split(" ")[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250 sink")
                    elif verb == "MAIL":
                        sender = cmd[10:]
                        self.reply("250 ok")
                    elif verb == "RCPT":
                        rcpt.append(cmd[8:])
                        self.reply("250 ok")
                    elif verb == "DATA":
                        self.reply("354 go on")
                        sink.take(sender, rcpt, self.data())
                        rcpt = []
                        self.reply("250 queued")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("250 ok")

            def data(self):
                lines = []
                while True:
                    line = self.rfile.readline()
                    if not line or line in (b".\r\n", b".\n"):
                        return b"".join(lines).decode(errors="replace")
                    lines.append(line)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def take(self, sender, rcpt, text):
        with self.lock:
            self.messages.append({"from": sender, "to": rcpt,
                                  "text": text})
            with open(self.path, "a") as f:
                f.write(text + "\n.\n")

    def subjects(self):
        with self.lock:
            return [line for m in self.messages
                    for line in m["text"].splitlines()
                    if line.startswith("Subject:")]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def config(hooks, smtp, exec_out):
    return f"""
evaluate_every: 1s
notifiers:
  hook: {{type: webhook, url: "http://127.0.0.1:{hooks.port}/hook"}}
  slack:
    type: slack
    url: "http://127.0.0.1:{hooks.port}/slack"
    channel: "#performance-alerts"
  mail:
    type: email
    smtp_url: "smtp://127.0.0.1:{smtp.port}"
    from: llmtap@test.invalid
    to: [oncall@test.invalid]
  run: {{type: exec, command: "cat >> {exec_out}; echo >> {exec_out}"}}
alerts:
  - name: Errors
    metric: error_rate
    threshold: "> 50%"
    window: 5s
    min_requests: 2
    where: {{property.Suite: {TAG}}}
    severity: critical
    notify: [hook, mail]
  - name: Spend
    metric: cost
    threshold: "> $0.0001"
    window: 5s
    where: {{property.Suite: {TAG}}}
    group_by: user_id
    notify: [hook]
  - name: Slow
    metric: latency_p95
    threshold: "> 200ms"
    window: 5s
    where: {{property.Suite: {TAG}}}
    notify: [slack, run]
"""


def wait_for(cond, timeout=WAIT_S):
    """Polls cond until it holds or the time is up; its last value."""
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v or time.time() > deadline:
            return v
        time.sleep(0.1)


def alert_lines(path):
    out = []
    for line in open(path):
        rec = json.loads(line)
        if rec.get("type") == "alert":
            out.append(rec)
    return out


def posted(hooks, path, rule, state):
    return [b for b in hooks.of(path)
            if b.get("rule") == rule and b.get("state") == state]


def call(clients, user, *extra):
    clients.curl(user, "/v1/chat/completions", BODY,
                 "-H", "Authorization: Bearer sk-llmtaptest-alerts-0123",
                 "-H", f"Helicone-User-Id: {user}",
                 "-H", f"Helicone-Property-Suite: {TAG}", *extra)


def errors_phase(res, clients, hooks, smtp, calls_path):
    for _ in range(3):
        call(clients, "eve", "-H", "x-mock-status: 500")
    fired = wait_for(lambda: posted(hooks, "/hook", "Errors", "firing"))
    res.check("errors: webhook on firing", len(fired) == 1, hooks.posts)
    if fired:
        a = fired[0]
        res.check("errors: the alert's fields",
                  a["metric"] == "error_rate" and a["value"] == 100 and
                  a["threshold"] == "> 50%" and a["window"] == "5s" and
                  a["severity"] == "critical" and a["requests"] == 3 and
                  a["group"] is None, a)
        res.check("errors: top user eve, the API query",
                  a["top_users"][0]["user_id"] == "eve" and
                  a["top_users"][0]["errors"] == 3 and
                  a["query"].startswith("/api/v1/calls?since="), a)
    mail = wait_for(lambda: [s for s in smtp.subjects()
                             if "FIRING Errors" in s])
    res.check("errors: mail on firing", len(mail) == 1, smtp.messages)
    res.check("errors: mail lists eve", any(
        "eve (3 req, 3 err" in m["text"] for m in smtp.messages),
        smtp.messages)
    resolved = wait_for(lambda: posted(hooks, "/hook", "Errors",
                                       "resolved"))
    res.check("errors: webhook on resolving", len(resolved) == 1,
              hooks.posts)
    res.check("errors: mail on resolving", wait_for(
        lambda: [s for s in smtp.subjects() if "RESOLVED Errors" in s]),
        smtp.subjects())
    lines = [a for a in alert_lines(calls_path) if a["rule"] == "Errors"]
    res.check("errors: firing then resolved lines in the output",
              [a["state"] for a in lines] == ["firing", "resolved"], lines)
    res.check("errors: not repeated while firing", len(
        posted(hooks, "/hook", "Errors", "firing")) == 1, hooks.posts)


def spend_and_latency_phase(res, clients, hooks, exec_out, calls_path):
    # carol: 4 calls of $34.5e-6 (> $0.0001); dave: one; slowpoke: two
    # slow ones, which make the window's p95 slow.
    for _ in range(4):
        call(clients, "carol")
    call(clients, "dave")
    for _ in range(2):
        call(clients, "slowpoke", "-H", "x-mock-delay-ms: 400")
    spend = wait_for(lambda: posted(hooks, "/hook", "Spend", "firing"))
    res.check("spend: one grouped alert, for carol", len(spend) == 1 and
              spend[0]["group"] == {"user_id": "carol"}, hooks.posts)
    if spend:
        res.check("spend: value and query name carol",
                  abs(spend[0]["value"] - 4 * 34.5e-6) < 1e-9 and
                  "&user=carol" in spend[0]["query"], spend[0])
    slack = wait_for(lambda: [b for b in hooks.of("/slack")
                              if "FIRING Slow" in b.get("text", "")])
    res.check("latency: Slack payload on firing", len(slack) == 1 and
              slack[0].get("channel") == "#performance-alerts" and
              slack[0].get("blocks"), hooks.of("/slack"))
    ran = wait_for(lambda: os.path.exists(exec_out) and
                   '"rule":"Slow"' in open(exec_out).read())
    res.check("latency: exec notifier got the alert on stdin", ran,
              exec_out)
    resolved = wait_for(lambda: posted(hooks, "/hook", "Spend",
                                       "resolved"))
    res.check("spend: resolved after the window", len(resolved) == 1,
              hooks.posts)
    wait_for(lambda: [b for b in hooks.of("/slack")
                      if "RESOLVED Slow" in b.get("text", "")])
    states = [(a["rule"], a["state"]) for a in alert_lines(calls_path)]
    res.check("spend and latency: lines in the output",
              ("Spend", "firing") in states and
              ("Spend", "resolved") in states and
              ("Slow", "firing") in states and
              ("Slow", "resolved") in states, states)
    res.check("spend: dave and slowpoke never alerted", not [
        b for b in hooks.of("/hook") if b.get("rule") == "Spend" and
        b["group"] != {"user_id": "carol"}], hooks.posts)


def reload_phase(res, tap, clients, hooks, cfg_path):
    with open(cfg_path, "w") as f:
        f.write("alerts:\n  - name: Broken\n    metric: error_rate\n"
                "    threshold: \"> 5\"\n    window: 5m\n")
    os.kill(tap.proc.pid, signal.SIGHUP)
    logged = wait_for(lambda: "keeping the running configuration"
                      in tap.stderr())
    res.check("reload: the broken file's error is logged", logged and
              "alerts[0].threshold: \"> 5\" needs a unit" in tap.stderr(),
              tap.stderr())
    for _ in range(3):
        call(clients, "mallory", "-H", "x-mock-status: 500")
    again = wait_for(lambda: [b for b in posted(hooks, "/hook", "Errors",
                                                "firing")
                              if b["top_users"][0]["user_id"] ==
                              "mallory"])
    res.check("reload: the old rules still fire", len(again) == 1,
              hooks.posts)
    res.check("reload: the daemon still runs", tap.proc.poll() is None)


def main():
    res = Results()
    work = Workdir()
    mock = Mock(work)
    hooks = Hooks()
    smtp = SmtpSink(work.file("mail.txt"))
    calls_path = work.file("calls.jsonl")
    cfg_path = work.file("llmtap.yaml")
    exec_out = work.file("exec.out")
    tap = None
    try:
        with open(cfg_path, "w") as f:
            f.write(config(hooks, smtp, exec_out))
        tap = Llmtap(["run", "--config", cfg_path, "-o", calls_path,
                      "--no-db", "--no-api"], work, "alerts")
        res.check("the config is loaded", "alerts: 3 rules, 4 notifiers"
                  in tap.stderr(), tap.stderr())
        clients = Clients(work, mock)
        errors_phase(res, clients, hooks, smtp, calls_path)
        spend_and_latency_phase(res, clients, hooks, exec_out,
                                calls_path)
        reload_phase(res, tap, clients, hooks, cfg_path)
        rc = tap.stop()
        res.check("run exits 0", rc == 0, tap.stderr())
    finally:
        if tap and tap.proc.poll() is None:
            tap.stop()
        mock.stop()
        hooks.stop()
        smtp.stop()
    res.finish()


if __name__ == "__main__":
    main()
