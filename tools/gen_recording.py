#!/usr/bin/env python3
"""Writes a synthetic llmtap recording (README.md, "Recording format")
for benchmarks and fuzz seeds: LLM calls over many connections at once,
HTTP/1.1 and HTTP/2, streamed (SSE) and not, some responses gzipped.

    tools/gen_recording.py [--calls N] [--conns K] [--seed S] -o FILE

K connections are open at any time; their events are interleaved, as
a busy host's would be. Each connection makes a few keep-alive calls,
then closes. HTTP/2 frames and HPACK (literal fields only, RFC 7541
section 6.2.2) are built by hand, so nothing beyond python3 is needed.
"""
import argparse
import base64
import gzip
import json
import random
import struct
import sys

CHUNK = 16384          # a data record carries at most 16 KiB
T0 = 1_700_000_000_000_000_000
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class Clock:
    def __init__(self):
        self.ns = T0

    def tick(self, us=50):
        self.ns += us * 1000
        return self.ns


def prompt(rng, size):
    words = ["alpha", "beta", "gamma", "delta", "token", "cache", "model"]
    out = []
    n = 0
    while n < size:
        w = rng.choice(words)
        out.append(w)
        n += len(w) + 1
    return " ".join(out)


def request_body(rng, dialect, stream, psize):
    msgs = [{"role": "user", "content": prompt(rng, psize)}]
    if dialect == "openai":
        body = {"model": "gpt-4o-mini", "messages": msgs, "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
    else:
        body = {"model": "claude-3-5-haiku-20241022", "max_tokens": 64,
                "messages": msgs, "stream": stream}
    return json.dumps(body).encode()


def openai_reply(rng, k, stream):
    usage = {"prompt_tokens": 120 + k % 50, "completion_tokens": 30,
             "total_tokens": 150 + k % 50,
             "prompt_tokens_details": {"cached_tokens": 20}}
    if not stream:
        return [json.dumps({
            "id": f"chatcmpl-{k}", "object": "chat.completion",
            "model": "gpt-4o-mini-2024-07-18", "usage": usage,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant",
                                     "content": "hello " * 20}}]
        }).encode()]
    events = []
    for i in range(8):
        d = {"id": f"chatcmpl-{k}", "model": "gpt-4o-mini-2024-07-18",
             "choices": [{"index": 0, "delta": {"content": f"w{i} "}}]}
        events.append(b"data: " + json.dumps(d).encode() + b"\n\n")
    d = {"id": f"chatcmpl-{k}", "choices": [], "usage": usage}
    events.append(b"data: " + json.dumps(d).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events


def anthropic_reply(rng, k, stream):
    usage = {"input_tokens": 200 + k % 30, "output_tokens": 40,
             "cache_read_input_tokens": 10}
    if not stream:
        return [json.dumps({
            "id": f"msg_{k}", "type": "message", "role": "assistant",
            "model": "claude-3-5-haiku-20241022", "usage": usage,
            "content": [{"type": "text", "text": "hi " * 30}]
        }).encode()]

    def ev(name, obj):
        return (f"event: {name}\ndata: ".encode() + json.dumps(obj).encode()
                + b"\n\n")
    out = [ev("message_start", {"type": "message_start", "message": {
        "id": f"msg_{k}", "model": "claude-3-5-haiku-20241022",
        "usage": {"input_tokens": usage["input_tokens"],
                  "output_tokens": 1}}})]
    for i in range(6):
        out.append(ev("content_block_delta", {
            "type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": f"w{i} "}}))
    out.append(ev("message_delta", {"type": "message_delta",
                                    "usage": {"output_tokens": 40}}))
    out.append(ev("message_stop", {"type": "message_stop"}))
    return out


class Call:
    """One call's bodies, chosen at random."""

    def __init__(self, rng, k, psize):
        self.dialect = rng.choice(["openai", "openai", "anthropic"])
        self.stream = rng.random() < 0.5
        self.gzip = not self.stream and rng.random() < 0.3
        self.path = ("/v1/chat/completions" if self.dialect == "openai"
                     else "/v1/messages")
        self.host = ("api.openai.com" if self.dialect == "openai"
                     else "api.anthropic.com")
        self.req = request_body(rng, self.dialect, self.stream, psize)
        make = openai_reply if self.dialect == "openai" else anthropic_reply
        self.pieces = make(rng, k, self.stream)
        if self.gzip:
            self.pieces = [gzip.compress(self.pieces[0], 1)]
        self.ctype = ("text/event-stream" if self.stream
                      else "application/json")


# ---- HTTP/1.1 ----

def h1_request(call):
    head = (f"POST {call.path} HTTP/1.1\r\nHost: {call.host}\r\n"
            f"Authorization: Bearer ****************\r\n"
            f"Content-Type: application/json\r\n"
            f"Content-Length: {len(call.req)}\r\n\r\n")
    return [head.encode() + call.req]


def h1_response(call):
    if call.stream:
        head = ("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                "Transfer-Encoding: chunked\r\nx-request-id: r1\r\n\r\n")
        out = [head.encode()]
        for p in call.pieces:
            out.append(b"%x\r\n" % len(p) + p + b"\r\n")
        out[-1] += b"0\r\n\r\n"
        return out
    body = call.pieces[0]
    enc = "Content-Encoding: gzip\r\n" if call.gzip else ""
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: {call.ctype}\r\n{enc}"
            f"x-request-id: r1\r\nContent-Length: {len(body)}\r\n\r\n")
    return [head.encode() + body]


# ---- HTTP/2, frames and literal HPACK by hand ----

def hp_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def hp_str(s):
    b = s.encode()
    return hp_int(len(b), 7) + b


def hpack(fields):
    # Literal header field without indexing, new name (0x00).
    return b"".join(b"\x00" + hp_str(n) + hp_str(v) for n, v in fields)


def frame(ftype, flags, stream, payload):
    n = len(payload)
    return (struct.pack(">BHBBI", n >> 16, n & 0xFFFF, ftype, flags,
                        stream) + payload)


def h2_request(call, sid):
    block = hpack([(":method", "POST"), (":scheme", "https"),
                   (":authority", call.host), (":path", call.path),
                   ("authorization", "Bearer ****************"),
                   ("content-type", "application/json")])
    out = frame(1, 0x4, sid, block)
    req = call.req
    while len(req) > 16384:
        out += frame(0, 0, sid, req[:16384])
        req = req[16384:]
    return [out + frame(0, 0x1, sid, req)]


def h2_response(call, sid):
    fields = [(":status", "200"), ("content-type", call.ctype),
              ("x-request-id", "r1")]
    if call.gzip:
        fields.append(("content-encoding", "gzip"))
    out = [frame(1, 0x4, sid, hpack(fields))]
    for i, p in enumerate(call.pieces):
        last = i == len(call.pieces) - 1
        out.append(frame(0, 0x1 if last else 0, sid, p))
    return out


# ---- records ----

class Conn:
    def __init__(self, rng, clock, n, pid, psize, calls):
        self.rng, self.clock = rng, clock
        self.pid = pid
        self.conn = f"{pid}:{0x55d000000000 + n * 0x1000:x}"
        self.h2 = rng.random() < 0.4
        self.psize = psize
        self.calls = calls      # a shared counter: [made, wanted]

    def rec(self, rtype, **kw):
        o = {"type": rtype, "ts": self.clock.tick(), "pid": self.pid,
             "tid": self.pid, "uid": 1000, "comm": "python3"}
        if rtype != "proc":
            o["conn"] = self.conn
        o.update(kw)
        return json.dumps(o, separators=(",", ":"))

    def data(self, direction, blob):
        lines = []
        for off in range(0, len(blob), CHUNK):
            part = blob[off:off + CHUNK]
            lines.append(self.rec(
                "data", dir=direction, len=len(blob), offset=off,
                data=base64.b64encode(part).decode(), truncated=False))
        return lines

    def events(self):
        """Yields groups of lines: what one SSL call would emit."""
        host = "api.openai.com"
        yield [self.rec("conn", op="sni", host=host),
               self.rec("conn", op="fd", fd=5, peer="127.0.0.1:443")]
        if self.h2:
            yield self.data("write", PREFACE + frame(4, 0, 0, b""))
            yield self.data("read", frame(4, 0, 0, b"") +
                            frame(4, 1, 0, b""))
        for i in range(self.rng.randint(1, 6)):
            if self.calls[0] >= self.calls[1]:
                break
            self.calls[0] += 1
            call = Call(self.rng, self.calls[0], self.psize)
            sid = 2 * i + 1
            req = h2_request(call, sid) if self.h2 else h1_request(call)
            resp = h2_response(call, sid) if self.h2 else h1_response(call)
            for blob in req:
                yield self.data("write", blob)
            for blob in resp:
                yield self.data("read", blob)
        yield [self.rec("conn", op="close")]


def generate(out, ncalls, nconns, seed, psize):
    rng = random.Random(seed)
    clock = Clock()
    calls = [0, ncalls]
    out.write('{"type":"recording","version":1}\n')
    live, n = [], 0
    while calls[0] < ncalls or live:
        while len(live) < nconns and calls[0] < ncalls:
            n += 1
            live.append(Conn(rng, clock, n, 1000 + n % 500, psize,
                             calls).events())
        g = rng.choice(live)
        try:
            out.write("\n".join(next(g)) + "\n")
        except StopIteration:
            live.remove(g)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--prompt-bytes", type=int, default=1024)
    ap.add_argument("-o", "--output", default="-")
    a = ap.parse_args()
    out = sys.stdout if a.output == "-" else open(a.output, "w")
    generate(out, a.calls, a.conns, a.seed, a.prompt_bytes)
    out.close()


if __name__ == "__main__":
    main()
