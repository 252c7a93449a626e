#!/usr/bin/env python3
"""A keep-alive HTTPS client for the benchmarks: POSTs OpenAI-style
chat requests to URL for SECONDS, at most RATE calls a second (0: as
fast as it can), on one connection, and prints
'calls=N seconds=S rate=R errors=E'.

    client.py URL [--seconds S] [--rate R] [--prompt-bytes B]
"""
import argparse
import http.client
import json
import ssl
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rate", type=float, default=0)
    ap.add_argument("--prompt-bytes", type=int, default=1024)
    a = ap.parse_args()
    u = urllib.parse.urlsplit(a.url)
    ctx = ssl._create_unverified_context()
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx)
    body = json.dumps({"model": "gpt-4o-mini", "messages": [
        {"role": "user", "content": "x" * a.prompt_bytes}]}).encode()
    hdrs = {"Content-Type": "application/json",
            "Authorization": "Bearer sk-bench"}
    calls = errors = 0
    t0 = time.monotonic()
    end = t0 + a.seconds
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if a.rate and calls >= (now - t0) * a.rate:
            time.sleep(min(0.001, end - now))
            continue
        conn.request("POST", u.path or "/v1/chat/completions", body, hdrs)
        resp = conn.getresponse()
        resp.read()
        calls += 1
        errors += resp.status != 200
    secs = time.monotonic() - t0
    print(f"calls={calls} seconds={secs:.2f} rate={calls / secs:.1f} "
          f"errors={errors}", flush=True)


if __name__ == "__main__":
    main()
