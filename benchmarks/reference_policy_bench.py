#!/usr/bin/env python3
"""The reference's speed on the inputs `tollgate-bench policy` uses.

agent-os-kernel 3.7.0 (`pip install agent-os-kernel==3.7.0`): PolicyEvaluator.evaluate on
pre-built contexts for the tutorial's 5-rule policy and a 1,000-rule policy, and json.loads +
evaluate on wire-protocol-shaped tool calls. Prints decisions per second (best of --repeats).

Usage: python3 benchmarks/reference_policy_bench.py [--seconds 2] [--repeats 3] [--json]
"""
import argparse
import json
import logging
import os
import sys
import tempfile
import time

from agent_os.policies import PolicyEvaluator
from agent_os.policies.schema import PolicyDocument

logging.disable(logging.CRITICAL)

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = os.path.join(HERE, "..", "policies", "approval-workflow.yaml")
SEED_TOOLS = ["search_documents", "write_file", "delete_database", "transfer_funds", "send_email"]


def large_policy(rules):
    """Same text as BenchPolicies.largePolicy in Sources/tollgate-bench/PolicyBench.swift."""
    text = 'version: "1.0"\nname: large-policy\nrules:\n'
    for i in range(rules):
        text += ("  - name: rule-%d\n    condition:\n      field: tool_name\n      operator: eq\n"
                 "      value: tool-%d\n    action: %s\n    priority: %d\n    message: \"rule %d\"\n"
                 % (i, i, "deny" if i % 3 == 0 else "allow", i % 100, i))
    return text + "defaults:\n  action: allow\n"


def large_tools(rules):
    return ["unknown-tool" if k == 15 else "tool-%d" % ((k * 997) % rules) for k in range(16)]


def message(tool):
    return ('{"agent_id":"finance-agent","tool_name":"%s","arguments":{"amount":5000,"to":"vendor-123"},'
            '"reason":"Agent wants to transfer $5,000 to vendor account",'
            '"context":{"environment":"production","session_id":"s-42"}}' % tool)


def rate(fn, items, seconds, repeats):
    best = 0.0
    for _ in range(repeats):
        n = 0
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            for item in items:
                fn(item)
            n += len(items)
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, n / (now - start))
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="print one JSON object (decisions per second by figure)")
    args = ap.parse_args()

    seed = PolicyEvaluator(policies=[PolicyDocument.from_yaml(SEED)])
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(large_policy(1000))
    large = PolicyEvaluator(policies=[PolicyDocument.from_yaml(f.name)])
    os.unlink(f.name)

    def ctx(tool):
        return {"tool_name": tool, "agent_id": "finance-agent", "environment": "production"}

    seed_ctx = [ctx(t) for t in SEED_TOOLS]
    large_ctx = [ctx(t) for t in large_tools(1000)]
    if not args.json:
        print("python %s, agent-os reference, best of %d x %.1fs" % (sys.version.split()[0], args.repeats, args.seconds))
    figures = [
        ("seed_evaluate", "seed policy (5 rules), evaluate", rate(seed.evaluate, seed_ctx, args.seconds, args.repeats)),
        ("large_evaluate", "1,000-rule policy, evaluate", rate(large.evaluate, large_ctx, args.seconds, args.repeats)),
        ("seed_parse_evaluate", "seed policy, JSON parse + evaluate",
         rate(lambda m: seed.evaluate(json.loads(m)), [message(t) for t in SEED_TOOLS], args.seconds, args.repeats)),
        ("large_parse_evaluate", "1,000-rule policy, JSON parse + evaluate",
         rate(lambda m: large.evaluate(json.loads(m)), [message(t) for t in large_tools(1000)], args.seconds, args.repeats)),
    ]
    if args.json:
        from importlib.metadata import version
        print(json.dumps({
            "benchmark": "reference_policy", "python": sys.version.split()[0],
            "agent_os_kernel": version("agent-os-kernel"), "seconds": args.seconds, "repeats": args.repeats,
            "decisions_per_second": {key: round(per_second) for key, _, per_second in figures},
        }, sort_keys=True))
        return
    for _, name, per_second in figures:
        print("%-42s %12.0f decisions/s  (%.1f us each)" % (name, per_second, 1e6 / per_second))

if __name__ == "__main__":
    main()
