"""End to end: a quota that blocks. A user (uid 65534) over its
request budget cannot open new connections to the LLM endpoint until
the window frees budget; other users go on; every change is an
enforcement line."""
import json
import os
import socket
import urllib.request
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import CLIENTS, PYTHON, Llmtap, Mock, Results, Workdir  # noqa

NOBODY = 65534
WINDOW_S = 8
QUOTA = (f"name=nobody-budget,scope=uid,metric=requests,limit=2,"
         f"window={WINDOW_S}s,action=block")
BODY = json.dumps({"model": "gpt-4o-mini",
                   "messages": [{"role": "user", "content": "hi"}]})


def call(work, mock, as_nobody):
    """One request on a new connection; True when it got an answer."""
    args = [PYTHON, os.path.join(CLIENTS, "py_client.py"), "--lib",
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


def main():
    res = Results()
    work = Workdir()
    # nobody must read the CA and reach the clients.
    os.chmod(work.path, 0o755)
    os.chmod(work.ca, 0o644)
    mock = Mock(work)
    out = work.file("calls.jsonl")
    try:
        port = free_port()
        # Only nobody's calls count: other tests' root traffic on this
        # host must not spend the budget.
        tap = Llmtap(["run", "-o", out, "--db", work.file("db"),
                      "--listen", f"127.0.0.1:{port}", "--quota", QUOTA,
                      "--uid", str(NOBODY)], work, "run")
        first = [call(work, mock, True)[0] for _ in range(2)]
        res.check("nobody's first two calls go through", all(first),
                  str(first))
        time.sleep(0.5)
        ok, err = call(work, mock, True)
        res.check("over budget: nobody's next connection is refused",
                  not ok, err[-300:])
        ok, err = call(work, mock, False)
        res.check("root is not blocked", ok, err[-300:])
        ev = enforcement(out)
        res.check("an enforcement line: block, over, enforced",
                  len(ev) == 1 and ev[0]["action"] == "block" and
                  ev[0]["state"] == "over" and ev[0]["enforced"] is True
                  and ev[0]["key"] == str(NOBODY) and
                  ev[0]["scope"] == "uid", str(ev))

        time.sleep(WINDOW_S + 1.5)
        ev = enforcement(out)
        res.check("the window frees budget: released",
                  len(ev) == 2 and ev[1]["state"] == "released", str(ev))
        ok, err = call(work, mock, True)
        res.check("released: nobody connects again", ok, err[-300:])
        api = json.load(urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/v1/enforcements"))
        states = [e["state"] for e in api["enforcements"]]
        res.check("the API lists both enforcements, newest first",
                  states == ["released", "over"], str(api))
        rc = tap.stop()
        res.check("run exits 0", rc == 0, tap.stderr())
        res.check("the log says blocking is on",
                  "quota blocking on" in tap.stderr(), tap.stderr())
    finally:
        mock.stop()
    res.finish()


if __name__ == "__main__":
    main()
