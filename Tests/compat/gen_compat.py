#!/usr/bin/env python3
"""Differential corpus for Tollgate's policy engine.

Generates random agent-os policies (YAML text, written by hand here so that PyYAML's YAML 1.1
scalar spellings get exercised) and random JSON contexts, decides every context with the
reference (agent_os.policies.PolicyEvaluator, agent-os-kernel 3.7.0) and writes one JSON line
per policy set:

    {"id": N, "policies": ["<yaml>", ...], "contexts": [{...}, ...],
     "expected": [{"allowed", "action", "rule", "reason", "decision"}, ...]}

`decision` is the tutorial's routing: allow when allowed, escalate when the reason contains
"requires human approval" (any case), else deny.

Usage: gen_compat.py [--seed N] [--sets N] [--contexts N] [--out FILE] [--without-defaults-action]
The Swift test `CompatCorpusTests` replays the stored corpus
(Tests/TollgatePolicyTests/Fixtures/compat/corpus.jsonl); with TOLLGATE_REFERENCE=1 it runs
this script with a fresh seed and replays that too. The stored corpus is made with the defaults
under agent-os-kernel 3.7.0 (`pip install agent-os-kernel==3.7.0 pyyaml`):

    python3 Tests/compat/gen_compat.py

--without-defaults-action: the first document never writes `defaults.action` (the others skip it
half the time; `max_tool_calls`, `max_tokens`, `confidence_threshold`, `network_default` or
`defaults: {}` may still appear), so every unmatched call takes the evaluator's built-in default,
and each line gets a top-level "reference" naming the distribution that decided it (e.g.
"agent-governance-toolkit-core 5.0.0"). It writes corpus-agent-os-5.jsonl unless --out says
otherwise. Without the option the output is byte-for-byte what it always was. The stored
agent-os 5 corpus was made under `agent-governance-toolkit-core==5.0.0` (same `agent_os` module;
unmatched calls with no `defaults.action` are denied there, allowed in 3.7.0) with:

    .build/aos5-venv/bin/python Tests/compat/gen_compat.py --seed 20265000 --without-defaults-action \
        --out Tests/TollgatePolicyTests/Fixtures/compat/corpus-agent-os-5.jsonl

Tests/compat/check_agent_os_5.sh makes that venv if missing, regenerates it and diffs.
"""
import argparse
import warnings
import datetime
import json
import logging
import os
import random
import re
import sys
import tempfile

import yaml
warnings.filterwarnings("ignore", message="agent-os-kernel is deprecated", category=DeprecationWarning)
from agent_os.policies import PolicyEvaluator  # noqa: E402
from agent_os.policies.schema import PolicyDocument  # noqa: E402

logging.disable(logging.CRITICAL)  # the evaluator logs every fail-closed error
warnings.simplefilter("ignore", FutureWarning)  # re: "Possible nested set" for patterns like "[[]"

STRINGS = [
    "send_email", "transfer_funds", "delete_database", "search_documents", "write_file", "",
    "a", "A", "ab", "abc", "abd", "b", "é", "e\u0301", "日本語", "😀", "True", "None", "1", "1.0",
    "yes", "null", "x y", "it's", 'say "hi"', "tab\there", "new\nline", "back\\slash",
    "production", "development", "staging", "ADMIN", "admin", "ümlaut", "\u00a0nbsp", "z", "Z",
]
INTS = [0, 1, -1, 2, 3, 5, 7, 10, 42, 100, 1000, 10000, -273, 2**53, 2**53 + 1, 2**63 - 1, -2**63, 9007199254740993]
FLOATS = [0.0, -0.0, 0.5, 1.0, 1.5, -2.5, 2.0, 10.0, 1e16, 1e-5, 123.456, 2.0**53, 9007199254740992.0,
          1e300, 0.1, 99.99, 1e15, 0.0001, 12345678901234567890.0]
POLICY_ONLY_FLOATS = [float("inf"), float("-inf"), float("nan")]
DATES = [datetime.date(2024, 1, 1), datetime.date(1999, 12, 31)]
# "a.b": a dotted name whose literal key every context has (agent-os reads only the literal key;
# Tollgate walks the path only when the literal key is absent, tested separately).
FIELDS = ["tool_name", "amount", "environment", "tags", "user", "meta", "score", "flag", "count", "note", "a.b", "absent"]
PATTERNS = [
    "^send_", "_funds$", r"\d+", "^[a-z]+_[a-z]+$", "(?i)DELETE", "a|b", "x{2,3}", "^$", r"\bfoo\b",
    "[^a-z_]", ".*", r"\s", "é", r"\w+@\w+\.com", r"^\[", r"1\.0", "True", "None", r"^\{'", "(?P<n>a)(?P=n)",
    r"a\Z", "^ab?c", "data", "(?i)^(send|write)_", r"\.", "[0-9]{2,}", "^-", "e$", "^.$", "(?s)a.b",
    "[[]", "a{", "{}", r"\W", "^[^\\n]*$", "(?:ab)+", "(a)(b)?", "[A-Z]", "(?x) a b # comment", "Ü",
    r"\$", "^(?!send)", "(?<=_)e", "[é-ü]", "2024", "inf", "1e", "[1, 2]", "(?i)straße", r"\d{2}\Z",
    r"^\w+$", "(?m)^b", r"[\s\S]", "a{,2}", r"(\w)\1", "None$", "^$|^a", r"\\", "(?i:A)b", "[^]a]",
]
MESSAGES = ["", "", "Blocked by policy", "Sensitive: requires human approval", "REQUIRES HUMAN APPROVAL now",
            "allowed", "audit trail", "Requires Human Approval", "requires human  approval", "ok ✅"]


def rand_scalar(rng, policy_side):
    kind = rng.random()
    if kind < 0.35:
        return rng.choice(STRINGS)
    if kind < 0.55:
        return rng.choice(INTS)
    if kind < 0.72:
        pool = FLOATS + (POLICY_ONLY_FLOATS if policy_side else [])
        return rng.choice(pool)
    if kind < 0.85:
        return rng.choice([True, False])
    if kind < 0.93:
        return None
    return rng.choice(DATES) if policy_side else rng.choice(STRINGS)


def rand_value(rng, policy_side, depth=0):
    r = rng.random()
    if depth < 2 and r < 0.15:
        return [rand_value(rng, policy_side, depth + 1) for _ in range(rng.randint(0, 3))]
    if depth < 2 and r < 0.22:
        d = {}
        for _ in range(rng.randint(0, 3)):
            key = rng.choice(STRINGS[:12]) if (not policy_side or rng.random() < 0.8) else rng.choice([1, 2, True, 0.5])
            if any(k == key for k in d):
                continue
            d[key] = rand_value(rng, policy_side, depth + 1)
        return d
    return rand_scalar(rng, policy_side)


# -- YAML spellings -------------------------------------------------------------------------

PLAIN_SAFE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*( [A-Za-z0-9_]+)*$")


def emit_int(rng, v):
    choices = [str(v)]
    if v >= 0:
        choices += ["+%d" % v, hex(v), "0b" + bin(v)[2:]]
        if v > 0:
            choices += ["0" + oct(v)[2:]]
        if 60 <= v < 10**6:
            choices += ["%d:%02d" % (v // 60, v % 60)]
        if v >= 1000:
            s = str(v)
            choices += [s[:-3] + "_" + s[-3:]]
    else:
        choices += ["-" + hex(-v)]
    return rng.choice(choices)


def emit_float(rng, v):
    if v != v:
        return rng.choice([".nan", ".NaN", ".NAN"])
    if v in (float("inf"), float("-inf")):
        return ("-" if v < 0 else rng.choice(["", "+"])) + rng.choice([".inf", ".Inf", ".INF"])
    r = repr(v)
    if "e" in r:
        mant, exp = r.split("e")
        if "." not in mant:
            mant += ".0"
        if exp[0] not in "+-":
            exp = "+" + exp
        return mant + rng.choice(["e", "E"]) + exp
    if rng.random() < 0.2 and r.startswith("0."):
        return r[1:]  # .5
    return r


def emit_str(rng, s):
    loaded = None
    if PLAIN_SAFE.match(s) and rng.random() < 0.6:
        try:
            loaded = yaml.safe_load("v: " + s)["v"]
        except Exception:
            loaded = None
        if loaded == s and isinstance(loaded, str):
            return s
    if rng.random() < 0.3 and "'" not in s and "\n" not in s and "\t" not in s and "\\" not in s:
        return "'" + s + "'"
    # Astral characters stay raw: PyYAML turns "\\ud83d\\ude00" into two lone surrogates,
    # which libyaml (and so Tollgate) rejects; see docs/policy-format.md.
    ascii_only = rng.random() < 0.5 and all(ord(c) < 0x10000 for c in s)
    return json.dumps(s, ensure_ascii=ascii_only)


def emit(rng, v):
    if v is None:
        return rng.choice(["null", "~", "Null", "NULL"])
    if v is True:
        return rng.choice(["true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"])
    if v is False:
        return rng.choice(["false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"])
    if isinstance(v, int):
        return emit_int(rng, v)
    if isinstance(v, float):
        return emit_float(rng, v)
    if isinstance(v, str):
        return emit_str(rng, v)
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(emit(rng, x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(emit(rng, k) + ": " + emit(rng, x) for k, x in v.items()) + "}"
    raise TypeError(v)


# -- Policies -------------------------------------------------------------------------------

def rand_condition_value(rng, op, field):
    if op in ("in", "not_in"):
        r = rng.random()
        if r < 0.6:
            items = [rand_value(rng, True, 1) for _ in range(rng.randint(0, 4))]
            if rng.random() < 0.6:
                items += rng.sample(STRINGS, 2)
            return items
        if r < 0.85:
            return rng.choice(STRINGS)
        return {rng.choice(STRINGS[:12]): 1, rng.choice(INTS[:6]): "x"}
    if op in ("gt", "lt", "gte", "lte"):
        while True:
            v = typed_value(rng, field, True)
            if v is None or isinstance(v, (dict, datetime.date)):
                continue
            return v
    if op == "matches":
        r = rng.random()
        if r < 0.8:
            return rng.choice(PATTERNS)
        return rng.choice([5, 1.0, True, None, ["a"], "1"])
    if op in ("eq", "ne") and rng.random() < 0.6:
        return typed_value(rng, field, True)
    return rand_value(rng, True)


def rand_policy(rng, doc_index, shared_names, defaults_action=True):
    """defaults_action=False: never write `defaults.action` (other defaults keys may appear)."""
    lines = ['version: "%s"' % rng.choice(["1.0", "2.0", "1.1"]), "name: doc-%d" % doc_index]
    if rng.random() < 0.3:
        lines.append("description: random policy")
    if rng.random() < 0.2:
        lines.append("inherit: %s" % rng.choice(["true", "no", "'yes'"]))
    if rng.random() < 0.2:
        lines.append("tool_allowlist: [send_email, 'x']")
    if rng.random() < 0.1:
        lines.append("scope: 'src/**'")
    nrules = rng.randint(0, 7)
    if nrules == 0 and rng.random() < 0.5:
        lines.append("rules: []")
    elif nrules:
        lines.append("rules:")
    names = set()
    for i in range(nrules):
        name = rng.choice(shared_names) if rng.random() < 0.2 else "rule-%d-%d" % (doc_index, i)
        if name in names:
            name = "rule-%d-%d" % (doc_index, i)
        names.add(name)
        op = rng.choice(["eq", "eq", "eq", "ne", "gt", "lt", "gte", "lte", "in", "not_in", "contains", "matches"])
        field = rng.choice(FIELDS)
        value = rand_condition_value(rng, op, field)
        lines.append("  - name: %s" % name)
        lines.append("    condition:")
        lines.append("      field: %s" % field)
        lines.append("      operator: %s" % op)
        if value is None and rng.random() < 0.3:
            lines.append("      value:")
        else:
            lines.append("      value: %s" % emit(rng, value))
        lines.append("    action: %s" % rng.choice(["allow", "deny", "audit", "block"]))
        r = rng.random()
        if r < 0.75:
            prio = rng.choice([0, 1, 5, 5, 10, 50, 90, 100, -1])
            spelled = rng.choice([str(prio), str(prio), '"%d"' % prio, "%d.0" % prio])
            lines.append("    priority: %s" % spelled)
        if rng.random() < 0.1:
            lines.append("    override: %s" % rng.choice(["true", "false", "1"]))
        message = rng.choice(MESSAGES)
        if message or rng.random() < 0.5:
            lines.append("    message: %s" % json.dumps(message, ensure_ascii=False))
    if not defaults_action:
        # Only reached with --without-defaults-action, so the default stream of draws is untouched.
        r = rng.random()
        if r < 0.15:
            lines.append("defaults: {}")
        elif r < 0.75:
            lines.append("defaults:")
            keys = rng.sample(["max_tool_calls", "max_tokens", "confidence_threshold", "network_default"],
                              rng.randint(1, 3))
            for key in keys:
                if key == "max_tool_calls":
                    lines.append("  max_tool_calls: %d" % rng.randint(1, 50))
                elif key == "max_tokens":
                    lines.append("  max_tokens: %d" % rng.choice([256, 4096, 100000]))
                elif key == "confidence_threshold":
                    lines.append("  confidence_threshold: %s" % rng.choice(["0.5", "0.8", "1", "0.95"]))
                else:
                    lines.append("  network_default: %s" % rng.choice(["allow", "deny"]))
        return "\n".join(lines) + "\n"
    if rng.random() < 0.8:
        lines.append("defaults:")
        lines.append("  action: %s" % rng.choice(["allow", "deny", "audit", "block"]))
        if rng.random() < 0.5:
            lines.append("  max_tool_calls: %d" % rng.randint(1, 50))
    return "\n".join(lines) + "\n"


def typed_value(rng, field, policy_side):
    """Mostly the type a field usually has (so rules often match), sometimes anything."""
    if rng.random() < 0.25:
        return rand_value(rng, policy_side)
    if field in ("amount", "score", "count"):
        return rng.choice(INTS + FLOATS[:12] + [True, False])
    if field in ("tool_name", "environment", "user", "note"):
        return rng.choice(STRINGS)
    if field == "tags":
        return [rng.choice(STRINGS) for _ in range(rng.randint(0, 3))]
    if field == "meta":
        return {rng.choice(STRINGS[:12]): rand_scalar(rng, False) for _ in range(rng.randint(0, 3))}
    if field == "flag":
        return rng.choice([True, False, 0, 1])
    return rand_value(rng, policy_side)


def rand_context(rng):
    ctx = {}
    for field in FIELDS[:-1]:
        if rng.random() < 0.5:
            ctx[field] = typed_value(rng, field, False)
    if rng.random() < 0.7:
        ctx["tool_name"] = rng.choice(STRINGS[:8])
    ctx["a.b"] = typed_value(rng, "a.b", False) if rng.random() < 0.8 else None
    return ctx


def decide(docs, ctx):
    d = PolicyEvaluator(policies=docs).evaluate(ctx)
    if d.allowed:
        routed = "allow"
    elif "requires human approval" in d.reason.lower():
        routed = "escalate"
    else:
        routed = "deny"
    return {"allowed": d.allowed, "action": d.action, "rule": d.matched_rule, "reason": d.reason, "decision": routed}


def reference_label():
    """The distribution that installed agent_os, e.g. "agent-governance-toolkit-core 5.0.0"."""
    from importlib import metadata
    for dist in ("agent-governance-toolkit-core", "agent-os-kernel"):
        try:
            return "%s %s" % (dist, metadata.version(dist))
        except metadata.PackageNotFoundError:
            pass
    return "agent_os (unknown distribution)"


def load(texts, tmp):
    docs = []
    for i, text in enumerate(texts):
        path = os.path.join(tmp, "p%d.yaml" % i)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        docs.append(PolicyDocument.from_yaml(path))
    return docs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--sets", type=int, default=500)
    ap.add_argument("--contexts", type=int, default=16)
    ap.add_argument("--out", default=None,
                    help="default: Fixtures/compat/corpus.jsonl, or corpus-agent-os-5.jsonl with --without-defaults-action")
    ap.add_argument("--without-defaults-action", action="store_true",
                    help="the first document never writes defaults.action (the others skip it half the time); "
                         "every line records the reference that decided it")
    args = ap.parse_args()
    if args.out is None:
        args.out = os.path.join(os.path.dirname(__file__), "..", "TollgatePolicyTests", "Fixtures", "compat",
                                "corpus-agent-os-5.jsonl" if args.without_defaults_action else "corpus.jsonl")
    label = reference_label() if args.without_defaults_action else None
    rng = random.Random(args.seed)
    written = skipped = cases = 0
    with tempfile.TemporaryDirectory() as tmp, open(args.out, "w", encoding="utf-8") as out:
        for set_id in range(args.sets):
            shared = ["shared-%d" % k for k in range(3)]
            ndocs = rng.choice([1, 1, 1, 2, 2, 3])
            if label is None:
                texts = [rand_policy(rng, d, shared) for d in range(ndocs)]
            else:
                texts = [rand_policy(rng, d, shared, defaults_action=d > 0 and rng.random() < 0.5)
                         for d in range(ndocs)]
            try:
                docs = load(texts, tmp)
            except Exception:
                skipped += 1
                continue
            contexts = [json.loads(json.dumps(rand_context(rng))) for _ in range(args.contexts)]
            expected = [decide(docs, c) for c in contexts]
            line = {"id": set_id, "policies": texts, "contexts": contexts, "expected": expected}
            if label is not None:
                line["reference"] = label
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            written += 1
            cases += len(contexts)
    print("wrote %d policy sets, %d cases (%d sets skipped: the reference rejected them) to %s"
          % (written, cases, skipped, args.out), file=sys.stderr)


if __name__ == "__main__":
    main()
