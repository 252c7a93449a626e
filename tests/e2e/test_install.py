"""End to end: `make install DESTDIR=TMP PREFIX=/usr` lays out the
binary, man page, systemd unit and example configuration with the
right modes and keeps an existing configuration; the man page renders
and names every command and option; systemd-analyze accepts the unit;
the installed binary, started with exactly the unit's ExecStart
arguments (paths moved under TMP), writes real clients' calls, takes
SIGHUP as a reload and exits 0 on SIGTERM; `make uninstall` removes
what install put. There is no systemd as PID 1 here, so the unit is
verified, not started by systemd."""
import json
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import LLMTAP, ROOT, Mock, Results, Workdir  # noqa
from test_calls import (ANTHROPIC_STREAM, KEYS, OPENAI_BODY,  # noqa
                        Clients)

UNIT = "usr/lib/systemd/system/llmtap.service"
FILES = {  # path under DESTDIR: mode
    "usr/sbin/llmtap": 0o755,
    "usr/share/man/man8/llmtap.8": 0o644,
    UNIT: 0o644,
}
EXAMPLE = "etc/llmtap/llmtap.yaml.example"
MINE = "# the operator's own configuration\n"
# Unit keys the hardening relies on (README.md, 'Operating llmtap').
UNIT_KEYS = {
    "ExecReload": "/bin/kill -HUP $MAINPID",
    "Restart": "on-failure",
    "ProtectSystem": "strict",
    "ProtectHome": "read-only",
    "PrivateTmp": "yes",
    "NoNewPrivileges": "yes",
    "ReadWritePaths": "/var/lib/llmtap /var/log/llmtap",
}
CAPS = {"CAP_BPF", "CAP_PERFMON", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE",
        "CAP_DAC_READ_SEARCH"}
# How long we wait for the daemon's lines; not a claim about speed.
WAIT_S = 30


def make(*args):
    return subprocess.run(["make", "-s", "-C", ROOT, *args],
                          capture_output=True, text=True, timeout=300)


def unit_keys(path):
    """{key: value} of the [Service] section, backslash lines joined."""
    text = open(path).read().replace("\\\n", " ")
    out, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and line[0] != "#":
            k, v = line.split("=", 1)
            out[k] = v
    return out


def check_layout(res, dest):
    for rel, mode in FILES.items():
        p = os.path.join(dest, rel)
        got = stat.S_IMODE(os.stat(p).st_mode) if os.path.exists(p) else None
        res.check(f"installed {rel} mode {mode:o}", got == mode,
                  f"mode {got and oct(got)}")
    if os.path.exists(os.path.join(ROOT, "tools", "llmtap.example.yaml")):
        p = os.path.join(dest, EXAMPLE)
        res.check("example configuration installed beside llmtap.yaml",
                  os.path.exists(p) and
                  open(p).read() == open(os.path.join(
                      ROOT, "tools", "llmtap.example.yaml")).read(), p)
    mine = open(os.path.join(dest, "etc/llmtap/llmtap.yaml")).read()
    res.check("an existing /etc/llmtap/llmtap.yaml is kept", mine == MINE,
              mine[:80])
    keys = unit_keys(os.path.join(dest, UNIT))
    res.check("unit runs the installed /usr/sbin/llmtap",
              keys.get("ExecStart", "").startswith("/usr/sbin/llmtap run "),
              keys.get("ExecStart"))


def check_unit(res, dest):
    keys = unit_keys(os.path.join(dest, UNIT))
    for k, v in UNIT_KEYS.items():
        res.check(f"unit {k}={v}", keys.get(k) == v, str(keys.get(k)))
    for k in ("CapabilityBoundingSet", "AmbientCapabilities"):
        res.check(f"unit {k} is the capture's set",
                  set(keys.get(k, "").split()) == CAPS, keys.get(k))
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        print("systemd-analyze not installed: unit keys checked only")
        return
    # verify wants ExecStart's binary to exist: point it at our copy.
    # MANPATH lets it find Documentation=man:llmtap(8) there too.
    text = open(os.path.join(dest, UNIT)).read().replace(
        "ExecStart=/usr/sbin/llmtap", f"ExecStart={dest}/usr/sbin/llmtap")
    copy = os.path.join(dest, "llmtap.service")
    open(copy, "w").write(text)
    p = subprocess.run([analyze, "verify", copy], capture_output=True,
                       text=True, timeout=60,
                       env=dict(os.environ,
                                MANPATH=os.path.join(dest, "usr/share/man")))
    res.check("systemd-analyze verify accepts the unit",
              p.returncode == 0 and not p.stderr.strip(), p.stderr)
    os.unlink(copy)


def help_options(cmd):
    out = subprocess.run([LLMTAP, cmd, "--help"], capture_output=True,
                         text=True).stdout
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", out))


def commands():
    out = subprocess.run([LLMTAP, "--help"], capture_output=True,
                         text=True).stdout
    block = out.split("commands:", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in block.splitlines() if line.strip()]


def check_man(res, dest):
    page = os.path.join(dest, "usr/share/man/man8/llmtap.8")
    p = subprocess.run(["man", "--warnings", "-l", page],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8",
                                MANPAGER="cat", PAGER="cat"))
    res.check("man -l renders the page without warnings",
              p.returncode == 0 and "SYNOPSIS" in p.stdout and
              not p.stderr.strip(), p.stderr[:500])
    src = open(page).read().replace("\\-", "-")
    missing = []
    for cmd in commands():
        if not re.search(rf"\.SS \"?llmtap {re.escape(cmd)}\b", src):
            missing.append(cmd)
        missing += [f"{cmd} {o}" for o in sorted(help_options(cmd))
                    if o not in src]
    res.check("the man page covers every command and option",
              not missing, ", ".join(missing))


def exec_start(dest):
    """The unit's ExecStart, its absolute paths moved under dest."""
    argv = shlex.split(unit_keys(os.path.join(dest, UNIT))["ExecStart"])
    return [dest + a if a.startswith(("/usr/", "/var/", "/etc/")) else a
            for a in argv]


def wait_for(pred, proc):
    deadline = time.time() + WAIT_S
    while time.time() < deadline and proc.poll() is None:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def read_calls(path):
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.endswith("\n")]


def check_daemon(res, dest, work, mock):
    argv = exec_start(dest)
    calls = os.path.join(dest, "var/log/llmtap/calls.jsonl")
    err_path = work.file("installed.err")
    err = open(err_path, "w")
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
    try:
        res.check("installed binary starts with the unit's arguments",
                  wait_for(lambda: "info: running" in open(err_path).read(),
                           proc), open(err_path).read())
        c = Clients(work, mock)
        c.curl("curl_openai", "/v1/chat/completions", OPENAI_BODY,
               "-H", f"Authorization: Bearer {KEYS['openai']}")
        os.kill(proc.pid, signal.SIGHUP)
        c.curl("curl_anthropic", "/v1/messages", ANTHROPIC_STREAM,
               "-H", f"x-api-key: {KEYS['anthropic']}")
        pids = set(c.pids.values())
        got = lambda: [r for r in read_calls(calls)  # noqa: E731
                       if r["process"]["pid"] in pids]
        res.check("it writes each call to /var/log/llmtap/calls.jsonl",
                  wait_for(lambda: len(got()) == len(pids), proc) and
                  sorted(r["provider"] for r in got()) ==
                  ["anthropic", "openai"], str(got()))
        res.check("SIGHUP (systemctl reload) does not stop it",
                  proc.poll() is None, open(err_path).read())
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        rc = proc.wait(timeout=30)
        err.close()
    log = open(err_path).read()
    res.check("exits 0 on SIGTERM, saying it stopped",
              rc == 0 and "info: stopped" in log, f"rc {rc}: {log}")
    res.check("the store is in /var/lib/llmtap",
              os.path.exists(os.path.join(dest, "var/lib/llmtap/llmtap.db")),
              os.listdir(os.path.join(dest, "var/lib/llmtap")))


def check_uninstall(res, dest):
    p = make("uninstall", f"DESTDIR={dest}", "PREFIX=/usr")
    left = [r for r in list(FILES) + [EXAMPLE]
            if os.path.exists(os.path.join(dest, r))]
    res.check("make uninstall removes what install put", p.returncode == 0
              and not left, p.stderr + str(left))
    res.check("make uninstall keeps llmtap.yaml and the data",
              os.path.exists(os.path.join(dest, "etc/llmtap/llmtap.yaml"))
              and os.path.exists(os.path.join(dest, "var/log/llmtap",
                                              "calls.jsonl")), dest)


def main():
    res = Results()
    work = Workdir()
    dest = work.file("root")
    os.makedirs(os.path.join(dest, "etc/llmtap"))
    open(os.path.join(dest, "etc/llmtap/llmtap.yaml"), "w").write(MINE)
    p = make("install", f"DESTDIR={dest}", "PREFIX=/usr")
    if not res.check("make install DESTDIR=TMP PREFIX=/usr",
                     p.returncode == 0, p.stdout + p.stderr):
        res.finish()
    check_layout(res, dest)
    check_unit(res, dest)
    check_man(res, dest)
    mock = Mock(work)
    try:
        check_daemon(res, dest, work, mock)
    finally:
        mock.stop()
    check_uninstall(res, dest)
    res.finish()


if __name__ == "__main__":
    main()
