#!/usr/bin/python3
"""A local TLS mock of the OpenAI, Anthropic, Gemini and Ollama HTTP APIs.

Usage: provider.py --cert server.pem --key server.key [--port N]
       provider.py --plain [--port N]

Listens on 127.0.0.1 only. With --port 0 (the default) it picks a free
port; either way its first line on stdout is "PORT <n>". ALPN offers h2
and http/1.1: HTTP/2 when the client picks h2 (needs python3-h2), else
HTTP/1.1 with keep-alive. With --plain it speaks plain HTTP/1.1, no TLS,
as a local model server such as Ollama does. One line per request goes
to stderr. SIGTERM or SIGINT stops it with exit status 0.

The dialects, the token-count rule and the x-mock-* header knobs are in
dialects.py and README.md beside this file.
"""

import argparse
import collections
import os
import signal
import socket
import ssl
import sys
import threading
import time

# Keep the source tree free of __pycache__.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dialects  # noqa: E402

try:
    import h2.config
    import h2.connection
    import h2.errors
    import h2.events
    import h2.exceptions
    HAVE_H2 = True
except ImportError:
    HAVE_H2 = False

MAX_LINE = 16 << 10
MAX_HEADERS = 100
MAX_BODY = 64 << 20
READ_TIMEOUT_S = 30
# After a deliberate drop, how long to wait for the client to close.
DRAIN_TIMEOUT_S = 2
# Non-stream bodies sent with x-mock-chunked go out in pieces this size
# at most, and in at least two pieces, so a parser sees real chunking.
CHUNK_MAX = 16 << 10


class BadMessage(Exception):
    pass


class Died(Exception):
    """x-mock-die-after fired: drop the connection without a goodbye."""


def log(fmt, *args):
    sys.stderr.write("mock: " + (fmt % args) + "\n")
    sys.stderr.flush()


def log_request(peer, req, reply, sent):
    kind = "stream %d events" % sent if reply.events is not None else \
        "%d bytes" % len(reply.body)
    died = " (died)" if reply.died else ""
    log("%s %s %s %s -> %d %s%s", peer, req.proto, req.method,
        req.path, reply.status, kind, died)


def _stream_plan(reply):
    """How many events to send, and whether to die after them."""
    count = len(reply.events)
    if reply.die_after is not None and reply.die_after < count:
        return reply.die_after, True
    return count, False


# -------------------------------------------------------------- HTTP/1.1


class H1Connection:
    """HTTP/1.1 with keep-alive over one TLS (or, --plain, TCP) socket."""

    def __init__(self, sock, peer):
        self.sock = sock
        self.peer = peer
        self.rfile = sock.makefile("rb", buffering=64 << 10)

    def serve(self):
        while True:
            try:
                req = self._read_request()
            except BadMessage as err:
                self._send_simple(400, str(err))
                return
            if req is None:
                return
            reply = dialects.route(req)
            reply.died = False
            sent = self._write_reply(reply)
            log_request(self.peer, req, reply, sent)
            if reply.died:
                raise Died()
            if not self._keep_alive(req):
                return

    def _readline(self):
        line = self.rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise BadMessage("line too long")
        return line

    def _read_request(self):
        line = self._readline()
        if not line:
            return None
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise BadMessage("bad request line")
        headers = self._read_headers()
        if headers.get("expect", "").lower() == "100-continue":
            self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = self._read_body(headers)
        req = dialects.Request(parts[0], parts[1], headers, body, "h1")
        req.version = parts[2]
        return req

    def _read_headers(self):
        headers = {}
        for _ in range(MAX_HEADERS):
            line = self._readline().decode("latin-1").rstrip("\r\n")
            if not line:
                return headers
            name, sep, value = line.partition(":")
            if not sep:
                raise BadMessage("bad header line")
            headers[name.strip().lower()] = value.strip()
        raise BadMessage("too many headers")

    def _read_body(self, headers):
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        length = headers.get("content-length", "0")
        if not length.isdigit() or int(length) > MAX_BODY:
            raise BadMessage("bad or too large content-length")
        body = self.rfile.read(int(length))
        if len(body) != int(length):
            raise BadMessage("body cut short")
        return body

    def _read_chunked(self):
        body = bytearray()
        while True:
            size_text = self._readline().split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise BadMessage("bad chunk size")
            if size == 0:
                break
            if len(body) + size > MAX_BODY:
                raise BadMessage("body too large")
            body += self.rfile.read(size)
            self._readline()
        while self._readline().strip():
            pass  # trailer fields, ignored
        return bytes(body)

    def _keep_alive(self, req):
        wanted = req.headers.get("connection", "").lower()
        if req.version == "HTTP/1.0":
            return wanted == "keep-alive"
        return wanted != "close"

    def _head(self, reply, extra):
        lines = ["HTTP/1.1 %d %s" % (reply.status, _reason(reply.status)),
                 "Server: llmtap-mock"]
        lines += ["%s: %s" % kv for kv in reply.headers + extra]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _write_reply(self, reply):
        extra = [("Content-Encoding", "gzip")] if reply.gzip else []
        if reply.events is not None:
            extra.append(("Transfer-Encoding", "chunked"))
            self.sock.sendall(self._head(reply, extra))
            return self._write_events(reply)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        body = dialects.encode_body(reply)
        if not reply.chunked:
            extra.append(("Content-Length", str(len(body))))
            self.sock.sendall(self._head(reply, extra) + body)
            return 0
        extra.append(("Transfer-Encoding", "chunked"))
        self.sock.sendall(self._head(reply, extra))
        for piece in _split(body):
            self._chunk(piece)
        self.sock.sendall(b"0\r\n\r\n")
        return 0

    def _write_events(self, reply):
        count, die = _stream_plan(reply)
        zipper = dialects.Gzipper() if reply.gzip else None
        for event in reply.events[:count]:
            time.sleep(reply.delay_s)
            self._chunk(zipper.piece(event) if zipper else event)
        if die:
            reply.died = True
            return count
        if zipper:
            self._chunk(zipper.end())
        self.sock.sendall(b"0\r\n\r\n")
        return count

    def _chunk(self, data):
        if data:
            self.sock.sendall(b"%x\r\n" % len(data) + data + b"\r\n")

    def _send_simple(self, status, text):
        body = (text + "\n").encode()
        head = "HTTP/1.1 %d %s\r\nContent-Length: %d\r\n" \
            "Connection: close\r\n\r\n" % (status, _reason(status), len(body))
        self.sock.sendall(head.encode() + body)

    def close(self):
        self.rfile.close()


def _split(body):
    if len(body) < 2:
        return [body]
    size = min(CHUNK_MAX, (len(body) + 1) // 2)
    return [body[i:i + size] for i in range(0, len(body), size)]


def _reason(status):
    reasons = {200: "OK", 400: "Bad Request", 401: "Unauthorized",
               404: "Not Found", 405: "Method Not Allowed",
               429: "Too Many Requests", 500: "Internal Server Error",
               503: "Service Unavailable", 529: "Overloaded"}
    return reasons.get(status, "Status")


# ---------------------------------------------------------------- HTTP/2


class StreamGone(Exception):
    """The client reset the stream we were answering."""


class H2Connection:
    """HTTP/2 over one TLS socket; answers streams one at a time."""

    def __init__(self, sock, peer):
        config = h2.config.H2Configuration(client_side=False,
                                           header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=config)
        self.sock = sock
        self.peer = peer
        self.pending = collections.deque()
        self.requests = {}

    def serve(self):
        self.conn.initiate_connection()
        self._flush()
        while True:
            if not self.pending and not self._read_events():
                return
            while self.pending:
                if not self._handle(self.pending.popleft()):
                    return

    def _flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def _read_events(self):
        """Reads once; False at end of connection."""
        data = self.sock.recv(64 << 10)
        if not data:
            return False
        events = self.conn.receive_data(data)
        for event in events:
            # Give the window back at once, even while we are busy
            # sending, so the client never stalls on us.
            if isinstance(event, h2.events.DataReceived):
                self.conn.acknowledge_received_data(
                    event.flow_controlled_length, event.stream_id)
        self.pending.extend(events)
        self._flush()
        return True

    def _handle(self, event):
        ev = h2.events
        if isinstance(event, ev.RequestReceived):
            self.requests[event.stream_id] = (dict(event.headers),
                                              bytearray())
        elif isinstance(event, ev.DataReceived):
            self._add_body(event.stream_id, event.data)
        elif isinstance(event, ev.StreamEnded):
            self._answer(event.stream_id)
        elif isinstance(event, ev.StreamReset):
            self.requests.pop(event.stream_id, None)
        elif isinstance(event, ev.ConnectionTerminated):
            return False
        return True

    def _add_body(self, stream_id, data):
        entry = self.requests.get(stream_id)
        if entry is None:
            return
        entry[1].extend(data)
        if len(entry[1]) > MAX_BODY:
            del self.requests[stream_id]
            self.conn.reset_stream(stream_id,
                                   h2.errors.ErrorCodes.REFUSED_STREAM)
            self._flush()

    def _answer(self, stream_id):
        entry = self.requests.pop(stream_id, None)
        if entry is None:
            return
        headers, body = entry
        req = dialects.Request(headers.get(":method", "GET"),
                               headers.get(":path", "/"),
                               headers, bytes(body), "h2")
        reply = dialects.route(req)
        reply.died = False
        try:
            sent = self._send_reply(stream_id, reply)
        except (StreamGone, h2.exceptions.StreamClosedError):
            log("%s h2 stream %d reset by client", self.peer, stream_id)
            return
        log_request(self.peer, req, reply, sent)
        if reply.died:
            raise Died()

    def _send_reply(self, stream_id, reply):
        head = [(":status", str(reply.status)), ("server", "llmtap-mock")]
        head += [(k.lower(), v) for k, v in reply.headers]
        if reply.gzip:
            head.append(("content-encoding", "gzip"))
        if reply.events is not None:
            self.conn.send_headers(stream_id, head)
            self._flush()
            return self._send_events(stream_id, reply)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        body = dialects.encode_body(reply)
        head.append(("content-length", str(len(body))))
        self.conn.send_headers(stream_id, head, end_stream=not body)
        self._flush()
        self._send_data(stream_id, body, True)
        return 0

    def _send_events(self, stream_id, reply):
        count, die = _stream_plan(reply)
        zipper = dialects.Gzipper() if reply.gzip else None
        for event in reply.events[:count]:
            time.sleep(reply.delay_s)
            self._send_data(stream_id, zipper.piece(event) if zipper
                            else event, False)
        if die:
            reply.died = True
            return count
        self._send_data(stream_id, zipper.end() if zipper else b"", True)
        return count

    def _send_data(self, stream_id, data, end):
        """Sends within the flow-control window, waiting when it is 0."""
        offset = 0
        while offset < len(data):
            room = min(self.conn.local_flow_control_window(stream_id),
                       self.conn.max_outbound_frame_size)
            if room <= 0:
                if not self._read_events():
                    raise Died()
                continue
            piece = data[offset:offset + room]
            offset += len(piece)
            last = end and offset == len(data)
            self.conn.send_data(stream_id, piece, end_stream=last)
            self._flush()
        if end and not data:
            self.conn.end_stream(stream_id)
            self._flush()

    def close(self):
        pass


# ---------------------------------------------------------------- server


def hang_up(sock):
    """Ends a connection without TLS close_notify, yet without losing data.

    A plain close() with unread input (say a client's WINDOW_UPDATE) makes
    the kernel send RST, and a peer that gets RST drops what it had not
    read yet; so send FIN first and read until the client closes too.
    """
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(DRAIN_TIMEOUT_S)
        while sock.recv(64 << 10):
            pass
    except OSError:
        pass


def serve_connection(raw, addr, context, timeout):
    """Serves one connection: TLS with context, plain HTTP/1.1 without."""
    peer = "%s:%d" % addr
    raw.settimeout(timeout)
    tls = None
    try:
        tls = context.wrap_socket(raw, server_side=True) if context \
            else raw
        use_h2 = context is not None and \
            tls.selected_alpn_protocol() == "h2"
        conn = (H2Connection if use_h2 else H1Connection)(tls, peer)
        try:
            conn.serve()
        finally:
            conn.close()
    except Died:
        log("%s connection dropped on purpose (x-mock-die-after)", peer)
        hang_up(tls)
    except socket.timeout:
        log("%s read timeout, closing", peer)
    except (OSError, ssl.SSLError) as err:
        log("%s connection error: %s", peer, err)
    except Exception as err:  # a bug here must not kill the server
        log("%s internal error: %r", peer, err)
    finally:
        (tls or raw).close()


def make_context(cert, key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    protocols = ["h2", "http/1.1"] if HAVE_H2 else ["http/1.1"]
    context.set_alpn_protocols(protocols)
    return context


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--plain", action="store_true",
                        help="plain HTTP/1.1, no TLS (no --cert, --key)")
    parser.add_argument("--timeout", type=float, default=READ_TIMEOUT_S,
                        help="read timeout per connection, seconds")
    args = parser.parse_args()
    if args.plain and (args.cert or args.key):
        parser.error("--plain takes no --cert or --key")
    if not args.plain and not (args.cert and args.key):
        parser.error("--cert and --key are required (or --plain)")
    return args


def main():
    args = parse_args()
    context = None if args.plain else make_context(args.cert, args.key)
    listener = socket.create_server(("127.0.0.1", args.port))
    listener.settimeout(0.2)
    print("PORT %d" % listener.getsockname()[1], flush=True)
    if args.plain:
        log("listening on 127.0.0.1:%d, plain http/1.1",
            listener.getsockname()[1])
    else:
        log("listening on 127.0.0.1:%d, alpn %s",
            listener.getsockname()[1],
            "h2,http/1.1" if HAVE_H2 else "http/1.1 (no python3-h2)")

    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())

    while not stopping.is_set():
        try:
            raw, addr = listener.accept()
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        worker = threading.Thread(target=serve_connection, daemon=True,
                                  args=(raw, addr, context, args.timeout))
        worker.start()
    listener.close()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
