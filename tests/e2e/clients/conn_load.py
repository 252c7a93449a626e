#!/usr/bin/python3
"""Many TLS connections held open at once, one LLM call on each.

Usage:
  conn_load.py serve --cert PEM --key KEY --conns N [--name COMM]
  conn_load.py hold --port P --ca CA.pem --conns N [--name COMM]

serve: a TLS server on 127.0.0.1 that answers every request with one
OpenAI chat completion (status 200) and keeps the connection until the
client closes it; N is only checked against its descriptor limit. Its
first stdout line is "PORT <n>"; it stops when its stdin closes (or
after LIFETIME_S).

hold: opens N connections to 127.0.0.1:P (OPENERS handshakes at a
time), makes one call on each and keeps them all open. It prints
"OPEN <n>" once all N are open with their answer read, then waits for
a line on stdin, closes them all and prints "CLOSED". Any failure, or
a step past its timeout, prints "FAIL <why>" and exits 1: the caller
never waits on it for ever.

--name sets the process's command name (prctl PR_SET_NAME), so that
llmtap --comm can follow the clients and not the server, or the other
way round. Each process needs about one descriptor per connection;
its soft limit is raised to the hard one.

Run with Debian's /usr/bin/python3 (asyncio and ssl only).
"""

import argparse
import asyncio
import ctypes
import resource
import ssl
import sys

# Handshakes in flight per client: enough to keep both sides busy,
# well under the listen backlog (net.core.somaxconn, 4096 here).
OPENERS = 100
BACKLOG = 4096
# Descriptors a process needs besides its connections.
SPARE_FDS = 64
# One connection: handshake, request, answer.
CALL_TIMEOUT_S = 60
# All of a client's connections open with their answers; under the
# 180 s test_faults.py waits, so that its reason reaches it.
OPEN_TIMEOUT_S = 150
# How long a client holds them for the caller's word.
HOLD_TIMEOUT_S = 300
CLOSE_TIMEOUT_S = 30
# A server left behind by a caller that died goes on its own.
LIFETIME_S = 1200
PR_SET_NAME = 15

REQ_BODY = (b'{"model":"gpt-4o-mini","messages":[{"role":"user",'
            b'"content":"hi"}]}')
REQ = (b"POST /v1/chat/completions HTTP/1.1\r\n"
       b"Host: api.openai.com\r\nContent-Type: application/json\r\n"
       b"Content-Length: %d\r\n\r\n" % len(REQ_BODY)) + REQ_BODY
RESP_BODY = (b'{"id":"chatcmpl-load","object":"chat.completion",'
             b'"model":"gpt-4o-mini","choices":[{"index":0,"message":'
             b'{"role":"assistant","content":"ok"},"finish_reason":'
             b'"stop"}],"usage":{"prompt_tokens":3,'
             b'"completion_tokens":1,"total_tokens":4}}')
RESP = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(RESP_BODY)) + RESP_BODY


class Fail(Exception):
    pass


def set_name(name):
    """The thread's comm, which BPF reads; main thread = the process."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0):
        raise Fail(f"prctl(PR_SET_NAME): errno {ctypes.get_errno()}")


def raise_fd_limit(conns):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < conns + SPARE_FDS:
        raise Fail(f"{conns} connections need {conns + SPARE_FDS} "
                   f"descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def content_length(head):
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def stdin_event(loop):
    """An event set when stdin has a line or is closed."""
    ev = asyncio.Event()

    def ready():
        sys.stdin.buffer.raw.read(4096)
        loop.remove_reader(sys.stdin.fileno())
        ev.set()

    loop.add_reader(sys.stdin.fileno(), ready)
    return ev


# ---- serve ----

async def answer(reader, writer):
    """One connection: one request, one answer, then wait for EOF."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"),
                                      CALL_TIMEOUT_S)
        await reader.readexactly(content_length(head))
        writer.write(RESP)
        await writer.drain()
        await reader.read()
    except (OSError, EOFError, ValueError, asyncio.TimeoutError,
            asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    writer.close()


async def serve(args):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    srv = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=ctx,
                                     backlog=BACKLOG)
    print("PORT", srv.sockets[0].getsockname()[1], flush=True)
    done = stdin_event(asyncio.get_running_loop())
    try:
        await asyncio.wait_for(done.wait(), LIFETIME_S)
    except asyncio.TimeoutError:
        pass
    srv.close()


# ---- hold ----

async def call(port, ctx, conns):
    """Opens one connection, makes the call, keeps the writer."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=ctx, server_hostname="api.openai.com")
    conns.append(writer)
    writer.write(REQ)
    head = await reader.readuntil(b"\r\n\r\n")
    status = head.split(b" ", 2)[1]
    await reader.readexactly(content_length(head))
    if status != b"200":
        raise Fail(f"status {status.decode()}")


async def opener(port, ctx, todo, conns):
    while todo[0] > 0:
        todo[0] -= 1
        try:
            await asyncio.wait_for(call(port, ctx, conns),
                                   CALL_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise Fail(f"a call took over {CALL_TIMEOUT_S} s (after "
                       f"{len(conns)} connections)") from None


async def open_all(args, conns):
    ctx = ssl.create_default_context(cafile=args.ca)
    todo = [args.conns]
    workers = [opener(args.port, ctx, todo, conns)
               for _ in range(min(OPENERS, args.conns))]
    try:
        await asyncio.wait_for(asyncio.gather(*workers), OPEN_TIMEOUT_S)
    except asyncio.TimeoutError:
        raise Fail(f"{len(conns)} of {args.conns} open after "
                   f"{OPEN_TIMEOUT_S} s") from None
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError) as e:
        raise Fail(f"after {len(conns)} connections: {e!r}") from None


async def close_all(conns):
    for w in conns:
        w.close()
    waits = [w.wait_closed() for w in conns]
    try:
        await asyncio.wait_for(
            asyncio.gather(*waits, return_exceptions=True),
            CLOSE_TIMEOUT_S)
    except asyncio.TimeoutError:
        raise Fail(f"connections not closed in {CLOSE_TIMEOUT_S} s") \
            from None


async def hold(args):
    conns = []
    await open_all(args, conns)
    print("OPEN", len(conns), flush=True)
    told = stdin_event(asyncio.get_running_loop())
    try:
        await asyncio.wait_for(told.wait(), HOLD_TIMEOUT_S)
    except asyncio.TimeoutError:
        raise Fail(f"not told to close in {HOLD_TIMEOUT_S} s") from None
    await close_all(conns)
    print("CLOSED", flush=True)


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["serve", "hold"])
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--ca")
    parser.add_argument("--port", type=int)
    parser.add_argument("--conns", type=int, default=1)
    parser.add_argument("--name")
    return parser.parse_args()


def main():
    args = parse_args()
    try:
        if args.name:
            set_name(args.name)
        raise_fd_limit(args.conns)
        asyncio.run(serve(args) if args.mode == "serve" else hold(args))
    except Fail as e:
        print("FAIL", e, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
