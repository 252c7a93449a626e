#!/usr/bin/python3
"""A real Python HTTPS client for the end-to-end tests.

Usage:
  py_client.py --lib httpx|requests --url URL --ca CA.pem
               [--json STRING | --body-file FILE] [--header K:V]...
               [--stream] [--http2] [--repeat N] [--method M]

Sends the request (POST when there is a body, else GET) and writes the
decoded response body to stdout; with --stream it writes each piece as
it arrives. On stderr: one "status <code> <http version>" line per
request. --http2 needs --lib httpx and python3-h2. --repeat sends the
same request N times on one client, so keep-alive reuses a connection.

Run with Debian's /usr/bin/python3: the httpx, h2 and requests modules
come from Debian packages (python3-httpx, python3-h2, python3-requests).

Exit status: 0 when every response arrived whole (any HTTP status),
3 when the transfer broke (e.g. the server died mid-stream), 2 on usage.
"""

import argparse
import sys

EXIT_TRANSFER = 3
TIMEOUT_S = 30


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lib", choices=["httpx", "requests"],
                        required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--ca", required=True)
    body = parser.add_mutually_exclusive_group()
    body.add_argument("--json")
    body.add_argument("--body-file")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--http2", action="store_true")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--method")
    args = parser.parse_args()
    if args.http2 and args.lib != "httpx":
        parser.error("--http2 needs --lib httpx")
    return args


def build_request(args):
    """Returns (method, headers, body) from the command line."""
    headers = {}
    for item in args.header:
        name, sep, value = item.partition(":")
        if not sep:
            sys.exit("bad --header %r, want K:V" % item)
        headers[name.strip()] = value.strip()
    body = None
    if args.json is not None:
        body = args.json.encode()
        headers.setdefault("Content-Type", "application/json")
    elif args.body_file:
        with open(args.body_file, "rb") as f:
            body = f.read()
    method = args.method or ("POST" if body is not None else "GET")
    return method, headers, body


def write_out(data):
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def report(status, version):
    sys.stderr.write("status %d %s\n" % (status, version))
    sys.stderr.flush()


def run_httpx(args, method, headers, body):
    import httpx
    with httpx.Client(verify=args.ca, http2=args.http2,
                      timeout=TIMEOUT_S) as client:
        for _ in range(args.repeat):
            if not args.stream:
                resp = client.request(method, args.url, headers=headers,
                                      content=body)
                report(resp.status_code, resp.http_version)
                write_out(resp.content)
                continue
            with client.stream(method, args.url, headers=headers,
                               content=body) as resp:
                report(resp.status_code, resp.http_version)
                for piece in resp.iter_bytes():
                    write_out(piece)


def run_requests(args, method, headers, body):
    import requests
    with requests.Session() as session:
        for _ in range(args.repeat):
            resp = session.request(method, args.url, headers=headers,
                                   data=body, verify=args.ca,
                                   stream=args.stream, timeout=TIMEOUT_S)
            report(resp.status_code, "HTTP/1.1")
            if args.stream:
                # chunk_size=None: hand over each piece as it arrives.
                for piece in resp.iter_content(chunk_size=None):
                    write_out(piece)
            else:
                write_out(resp.content)
            resp.close()


def main():
    args = parse_args()
    method, headers, body = build_request(args)
    run = run_httpx if args.lib == "httpx" else run_requests
    try:
        run(args, method, headers, body)
    except Exception as err:  # any transport failure: report, exit 3
        sys.stderr.write("transfer failed: %s: %s\n"
                         % (type(err).__name__, err))
        return EXIT_TRANSFER
    return 0


if __name__ == "__main__":
    sys.exit(main())
