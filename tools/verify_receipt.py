#!/usr/bin/env python3
"""Verify a Tollgate receipt before running a tool (docs/wire-protocol.md, "Receipts").

    pip install cryptography rfc8785
    python3 verify_receipt.py --public-key receipts.key.pub --agent finance-agent \
        --tool transfer_funds --arguments '{"amount": 5000}' --consumed used.sqlite < decision.json

As a library: `verify(decision_or_receipt, public_key_pem, action=(agent, tool, arguments),
policy_version=None, consumed=None, now=None)` returns (True, request_id) or (False, reason):
bad_signature, expired, action_digest_mismatch, policy_version_mismatch, already_consumed,
not_allowed, malformed.
"""

import argparse
import base64
import datetime
import hashlib
import json
import sqlite3
import sys

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import load_pem_public_key


def action_digest(agent_id, tool_name, arguments):
    """sha256: and the hex SHA-256 of the RFC 8785 form of the action."""
    action = {"agent_id": agent_id, "tool_name": tool_name, "arguments": arguments}
    return "sha256:" + hashlib.sha256(rfc8785.dumps(action)).hexdigest()


class Consumed:
    """Request ids already used, in SQLite: a receipt is good once."""

    def __init__(self, path):
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS consumed (request_id TEXT PRIMARY KEY, at TEXT NOT NULL)")

    def take(self, request_id):
        try:
            with self.db:
                self.db.execute("INSERT INTO consumed VALUES (?, ?)",
                                (request_id, datetime.datetime.now(datetime.timezone.utc).isoformat()))
            return True
        except sqlite3.IntegrityError:
            return False


def _time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def verify(document, public_key_pem, action=None, policy_version=None, consumed=None, now=None):
    receipt = document.get("receipt", document)
    claims, signature = receipt.get("claims"), receipt.get("signature")
    if not isinstance(claims, dict) or not isinstance(signature, str):
        return False, "malformed"
    key = load_pem_public_key(public_key_pem)
    try:
        key.verify(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)), rfc8785.dumps(claims))
    except (InvalidSignature, ValueError):
        return False, "bad_signature"
    if claims.get("decision") != "allow":
        return False, "not_allowed"
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if now >= _time(claims["expires_at"]):
        return False, "expired"
    if action is not None and claims.get("action_digest") != action_digest(*action):
        return False, "action_digest_mismatch"
    if policy_version is not None and claims.get("policy_version") != policy_version:
        return False, "policy_version_mismatch"
    if consumed is not None and not consumed.take(claims["request_id"]):
        return False, "already_consumed"
    return True, claims["request_id"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--public-key", required=True)
    p.add_argument("--agent")
    p.add_argument("--tool")
    p.add_argument("--arguments", default="{}")
    p.add_argument("--policy-version")
    p.add_argument("--consumed", help="SQLite file of used request ids")
    a = p.parse_args()
    text = sys.stdin.read()
    # One decision per line (tollgate call --json): the last one with a receipt.
    docs = [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]
    docs = [d for d in docs if "receipt" in d or "claims" in d] or [json.loads(text)]
    action = (a.agent, a.tool, json.loads(a.arguments)) if a.agent and a.tool else None
    ok, detail = verify(docs[-1], open(a.public_key, "rb").read(), action, a.policy_version,
                        Consumed(a.consumed) if a.consumed else None)
    print(("ok " if ok else "") + detail)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
