"""End to end: quotas that block. A user (uid 65534), and then a
process (by its command name), over their request budget cannot open
new connections to the LLM endpoint until the window frees budget;
others go on; every change is an enforcement line, kept in the store
and listed by the API. Then a quota from the configuration file,
changed under a running daemon: SIGHUP puts the new limit in force."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from lib import CLIENTS, PYTHON, Llmtap, Mock, Results, Workdir  # noqa

NOBODY = 65534
WINDOW_S = 8
CLIENT_COMM = "quota-client"
BODY = json.dumps({"model": "gpt-4o-mini",
                   "messages": [{"role": "user", "content": "hi"}]})


def quota(name, scope):
    return (f"name={name},scope={scope},metric=requests,limit=2,"
            f"window={WINDOW_S}s,action=block")


def call(work, mock, python=PYTHON, as_nobody=False):
    """One request on a new connection; True when it got an answer."""
    args = [python, os.path.join(CLIENTS, "py_client.py"), "--lib",
            "requests", "--ca", work.ca, "--url",
            f"https://127.0.0.1:{mock.port}/v1/chat/completions",
            "--json", BODY]
    if as_nobody:
        args = ["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY),
                "--clear-groups"] + args
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return p.returncode == 0 and "status 200" in p.stderr, p.stderr


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def enforcement(path):
    return [json.loads(line) for line in open(path)
            if '"type":"enforcement"' in line]


def phase(res, work, mock, name, args, blocked, other):
    """Two calls by the blocked party, a refused third, another party
    unaffected, release after the window, the store and the API."""
    out = work.file(name + ".jsonl")
    port = free_port()
    tap = Llmtap(["run", "-o", out, "--db", work.file(name + ".db"),
                  "--listen", f"127.0.0.1:{port}"] + args, work, name)
    first = [blocked()[0] for _ in range(2)]
    res.check(f"{name}: the first two calls go through", all(first),
              str(first))
    time.sleep(0.5)
    ok, err = blocked()
    res.check(f"{name}: over budget, the next connection is refused",
              not ok, err[-300:])
    ok, err = other()
    res.check(f"{name}: another party is not blocked", ok, err[-300:])
    ev = enforcement(out)
    res.check(f"{name}: an enforcement line: block, over, enforced",
              len(ev) == 1 and ev[0]["action"] == "block" and
              ev[0]["state"] == "over" and ev[0]["enforced"] is True,
              str(ev))

    time.sleep(WINDOW_S + 1.5)
    ev = enforcement(out)
    res.check(f"{name}: the window frees budget: released",
              len(ev) == 2 and ev[1]["state"] == "released", str(ev))
    ok, err = blocked()
    res.check(f"{name}: released, it connects again", ok, err[-300:])
    api = json.load(urllib.request.urlopen(
        f"http://127.0.0.1:{port}/api/v1/enforcements"))
    states = [e["state"] for e in api["enforcements"]]
    res.check(f"{name}: the API lists both enforcements, newest first",
              states == ["released", "over"], str(api))
    res.check(f"{name}: run exits 0", tap.stop() == 0, tap.stderr())
    res.check(f"{name}: the log says blocking is on",
              "quota blocking on" in tap.stderr(), tap.stderr())
    return ev


def config_quota(path, limit):
    with open(path, "w") as f:
        f.write("quotas:\n"
                f"  - {{name: cfg-budget, scope: process, "
                f"metric: requests, limit: {limit}, window: 60s, "
                "action: block}\n")
    os.chmod(path, 0o600)


def reload_phase(res, work, mock, blocked):
    """A configured quota blocks; the file raises the limit and SIGHUP
    releases the process at once, the window's history kept."""
    cfg, out = work.file("quota.yaml"), work.file("reload.jsonl")
    config_quota(cfg, 2)
    tap = Llmtap(["run", "-o", out, "--no-db", "--no-api", "--config",
                  cfg, "--comm", CLIENT_COMM], work, "reload")
    first = [blocked()[0] for _ in range(2)]
    time.sleep(0.5)
    refused = not blocked()[0]
    res.check("reload: the configured quota blocks the third call",
              all(first) and refused, f"{first} refused={refused}")
    config_quota(cfg, 4)
    os.kill(tap.proc.pid, signal.SIGHUP)
    time.sleep(2.5)
    ev = enforcement(out)
    res.check("reload: SIGHUP with a higher limit releases at once",
              [e["state"] for e in ev] == ["over", "released"], str(ev))
    ok, err = blocked()
    res.check("reload: it connects again", ok, err[-300:])
    # Two calls and the one refused do not count; 3 of 4 now, one
    # more reaches the new limit: the history was kept.
    blocked()
    time.sleep(0.5)
    ok, _ = blocked()
    res.check("reload: the window's history is kept under the new limit",
              not ok, str(enforcement(out)))
    res.check("reload: the log says the quotas were reloaded",
              "quotas reloaded: 1 in force" in tap.stderr(), tap.stderr())
    res.check("reload: run exits 0", tap.stop() == 0, tap.stderr())


def main():
    res = Results()
    work = Workdir()
    # nobody must read the CA and reach the clients.
    os.chmod(work.path, 0o755)
    os.chmod(work.ca, 0o644)
    # A python3 under another command name: the process scope's key.
    renamed = work.file(CLIENT_COMM)
    shutil.copy(PYTHON, renamed)
    mock = Mock(work)
    try:
        # Only the blocked party's calls count: other tests' traffic
        # on this host must not spend the budget.
        ev = phase(res, work, mock, "uid",
                   ["--quota", quota("nobody-budget", "uid"),
                    "--uid", str(NOBODY)],
                   lambda: call(work, mock, as_nobody=True),
                   lambda: call(work, mock))
        res.check("uid: the key is the uid",
                  ev and ev[0]["key"] == str(NOBODY) and
                  ev[0]["scope"] == "uid", str(ev))
        ev = phase(res, work, mock, "process",
                   ["--quota", quota("client-budget", "process"),
                    "--comm", CLIENT_COMM],
                   lambda: call(work, mock, python=renamed),
                   lambda: call(work, mock))
        res.check("process: the key is the command name",
                  ev and ev[0]["key"] == CLIENT_COMM and
                  ev[0]["scope"] == "process", str(ev))
        reload_phase(res, work, mock,
                     lambda: call(work, mock, python=renamed))
    finally:
        mock.stop()
    res.finish()


if __name__ == "__main__":
    main()
