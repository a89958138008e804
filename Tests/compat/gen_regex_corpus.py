#!/usr/bin/env python3
"""Random Python regular expressions and what CPython's `re` does with them.

Writes Tests/TollgatePolicyTests/Fixtures/compat/regex.json: a list of
{"pattern", "accepted", "repeated_lookaround", "texts", "found"} where `accepted` is whether
re.compile accepts the pattern and `found[i]` is `re.search(pattern, texts[i]) is not None`.
`PythonRegexCorpusTests` checks that Tollgate rejects what Python rejects, and finds what Python
finds for the rest (patterns that repeat a lookaround, which Python accepts, are refused by
Tollgate: see docs/policy-format.md).

Usage: gen_regex_corpus.py [--seed N] [--count N] [--out FILE]
"""
import argparse
import json
import os
import random
import re
import warnings

warnings.simplefilter("ignore")  # FutureWarning: possible nested set

ATOMS = ["a", "b", "c", ".", r"\d", r"\w", r"\s", r"\W", r"\S", r"\D", "[ab]", "[^a]", "[a-c]", "(a|b)", "(?:ab)",
         "^", "$", r"\b", r"\B", r"\Z", r"\A", "é", "_", "-", "1", r"\.", "x{2}", "{", "}", "(?i)", r"[\]]",
         "(?P<g>a)", r"\n", " ", "(?=a)", "(?<=a)", "(?!b)", "(?<!a)", "[[]", "(", ")", "|", "*", r"\1", "(?P=g)",
         "(?s)", "(?m)", "[é-ü]", r"\x41", r"\u00e9", "(?>a+)", "[\\w-]", "(?i:B)", "ß", r"\\"]
QUANTS = ["", "", "", "*", "+", "?", "{1,2}", "*?", "+?", "{2}", "{,2}", "*+", "{3,}"]
TEXTS = ["", "a", "ab", "abc", "aab\n", "A", "é", "a b", "1a", "x\ny", "bb", "a.b", "__", "ÉA", "{}", "]", "a\n",
         "ss", "SS", "ß", "AB", "\u2028", "x\r", "a1_", "-", "[", "\\", "Ä", "aaa"]
# A lookaround followed by a repeat (the repeat may come from the next atom, e.g. "*").
REPEATED_LOOKAROUND = re.compile(r"\(\?<?[=!][ab]\)(?:[*+?]|\{(?:\d+(?:,\d*)?|,\d*)\})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--count", type=int, default=4000)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "TollgatePolicyTests",
                                                  "Fixtures", "compat", "regex.json"))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    cases = []
    for _ in range(args.count):
        parts = [(rng.choice(ATOMS), rng.choice(QUANTS)) for _ in range(rng.randint(1, 5))]
        pattern = "".join(a + q for a, q in parts)
        repeated_lookaround = REPEATED_LOOKAROUND.search(pattern) is not None
        try:
            compiled = re.compile(pattern)
        except (re.error, OverflowError, RecursionError):
            cases.append({"pattern": pattern, "accepted": False})
            continue
        texts = rng.sample(TEXTS, 8)
        cases.append({"pattern": pattern, "accepted": True, "repeated_lookaround": repeated_lookaround,
                      "texts": texts, "found": [compiled.search(t) is not None for t in texts]})
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, indent=0)
    print("wrote %d patterns (%d accepted by Python) to %s"
          % (len(cases), sum(c["accepted"] for c in cases), args.out))


if __name__ == "__main__":
    main()
