"""End to end: `llmtap run --db` stores every call it writes; the query
commands answer from the store exactly what the JSON lines add up to;
an agent loop without a session header comes out as one inferred
session; the store survives kill -9 and restarts without duplicates;
replaying a recording twice into a database adds nothing the second
time."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import LLMTAP, PYTHON, Llmtap, Mock, Results, Workdir  # noqa
from test_calls import KEYS, OPENAI_BODY, Clients  # noqa

# A real client keeping a growing conversation, as an agent does: each
# turn sends every earlier message plus the model's answer and a new
# question. No session header: llmtap must infer the session.
AGENT = r"""
import json, sys, httpx
url, ca, key = sys.argv[1:4]
msgs = [{"role": "system", "content": "You plan trips."}]
with httpx.Client(verify=ca) as c:
    for q in ("Where to?", "And in winter?", "Book it."):
        msgs.append({"role": "user", "content": q})
        r = c.post(url, json={"model": "gpt-4o-mini", "messages": msgs},
                   headers={"Authorization": "Bearer " + key,
                            "Helicone-User-Id": "agent-7"})
        r.raise_for_status()
        msgs.append(r.json()["choices"][0]["message"])
"""

# Flushes happen every second; this leaves room for two.
FLUSH_WAIT_S = 2.5
TOKEN_KEYS = ("input_tokens", "output_tokens", "cached_input_tokens",
              "reasoning_tokens")


def cli(*args, db):
    p = subprocess.run([LLMTAP, *args, "--db", db], capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def cli_json(*args, db):
    rc, out, err = cli(*args, "--json", db=db)
    if rc != 0:
        raise RuntimeError(f"llmtap {' '.join(args)}: {err}")
    return json.loads(out)


def drive_users(c):
    """Calls by three users, one failing, one in a declared session."""
    okey = KEYS["openai"]
    for user in ("alice", "alice", "bob"):
        c.curl(f"curl_{user}_{len(c.pids)}", "/v1/chat/completions",
               OPENAI_BODY, "-H", f"Authorization: Bearer {okey}",
               "-H", f"Helicone-User-Id: {user}")
    c.curl("curl_bob_429", "/v1/chat/completions", OPENAI_BODY,
           "-H", f"Authorization: Bearer {okey}", "-H",
           "Helicone-User-Id: bob", "-H", "x-mock-status: 429")
    c.curl("curl_carol_session", "/v1/chat/completions", OPENAI_BODY,
           "-H", f"Authorization: Bearer {okey}", "-H",
           "Helicone-User-Id: carol", "-H", "Helicone-Session-Id: s-9",
           "-H", "Helicone-Session-Path: /plan/step1")


def drive_agent(c):
    url = f"https://localhost:{c.mock.port}/v1/chat/completions"
    return c.run("agent", [PYTHON, "-c", AGENT, url, c.work.ca,
                           KEYS["openai"]])


def sums_by_user(records):
    out = {}
    for r in records:
        g = out.setdefault(r["user_id"], {"requests": 0, "errors": 0,
                                          "cost_usd": 0.0,
                                          **{k: 0 for k in TOKEN_KEYS}})
        g["requests"] += 1
        g["errors"] += r["error"] is not None
        g["cost_usd"] += r["cost_usd"] or 0.0
        for k in TOKEN_KEYS:
            g[k] += (r["usage"] or {}).get(k, 0)
    return out


def check_query(res, db, records):
    want = sums_by_user(records)
    got = {g["key"]: g for g in
           cli_json("query", "--by", "user_id", db=db)["groups"]}
    res.check("query --by user_id: the users of the JSON lines",
              set(got) == set(want), f"{sorted(got)} vs {sorted(want)}")
    for user, w in want.items():
        g = got.get(user, {})
        bad = {k: (g.get(k), v) for k, v in w.items() if k != "cost_usd"
               and g.get(k) != v}
        if abs(g.get("cost_usd", -1) - w["cost_usd"]) > 1e-12:
            bad["cost_usd"] = (g.get("cost_usd"), w["cost_usd"])
        res.check(f"query: {user}'s requests, errors, tokens, cost equal"
                  " the JSON lines' sums", not bad, str(bad))


def check_agent(res, db, records, agent_pid):
    mine = [r for r in records if r["process"]["pid"] == agent_pid]
    ids = {(r["session"] or {}).get("id") for r in mine}
    sid = next(iter(ids)) if len(ids) == 1 else None
    res.check("agent loop: 3 calls, one inferred session",
              len(mine) == 3 and sid and sid.startswith("inf-") and
              all(r["session"]["inferred"] is True for r in mine),
              str([r["session"] for r in mine]))
    others = {(r["session"] or {}).get("id") for r in records
              if r["process"]["pid"] != agent_pid}
    res.check("other processes' calls are not in the agent's session",
              sid not in others, str(others))
    declared = [r for r in records if r["user_id"] == "carol"]
    res.check("a declared session is not inferred",
              declared and declared[0]["session"]["id"] == "s-9" and
              declared[0]["session"]["inferred"] is False, str(declared))
    if not sid:
        return
    s = cli_json("session", sid, db=db)
    res.check("session ID: its 3 calls, inferred", s["requests"] == 3 and
              s["inferred"] is True and
              len(s["tree"]["calls"]) == 3, json.dumps(s)[:400])
    rc, out, _ = cli("session", sid, db=db)
    res.check("session ID prints the tree with its 3 calls", rc == 0 and
              out.count("gpt-4o-mini") == 3, out)


def check_tables(res, db):
    for args in (["query", "--by", "model"], ["calls"], ["users"],
                 ["users", "--os"], ["sessions"], ["cache"]):
        rc, out, err = cli(*args, db=db)
        res.check(f"llmtap {' '.join(args)}: a table", rc == 0 and
                  len(out.splitlines()) >= 2, err + out)
    rc, _, err = cli("query", "--since", "10x", db=db)
    res.check("a bad duration: one line, exit 2", rc == 2 and
              len(err.strip().splitlines()) == 1, err)
    rc, _, err = cli("query", db=db + ".missing")
    res.check("a missing database: a clear error", rc == 1 and
              "no database" in err, err)
    calls = cli_json("calls", "--user", "alice", db=db)
    res.check("calls --user alice: her 2 calls", calls["total"] == 2 and
              all(c["user_id"] == "alice" for c in calls["calls"]),
              str(calls)[:300])


def total(db):
    return cli_json("query", db=db)["total"]["requests"]


def lines(path):
    return [json.loads(line) for line in open(path)] \
        if os.path.exists(path) else []


def first_run(res, work, clients, db):
    """Users and the agent; returns the records written."""
    out = work.file("calls1.jsonl")
    tap = Llmtap(["run", "--db", db, "-o", out], work, "run1")
    drive_users(clients)
    drive_agent(clients)
    res.check("run 1 exits 0", tap.stop() == 0, tap.stderr())
    return lines(out)


def killed_run(res, work, clients, db):
    """More calls, then kill -9 once they had time to be flushed."""
    out = work.file("calls2.jsonl")
    tap = Llmtap(["run", "--db", db, "-o", out], work, "run2")
    for i in range(2):
        clients.curl(f"curl_after_{i}", "/v1/chat/completions",
                     OPENAI_BODY, "-H", "Helicone-User-Id: dave")
    time.sleep(FLUSH_WAIT_S)
    os.kill(tap.proc.pid, signal.SIGKILL)
    tap.proc.wait(timeout=10)
    return lines(out)


def recorded_run(res, work, clients, db):
    """A restart on the same database, with a recording beside it."""
    out, rec = work.file("calls3.jsonl"), work.file("rec.jsonl")
    tap = Llmtap(["run", "--db", db, "-o", out], work, "run3")
    recorder = Llmtap(["record", "-o", rec], work, "record")
    drive_users(clients)
    res.check("run 3 and record exit 0",
              tap.stop() == 0 and recorder.stop() == 0,
              tap.stderr() + recorder.stderr())
    return lines(out), rec


def check_replays(res, work, rec):
    db = work.file("replay.db")
    counts = []
    for _ in range(2):
        p = subprocess.run([LLMTAP, "replay", "--db", db, "-o", os.devnull,
                            rec], capture_output=True, text=True,
                           timeout=60)
        counts.append(total(db) if p.returncode == 0 else p.stderr)
    res.check("replaying a recording twice into one database: no "
              "duplicates", counts[0] == counts[1] and counts[0] >= 5,
              str(counts))


def main():
    res = Results()
    work = Workdir()
    mock = Mock(work)
    db = work.file("store/llmtap.db")
    try:
        clients = Clients(work, mock)
        rec1 = first_run(res, work, clients, db)
        check_query(res, db, rec1)
        check_agent(res, db, rec1, clients.pids.get("agent"))
        check_tables(res, db)
        rec2 = killed_run(res, work, clients, db)
        res.check("after kill -9: history kept, the new calls stored",
                  total(db) == len(rec1) + len(rec2) and len(rec2) == 2,
                  f"{total(db)} stored, {len(rec1)}+{len(rec2)} written")
        rec3, rec_path = recorded_run(res, work, clients, db)
        res.check("after a restart: every call once",
                  total(db) == len(rec1) + len(rec2) + len(rec3),
                  f"{total(db)} vs {len(rec1)}+{len(rec2)}+{len(rec3)}")
        check_query(res, db, rec1 + rec2 + rec3)
    finally:
        mock.stop()
    check_replays(res, work, rec_path)
    res.finish()


if __name__ == "__main__":
    main()
