#!/usr/bin/env python3
"""Load and faults: a ring buffer too small for the traffic (the loss is
counted in loss lines, the daemon runs on), an output file on a full
disk (the error is logged, capture goes on), and 10,000 TLS connections
open at once, one call on each: every call recorded and memory bounded,
then again under --max-conns 1000 (the rest evicted and counted in
/metrics and /healthz, memory held to the cap's worth, capture goes on).

The connections come from tests/e2e/clients/conn_load.py: client
processes named LOAD_NAME, which llmtap follows (--comm), each talking
to its own server process, named so that it is not followed. Every
wait has a timeout: a stuck step ends in a FAIL line, not a hang.

Covered elsewhere: a client killed mid-stream (test_calls.py), kill -9
and a restart on the same --db (test_store.py).
"""
import json
import os
import resource
import select
import subprocess
import sys
import tempfile
import time
import types
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import CLIENTS, PYTHON, Llmtap, Mock, Results  # noqa: E402
from lib import Workdir, run  # noqa: E402

CONN_LOAD = os.path.join(CLIENTS, "conn_load.py")
# About 25 s here for 10,000 (2 cores); LLMTAP_FAULT_CONNS changes it.
CONNS = int(os.environ.get("LLMTAP_FAULT_CONNS", "10000"))
# The cap of the evicting run; CONNS - SMALL_CAP must be evicted.
SMALL_CAP = 1000
LOAD_NAME = "llmtap-load"       # the clients' comm: followed
SERVER_NAME = "llmtap-srv"      # the servers': not followed
# Client processes at least: one a core, for the TLS handshakes.
LOAD_SHARDS = 2
FD_SPARE = 100                  # descriptors a process needs besides
# Bounds on each wait (seconds); conn_load.py gives up on its own
# before LOAD_OPEN_S (its OPEN_TIMEOUT_S), so its reason is seen.
SERVER_START_S = 15
LOAD_OPEN_S = 180
CHILD_STOP_S = 60
# The daemon's RSS may grow by this much per connection it follows,
# plus the slack. An idle HTTP/1.1 connection costs it about 3.3 KiB
# (33 MiB for 10,000, measured); 8 KiB leaves room for allocator
# waste yet fails if a connection kept a buffer of its own (an
# HTTP/1.1 header block is 64 KiB). The slack covers the output
# buffers, the metrics and the allocator's arenas.
RSS_PER_CONN_KB = 8
RSS_SLACK_KB = 16 * 1024


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def curl(mock, work, path, body, headers=()):
    # From a file: a large body does not fit in an argument.
    with open(work.file("body.json"), "w") as f:
        f.write(body)
    args = ["curl", "-s", "--cacert", work.ca, "-o", "/dev/null",
            "-H", "Content-Type: application/json",
            "--data-binary", "@" + work.file("body.json")]
    for h in headers:
        args += ["-H", h]
    return run(args + [mock.url + path])


def ringbuf_overflow(res, work, mock):
    """A 4 KiB ring buffer cannot hold one 16 KiB chunk: every large
    write is dropped, and counted."""
    rec = work.file("overflow.rec")
    tap = Llmtap(["record", "-o", rec, "--ringbuf-bytes", "4096",
                  "--comm", "curl"], work, "overflow")
    big = json.dumps({"model": "gpt-4o-mini", "messages": [
        {"role": "user", "content": "x" * 300000}]})
    for _ in range(5):
        curl(mock, work, "/v1/chat/completions", big)
    time.sleep(1.5)
    alive = tap.proc.poll() is None
    rc = tap.stop()
    losses = [json.loads(l) for l in open(rec) if '"type":"loss"' in l]
    drops = sum(o.get("ringbuf_drops", 0) for o in losses)
    res.check("ring buffer overflow: drops counted in loss lines",
              drops > 0, f"{len(losses)} loss lines, {drops} drops")
    res.check("ring buffer overflow: the daemon kept running",
              alive and rc == 0, tap.stderr()[-500:])
    res.check("ring buffer overflow: logged",
              "full ring buffer" in tap.stderr(), tap.stderr()[-500:])
    ringbuf_overflow_run(res, work, mock, big)


def ringbuf_overflow_run(res, work, mock, big):
    """The same under run: loss lines in its calls output too, and the
    drops in /metrics."""
    out, port = work.file("overflow.jsonl"), free_port()
    tap = Llmtap(["run", "-o", out, "--ringbuf-bytes", "4096", "--no-db",
                  "--listen", f"127.0.0.1:{port}", "--comm", "curl"],
                 work, "overflow-run")
    for _ in range(3):
        curl(mock, work, "/v1/chat/completions", big)
    time.sleep(1.5)
    counted = metric(port, "llmtap_capture_ringbuf_drops_total")
    rc = tap.stop()
    losses = [json.loads(l) for l in open(out) if '"type":"loss"' in l]
    drops = sum(o.get("ringbuf_drops", 0) for o in losses)
    # A loss reported after /metrics was read adds a line, not a count.
    res.check("ring buffer overflow under run: loss lines in the output, "
              "the same drops in /metrics",
              counted > 0 and drops >= counted and rc == 0,
              f"{len(losses)} loss lines, {drops} drops, /metrics "
              f"{counted}, rc {rc}")


def metric(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                timeout=5) as r:
        text = r.read().decode()
    return sum(float(l.split()[-1]) for l in text.splitlines()
               if l.startswith(name + "{") or l.startswith(name + " "))


def full_disk(res, work, mock):
    """run -o FILE on a 64 KiB tmpfs: writes fail, the daemon goes on."""
    mnt = tempfile.mkdtemp(prefix="llmtap-full-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k",
                        "tmpfs", mnt], capture_output=True, text=True)
    if r.returncode:
        res.check("full disk: tmpfs mounted", False, r.stderr)
        return
    try:
        port = free_port()
        tap = Llmtap(["run", "-o", os.path.join(mnt, "calls.jsonl"),
                      "--bodies", "--no-db", "--listen",
                      f"127.0.0.1:{port}", "--comm", "curl"],
                     work, "fulldisk")
        body = json.dumps({"model": "gpt-4o-mini", "messages": [
            {"role": "user", "content": "y" * 4000}]})
        for _ in range(40):     # ~40 records of ~8 KiB: past 64 KiB
            curl(mock, work, "/v1/chat/completions", body)
        time.sleep(1)
        before = metric(port, "llmtap_requests_total")
        for _ in range(3):
            curl(mock, work, "/v1/chat/completions", body)
        time.sleep(1)
        after = metric(port, "llmtap_requests_total")
        alive = tap.proc.poll() is None
        rc = tap.stop()
        err = tap.stderr()
        res.check("full disk: the write error is logged",
                  "No space left" in err or "ENOSPC" in err, err[-600:])
        res.check("full disk: capture goes on (/metrics counts new calls)",
                  after >= before + 3, f"{before} -> {after}")
        res.check("full disk: no crash", alive and rc in (0, 1),
                  f"alive={alive} rc={rc}: {err[-300:]}")
    finally:
        subprocess.run(["umount", "-l", mnt])
        os.rmdir(mnt)


def fill(path):
    """Writes zeros to path until the filesystem is full."""
    chunk = b"\0" * 4096
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError:
            pass


def stored_calls(db):
    import sqlite3
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute("SELECT count(*) FROM calls").fetchone()[0]
    finally:
        con.close()


def full_store(res, work, mock):
    """run --db on a 1 MiB tmpfs that fills up after start: the error
    is logged, capture and output go on, the calls wait in the store's
    queue, and once space is freed every one of them is stored."""
    mnt = tempfile.mkdtemp(prefix="llmtap-fullstore-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m",
                        "tmpfs", mnt], capture_output=True, text=True)
    if r.returncode:
        res.check("full store: tmpfs mounted", False, r.stderr)
        return
    try:
        port, db = free_port(), os.path.join(mnt, "llmtap.db")
        out = work.file("fullstore.jsonl")
        tap = Llmtap(["run", "-o", out, "--db", db, "--bodies", "--listen",
                      f"127.0.0.1:{port}", "--comm", "curl"],
                     work, "fullstore")
        fill(os.path.join(mnt, "filler"))
        body = json.dumps({"model": "gpt-4o-mini", "messages": [
            {"role": "user", "content": "z" * 8000}]})
        n = 20                  # 20 calls of ~16 KiB each: past 1 MiB
        for _ in range(n):
            curl(mock, work, "/v1/chat/completions", body)
        time.sleep(2.5)         # two flushes, both failing
        counted = metric(port, "llmtap_requests_total")
        written = sum(1 for _ in open(out))
        alive = tap.proc.poll() is None
        os.unlink(os.path.join(mnt, "filler"))
        stored, deadline = 0, time.time() + 10
        while stored < n and time.time() < deadline:
            time.sleep(0.5)
            stored = stored_calls(db)
        dropped = metric(port, "llmtap_store_dropped_total")
        rc = tap.stop()
        err = tap.stderr()
        res.check("full store: the write error is logged",
                  "database or disk is full" in err, err[-600:])
        res.check("full store: capture and output go on",
                  counted >= n and written >= n and alive,
                  f"counted={counted} written={written} alive={alive}")
        res.check("full store: every queued call stored once space "
                  "is back", stored == n and dropped == 0,
                  f"stored={stored} of {n}, dropped={dropped}")
        res.check("full store: clean stop", rc == 0, err[-300:])
    finally:
        subprocess.run(["umount", "-l", mnt])
        os.rmdir(mnt)


# ---- many connections ----

class Child:
    """A conn_load.py process. Its stdout is read a line at a time and
    never waited on past a timeout; it is stopped by its PID only."""

    def __init__(self, args):
        self.proc = subprocess.Popen([PYTHON, CONN_LOAD] + args,
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        self.buf = b""
        self.eof = False

    def _fill(self, deadline):
        while b"\n" not in self.buf and not self.eof:
            left = deadline - time.time()
            if left <= 0:
                return
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                self.eof = not chunk
                self.buf += chunk

    def line(self, timeout):
        """The next line; "" at its exit, None when none came in time."""
        self._fill(time.time() + timeout)
        if b"\n" not in self.buf:
            return "" if self.eof else None
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def tell(self):
        """One line on its stdin: a client closes its connections."""
        try:
            self.proc.stdin.write(b"\n")
            self.proc.stdin.flush()
        except OSError:
            pass        # it has gone; its last line says why

    def hang_up(self):
        """Closes its stdin: a server stops at that, a client too."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def reap(self, deadline):
        """Waits for its exit until deadline, then kills it."""
        try:
            self.proc.wait(timeout=max(deadline - time.time(), 0))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


def stop_children(children):
    """All hung up at once, so that stuck ones cost CHILD_STOP_S in
    all, not each."""
    deadline = time.time() + CHILD_STOP_S
    for c in children:
        c.hang_up()
    for c in children:
        c.reap(deadline)


def shards_for(conns):
    """Client processes (each with its own server) for conns: at least
    one a core, and no more connections in one than its descriptor
    limit allows."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        hard = conns
    per = max(hard - FD_SPARE, 1)
    return max(LOAD_SHARDS, -(-conns // per))


def start_pairs(work, conns, load):
    """Servers first (each prints its port), then one client each."""
    n = shards_for(conns)
    split = [conns // n + (i < conns % n) for i in range(n)]
    for count in split:
        srv = Child(["serve", "--cert", work.file("server.pem"),
                     "--key", work.file("server.key"),
                     "--conns", str(count), "--name", SERVER_NAME])
        load.servers.append(srv)
        line = srv.line(SERVER_START_S) or ""
        if not line.startswith("PORT "):
            load.why.append(f"server: {line or 'no port'}")
            return
        load.clients.append(Child(
            ["hold", "--port", line.split()[1], "--ca", work.ca,
             "--conns", str(count), "--name", LOAD_NAME]))


def wait_open(tap, load):
    """Every client's "OPEN n" or its failure; the daemon's RSS is
    sampled meanwhile, its peak kept."""
    deadline = time.time() + LOAD_OPEN_S
    waiting = list(load.clients)
    while waiting and time.time() < deadline:
        load.peak_kb = max(load.peak_kb, rss_kb(tap.proc.pid))
        if tap.proc.poll() is not None:
            load.why.append("llmtap exited")
            return
        for c in list(waiting):
            line = c.line(0.05)
            if line is None:
                continue
            waiting.remove(c)
            if line.startswith("OPEN "):
                load.opened += int(line.split()[1])
            else:
                load.why.append(f"client: {line or 'exited'}")
    if waiting:
        load.why.append(f"{len(waiting)} clients not open after "
                        f"{LOAD_OPEN_S} s")


def sockets_of(pid):
    """The sockets a process holds: its connections, counted apart
    from what it says."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return n


def close_all(load):
    deadline = time.time() + CHILD_STOP_S
    for c in load.clients:
        c.tell()
    for c in load.clients:
        line = c.line(max(deadline - time.time(), 0))
        if line != "CLOSED":
            load.why.append(f"client close: {line or 'no answer'}")


def held_open(tap, load, api_port):
    """All open: counted, sampled and read from /metrics, then let go."""
    load.sockets = sum(sockets_of(c.proc.pid) for c in load.clients)
    load.open_s = time.time() - load.start
    # The last records drain (every 10 ms) and a housekeeping tick
    # (every second) counts the evictions.
    time.sleep(1.5)
    load.peak_kb = max(load.peak_kb, rss_kb(tap.proc.pid))
    load.evicted = int(metric(api_port,
                              "llmtap_connections_evicted_total"))
    load.healthz = healthz_losses(api_port)
    close_all(load)


def new_load():
    """What one run under load saw; why holds what went wrong."""
    return types.SimpleNamespace(
        servers=[], clients=[], why=[], opened=0, sockets=0,
        base_kb=0, peak_kb=0, evicted=None, healthz={}, open_s=None,
        start=time.time(), total_s=0, alive=False, rc=None, calls=0,
        log="")


def run_load(work, tap, api_port, load):
    """CONNS TLS connections held open at once, one call on each."""
    try:
        start_pairs(work, CONNS, load)
        if not load.why:
            wait_open(tap, load)
        if not load.why:
            held_open(tap, load, api_port)
    except OSError as e:       # /proc or /metrics: the daemon died
        load.why.append(repr(e))
    finally:
        stop_children(load.clients + load.servers)
    load.total_s = time.time() - load.start


def healthz_losses(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz",
                                timeout=5) as r:
        return json.load(r).get("losses", {})


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def rss_limit_kb(conns_followed):
    return conns_followed * RSS_PER_CONN_KB + RSS_SLACK_KB


def stop_tap(tap):
    """The exit code, or why there is none."""
    try:
        return tap.stop()
    except subprocess.TimeoutExpired:
        tap.proc.kill()
        tap.proc.wait()
        return "no exit within 20 s of SIGINT: killed"


def load_calls(path):
    """The records of LOAD_NAME's calls that ended in status 200."""
    n = 0
    try:
        lines = open(path).readlines()
    except OSError:
        return 0
    for line in lines:
        try:
            c = json.loads(line)
        except ValueError:
            continue        # a line cut by a daemon that was killed
        n += (c.get("process", {}).get("comm") == LOAD_NAME and
              c.get("http", {}).get("status") == 200)
    return n


def load_report(name, load):
    opened = "never all open" if load.open_s is None else \
        f"all open after {load.open_s:.1f} s"
    print(f"# {name}: {opened}, done after {load.total_s:.1f} s; "
          f"llmtap RSS {load.base_kb} -> {load.peak_kb} KiB; "
          f"{load.evicted} evicted", flush=True)


def load_run(work, name, extra=()):
    """llmtap run, following the clients only, under the load."""
    load = new_load()
    port = free_port()
    try:
        tap = Llmtap(["run", "-o", work.file(name + ".jsonl"),
                      "--no-db", "--listen", f"127.0.0.1:{port}",
                      "--comm", LOAD_NAME] + list(extra), work, name)
    except RuntimeError as e:
        load.why.append(str(e))
        return load
    load.base_kb = load.peak_kb = rss_kb(tap.proc.pid)
    run_load(work, tap, port, load)
    load.alive = tap.proc.poll() is None
    load.rc = stop_tap(tap)
    load.calls = load_calls(work.file(name + ".jsonl"))
    load.log = tap.stderr()
    load_report(name, load)
    return load


def many_connections(res, work):
    """CONNS connections under the default cap, all followed at once.
    Returns the daemon's RSS growth (KiB)."""
    name = f"{CONNS} connections"
    load = load_run(work, "many")
    grown = load.peak_kb - load.base_kb
    res.check(f"{name} open at once", not load.why and
              load.opened == CONNS and load.sockets >= CONNS,
              f"{load.opened} open, {load.sockets} sockets: {load.why}")
    res.check(f"{name}: every call recorded (status 200)",
              load.calls == CONNS, f"{load.calls} of {CONNS}")
    res.check(f"{name}: llmtap RSS growth within "
              f"{rss_limit_kb(CONNS)} KiB",
              grown <= rss_limit_kb(CONNS), f"{grown} KiB")
    res.check(f"{name}: none evicted under the default cap",
              load.evicted == 0, f"{load.evicted}")
    res.check(f"{name}: clean stop", load.rc == 0,
              f"{load.rc}: {load.log[-300:]}")
    return grown


def evicting(res, work, unbounded_kb):
    """The same load under --max-conns SMALL_CAP: the rest evicted and
    counted, memory held to the cap's worth, capture going on."""
    name = f"--max-conns {SMALL_CAP}"
    want = CONNS - SMALL_CAP
    load = load_run(work, "evict", ["--max-conns", str(SMALL_CAP)])
    grown = load.peak_kb - load.base_kb
    limit = rss_limit_kb(SMALL_CAP)
    res.check(f"{name}: {CONNS} connections open at once",
              not load.why and load.opened == CONNS, f"{load.why}")
    res.check(f"{name}: evictions counted in /metrics and /healthz",
              load.evicted is not None and load.evicted >= want and
              load.healthz.get("connections_evicted") == load.evicted,
              f"/metrics {load.evicted}, /healthz {load.healthz}, "
              f"want >= {want}")
    res.check(f"{name}: evictions logged",
              "connections evicted" in load.log, load.log[-300:])
    res.check(f"{name}: llmtap RSS growth within {limit} KiB, below "
              "the uncapped run's", grown <= limit and grown <
              unbounded_kb, f"{grown} KiB, uncapped {unbounded_kb}")
    res.check(f"{name}: llmtap kept running and recorded every call",
              load.alive and load.calls == CONNS,
              f"alive={load.alive}, {load.calls} calls")
    res.check(f"{name}: clean stop", load.rc == 0,
              f"{load.rc}: {load.log[-300:]}")


def main():
    res = Results()
    work = Workdir()
    mock = Mock(work)
    try:
        ringbuf_overflow(res, work, mock)
        full_disk(res, work, mock)
        full_store(res, work, mock)
        evicting(res, work, many_connections(res, work))
    finally:
        mock.stop()
    res.finish()


if __name__ == "__main__":
    main()
