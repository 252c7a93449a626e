"""End to end: `llmtap record` around real clients holds, for each,
the exact request and response bytes with the right pid and comm; a
cut is stated in the recording; bad starts give one clear line."""
import base64
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import (LLMTAP, PYTHON, Llmtap, Mock, Recording, Results,  # noqa
                 Workdir, run)

MIB = 1 << 20

PY_RAW = r"""
import socket, ssl, sys
port, ca, body_path, req_out, resp_out = sys.argv[1:6]
body = open(body_path, 'rb').read()
req = (b'POST /echo HTTP/1.1\r\nHost: localhost\r\n'
       b'Content-Length: %d\r\nConnection: close\r\n\r\n' % len(body)) + body
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', int(port))),
                    server_hostname='localhost')
s.sendall(req)
resp = bytearray()
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        resp += d
except ssl.SSLError:
    pass  # the mock closes without close_notify
open(req_out, 'wb').write(req)
open(resp_out, 'wb').write(resp)
"""

NODE_RAW = r"""
const tls = require('tls'), fs = require('fs');
const [port, ca, bodyPath, reqOut, respOut, delay] = process.argv.slice(1);
const body = fs.readFileSync(bodyPath);
const req = Buffer.concat([Buffer.from('POST /echo HTTP/1.1\r\n' +
  'Host: localhost\r\nContent-Length: ' + body.length +
  '\r\nConnection: close\r\n\r\n'), body]);
setTimeout(() => {
  const s = tls.connect({ host: '127.0.0.1', port: +port,
    servername: 'localhost', ca: fs.readFileSync(ca) }, () => s.write(req));
  const parts = [];
  s.on('data', (d) => parts.push(d));
  s.on('error', () => {});
  s.on('close', () => {
    fs.writeFileSync(reqOut, req);
    fs.writeFileSync(respOut, Buffer.concat(parts));
  });
}, +delay);
"""


def make_body(work):
    path = work.file("body.bin")
    with open(path, "wb") as f:
        f.write(os.urandom(MIB))
    return path


def node_client(work, mock, body, tag, delay_ms):
    return subprocess.Popen(
        ["node", "-e", NODE_RAW, str(mock.port), work.ca, body,
         work.file(tag + ".req"), work.file(tag + ".resp"), str(delay_ms)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def check_exact(res, rec, name, pid, comm, req_path, resp_path):
    sent = open(req_path, "rb").read()
    got = open(resp_path, "rb").read()
    res.check(f"{name}: request bytes exact ({len(sent)} B)",
              rec.stream(pid, "write") == sent,
              f"recorded {len(rec.stream(pid, 'write'))} B")
    res.check(f"{name}: response bytes exact ({len(got)} B)",
              len(got) > MIB and rec.stream(pid, "read") == got,
              f"recorded {len(rec.stream(pid, 'read'))} B")
    res.check(f"{name}: comm is {comm}", rec.comms_of(pid) == {comm},
              str(rec.comms_of(pid)))


def check_curl(res, rec, pid, body_path, work):
    body = open(body_path, "rb").read()
    headers = open(work.file("curl.headers"), "rb").read()
    out = open(work.file("curl.out"), "rb").read()
    sent = rec.stream(pid, "write")
    head_end = sent.find(b"\r\n\r\n") + 4
    res.check("curl: request line and headers", sent.startswith(
        b"POST /echo HTTP/1.1\r\n") and head_end > 4, sent[:80])
    res.check("curl: 1 MiB request body whole", sent[head_end:] == body,
              f"body part is {len(sent) - head_end} B")
    res.check("curl: response bytes exact (headers + 1 MiB)",
              out == body and rec.stream(pid, "read") == headers + out,
              f"recorded {len(rec.stream(pid, 'read'))} B")
    res.check("curl: comm is curl", rec.comms_of(pid) == {"curl"},
              str(rec.comms_of(pid)))


def check_metadata(res, rec, curl_pid, mock):
    conn = [o for o in rec.of_type("conn") if o["pid"] == curl_pid]
    sni = [o["host"] for o in conn if o["op"] == "sni"]
    peers = [o["peer"] for o in conn if o["op"] == "fd"]
    res.check("curl: SNI host recorded", sni == ["localhost"], str(sni))
    res.check("curl: peer address from the socket fd",
              f"127.0.0.1:{mock.port}" in peers, str(peers))
    res.check("curl: connection close recorded",
              any(o["op"] == "close" for o in conn), str(conn))
    execs = [o for o in rec.of_type("proc")
             if o["pid"] == curl_pid and o["op"] == "exec"]
    res.check("curl: exec recorded", execs and
              execs[0]["exe"].endswith("curl"), str(execs))


def check_truncation(res, work, mock, body_path):
    rec_path = work.file("cut.jsonl")
    tap = Llmtap(["record", "-o", rec_path, "--cap-bytes", "65536"], work,
                 "cut")
    # Python's sendall hands OpenSSL the whole 1 MiB in one call.
    pid, p = run([PYTHON, "-c", PY_RAW, str(mock.port), work.ca, body_path,
                  work.file("cut.req"), work.file("cut.resp")])
    rc = tap.stop()
    rec = Recording(rec_path)
    writes = [o for o in rec.lines if o["type"] == "data" and
              o["pid"] == pid and o["dir"] == "write" and o["truncated"]]
    losses = rec.of_type("loss")
    res.check("cut: recorder exits 0", rc == 0, tap.stderr())
    res.check("cut: the 1 MiB write is marked truncated with its length",
              writes and writes[0]["len"] >= MIB and
              sum(len(base64.b64decode(o["data"])) for o in writes) == 65536,
              str([(o["len"], o["offset"]) for o in writes][:4]))
    res.check("cut: a loss line counts the cut",
              any(o["truncated_calls"] >= 1 and
                  o["truncated_bytes"] >= MIB - 65536 for o in losses),
              str(losses))


# In a private mount namespace, every system TLS library is /dev/null,
# and --pid names a process without TLS: nothing to attach to. llmtap
# itself links both (through libmicrohttpd and libcurl): it loads
# copies kept in $2, a path no TLS library is searched for at.
HIDE_LIBSSL = (
    "cp /usr/lib/*-linux-gnu/libgnutls.so.30 "
    "/usr/lib/*-linux-gnu/libssl.so.3 \"$2\"/ && "
    "for f in $(realpath /usr/lib/*-linux-gnu/libssl.so* "
    "/usr/lib/*-linux-gnu/libgnutls.so* 2>/dev/null | sort -u); do "
    "mount --bind /dev/null $f; done; LD_LIBRARY_PATH=\"$2\" "
    "exec \"$0\" record -o /dev/null --duration 5 --pid \"$1\"")


def check_no_tls_library(res, work):
    idle = subprocess.Popen(["sleep", "30"])
    libdir = work.file("own-libs")
    os.makedirs(libdir)
    try:
        # --duration: should it find a library after all, it stops.
        p = subprocess.run(["unshare", "-m", "sh", "-c", HIDE_LIBSSL, LLMTAP,
                            str(idle.pid), libdir], capture_output=True,
                           text=True, timeout=30)
    finally:
        idle.kill()
        idle.wait()
    errors = [ln for ln in p.stderr.splitlines() if "error" in ln]
    res.check("no TLS library: one clear line, non-zero exit",
              p.returncode != 0 and len(errors) == 1 and
              "no TLS library found" in errors[0], p.stderr)


def check_bad_starts(res, work):
    p = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534",
                        "--clear-groups", LLMTAP, "record", "-o", "-"],
                       capture_output=True, text=True, timeout=20)
    lines = p.stderr.strip().splitlines()
    res.check("not root: one clear line, non-zero exit",
              p.returncode != 0 and len(lines) == 1 and
              "root" in lines[0] and "CAP_BPF" in lines[0], p.stderr)
    check_no_tls_library(res, work)
    p = subprocess.run([LLMTAP, "record"], capture_output=True, text=True)
    res.check("record without -o: clear error",
              p.returncode == 2 and "-o FILE" in p.stderr, p.stderr)
    p = subprocess.run([LLMTAP, "frobnicate"], capture_output=True,
                       text=True)
    res.check("unknown command: clear error",
              p.returncode == 2 and "unknown command" in p.stderr, p.stderr)
    for cmd in ("run", "record", "replay"):
        p = subprocess.run([LLMTAP, cmd, "--help"], capture_output=True,
                           text=True)
        res.check(f"{cmd} --help", p.returncode == 0 and
                  "usage: llmtap " + cmd in p.stdout, p.stderr)


def main():
    res = Results()
    work = Workdir()
    mock = Mock(work)
    body = make_body(work)
    try:
        # Running before llmtap starts: found by the /proc scan.
        early = node_client(work, mock, body, "node-early", 2500)
        rec_path = work.file("capture.jsonl")
        tap = Llmtap(["record", "-o", rec_path], work)

        curl_pid, _ = run(["curl", "-s", "--http1.1", "--cacert", work.ca,
                           f"https://localhost:{mock.port}/echo",
                           "--data-binary", "@" + body,
                           "-D", work.file("curl.headers"),
                           "-o", work.file("curl.out")])
        py_pid, _ = run([PYTHON, "-c", PY_RAW, str(mock.port), work.ca,
                         body, work.file("py.req"), work.file("py.resp")])
        # Started after llmtap: found at exec.
        late = node_client(work, mock, body, "node-late", 0)
        late.wait(timeout=60)
        early.wait(timeout=60)
        time.sleep(0.2)
        rc = tap.stop()

        res.check("record exits 0 on SIGINT", rc == 0, tap.stderr())
        rec = Recording(rec_path)
        res.check("recording starts with its header",
                  rec.lines[0] == {"type": "recording", "version": 1},
                  str(rec.lines[0]))
        check_curl(res, rec, curl_pid, body, work)
        check_metadata(res, rec, curl_pid, mock)
        check_exact(res, rec, "python3 ssl", py_pid, "python3",
                    work.file("py.req"), work.file("py.resp"))
        check_exact(res, rec, "node (started after)", late.pid, "node",
                    work.file("node-late.req"), work.file("node-late.resp"))
        check_exact(res, rec, "node (started before)", early.pid, "node",
                    work.file("node-early.req"),
                    work.file("node-early.resp"))
        drops = [o for o in rec.of_type("loss") if o["ringbuf_drops"]]
        res.check("no ring-buffer drops", not drops, str(drops))

        check_truncation(res, work, mock, body)
        check_bad_starts(res, work)
    finally:
        mock.stop()
    res.finish()


if __name__ == "__main__":
    main()
