"""End to end: the web dashboard the daemon serves. Real clients call
the local TLS mock as three users; headless Chromium loads the page
from `llmtap run --listen` and its DOM shows the request count, cost
and top user the API reports; a screenshot of it is a real picture;
the assets come with their content types and a 'self'-only CSP; the
time series adds up to the stored calls."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from html.parser import HTMLParser

sys.path.insert(0, os.path.dirname(__file__))
from lib import Llmtap, Mock, Results, Workdir  # noqa
from test_api import free_port, http_get  # noqa
from test_calls import (ANTHROPIC_STREAM, KEYS, OPENAI_BODY,  # noqa
                        Clients)

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium calls home, which
# this closed network refuses; QUIC and the GPU are not wanted either.
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                "--disable-quic", "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--hide-scrollbars"]
SHOT_W, SHOT_H = 1280, 900
TAG = f"dash-e2e-{os.getpid()}"
# The costliest user makes the Anthropic call, so is the top user.
USERS = [f"{TAG}-carol", f"{TAG}-dave", f"{TAG}-erin"]


def drive(c):
    okey, akey = KEYS["openai"], KEYS["anthropic"]
    for i, user in enumerate(USERS):
        hdr = ["-H", f"Helicone-User-Id: {user}"]
        c.curl(f"openai_{i}", "/v1/chat/completions", OPENAI_BODY,
               "-H", f"Authorization: Bearer {okey}", *hdr)
    c.curl("anthropic", "/v1/messages", ANTHROPIC_STREAM,
           "-H", f"x-api-key: {akey}", "-H", "anthropic-version: 2023-06-01",
           "-H", f"Helicone-User-Id: {USERS[1]}")
    c.curl("openai_500", "/v1/chat/completions", OPENAI_BODY,
           "-H", f"Authorization: Bearer {okey}", "-H", "x-mock-status: 500",
           "-H", f"Helicone-User-Id: {USERS[2]}")


def chromium(work, url, *extra):
    """Runs headless Chromium on a new empty profile; its stdout."""
    profile = tempfile.mkdtemp(prefix="chrome-", dir=work.path)
    try:
        p = subprocess.run([CHROMIUM, *CHROME_FLAGS,
                            f"--user-data-dir={profile}",
                            "--virtual-time-budget=5000", *extra, url],
                           capture_output=True, text=True, timeout=60)
        return p.stdout
    finally:
        shutil.rmtree(profile, True)


class Ids(HTMLParser):
    """The text inside each element with an id."""

    def __init__(self):
        super().__init__()
        self.text = {}
        self.open = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.open.append(a.get("id"))
        if a.get("id"):
            self.text[a["id"]] = ""

    def handle_endtag(self, tag):
        if self.open:
            self.open.pop()

    def handle_data(self, data):
        for i in self.open:
            if i:
                self.text[i] += data


def dom_ids(html):
    p = Ids()
    p.feed(html)
    return p.text


def api_json(base, path):
    status, body, _ = http_get(base + path)
    return json.loads(body) if status == 200 else None


def api_view(base):
    """What the overview should show, from the API."""
    total = api_json(base, "/api/v1/metrics?window=1h")["groups"]
    users = api_json(base, "/api/v1/users?since=1h&top=5")["users"]
    t = total[0] if total else {"requests": 0, "cost_usd": 0}
    return (t["requests"], t["cost_usd"],
            users[0]["user_id"] if users else None)


def fmt_usd(v):
    """As app.js writes it."""
    if v == 0:
        return "$0"
    return "$" + (f"{v:.6f}" if abs(v) < 0.01 else f"{v:.4f}")


def check_dom(res, work, base):
    """The DOM of a settled daemon: the API is asked before and after,
    so a call from elsewhere in between makes us look again."""
    for _ in range(5):
        before = api_view(base)
        ids = dom_ids(chromium(work, base + "/", "--dump-dom"))
        if api_view(base) == before:
            break
        time.sleep(1)
    requests, cost, top = before
    res.check("dashboard: request count equals the API's",
              ids.get("total-requests") == f"{requests:,}" and
              requests >= len(USERS) + 2, f"{ids} vs {before}")
    res.check("dashboard: total cost equals the API's",
              ids.get("total-cost") == fmt_usd(cost) and cost > 0,
              f"{ids.get('total-cost')} vs {cost}")
    res.check("dashboard: top user equals the API's",
              ids.get("top-user") == (top if top is not None
                                      else "(none)"),
              f"{ids.get('top-user')} vs {top}")
    res.check("dashboard: charts drawn from the time series",
              "chart-requests" in ids and "chart-p95_ms" in ids, str(ids))


def check_alerts_tab(res, work, base):
    """Without an alerts endpoint, the tab says so."""
    status, _, _ = http_get(base + "/api/v1/alerts")
    ids = dom_ids(chromium(work, base + "/#/alerts", "--dump-dom"))
    if status == 404:
        res.check("dashboard: alerts tab says none are configured",
                  "No alerts configured" in ids.get("alerts-none", ""),
                  str(ids))
    else:
        res.check("dashboard: alerts tab renders the alerts endpoint",
                  status == 200 and "main" in ids, f"{status} {ids}")


def png_pixels(path):
    """(width, height, set of distinct RGB(A) pixels), stdlib only."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return 0, 0, set()
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        return w, h, set()
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    return w, h, unfilter(raw, w, h, bpp)


def unfilter(raw, w, h, bpp):
    """Undoes the PNG row filters (RFC 2083, 6) and collects colours."""
    stride = w * bpp
    prev = bytearray(stride)
    colours = set()
    for y in range(h):
        f = raw[y * (stride + 1)]
        row = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                row[i] = (row[i] + a) & 255
            elif f == 2:
                row[i] = (row[i] + b) & 255
            elif f == 3:
                row[i] = (row[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else b if pb <= pc else c
                row[i] = (row[i] + pr) & 255
        if y % 4 == 0:  # every fourth row is plenty to count colours
            colours.update(bytes(row[i:i + bpp])
                           for i in range(0, stride, bpp * 2))
        prev = row
    return colours


def check_screenshot(res, work, base):
    shot = work.file("overview.png")
    chromium(work, base + "/", f"--screenshot={shot}",
             f"--window-size={SHOT_W},{SHOT_H}")
    ok = os.path.exists(shot)
    res.check("screenshot: a PNG was written", ok, shot)
    if not ok:
        return
    w, h, colours = png_pixels(shot)
    res.check("screenshot: the window's size", (w, h) == (SHOT_W, SHOT_H),
              f"{w}x{h}")
    # A blank or error page has a handful of colours; text, cards and
    # antialiased chart lines give hundreds.
    res.check("screenshot: not blank (over 100 distinct colours)",
              len(colours) > 100, f"{len(colours)} colours")


def check_assets(res, base):
    want = {"/": "text/html", "/assets/app.js": "text/javascript",
            "/assets/style.css": "text/css"}
    for path, ctype in want.items():
        status, body, headers = http_get(base + path)
        csp = headers.get("Content-Security-Policy", "")
        res.check(f"GET {path}: 200, {ctype}",
                  status == 200 and headers.get("Content-Type", "")
                  .startswith(ctype) and len(body) > 100,
                  f"{status} {headers.get('Content-Type')}")
        res.check(f"GET {path}: CSP allows 'self' only",
                  "default-src 'self'" in csp and "unsafe" not in csp and
                  "http" not in csp and "*" not in csp, csp)
    status, body, _ = http_get(base + "/assets/nothing.js")
    res.check("GET /assets/nothing.js: 404", status == 404, str(status))
    status, body, _ = http_get(base + "/")
    res.check("index.html loads nothing from another origin",
              "http://" not in body and "https://" not in body, body[:200])


def check_series(res, base):
    s = api_json(base, "/api/v1/timeseries?window=1h&step=60")
    users = api_json(base, "/api/v1/users?since=1h&top=0")
    stored = sum(u["requests"] for u in users["users"]) if users else -1
    ok = s is not None and len(s["points"]) == 60
    res.check("/api/v1/timeseries: 60 points of 60 s", ok, str(s)[:300])
    if not ok:
        return
    got = sum(p["requests"] for p in s["points"])
    errs = sum(p["errors"] for p in s["points"])
    res.check("/api/v1/timeseries: requests add up to the stored calls",
              got == stored and got >= len(USERS) + 2, f"{got} {stored}")
    res.check("/api/v1/timeseries: the 500 is an error", errs >= 1,
              str(errs))
    status, _, _ = http_get(base + "/api/v1/timeseries?window=1d&step=1")
    res.check("/api/v1/timeseries: too many points is a 400",
              status == 400, str(status))


def wait_stored(base, n):
    """Until the store holds n of our calls (committed every second)."""
    for _ in range(40):
        users = api_json(base, "/api/v1/users?since=1h&top=0") or {}
        mine = sum(u["requests"] for u in users.get("users", [])
                   if (u["user_id"] or "").startswith(TAG))
        if mine >= n:
            return
        time.sleep(0.25)


def main():
    res = Results()
    work = Workdir()
    mock = Mock(work)
    target = f"127.0.0.1:{free_port()}"
    base = f"http://{target}"
    tap = None
    try:
        tap = Llmtap(["run", "-o", work.file("calls.jsonl"), "--db",
                      work.file("calls.db"), "--listen", target], work,
                     "run")
        drive(Clients(work, mock))
        wait_stored(base, len(USERS) + 2)
        check_assets(res, base)
        check_series(res, base)
        check_dom(res, work, base)
        check_screenshot(res, work, base)
        check_alerts_tab(res, work, base)
    finally:
        if tap:
            rc = tap.stop()
            res.check("run exits 0 on SIGINT", rc == 0, tap.stderr())
        mock.stop()
    res.finish()


if __name__ == "__main__":
    main()
