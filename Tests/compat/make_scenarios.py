#!/usr/bin/env python3
"""Writes a Tollgate scenario file whose expectations are the reference's answers.

Usage: make_scenarios.py POLICY... --contexts contexts.json > scenarios.yaml
contexts.json: a JSON list of {"name": ..., "context": {...}}. For each, agent-os 3.7.0
(PolicyEvaluator over the policies, in order) gives expected_action, expected_allowed,
expected_rule, and the tutorial's routing gives expected_decision (escalate when not allowed
and the reason contains "requires human approval").
"""
import argparse
import json
import logging
import sys

from agent_os.policies import PolicyEvaluator
from agent_os.policies.schema import PolicyDocument

logging.disable(logging.CRITICAL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("policies", nargs="+")
    ap.add_argument("--contexts", required=True)
    ap.add_argument("--header", default="")
    args = ap.parse_args()
    evaluator = PolicyEvaluator(policies=[PolicyDocument.from_yaml(p) for p in args.policies])
    with open(args.contexts, encoding="utf-8") as f:
        cases = json.load(f)
    out = []
    if args.header:
        out += ["# " + line for line in args.header.splitlines()]
    out.append("# Expectations produced by agent-os-kernel 3.7.0 (Tests/compat/make_scenarios.py).")
    out.append("scenarios:")
    for case in cases:
        d = evaluator.evaluate(case["context"])
        routed = "allow" if d.allowed else ("escalate" if "requires human approval" in d.reason.lower() else "deny")
        out.append("  - name: %s" % case["name"])
        out.append("    context: %s" % json.dumps(case["context"], ensure_ascii=False))
        out.append("    expected_action: %s" % d.action)
        out.append("    expected_allowed: %s" % ("true" if d.allowed else "false"))
        out.append("    expected_decision: %s" % routed)
        out.append("    expected_rule: %s" % (d.matched_rule if d.matched_rule is not None else "null"))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
