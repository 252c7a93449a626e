"""End to end: clients that do not use the system libssl are seen too.
A Go net/http client (its own crypto/tls, HTTP/2), a GnuTLS client
(wget), python3 with a private libssl in its own mount namespace, and
a plain-HTTP NDJSON stream from a local mock Ollama server, and plain
HTTP sent with writev (node's fetch) and sendmsg/recvmsg."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import (CLIENTS, MOCK, PYTHON, ROOT, Llmtap, Mock,  # noqa
                 Results, Workdir)

OPENAI_BODY = json.dumps({
    "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
ANTHROPIC_BODY = json.dumps({
    "model": "claude-sonnet-4-5", "max_tokens": 16,
    "messages": [{"role": "user", "content": "hi"}]})
OLLAMA_BODY = json.dumps({
    "model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]})

# The python3 client run inside its own mount namespace, where the
# private libssl exists only at $PRIV (a tmpfs mounted there).
PRIVATE_SSL = (
    'mount -t tmpfs llmtap-private "$PRIV" && '
    'cp /usr/lib/*-linux-gnu/libssl.so.3 "$PRIV"/ && '
    'LD_LIBRARY_PATH="$PRIV" exec /usr/bin/python3 "$0" --lib requests '
    '--ca "$CA" --url "$URL" --json "$BODY"')


# One call over a plain socket with sendmsg (head and body as two
# buffers) and recvmsg: the vectored calls llmtap follows besides
# read and write (writev is what node's fetch uses).
SENDMSG_CLIENT = r'''
import socket, sys
port, body = int(sys.argv[1]), sys.argv[2].encode()
head = ("POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nConnection: close\r\n"
        "x-mock-usage: in=51,out=11\r\n"
        "Content-Length: %d\r\n\r\n" % len(body)).encode()
s = socket.create_connection(("127.0.0.1", port), timeout=30)
s.sendmsg([head, body])
got = b""
while True:
    data, _, _, _ = s.recvmsg(65536)
    if not data:
        break
    got += data
s.close()
sys.stdout.write(got.decode(errors="replace")[:80])
'''


class PlainMock(Mock):
    """The mock provider over plain HTTP (a local Ollama stand-in)."""

    def __init__(self, work):
        self.log = open(work.file("plain-mock.log"), "w")
        self.proc = subprocess.Popen(
            [PYTHON, MOCK, "--plain", "--port", "0"],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "PORT":
            raise RuntimeError("plain mock provider did not start")
        self.port = int(line[1])
        self.pid = self.proc.pid


def build_go_client(work):
    out = work.file("go_client")
    env = dict(os.environ, GOCACHE=os.path.join(ROOT, "build", "go-cache"),
               GOFLAGS="-mod=mod", GOPROXY="off", CGO_ENABLED="0")
    subprocess.run(["go", "build", "-o", out, "."], check=True, env=env,
                   cwd=os.path.join(CLIENTS, "go_client"))
    return out


def run_client(args, env=None):
    p = subprocess.Popen(args, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    out, err = p.communicate(timeout=60)
    return p.pid, p.returncode, out + err


def drive(work, mock, plain, go_bin):
    pids = {}
    url = f"https://localhost:{mock.port}"
    pids["go"], rc, out = run_client([
        go_bin, url + "/v1/chat/completions", work.ca, OPENAI_BODY,
        "Authorization: Bearer test-go-key"])
    pids["go_out"] = out
    pids["wget"], rc, out = run_client([
        "wget", "-q", "-O-", "--ca-certificate", work.ca,
        "--header", "content-type: application/json",
        "--header", "x-api-key: test-wget-key",
        "--post-data", ANTHROPIC_BODY, url + "/v1/messages"])
    priv = work.file("private-ssl")
    os.makedirs(priv)
    env = dict(os.environ, PRIV=priv, CA=work.ca, BODY=OPENAI_BODY,
               URL=url + "/v1/chat/completions")
    pids["private"], rc, out = run_client(
        ["unshare", "-m", "sh", "-c", PRIVATE_SSL,
         os.path.join(CLIENTS, "py_client.py")], env=env)
    pids["private_out"] = out
    pids["ollama"], rc, out = run_client([
        "curl", "-sN", f"http://127.0.0.1:{plain.port}/api/chat",
        "-d", OLLAMA_BODY, "-H", "x-mock-delay-ms: 40",
        "-H", "x-mock-usage: in=31,out=7"])
    pids["node_fetch"], rc, out = run_client([
        "node", os.path.join(CLIENTS, "node_fetch.mjs"), "--url",
        f"http://127.0.0.1:{plain.port}/api/chat", "--json", OLLAMA_BODY,
        "--header", "x-mock-usage: in=41,out=9"])
    pids["node_fetch_out"] = out
    pids["sendmsg"], rc, out = run_client([
        PYTHON, "-c", SENDMSG_CLIENT, str(plain.port), OLLAMA_BODY])
    pids["sendmsg_out"] = out
    return pids


def only(records, pid):
    return [r for r in records if r["process"]["pid"] == pid]


def check(res, records, pids, tap_log):
    go = only(records, pids["go"])
    res.check("Go net/http: one record, HTTP/2, OpenAI usage and cost",
              len(go) == 1 and go[0]["http"]["version"] == "2" and
              go[0]["provider"] == "openai" and
              go[0]["usage"]["input_tokens"] == 120 and
              go[0]["cost_usd"] is not None and
              go[0]["process"]["comm"] == "go_client",
              str(go) + str(pids["go_out"][:200]))

    wg = only(records, pids["wget"])
    res.check("GnuTLS (wget): one record, Anthropic usage",
              len(wg) == 1 and wg[0]["provider"] == "anthropic" and
              wg[0]["usage"]["input_tokens"] == 150 and
              wg[0]["process"]["comm"] == "wget", str(wg))

    pv = [r for r in records if r["process"]["comm"] == "python3" and
          r["http"]["path"] == "/v1/chat/completions"]
    res.check("private libssl in its own mount namespace: one record",
              len(pv) == 1 and pv[0]["usage"]["output_tokens"] == 30,
              str(pv) + str(pids["private_out"][-300:]))
    res.check("private libssl: attached through /proc/PID/root",
              "private-ssl/libssl.so.3" in tap_log, tap_log[-600:])

    ol = only(records, pids["ollama"])
    res.check("plain-HTTP Ollama NDJSON: provider, usage, cost 0, ttft",
              len(ol) == 1 and ol[0]["provider"] == "ollama" and
              ol[0]["http"]["version"] == "1.1" and ol[0]["stream"] and
              ol[0]["usage"]["input_tokens"] == 31 and
              ol[0]["usage"]["output_tokens"] == 7 and
              ol[0]["cost_usd"] == 0 and ol[0]["ttft_ms"] is not None and
              ol[0]["ttft_ms"] >= 40, str(ol))


def check_vectored(res, records, pids):
    """Plain HTTP through writev (node's fetch) and sendmsg/recvmsg."""
    for name, usage in (("node_fetch", (41, 9)), ("sendmsg", (51, 11))):
        r = only(records, pids[name])
        res.check(f"plain-HTTP {name}: one Ollama record with its usage",
                  len(r) == 1 and r[0]["provider"] == "ollama" and
                  r[0]["http"]["status"] == 200 and
                  (r[0]["usage"]["input_tokens"],
                   r[0]["usage"]["output_tokens"]) == usage,
                  str(r) + str(pids[name + "_out"][-200:]))


def main():
    res = Results()
    work = Workdir()
    go_bin = build_go_client(work)
    mock = Mock(work)
    plain = PlainMock(work)
    calls = work.file("calls.jsonl")
    try:
        tap = Llmtap(["run", "-o", calls, "--plain-ports", str(plain.port),
                      "--no-api", "--no-db"], work, "run")
        pids = drive(work, mock, plain, go_bin)
        time.sleep(0.3)
        res.check("run exits 0", tap.stop() == 0, tap.stderr())
    finally:
        mock.stop()
        plain.stop()
    records = [json.loads(line) for line in open(calls)]
    check(res, records, pids, tap.stderr())
    check_vectored(res, records, pids)
    res.finish()


if __name__ == "__main__":
    main()
