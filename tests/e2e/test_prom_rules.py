"""The Prometheus alerting rules in tools/prometheus: promtool accepts
them, their unit tests pass, and those tests notice a rule that is
wrong (a threshold moved, a minimum-count guard removed), so passing
means something. No BPF here; promtool only."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from lib import ROOT, Results  # noqa

PROMTOOL = "/usr/bin/promtool"
RULES_DIR = os.path.join(ROOT, "tools", "prometheus")
RULES = "llmtap-alerts.yml"
TESTS = "llmtap-alerts.test.yml"
ALERTS = ("LLMProductionErrorRate", "LLMProductionCostSpike",
          "LLMHighLatency")

# Edits that break one rule each; the unit tests must then fail.
MUTANTS = {
    "error rate threshold 5% -> 50%": (") > 0.05", ") > 0.5"),
    "error rate without its 10-call minimum": (
        "increase(llmtap_requests_total{environment=\"production\"}[10m]))"
        "\n            >= 10", "increase(llmtap_requests_total{environment"
        "=\"production\"}[10m]))\n            >= 0"),
    "cost threshold $100 -> $1000": ("> 100\n", "> 1000\n"),
    "cost ignores the environment": (
        "llmtap_cost_usd_total{environment=\"production\"}",
        "llmtap_cost_usd_total"),
    "latency p95 -> p50": ("histogram_quantile(0.95,",
                           "histogram_quantile(0.5,"),
    "latency without its 20-call minimum": (">= 20", ">= 0"),
}


def promtool(*args, cwd=RULES_DIR):
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def check_rules(res):
    p = promtool("check", "rules", RULES)
    res.check("promtool check rules", p.returncode == 0 and
              "SUCCESS: 3 rules found" in p.stdout, p.stdout + p.stderr)
    text = open(os.path.join(RULES_DIR, RULES)).read()
    res.check("the three playbook alerts are defined",
              all(f"alert: {a}" in text for a in ALERTS), text[:200])
    tests = open(os.path.join(RULES_DIR, TESTS)).read()
    for a in ALERTS:
        res.check(f"{a}: tested firing and quiet",
                  f"alertname: {a}\n        exp_alerts:\n          - " in
                  tests and
                  f"alertname: {a}\n        exp_alerts: []" in tests, a)


def check_unit_tests(res):
    p = promtool("test", "rules", TESTS)
    res.check("promtool test rules passes", p.returncode == 0 and
              "SUCCESS" in p.stdout, p.stdout + p.stderr)


def check_mutants(res):
    text = open(os.path.join(RULES_DIR, RULES)).read()
    for name, (old, new) in MUTANTS.items():
        if not res.check(f"mutant '{name}' applies", text.count(old) == 1,
                         f"{text.count(old)} matches of {old!r}"):
            continue
        tmp = tempfile.mkdtemp(prefix="llmtap-rules-")
        try:
            with open(os.path.join(tmp, RULES), "w") as f:
                f.write(text.replace(old, new))
            shutil.copy(os.path.join(RULES_DIR, TESTS), tmp)
            p = promtool("test", "rules", TESTS, cwd=tmp)
            res.check(f"mutant '{name}' is caught", p.returncode != 0,
                      p.stdout)
        finally:
            shutil.rmtree(tmp, True)


def main():
    res = Results()
    if not res.check("promtool is installed", os.access(PROMTOOL, os.X_OK),
                     "apt-get install prometheus"):
        res.finish()
    check_rules(res)
    check_unit_tests(res)
    check_mutants(res)
    res.finish()


if __name__ == "__main__":
    main()
