#!/usr/bin/env python3
"""Random plain YAML scalars and what PyYAML's safe_load makes of them.

Writes Tests/TollgatePolicyTests/Fixtures/compat/yaml-scalars.json: a list of [text, repr]
where repr is `repr(yaml.safe_load("v: " + text)["v"])`, or "ERROR" when PyYAML raises.
`YAMLScalarTests.randomScalarsLoadAsPyYAML` checks Tollgate's resolver against it.

Usage: gen_yaml_scalars.py [--seed N] [--count N] [--out FILE]
"""
import argparse
import json
import os
import random

import yaml

PIECES = list("0123456789") * 3 + list("+-._:eExXbBoO ") + [
    "inf", "nan", "Inf", "NaN", "yes", "no", "on", "off", "true", "null", "~", "T", "Z", "t", "0x", "0b", "0o",
    "-", "2024-01-01", " 10:00:00", "1:", "::"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "TollgatePolicyTests",
                                                  "Fixtures", "compat", "yaml-scalars.json"))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    seen, cases = set(), []
    for _ in range(args.count):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 6))).strip()
        if not text or text in seen:
            continue
        seen.add(text)
        try:
            loaded = yaml.safe_load("v: " + text)
            if not isinstance(loaded, dict) or "v" not in loaded:
                continue
            cases.append([text, repr(loaded["v"])])
        except Exception:
            cases.append([text, "ERROR"])
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, indent=0)
    print("wrote %d scalars to %s" % (len(cases), args.out))


if __name__ == "__main__":
    main()
