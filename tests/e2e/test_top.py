"""End to end: `llmtap top` in a real terminal (tmux, 120 x 40) against
a running `llmtap run --listen` with traffic from real clients: the
screen shows the call count, a model and a user id the API reports;
q quits it; a daemon that is not there is a clear error."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import LLMTAP, Llmtap, Mock, Results, Workdir  # noqa
from test_api import free_port, http_get  # noqa
from test_calls import (ANTHROPIC_STREAM, KEYS, OPENAI_BODY,  # noqa
                        Clients)

TMUX = "/usr/bin/tmux"
SESSION = f"llmtap-top-{os.getpid()}"
USERS = [f"top-e2e-{os.getpid()}-frank", f"top-e2e-{os.getpid()}-gina"]


def tmux(*args):
    # Our own server socket: no other tmux on this host is touched.
    return subprocess.run([TMUX, "-L", SESSION, *args],
                          capture_output=True, text=True, timeout=20)


def drive(c):
    okey, akey = KEYS["openai"], KEYS["anthropic"]
    c.curl("openai", "/v1/chat/completions", OPENAI_BODY,
           "-H", f"Authorization: Bearer {okey}",
           "-H", f"Helicone-User-Id: {USERS[0]}")
    c.curl("anthropic", "/v1/messages", ANTHROPIC_STREAM,
           "-H", f"x-api-key: {akey}", "-H", "anthropic-version: 2023-06-01",
           "-H", f"Helicone-User-Id: {USERS[1]}")
    c.curl("openai_429", "/v1/chat/completions", OPENAI_BODY,
           "-H", f"Authorization: Bearer {okey}", "-H", "x-mock-status: 429",
           "-H", f"Helicone-User-Id: {USERS[0]}")


def api_total(base):
    status, body, _ = http_get(base + "/api/v1/metrics?window=total")
    groups = json.loads(body)["groups"] if status == 200 else []
    return int(groups[0]["requests"]) if groups else 0


def api_names(base, by):
    status, body, _ = http_get(f"{base}/api/v1/metrics?by={by}&window=1h")
    return [g["group"] for g in json.loads(body)["groups"]
            if g["group"]] if status == 200 else []


def newest_error(base):
    """(time to the second, status) of the store's newest failed call,
    as top lists it first under RECENT ERRORS."""
    status, body, _ = http_get(base + "/api/v1/calls?limit=200")
    for c in json.loads(body)["calls"] if status == 200 else []:
        if c["error"] or (c["http"]["status"] or 0) >= 400:
            return c["ts"][:19], c["http"]["status"]
    return None


def pane():
    return tmux("capture-pane", "-p", "-t", SESSION).stdout


def pane_pid():
    out = tmux("list-panes", "-t", SESSION, "-F",
               "#{pane_pid} #{pane_dead}").stdout.split()
    return (int(out[0]), out[1] == "1") if len(out) == 2 else (None, True)


def screen_agrees(base):
    """The screen, once it shows what the API says (it redraws every
    second); the last screen and API answers if it never does."""
    for _ in range(20):
        before = api_total(base)
        err = newest_error(base)
        text = pane()
        models, users = api_names(base, "model"), api_names(base, "user_id")
        if before == api_total(base) and f"calls {before} " in text and \
                any(m in text for m in models) and \
                all(u in text for u in USERS) and err and \
                err[0] in text and f" {err[1]} " in text:
            break
        time.sleep(0.5)
    return text, before, models, users, err


def check_view(res, base, target):
    # remain-on-exit keeps the pane after top ends, to see it ended.
    tmux("new-session", "-d", "-s", SESSION, "-x", "120", "-y", "40",
         f"{LLMTAP} top --api {target}")
    tmux("set-option", "-t", SESSION, "remain-on-exit", "on")
    try:
        text, calls, models, users, err = screen_agrees(base)
        res.check("top: shows the call count the API reports",
                  f"calls {calls} " in text and calls >= 3, text)
        res.check("top: shows a model the API reports",
                  any(m in text for m in models), f"{models}\n{text}")
        res.check("top: shows our user ids",
                  all(u in text for u in USERS), f"{users}\n{text}")
        # Ours is a 429; a test beside this one may have failed later.
        res.check("top: lists the newest error the API reports",
                  "RECENT ERRORS" in text and err is not None and
                  err[0] in text.split("RECENT ERRORS")[1] and
                  f" {err[1]} " in text, f"{err}\n{text}")
        tmux("send-keys", "-t", SESSION, "q")
        dead = False
        for _ in range(40):
            _, dead = pane_pid()
            if dead:
                break
            time.sleep(0.1)
        res.check("top: q quits", dead, pane())
    finally:
        tmux("kill-server")


def check_unreachable(res):
    port = free_port()  # nothing listens there
    p = subprocess.run([LLMTAP, "top", "--api", f"127.0.0.1:{port}"],
                       capture_output=True, text=True, timeout=20)
    res.check("top: a daemon that is not there is a clear error",
              p.returncode == 1 and "cannot reach the llmtap API" in
              p.stderr and "Connection refused" in p.stderr, p.stderr)


def main():
    res = Results()
    work = Workdir()
    mock = Mock(work)
    target = f"127.0.0.1:{free_port()}"
    base = f"http://{target}"
    tap = None
    try:
        check_unreachable(res)
        tap = Llmtap(["run", "-o", work.file("calls.jsonl"), "--db",
                      work.file("calls.db"), "--listen", target], work,
                     "run")
        drive(Clients(work, mock))
        check_view(res, base, target)
    finally:
        if tap:
            rc = tap.stop()
            res.check("run exits 0 on SIGINT", rc == 0, tap.stderr())
        mock.stop()
    res.finish()


if __name__ == "__main__":
    main()
