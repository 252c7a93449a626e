"""End to end: the daemon's hardening (README.md, 'Hardening').

Once attached, `llmtap run` keeps only its capability keep-list: in
every thread's effective, permitted and bounding sets CAP_SETUID,
CAP_SETPCAP, CAP_NET_ADMIN, CAP_SYS_MODULE and CAP_SYS_RAWIO are gone,
CAP_BPF and CAP_PERFMON stay. The capture still works after the drop:
curl (system libssl, attached at start) and a Go binary started after
the drop (attached then, through the exec gate) are both written. The
output, the store and its WAL are mode 0600; nothing is pinned under
/sys/fs/bpf; bpftool lists llmtap's programs while it runs and none of
them after it stops. The API refuses a --listen beyond loopback without
a token, and with one answers 401 without it and 200 with it."""
import json
import os
import shutil
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from lib import LLMTAP, Llmtap, Mock, Results, Workdir  # noqa
from test_calls import KEYS, OPENAI_BODY, Clients  # noqa
from test_coverage import build_go_client  # noqa
from test_api import free_port  # noqa

GONE = {"CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_NET_ADMIN": 12,
        "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17}
KEPT = {"CAP_PERFMON": 38, "CAP_BPF": 39}
# Programs of bpf/tls.bpf.c, as the kernel names them (15 characters).
PROG_NAMES = {"ssl_write_enter", "ssl_read_enter", "ssl_call_return",
              "proc_exec", "proc_exit", "sys_enter", "sys_exit"}
TOKEN = "e2e-hardening-token-0123456789"
# How long we wait for a record; not a claim about speed.
WAIT_S = 20


def caps(pid, tid, key):
    path = f"/proc/{pid}/task/{tid}/status"
    for line in open(path):
        if line.startswith(key + ":"):
            return int(line.split()[1], 16)
    return 0


def check_caps(res, pid):
    bad = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        for key in ("CapEff", "CapPrm", "CapBnd"):
            try:
                v = caps(pid, tid, key)
            except FileNotFoundError:
                continue  # a thread that ended meanwhile
            bad += [f"{tid} {key} has {n}" for n, b in GONE.items()
                    if v >> b & 1]
            bad += [f"{tid} {key} lacks {n}" for n, b in KEPT.items()
                    if not v >> b & 1]
    res.check("every thread dropped the rest and kept CAP_BPF, "
              "CAP_PERFMON", not bad, "; ".join(bad[:8]))


def prog_ids_of(pid):
    """The ids of the BPF programs pid holds open, from its fdinfo
    (bpftool here is built without its pid lookup)."""
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:bpf-prog":
                continue
            for line in open(f"/proc/{pid}/fdinfo/{fd}"):
                if line.startswith("prog_id:"):
                    ids.add(int(line.split()[1]))
        except OSError:
            continue  # closed meanwhile
    return ids


def progs_of(pid):
    """{id: name} of pid's BPF programs, as bpftool lists them."""
    out = subprocess.run(["bpftool", "prog", "show", "-j"],
                         capture_output=True, text=True).stdout
    mine = prog_ids_of(pid)
    return {p["id"]: p.get("name", "") for p in json.loads(out or "[]")
            if p["id"] in mine}


def live_ids():
    out = subprocess.run(["bpftool", "prog", "show", "-j"],
                         capture_output=True, text=True).stdout
    return {p["id"] for p in json.loads(out or "[]")}


def pinned():
    names = []
    for d, _, files in os.walk("/sys/fs/bpf"):
        names += [os.path.join(d, f) for f in files
                  if any(w in f for w in ("llmtap", "tls", "quota"))]
    return names


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode) if os.path.exists(path) \
        else None


def wait_records(path, pids):
    deadline = time.time() + WAIT_S
    while time.time() < deadline:
        got = {}
        if os.path.exists(path):
            for line in open(path):
                if line.endswith("\n"):
                    r = json.loads(line)
                    got[r["process"]["pid"]] = r
        if all(p in got for p in pids):
            return got
        time.sleep(0.2)
    return got


def check_capture(res, work, mock, go_bin, out, lt):
    c = Clients(work, mock)
    c.curl("curl", "/v1/chat/completions", OPENAI_BODY,
           "-H", f"Authorization: Bearer {KEYS['openai']}")
    c.run("go", [go_bin, f"https://localhost:{mock.port}"
                 "/v1/chat/completions", work.ca, OPENAI_BODY,
                 f"Authorization: Bearer {KEYS['openai']}"])
    got = wait_records(out, list(c.pids.values()))
    for name, pid in c.pids.items():
        r = got.get(pid)
        res.check(f"after the drop, {name}'s call is written",
                  r is not None and r["provider"] == "openai", str(r))
    err = lt.stderr()
    res.check("no attach failed after the drop",
              "error" not in err and "not permitted" not in err.lower(),
              err[-800:])


def run_capture(res, work, mock, go_bin):
    out = work.file("calls.jsonl")
    lt = Llmtap(["run", "--no-db", "--no-api", "-o", out], work)
    pid = lt.proc.pid
    res.check("it logs what it kept",
              "capabilities: kept CAP_BPF CAP_PERFMON" in lt.stderr(),
              lt.stderr()[-500:])
    check_caps(res, pid)
    ids = progs_of(pid)
    res.check("bpftool lists llmtap's programs while it runs",
              PROG_NAMES <= set(ids.values()), str(sorted(ids.values())))
    res.check("nothing of llmtap is pinned in /sys/fs/bpf", not pinned(),
              str(pinned()))
    check_capture(res, work, mock, go_bin, out, lt)
    res.check("the output file is mode 0600", mode(out) == 0o600,
              oct(mode(out) or 0))
    res.check("it exits 0", lt.stop() == 0, lt.stderr()[-500:])
    # The kernel frees a program after its last link, from a work
    # queue: give it a moment.
    deadline = time.time() + 10
    while set(ids) & live_ids() and time.time() < deadline:
        time.sleep(0.2)
    left = set(ids) & live_ids()
    res.check("none of its programs is left after it stops", not left,
              str(left))


def http_status(url, token=None):
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def run_store(res, work, mock):
    db, tok = work.file("calls.db"), work.file("token")
    with open(tok, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(tok, 0o600)
    port = free_port()
    lt = Llmtap(["run", "--db", db, "-o", work.file("store.jsonl"),
                 "--listen", f"127.0.0.1:{port}", "--api-token", tok],
                work, name="store")
    c = Clients(work, mock)
    c.curl("curl", "/v1/chat/completions", OPENAI_BODY,
           "-H", f"Authorization: Bearer {KEYS['openai']}")
    wait_records(work.file("store.jsonl"), [c.pids["curl"]])
    time.sleep(1.5)  # the store commits every second
    for p in (db, db + "-wal"):
        res.check(f"{os.path.basename(p)} is mode 0600", mode(p) == 0o600,
                  oct(mode(p) or 0))
    base = f"http://127.0.0.1:{port}"
    res.check("the API wants the token: 401 without it",
              http_status(base + "/api/v1/calls") == 401)
    res.check("and 200 with it",
              http_status(base + "/api/v1/calls", TOKEN) == 200)
    res.check("the dashboard page loads without it",
              http_status(base + "/") == 200)
    res.check("the token is never logged", TOKEN not in lt.stderr())
    lt.stop()


def check_refused(res):
    p = subprocess.run([LLMTAP, "run", "--no-db", "--listen",
                        "0.0.0.0:1", "-d", "1"],
                       capture_output=True, text=True, timeout=60)
    lines = [x for x in p.stderr.splitlines() if "error" in x]
    res.check("--listen beyond loopback without a token is refused",
              p.returncode != 0 and len(lines) == 1 and
              "not a loopback address" in lines[0], p.stderr[-500:])


def main():
    res = Results()
    work = Workdir()
    mock = Mock(work)
    # Built before llmtap starts: it is first seen at its exec.
    go_bin = build_go_client(work)
    try:
        if not shutil.which("bpftool"):
            print("bpftool not installed")
            sys.exit(1)
        run_capture(res, work, mock, go_bin)
        run_store(res, work, mock)
        check_refused(res)
    finally:
        mock.stop()
    res.finish()


if __name__ == "__main__":
    main()
