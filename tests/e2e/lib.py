"""Shared parts of the end-to-end tests: certificates, the TLS mock
provider, llmtap itself, reading recordings and reporting results.

Every test runs real BPF against real clients on 127.0.0.1. Processes
are started here and stopped here, by their PID only.
"""
import atexit
import base64
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LLMTAP = os.path.join(ROOT, "build", "llmtap")
MOCK = os.path.join(ROOT, "tests", "e2e", "mock", "provider.py")
CLIENTS = os.path.join(ROOT, "tests", "e2e", "clients")
PYTHON = "/usr/bin/python3"


class Results:
    """Collects 'ok NAME' / 'FAIL NAME: why' and prints the summary."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, cond, why=""):
        if cond:
            self.passed += 1
            print(f"ok {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name}: {why}", flush=True)
        return cond

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        sys.exit(1 if self.failed else 0)


class Workdir:
    """A temporary directory with a CA and a server certificate."""

    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="llmtap-e2e-")
        # Kept for a look after a run only when asked for.
        if not os.environ.get("LLMTAP_KEEP_TMP"):
            atexit.register(shutil.rmtree, self.path, True)
        subprocess.run([os.path.join(ROOT, "tools", "gen-cert.sh"),
                        self.path], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.ca = os.path.join(self.path, "ca.pem")

    def file(self, name):
        return os.path.join(self.path, name)


class Mock:
    """The TLS mock provider on 127.0.0.1, on a port it picks."""

    def __init__(self, work):
        self.log = open(work.file("mock.log"), "w")
        self.proc = subprocess.Popen(
            [PYTHON, MOCK, "--cert", work.file("server.pem"),
             "--key", work.file("server.key"), "--port", "0"],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "PORT":
            raise RuntimeError("mock provider did not start")
        self.port = int(line[1])
        self.pid = self.proc.pid
        self.url = f"https://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        self.log.close()


class Llmtap:
    """build/llmtap ARGS..., waiting until it is attached and ready."""

    READY = ("recording to", "llmtap: info: running")

    def __init__(self, args, work, name="llmtap"):
        self.err_path = work.file(name + ".err")
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen([LLMTAP] + args, stdout=subprocess.PIPE
                                     if "-o" not in args else None,
                                     stderr=self.err)
        self._wait_ready()

    def _wait_ready(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = open(self.err_path).read()
            if any(r in text for r in self.READY):
                return
            if self.proc.poll() is not None:
                raise RuntimeError("llmtap exited: " + text)
            time.sleep(0.05)
        raise RuntimeError("llmtap not ready after %ds" % timeout)

    def stop(self):
        """SIGINT, as a person would; returns the exit code."""
        if self.proc.poll() is None:
            # Let the last records (polled every 10 ms) arrive first.
            time.sleep(0.3)
            os.kill(self.proc.pid, signal.SIGINT)
        rc = self.proc.wait(timeout=20)
        self.err.close()
        return rc

    def stderr(self):
        return open(self.err_path).read()


class Recording:
    """A `llmtap record` file, with each connection's byte streams."""

    def __init__(self, path):
        self.lines = []
        with open(path) as f:
            for line in f:
                self.lines.append(json.loads(line))
        self.streams = collections.defaultdict(bytearray)
        self.chunks = collections.defaultdict(list)
        for o in self.lines:
            if o["type"] == "data":
                key = (o["pid"], o["conn"], o["dir"])
                self.streams[key] += base64.b64decode(o["data"])
                self.chunks[key].append(o)

    def of_type(self, t):
        return [o for o in self.lines if o["type"] == t]

    def conns_of(self, pid):
        return sorted({o["conn"] for o in self.lines
                       if o["type"] == "data" and o["pid"] == pid})

    def stream(self, pid, direction):
        """All bytes pid moved in one direction, over all connections."""
        out = bytearray()
        for conn in self.conns_of(pid):
            out += self.streams.get((pid, conn, direction), b"")
        return bytes(out)

    def comms_of(self, pid):
        return {o["comm"] for o in self.lines
                if o["type"] == "data" and o["pid"] == pid}


def run(args, **kw):
    """Runs a client to the end; returns (pid, CompletedProcess-like)."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)
    out, err = proc.communicate(timeout=60)
    proc.stdout_bytes, proc.stderr_bytes = out, err
    return proc.pid, proc
