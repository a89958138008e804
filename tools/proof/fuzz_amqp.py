#!/usr/bin/env python3
"""AMQP-level fuzzer for `tollgate worker`: malformed input at scale (issue 12, item 3).

It starts a worker of its own (a unique --prefix, its own database, policies/examples/payments.yaml,
a small --max-message-bytes), then publishes a seeded random mix of good and bad tool calls to
<prefix>.toolcalls and of bad (and a few good) votes to <prefix>.approvals, with odd AMQP
properties, and checks what comes back against docs/wire-protocol.md:

  * a good call is decided as the policy says (the expected decision is computed here, in Python,
    from the call as Python's json module reads it), on its reply_to and on <prefix>.decisions,
    and is never dead-lettered;
  * a bad call (and a good body published with a routing key other than its agent_id) is answered
    deny / final / resolution invalid with a reason, and dead-lettered to <prefix>.dead with
    header x-tollgate-error;
  * a malformed vote is answered accepted:false and dead-lettered; a well-formed vote that cannot
    count (no user_id, unknown request) is answered accepted:false and not dead-lettered
    ("Votes" in the protocol); a few escalations are voted on for real (approve, deny, quorums,
    refused voters) and must end with the final decision the votes give;
  * nothing is answered twice with different content, every dead letter carries x-tollgate-error,
    and the worker is alive (and /readyz answers 200) at the end, having reconnected at most once per forged direct
    reply-to address (the poison phase below) and never otherwise.

Two phases follow the mix. "poison" publishes calls whose reply_to is a forged direct reply-to
address (amq.rabbitmq.reply-to.<base64>.<x>; RabbitMQ 3.10 answers a publish to one with 541
INTERNAL_ERROR and closes the publisher's connection), each followed by good calls: the forged
call must still be decided (on the feed) without costing the others their answers. "recovery"
then checks that fresh calls are answered. --skip-poison leaves both out.

Observed but not failed (listed under "observations"): what comes back for properties that are
not UTF-8 (AMQP short strings should be), a body with a UTF-8 byte order mark (RFC 8259 lets a
parser refuse or ignore it), and two calls whose message_ids differ only in bytes that are not
UTF-8.

Whether the expectation of each message is right is decided in one place, `expect_call` and
`expect_vote` (the oracles); every generator also states what it means to send (good or bad),
and the two must agree, so a generator cannot silently send something else.

Run (from the repository root; needs the broker, users manager@corp.com, cfo@corp.com,
compliance@corp.com, finance-agent with password 'secret', and a built binary):

  .build/proof-venv/bin/python tools/proof/fuzz_amqp.py --short               # ~300 messages, CI
  .build/proof-venv/bin/python tools/proof/fuzz_amqp.py --messages 2000 --seed 7 --json fuzz.json

Exit status: 0 when every failure count is 0; 1 when some is not; 2 when the run could not be set
up (no broker, no binary, the worker did not become ready). Only pika and the standard library.

What pika 1.3 cannot send, so is not covered: AMQP header values of type float/double (pika has no
encoder for Python floats), 8/16-bit integers and unsigned types; short strings longer than 255
bytes (pika refuses them before sending).
"""

from __future__ import annotations

import argparse
import collections
import datetime
import decimal
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pika
import pika.exceptions

sys.set_int_max_str_digits(0)  # the worker reads numbers of any length; so does the oracle

ANY = object()  # "any value": the oracle does not know the rule
DEPTH_LIMIT = 128  # TollgateJSON's defaultDepthLimit: arrays/objects nested deeper are refused
NAME_LIMIT = 200  # ToolCall.maxNameBytes: agent_id and tool_name, in UTF-8 bytes
APPROVER = "manager@corp.com"  # who publishes the malformed votes
AGENTS = [f"fz-agent-{k}" for k in range(6)] + ["fz-agënt-ß", "fz-🤖-agent"]


# ---------------------------------------------------------------------------------------------
# The policy (policies/examples/payments.yaml) in Python, for the calls this fuzzer makes
# ---------------------------------------------------------------------------------------------


def policy_decision(call: dict) -> tuple[Optional[str], Any]:
    """(decision, rule) that payments.yaml gives a parsed call: allow, deny or pending (escalate).
    (None, ANY) when the call is outside what this model covers (then any policy decision is
    accepted, but it must be a policy decision)."""
    tool = call.get("tool_name")
    args = call.get("arguments") or {}
    if tool == "delete_ledger":
        return "deny", "block-delete-ledger"
    if tool == "transfer_funds":
        amount, to = args.get("amount"), args.get("to")
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not isinstance(to, str):
            return None, ANY  # Python's comparison of other types: not modelled here
        if amount >= 10000:
            return "pending", "escalate-large-transfer"
        if re.search(r"^external-", to):
            return "pending", "escalate-external-transfer"
        return "allow", "allow-small-internal-transfer"
    if tool in ("issue_refund", "void_invoice"):
        return "allow", "audit-refunds"
    if tool in ("get_balance", "list_transactions"):
        return "allow", "allow-reads"
    return "deny", None  # no rule matched; defaults.action: deny


# ---------------------------------------------------------------------------------------------
# The oracles: what the worker must do with a body (docs/wire-protocol.md)
# ---------------------------------------------------------------------------------------------


@dataclass
class Expect:
    outcome: str  # decide | invalid | handoff | either | vote_malformed | vote_rejected | vote_accepted
    why: str = ""  # why invalid (for the report)
    decision: Optional[str] = None  # decide: allow | deny | pending, None: any policy decision
    rule: Any = ANY
    agent_id: Optional[str] = None
    tool_name: Optional[str] = None
    status: Optional[str] = None  # vote_accepted: pending | allow | deny
    error_has: Optional[str] = None  # vote_rejected: a part of the error text


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def _has_surrogate(value) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    return False


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


def strict_object(body: bytes, max_bytes: int) -> tuple[Optional[dict], str]:
    """The body as one JSON object, read as strictly as the worker reads it (RFC 8259: UTF-8,
    no NaN/Infinity, no raw control characters, no unpaired surrogate escapes, nesting at most
    128), duplicate keys as Python does (the last value wins). (None, why) when refused."""
    if len(body) > max_bytes:
        return None, "oversize"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not UTF-8"
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        return None, f"not JSON ({type(error).__name__})"
    if _has_surrogate(value):
        return None, "unpaired surrogate"
    if _depth(value) > DEPTH_LIMIT:
        return None, "too deep"
    if not isinstance(value, dict):
        return None, f"not an object ({type(value).__name__})"
    return value, ""


def _name_problem(value) -> Optional[str]:
    if value is None:
        return "missing"
    if not isinstance(value, str):
        return "not a string"
    if value == "":
        return "empty"
    if len(value.encode("utf-8")) > NAME_LIMIT:
        return "too long"
    return None


def expect_call(body: bytes, routing_key, max_bytes: int, handoff: bool = False) -> Expect:
    """What the worker must answer to a tool call ("Tool call", "Tollgate's choices")."""
    if handoff:  # header x-tollgate-kind: budget-handoff from no worker user: refused, dead-lettered
        return Expect("handoff", why="budget hand-off from a non-worker user")
    call, why = strict_object(body, max_bytes)
    if call is None:
        return Expect("invalid", why=why)
    for key in ("agent_id", "tool_name"):
        problem = _name_problem(call.get(key))
        if problem:
            return Expect("invalid", why=f"{key} {problem}")
    for key in ("arguments", "context"):
        if call.get(key) is not None and not isinstance(call[key], dict):
            return Expect("invalid", why=f"{key} not an object")
    if call.get("reason") is not None and not isinstance(call["reason"], str):
        return Expect("invalid", why="reason not a string")
    rk = routing_key.decode("utf-8", "replace") if isinstance(routing_key, bytes) else routing_key
    if rk != call["agent_id"]:
        return Expect("invalid", why="routing key is not the agent_id")
    decision, rule = policy_decision(call)
    return Expect("decide", decision=decision, rule=rule, agent_id=call["agent_id"], tool_name=call["tool_name"])


def expect_vote(body: bytes, max_bytes: int, user_id: Optional[str], known_request: bool = False) -> Expect:
    """Malformed (dead-lettered) or rejected (not dead-lettered) for a vote on a request this
    fuzzer does not hold open for it ("Vote", "Votes"). Flow votes set their expectation
    themselves."""
    vote, why = strict_object(body, max_bytes)
    if vote is None:
        return Expect("vote_malformed", why=why)
    assert not ("grant_id" in vote and "request_id" not in vote), "a revocation, not a vote"

    def problem() -> Optional[str]:
        rid = vote.get("request_id")
        if rid is None or not isinstance(rid, str) or rid == "" or len(rid.encode()) > 255:
            return "request_id"
        if vote.get("decision") not in ("approve", "deny"):
            return "decision"
        for key in ("comment", "via"):
            if vote.get(key) is not None and not isinstance(vote[key], str):
                return key
        if vote.get("approver") is not None and (not isinstance(vote["approver"], str) or vote["approver"] == ""):
            return "approver"
        for key in ("arguments", "grant"):
            if vote.get(key) is not None and not isinstance(vote[key], dict):
                return key
        if vote.get("arguments") is not None and vote["decision"] != "approve":
            return "arguments with deny"
        grant = vote.get("grant")
        if grant is not None:
            if vote["decision"] != "approve":
                return "grant with deny"
            ttl = grant.get("ttl_seconds")
            whole = isinstance(ttl, int) and not isinstance(ttl, bool)
            whole = whole or (isinstance(ttl, float) and abs(ttl) < 1e12 and ttl == int(ttl))  # 3600.0 counts
            if grant.get("scope") not in ("session", "agent") or not whole or not 1 <= ttl <= 2**31 - 1:
                return "grant"
            if set(grant) - {"scope", "ttl_seconds"}:
                return "grant field"
        return None

    bad = problem()
    if bad:
        return Expect("vote_malformed", why=bad)
    if user_id is None:
        return Expect("vote_rejected", error_has="no user_id")
    if not known_request:
        return Expect("vote_rejected", error_has="is not held by worker")
    raise AssertionError("a vote on a known request: set its expectation in the flow")


# ---------------------------------------------------------------------------------------------
# Bodies: tool calls (each generator returns body, routing key, intent)
# ---------------------------------------------------------------------------------------------


def dumps(rng: random.Random, obj) -> bytes:
    """JSON as an agent might write it: key order, spacing and escaping vary."""
    if isinstance(obj, dict):
        items = list(obj.items())
        rng.shuffle(items)
        obj = dict(items)
    style = rng.randrange(4)
    if style == 0:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    elif style == 1:
        text = json.dumps(obj, ensure_ascii=True)
    elif style == 2:
        text = json.dumps(obj, indent=2, ensure_ascii=False)
    else:
        text = " \t\r\n" + json.dumps(obj, ensure_ascii=False) + "\n \t"
    return text.encode("utf-8")


def jstr(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def good_call(rng: random.Random, agent: str) -> dict:
    """A call from the few shapes whose decision is plain: reads, refunds, the ledger, small
    internal transfers, unknown tools (denied by default)."""
    n = rng.randrange(1000)
    shapes = [
        ("get_balance", {"account": f"acct-{n}"}),
        ("list_transactions", {"limit": rng.randrange(100), "since": "2026-01-01"}),
        ("delete_ledger", {"confirm": True}),
        ("transfer_funds", {"amount": rng.choice([0, 1, 500, 9999, 9999.99, -5, 0.5]), "to": f"acct-{n}"}),
        ("issue_refund", {"invoice": f"inv-{n}"}),
        ("void_invoice", {"invoice": f"inv-{n}"}),
        ("frobnicate", {}),
        ("GET_BALANCE", {}),
        ("get_balance ", {}),
        ("get_bal\u0430nce", {}),  # Cyrillic a
        ("delete_ledger\u0000", {}),  # escaped NUL: another tool
        ("transfer_funds2", {"amount": 1, "to": "acct-1"}),
    ]
    tool, args = rng.choice(shapes)
    call: dict = {"agent_id": agent, "tool_name": tool}
    if args or rng.random() < 0.5:
        call["arguments"] = args
    if rng.random() < 0.5:
        call["reason"] = rng.choice(["fuzz", "", "why not", "naïve résumé ✓"])
    if rng.random() < 0.4:
        call["context"] = {"session_id": f"s-{rng.randrange(20)}", "environment": "fuzz"}
    return call


def raw_call(agent: str, tool: str, arguments_text: str = "{}") -> bytes:
    return ('{"agent_id":%s,"tool_name":%s,"arguments":%s}' % (jstr(agent), jstr(tool), arguments_text)).encode()


def nested(depth: int, opener: str = "[", inner: str = "1") -> str:
    """`depth` nested containers around `inner`."""
    if opener == "[":
        return "[" * depth + inner + "]" * depth
    return '{"a":' * depth + inner + "}" * depth


class Gen:
    """The call and vote generators. Each returns (body, routing_key, intent); intent is
    'good', 'bad', 'either' or 'handoff' and must agree with the oracle."""

    def __init__(self, rng: random.Random, max_bytes: int, worker_id: str):
        self.rng = rng
        self.max_bytes = max_bytes
        self.worker_id = worker_id

    def agent(self) -> str:
        return self.rng.choice(AGENTS)

    # --- good calls ---------------------------------------------------------------------------

    def good_plain(self):
        a = self.agent()
        return dumps(self.rng, good_call(self.rng, a)), a, "good"

    def good_unicode(self):
        r = self.rng
        a = r.choice(["fz-agënt-ß", "fz-🤖-agent", "fz-\u202eagent", "fz-agent-\ufeff", "fz-\uffff", "fz-nul\u0000agent"])
        text = r.choice(['"\\ud83d\\ude00 pair"', '"\\u0000 escaped NUL"', '"\uffff\ufffe nonchars"',
                         '"\\u2028\\u2029 separators"', '"raw 🤖 and é"', '"\\/\\b\\f\\n\\r\\t\\\\\\""'])
        return raw_call(a, "get_balance", '{"note":%s}' % text), a, "good"

    def good_numbers(self):
        r = self.rng
        nums = ["-0", "0.0", "-0.0", "1e999", "-1e999", "1e-400", "1E+2", "123456789012345678901234567890",
                "-9223372036854775809", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
                "18446744073709551616", "1" * r.choice([20, 400, 5000]), "0." + "0" * 300 + "1", "1.5e308"]
        picked = r.sample(nums, r.randrange(1, 6))
        args = "{" + ",".join('"n%d":%s' % (i, v) for i, v in enumerate(picked)) + "}"
        a = self.agent()
        return raw_call(a, r.choice(["get_balance", "delete_ledger", "frobnicate"]), args), a, "good"

    def good_transfer_numbers(self):
        # amounts whose comparison with 10000 is plain in Python (and must be in the worker)
        r = self.rng
        amount = r.choice(["-0", "0", "-0.0", "-1e999", "-123456789012345678901234567890", "9999.999",
                           "1e3", "0e0", "-9223372036854775809", "9.999e3", "1e-400"])
        a = self.agent()
        return raw_call(a, "transfer_funds", '{"amount":%s,"to":"acct-%d"}' % (amount, r.randrange(99))), a, "good"

    def good_dup_keys(self):
        r = self.rng
        a = self.agent()
        t1, t2 = r.sample(["get_balance", "delete_ledger", "frobnicate", "issue_refund"], 2)
        forms = [
            '{"agent_id":%s,"tool_name":%s,"tool_name":%s}' % (jstr(a), jstr(t1), jstr(t2)),
            '{"agent_id":"someone-else","agent_id":%s,"tool_name":%s}' % (jstr(a), jstr(t1)),
            '{"agent_id":%s,"tool_name":%s,"arguments":{"x":1},"arguments":null}' % (jstr(a), jstr(t1)),
            '{"agent_id":%s,"tool_name":"transfer_funds","arguments":{"amount":99999,"to":"acct-1","amount":5}}' % jstr(a),
            '{"agent_id":%s,"tool_name":%s,"reason":5,"reason":"ok"}' % (jstr(a), jstr(t1)),
        ]
        return r.choice(forms).encode(), a, "good"

    def good_nulls(self):
        a = self.agent()
        call = good_call(self.rng, a)
        for key in ("arguments", "context", "reason"):
            if self.rng.random() < 0.7:
                call[key] = None
        if call.get("tool_name") == "transfer_funds":
            call["tool_name"] = "get_balance"  # arguments may be null now
        return dumps(self.rng, call), a, "good"

    def good_extra_fields(self):
        r = self.rng
        a = self.agent()
        call = good_call(r, a)
        extras = {"": 1, "__proto__": {"x": 1}, "agent_id ": "x", "Tool_Name": "delete_ledger", "x-list": [None, True, 1.5, "s", []],
                  "decision": "allow", "request_id": "fake", "final": True, "user_id": "manager@corp.com"}
        for k in r.sample(sorted(extras), r.randrange(1, len(extras))):
            call[k] = extras[k]
        return dumps(r, call), a, "good"

    def good_context_shadow(self):
        r = self.rng
        a = self.agent()
        tool = r.choice(["get_balance", "issue_refund", "frobnicate"])
        call = {"agent_id": a, "tool_name": tool, "arguments": {"account": "acct-1"},
                "context": {"tool_name": "delete_ledger", "agent_id": "other", "arguments": {"amount": 99999, "to": "external-x"},
                            "reason": 5, "session_id": ["not", "a", "string"]}}
        return dumps(r, call), a, "good"

    def good_big_string(self):
        r = self.rng
        a = self.agent()
        size = r.randrange(1000, self.max_bytes - 300)
        call = {"agent_id": a, "tool_name": r.choice(["get_balance", "delete_ledger"]),
                "reason": "r" * size if r.random() < 0.5 else "é" * (size // 2)}
        return json.dumps(call, ensure_ascii=False).encode(), a, "good"  # (escaped, é would be 6 bytes)

    def good_at_limit(self):
        a = self.agent()
        head = raw_call(a, "get_balance", '{"pad":"')[:-1]  # ends inside the string
        pad = self.max_bytes - len(head) - len('"}}')
        body = head + b"p" * pad + b'"}}'
        assert len(body) == self.max_bytes
        return body, a, "good"

    def good_depth_limit(self):
        # the whole body nests exactly 128 containers: top object, arguments, 126 arrays
        a = self.agent()
        return raw_call(a, "get_balance", '{"x":%s}' % nested(DEPTH_LIMIT - 2)), a, "good"

    def good_name_limit(self):
        r = self.rng
        kind = r.randrange(3)
        if kind == 0:
            a = "a" * NAME_LIMIT
        elif kind == 1:
            a = "é" * (NAME_LIMIT // 2)
        else:
            a = "fz-" + "🤖" * ((NAME_LIMIT - 3) // 4) + "x" * ((NAME_LIMIT - 3) % 4)
        assert len(a.encode()) == NAME_LIMIT
        tool = "t" * NAME_LIMIT if r.random() < 0.5 else "get_balance"
        return raw_call(a, tool), a, "good"

    def good_many_keys(self):
        a = self.agent()
        args = "{" + ",".join('"k%d":%d' % (i, i) for i in range(self.rng.choice([100, 2000]))) + "}"
        return raw_call(a, "list_transactions", args), a, "good"

    def good_escalate(self):
        r = self.rng
        a = self.agent()
        args = r.choice(['{"amount":%d,"to":"acct-2"}' % r.choice([10000, 25000, 10**9]),
                         '{"amount":500,"to":"external-%d"}' % r.randrange(99),
                         '{"amount":1e999,"to":"acct-3"}', '{"amount":123456789012345678901234567890,"to":"acct-4"}'])
        return raw_call(a, "transfer_funds", args), a, "good"

    # --- bad calls ----------------------------------------------------------------------------

    def bad_random_bytes(self):
        n = self.rng.choice([0, 1, 2, 7, 64, 500, 4000])
        return self.rng.randbytes(n), self.agent(), "bad"

    def bad_truncated(self):
        a = self.agent()
        body = dumps(self.rng, good_call(self.rng, a)).rstrip()
        return body[: self.rng.randrange(0, len(body))], a, "bad"

    def bad_deep(self):
        r = self.rng
        a = self.agent()
        kind = r.randrange(5)
        if kind == 0:
            return b"[" * r.choice([129, 5000, 60000]), a, "bad"  # unclosed
        if kind == 1:
            return nested(r.choice([129, 3000])).encode(), a, "bad"
        if kind == 2:  # one level too deep inside a good call
            return raw_call(a, "get_balance", '{"x":%s}' % nested(DEPTH_LIMIT - 1)), a, "bad"
        if kind == 3:
            return raw_call(a, "get_balance", nested(r.choice([200, 5000]), "{")), a, "bad"
        return b"[" * 100000, a, "bad"  # over --max-message-bytes too

    def bad_oversize(self):
        r = self.rng
        a = self.agent()
        if r.random() < 0.3:  # one byte over
            head = raw_call(a, "get_balance", '{"pad":"')[:-1]
            pad = self.max_bytes + 1 - len(head) - len('"}}')
            return head + b"p" * pad + b'"}}', a, "bad"
        size = r.choice([self.max_bytes + 1000, self.max_bytes * 2, 1_000_000])
        return json.dumps({"agent_id": a, "tool_name": "get_balance", "reason": "x" * size}).encode(), a, "bad"

    def bad_lone_surrogate(self):
        r = self.rng
        a = self.agent()
        s = r.choice(["\\ud800", "\\udc00", "\\udbff\\u0041", "\\ude00\\ud83d", "x\\ud83d", "\\ud83d\\ud83d\\ude00\\ude00"])
        where = r.randrange(4)
        if where == 0:
            return ('{"agent_id":%s,"tool_name":"get_balance%s"}' % (jstr(a), s)).encode(), a, "bad"
        if where == 1:
            return raw_call(a, "get_balance", '{"note":"%s"}' % s), a, "bad"
        if where == 2:
            return raw_call(a, "get_balance", '{"%s":1}' % s), a, "bad"
        return ('{"agent_id":%s,"tool_name":"get_balance","reason":"%s"}' % (jstr(a), s)).encode(), a, "bad"

    def bad_control_chars(self):
        r = self.rng
        a = self.agent()
        ch = bytes([r.choice([0, 1, 9, 10, 13, 0x1F])])
        kind = r.randrange(3)
        if kind == 0:  # raw control character inside a string
            return b'{"agent_id":' + jstr(a).encode() + b',"tool_name":"get_' + ch + b'balance"}', a, "bad"
        if kind == 1:
            return raw_call(a, "get_balance", '{"note":"a%sb"}' % ch.decode()), a, "bad"
        return raw_call(a, "get_balance") + b"\x00", a, "bad"  # NUL after the object

    def bad_non_utf8(self):
        r = self.rng
        a = self.agent()
        junk = r.choice([b"\xff", b"\xfe\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80", b"\xf8\x88\x80\x80\x80"])
        kind = r.randrange(4)
        if kind == 0:
            return raw_call(a, "get_balance", '{"note":"X"}').replace(b"X", junk), a, "bad"
        if kind == 1:  # Latin-1 instead of UTF-8
            return json.dumps({"agent_id": a, "tool_name": "get_balance", "reason": "café"}, ensure_ascii=False).encode("latin-1", "replace"), a, "bad"
        if kind == 2:
            enc = r.choice(["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
            return json.dumps({"agent_id": a, "tool_name": "get_balance"}).encode(enc), a, "bad"
        return ('{"agent_id":%s,"tool_name":"' % jstr(a)).encode() + junk + b'"}', a, "bad"

    def bad_wrong_type(self):
        r = self.rng
        a = self.agent()
        key = r.choice(["agent_id", "tool_name", "arguments", "context", "reason"])
        wrong = {
            "agent_id": ["0", "-1", "1.5", "true", "false", "[]", '["fz-agent-0"]', "{}", '{"id":"x"}', '""', "null", None],
            "tool_name": ["0", "1e999", "true", "false", "[]", '["get_balance"]', "{}", '""', "null", None],
            "arguments": ['"x"', "1", "true", "[]", '["a"]', '""'],
            "context": ['"x"', "0", "false", "[]", '[{"session_id":"s"}]'],
            "reason": ["1", "true", "[]", "{}", '{"why":"x"}'],
        }[key]
        value = r.choice(wrong)
        fields = {"agent_id": jstr(a), "tool_name": '"get_balance"'}
        if value is None:
            fields.pop(key, None)  # missing
        else:
            fields[key] = value
        body = "{" + ",".join("%s:%s" % (jstr(k), v) for k, v in fields.items()) + "}"
        return body.encode(), a, "bad"

    def bad_long_name(self):
        r = self.rng
        a = self.agent()
        kind = r.randrange(4)
        if kind == 0:
            long_agent = "a" * (NAME_LIMIT + 1)
            return raw_call(long_agent, "get_balance"), long_agent, "bad"
        if kind == 1:
            long_agent = "é" * (NAME_LIMIT // 2 + 1)
            return raw_call(long_agent, "get_balance"), long_agent, "bad"
        if kind == 2:
            return raw_call(a, "t" * r.choice([NAME_LIMIT + 1, 256, 5000])), a, "bad"
        huge = "h" * 1000  # longer than a routing key can be: published with a key of 255 bytes
        return raw_call(huge, "get_balance"), huge[:255], "bad"

    def bad_not_object(self):
        body = self.rng.choice([b"[]", b'["agent_id","fz-agent-0"]', b'"fz-agent-0"', b"0", b"-0", b"1e999", b"true", b"null",
                                b"  ", b"\n", b'[{"agent_id":"fz-agent-0","tool_name":"get_balance"}]'])
        return body, self.agent(), "bad"

    def bad_json_syntax(self):
        r = self.rng
        a = self.agent()
        good = '{"agent_id":%s,"tool_name":"get_balance","arguments":%%s}' % jstr(a)
        forms = [
            good % '{"n":NaN}', good % '{"n":Infinity}', good % '{"n":-Infinity}', good % '{"n":01}', good % '{"n":+1}',
            good % '{"n":.5}', good % '{"n":1.}', good % '{"n":0x10}', good % '{"n":1e}', good % '{"n":-}',
            good % '{"n":1,}', good % '{"n":[1,2,]}', good % "{'n':1}", good % "{n:1}", good % '{"n":1} /* c */',
            good % '{"n":"\\x41"}', good % '{"n":"\\u12"}', good % '{"n":"\\U0001F600"}', good % '{"n":"unterminated}',
            good % '{"n":tru}', good % '{"n":nul}', good % '{"n":True}', good % '{"n" 1}', good % '{"n":1 "m":2}',
            (good % "{}") + " x", (good % "{}") + "{}", (good % "{}")[:-1] + ",}", "{" + (good % "{}"),
            good % '{"n":"tab\there"}'.replace("\\t", "\t"),
        ]
        return r.choice(forms).encode(), a, "bad"

    def bad_empty_name(self):
        r = self.rng
        a = self.agent()
        if r.random() < 0.5:
            return b'{"agent_id":"","tool_name":"get_balance"}', "", "bad"
        return raw_call(a, ""), a, "bad"

    def bad_routing_key(self):
        r = self.rng
        a = self.agent()
        body = dumps(r, good_call(r, a))
        other = r.choice(["", "fz-agent-x", a.upper(), a + " ", " " + a, a + "\u0000", a[:-1], "tollgate", a.encode("utf-8")[:-1] + b"\xff"])
        if other == a:
            other = a + "-other"
        return body, other, "bad"

    def either_bom(self):
        a = self.agent()
        return b"\xef\xbb\xbf" + dumps(self.rng, good_call(self.rng, a)), a, "either"

    def handoff_spoof(self):
        r = self.rng
        a = self.agent()
        body = r.choice([dumps(r, good_call(r, a)),
                         json.dumps({"agent_id": a, "session_id": "", "used": 5, "from_worker": "w9"}).encode(),
                         json.dumps({"agent_id": a, "used": -1, "from_worker": "w9"}).encode(), b"not json"])
        return body, a, "handoff"

    # --- votes --------------------------------------------------------------------------------

    def unknown_request_id(self) -> str:
        return f"{self.worker_id}-00000000-0000-7000-8000-{self.rng.randrange(10**12):012d}"

    def vote_obj(self) -> dict:
        r = self.rng
        vote = {"request_id": self.unknown_request_id(), "decision": r.choice(["approve", "deny"])}
        if r.random() < 0.5:
            vote["comment"] = r.choice(["fz", "", "naïve ✓", None])
        return vote

    def vbad_bytes(self):
        r = self.rng
        kind = r.randrange(4)
        if kind == 0:
            return r.randbytes(r.choice([0, 1, 50, 3000])), None, "bad"
        if kind == 1:
            body = json.dumps(self.vote_obj()).encode()
            return body[: r.randrange(len(body))], None, "bad"
        if kind == 2:
            return r.choice([b"[]", b'"approve"', b"1", b"null", b"true", b'[{"request_id":"x","decision":"approve"}]']), None, "bad"
        return json.dumps(self.vote_obj()).encode().replace(b"approve", b"appr\xffove").replace(b"deny", b"d\xc0\x80ny"), None, "bad"

    def vbad_fields(self):
        r = self.rng
        vote: dict = self.vote_obj()
        kind = r.randrange(9)
        if kind == 0:
            del vote["request_id"]
        elif kind == 1:
            vote["request_id"] = r.choice([1, True, [], {}, None, "", "x" * 256, 1.5])
        elif kind == 2:
            vote["decision"] = r.choice(["APPROVE", "allow", "yes", "", " approve", "approve ", 1, True, None, ["approve"], {}])
            if vote["decision"] is None and r.random() < 0.5:
                del vote["decision"]
        elif kind == 3:
            vote["comment"] = r.choice([1, True, [], {"c": 1}])
        elif kind == 4:
            vote[r.choice(["approver", "via"])] = r.choice([1, False, [], {}])
        elif kind == 5:
            vote["approver"] = ""
        elif kind == 6:
            vote["arguments"] = r.choice(["x", 1, [], True]) if r.random() < 0.6 else {"amount": 1}
            if isinstance(vote["arguments"], dict):
                vote["decision"] = "deny"
        elif kind == 7:
            vote["decision"] = "approve"
            vote["grant"] = r.choice([{"scope": "forever", "ttl_seconds": 900}, {"scope": "session", "ttl_seconds": 0},
                                      {"scope": "session", "ttl_seconds": -5}, {"scope": "agent", "ttl_seconds": "900"},
                                      {"scope": "agent", "ttl_seconds": 1.5}, {"scope": "agent", "ttl_seconds": 900, "extra": 1},
                                      {"scope": "session"}, {"ttl_seconds": 60}, {"scope": "agent", "ttl_seconds": 2**31},
                                      {"scope": "agent", "ttl_seconds": True}, "session", 900, []])
        else:
            vote["decision"] = "deny"
            vote["grant"] = {"scope": "session", "ttl_seconds": 900}
        return dumps(r, vote), None, "bad"

    def vbad_encoding(self):
        r = self.rng
        rid = json.dumps(self.unknown_request_id())
        kind = r.randrange(6)
        if kind == 0:
            return ('{"request_id":%s,"decision":"approve","comment":"\\ud800"}' % rid).encode(), None, "bad"
        if kind == 1:
            return ('{"request_id":%s,"decision":"deny","comment":"%s"}' % (rid, "c" * (self.max_bytes + 10))).encode(), None, "bad"
        if kind == 2:
            return ('{"request_id":%s,"decision":"approve","comment":%s}' % (rid, nested(r.choice([DEPTH_LIMIT, 4000])))).encode(), None, "bad"
        if kind == 3:
            return ('{"request_id":%s,"decision":"approve","comment":NaN}' % rid).encode(), None, "bad"
        if kind == 4:
            return ('{"request_id":%s,"decision":"approve"}x' % rid).encode(), None, "bad"
        return b'{"request_id":"a\x00b","decision":"approve"}', None, "bad"

    def vrej_unknown(self):
        r = self.rng
        vote = self.vote_obj()
        extra = r.randrange(5)
        if extra == 1:
            vote["approver"] = "cfo@corp.com"  # ignored: not a trusted gateway
        elif extra == 2:
            vote.update(decision="approve", grant={"scope": "session", "ttl_seconds": 900})
        elif extra == 3:
            vote.update(decision="approve", arguments={"amount": 1, "to": "acct-1"})
        elif extra == 4:
            vote["via"] = "v" * 500
        return dumps(r, vote), None, "rejected"


CALL_VARIANTS: dict[str, tuple[int, Callable]] = {
    # name: (weight, Gen method)
    "good_plain": (30, Gen.good_plain),
    "good_unicode": (3, Gen.good_unicode),
    "good_numbers": (4, Gen.good_numbers),
    "good_transfer_numbers": (3, Gen.good_transfer_numbers),
    "good_dup_keys": (3, Gen.good_dup_keys),
    "good_nulls": (2, Gen.good_nulls),
    "good_extra_fields": (2, Gen.good_extra_fields),
    "good_context_shadow": (2, Gen.good_context_shadow),
    "good_big_string": (2, Gen.good_big_string),
    "good_at_limit": (1, Gen.good_at_limit),
    "good_depth_limit": (1, Gen.good_depth_limit),
    "good_name_limit": (1, Gen.good_name_limit),
    "good_many_keys": (1, Gen.good_many_keys),
    "good_escalate": (1, Gen.good_escalate),
    "bad_random_bytes": (5, Gen.bad_random_bytes),
    "bad_truncated": (5, Gen.bad_truncated),
    "bad_deep": (3, Gen.bad_deep),
    "bad_oversize": (2, Gen.bad_oversize),
    "bad_lone_surrogate": (3, Gen.bad_lone_surrogate),
    "bad_control_chars": (3, Gen.bad_control_chars),
    "bad_non_utf8": (3, Gen.bad_non_utf8),
    "bad_wrong_type": (8, Gen.bad_wrong_type),
    "bad_long_name": (2, Gen.bad_long_name),
    "bad_not_object": (2, Gen.bad_not_object),
    "bad_json_syntax": (5, Gen.bad_json_syntax),
    "bad_empty_name": (1, Gen.bad_empty_name),
    "bad_routing_key": (4, Gen.bad_routing_key),
    "either_bom": (1, Gen.either_bom),
    "handoff_spoof": (1, Gen.handoff_spoof),
}
VOTE_VARIANTS: dict[str, tuple[int, Callable]] = {
    "vote_bad_bytes": (3, Gen.vbad_bytes),
    "vote_bad_fields": (6, Gen.vbad_fields),
    "vote_bad_encoding": (2, Gen.vbad_encoding),
    "vote_rejected_unknown": (2, Gen.vrej_unknown),
    "vote_rejected_no_user_id": (1, Gen.vrej_unknown),  # same bodies, published without user_id
}
VOTE_SHARE = 0.15  # of the random mix


# ---------------------------------------------------------------------------------------------
# AMQP properties
# ---------------------------------------------------------------------------------------------


def header_table(rng: random.Random) -> dict:
    """Headers with every field type pika can encode (no float: pika 1.3 cannot send one)."""
    table = {
        "x-fz-true": True, "x-fz-false": False, "x-fz-int": rng.randrange(-2**31, 2**31), "x-fz-long": 2**40 + rng.randrange(99),
        "x-fz-long-max": 2**63 - 1, "x-fz-long-min": -2**63, "x-fz-decimal": decimal.Decimal("3.14159"),
        "x-fz-decimal-int": decimal.Decimal(42), "x-fz-timestamp": datetime.datetime(2026, 1, 2, 3, 4, 5),
        "x-fz-bytes": bytes(range(256)), "x-fz-str": "héllo \u0000 wörld", "x-fz-empty": "", "x-fz-none": None,
        "x-fz-dict": {"a": 1, "b": {"c": [1, "x", None, b"\xff"]}, "": "empty key"}, "x-fz-list": [1, True, None, b"x", "s", decimal.Decimal("1.5"), {"k": "v"}, [[]]],
        "k" * 255: "longest key",
    }
    deep: Any = "bottom"
    for _ in range(rng.choice([5, 60])):
        deep = {"d": deep}
    table["x-fz-deep"] = deep
    keys = sorted(table)
    return {k: table[k] for k in rng.sample(keys, rng.randrange(3, len(keys) + 1))}


def special_headers(rng: random.Random) -> tuple[dict, str]:
    """Headers the worker reads or writes itself, spoofed by a publisher (none changes a call)."""
    options = [
        ({"x-delivery-count": 99}, "x-delivery-count 99 on a first delivery"),
        ({"x-delivery-count": "abc"}, "x-delivery-count string"),
        ({"x-tollgate-kind": "budget-handoffx"}, "x-tollgate-kind other"),
        ({"x-tollgate-kind": 7}, "x-tollgate-kind int"),
        ({"x-tollgate-kind": ""}, "x-tollgate-kind empty"),
        ({"x-tollgate-error": "spoofed by the publisher"}, "x-tollgate-error spoof"),
        ({"x-tollgate-user-id": "cfo@corp.com", "x-tollgate-queue": "spoof"}, "x-tollgate-user-id spoof"),
        ({"x-death": [{"count": 9, "reason": "rejected", "queue": "q"}]}, "x-death spoof"),
        ({"x-match": "all", "hash-on": "x"}, "exchange-ish headers"),
        ({f"x-fz-{i}": i for i in range(300)}, "300 headers"),
    ]
    return rng.choice(options)


def pick(rng: random.Random, weighted: list[tuple[int, str]]) -> str:
    return rng.choices([v for _, v in weighted], weights=[w for w, _ in weighted])[0]


# ---------------------------------------------------------------------------------------------
# Probes: what was sent, what is expected, what came back
# ---------------------------------------------------------------------------------------------


@dataclass
class Probe:
    idx: int
    kind: str  # call | vote
    variant: str
    body: bytes
    routing_key: Any  # str or bytes
    expect: Expect
    props: dict = field(default_factory=dict)  # BasicProperties keyword arguments
    notes: list = field(default_factory=list)  # property variants applied
    publisher: str = "guest"  # broker user that publishes
    reply_queue: Optional[str] = None  # our queue the reply must reach (None: no reply expected)
    corr_key: Optional[str] = None  # the correlation id as it must come back (None: none)
    msgid_key: Optional[str] = None
    flow: Any = None  # the Flow this call starts
    flow_of_vote: Any = None  # the Flow this vote belongs to
    phase: str = "mix"
    observe_only: bool = False  # what goes wrong is reported as an observation, not a failure
    sent: bool = False
    send_error: Optional[str] = None
    replies: list = field(default_factory=list)  # decoded JSON bodies (or {"_raw": ...})
    reply_corr_raw: list = field(default_factory=list)
    feed: list = field(default_factory=list)
    dead: list = field(default_factory=list)  # (headers, properties, body)
    problems: list = field(default_factory=list)
    observations: list = field(default_factory=list)


def norm(value) -> Optional[str]:
    """A short string property as a dictionary key (bytes that are not UTF-8 as the worker reads
    them: each bad sequence becomes U+FFFD)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


class Run:
    """One fuzzing run: the worker, the connections, the probes."""

    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.prefix = args.prefix or f"fuzz-{args.seed}-{os.urandom(3).hex()}"
        self.wid = args.worker_id
        self.tmp = tempfile.mkdtemp(prefix="tollgate-fuzz-")
        self.gen = Gen(self.rng, args.max_message_bytes, self.wid)
        self.probes: list[Probe] = []
        self.by_corr: dict[str, Probe] = {}
        self.by_msgid: dict[str, Probe] = {}
        self.by_queue: dict[str, Probe] = {}
        self.by_body: dict[bytes, list[Probe]] = collections.defaultdict(list)
        self.unmatched_dead: list = []
        self.headerless_dead: list = []
        self.unmatched_replies: list = []
        self.worker: Optional[subprocess.Popen] = None
        self.log_path = os.path.join(self.tmp, f"{self.wid}.log")
        self.metrics_port = free_port()
        self.conns: dict[str, pika.BlockingConnection] = {}
        self.pub: dict[str, Any] = {}  # user -> channel with confirms
        self.observer: Optional[pika.BlockingConnection] = None
        self.unroutable_after_mix: Optional[int] = None

    # names ------------------------------------------------------------------------------------

    def q(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    @property
    def reply_queue(self) -> str:
        return self.q("fuzz.replies")

    # the worker -------------------------------------------------------------------------------

    def start_worker(self):
        cmd = [
            self.args.binary, "worker", "--policy", self.args.policy, "--prefix", self.prefix,
            "--worker-id", self.wid, "--db", os.path.join(self.tmp, f"{self.wid}.db"), "--log-format", "json",
            "--max-message-bytes", str(self.args.max_message_bytes), "--metrics-port", str(self.metrics_port),
            "--metrics-address", "127.0.0.1", "--amqp-url", self.args.amqp_url, "--stats-interval", "10",
        ]
        self.worker_cmd = cmd
        self.log_file = open(self.log_path, "wb")
        try:
            self.worker = subprocess.Popen(cmd, stdout=self.log_file, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as error:
            raise SetupError(f"cannot start {cmd[0]}: {error}")
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.worker.poll() is not None:
                raise SetupError(f"the worker exited at start (status {self.worker.returncode})")
            if self.readyz() == 200:
                return
            time.sleep(0.2)
        raise SetupError("the worker was not ready within 60 s")

    def http(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}{path}", timeout=5) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")
        except OSError as e:
            return 0, str(e)

    def readyz(self) -> int:
        return self.http("/readyz")[0]

    def reconnects(self) -> int:
        return int(self.metrics().get("tollgate_broker_reconnects_total", 0))

    def metrics(self) -> dict[str, float]:
        status, text = self.http("/metrics")
        out: dict[str, float] = collections.defaultdict(float)
        if status != 200:
            return out
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name_labels, _, value = line.rpartition(" ")
            name = name_labels.split("{")[0]
            try:
                out[name] += float(value)
                out[name_labels] = float(value)
            except ValueError:
                pass
        return out

    def stop_worker(self) -> Optional[int]:
        """SIGTERM (a graceful stop), SIGKILL after 30 s; the exit status."""
        if self.worker is None:
            return None
        if self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)
            try:
                self.worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait()
        self.log_file.close()
        return self.worker.returncode

    def log_tail(self, lines: int = 40) -> list[str]:
        try:
            with open(self.log_path, "rb") as f:
                return [l.decode("utf-8", "replace").rstrip() for l in f.readlines()[-lines:]]
        except OSError:
            return []

    # connections ------------------------------------------------------------------------------

    def connect(self, user: str) -> pika.BlockingConnection:
        if user == "guest":
            params = pika.URLParameters(self.args.amqp_url)
        else:
            base = pika.URLParameters(self.args.amqp_url)
            params = pika.ConnectionParameters(host=base.host, port=base.port, virtual_host=base.virtual_host,
                                               credentials=pika.PlainCredentials(user, self.args.password))
        params.heartbeat = 60
        params.blocked_connection_timeout = 60
        return pika.BlockingConnection(params)

    def channel(self, user: str):
        ch = self.pub.get(user)
        if ch is not None and ch.is_open:
            return ch
        conn = self.conns.get(user)
        if conn is None or conn.is_closed:
            conn = self.conns[user] = self.connect(user)
        ch = conn.channel()
        ch.confirm_delivery()
        self.pub[user] = ch
        return ch

    def pump(self, seconds: float = 0.0):
        """Lets every connection do its I/O (deliveries to the observer, heartbeats)."""
        if self.observer is not None and self.observer.is_open:
            self.observer.process_data_events(time_limit=seconds)
        for conn in self.conns.values():
            if conn.is_open:
                try:
                    conn.process_data_events(time_limit=0)
                except pika.exceptions.AMQPError:
                    pass

    def setup_observer(self):
        """The reply queue, the feed queue bound to <prefix>.decisions, and the worker's dead
        letters, consumed on one connection."""
        self.observer = self.connect("guest")
        ch = self.observer.channel()
        ch.queue_declare(self.reply_queue, durable=True)
        ch.queue_declare(self.q("fuzz.feed"), durable=True)
        ch.queue_bind(self.q("fuzz.feed"), self.q("decisions"), routing_key="#")
        ch.basic_consume(self.reply_queue, self.on_reply, auto_ack=True)
        ch.basic_consume(self.q("fuzz.feed"), self.on_feed, auto_ack=True)
        ch.basic_consume(self.q("dead"), self.on_dead, auto_ack=True)
        self.obs_ch = ch

    # observers --------------------------------------------------------------------------------

    def on_reply(self, ch, method, props, body):
        probe = self.by_queue.get(method.routing_key) if method.routing_key != self.reply_queue else None
        if probe is None:
            probe = self.by_corr.get(norm(props.correlation_id))
        if probe is None:
            self.unmatched_replies.append({"correlation_id": repr(props.correlation_id), "body": body[:300].decode("utf-8", "replace")})
            return
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = {"_raw": body[:300].decode("utf-8", "replace")}
        probe.replies.append(decoded)
        probe.reply_corr_raw.append(props.correlation_id)
        if probe.flow is not None:
            probe.flow.on_reply(self, probe, decoded)
        if probe.flow_of_vote is not None:
            probe.flow_of_vote.on_reply(self, probe, decoded)

    def on_feed(self, ch, method, props, body):
        lines = body.split(b"\n") if props.content_type == "application/x-ndjson" else [body]
        for line in lines:
            if not line.strip():
                continue
            try:
                decision = json.loads(line)
            except ValueError:
                self.unmatched_replies.append({"feed_line": line[:300].decode("utf-8", "replace")})
                continue
            probe = self.by_corr.get(decision.get("correlation_id"))
            if probe is not None:
                probe.feed.append(decision)
                if probe.flow is not None:
                    probe.flow.on_feed(self, probe, decision)

    def on_dead(self, ch, method, props, body):
        headers = props.headers or {}
        entry = (headers, props, body)
        if not headers.get("x-tollgate-error"):
            self.headerless_dead.append(entry)
        probe = self.by_msgid.get(norm(props.message_id)) if props.message_id else None
        if probe is None and props.correlation_id:
            probe = self.by_corr.get(norm(props.correlation_id))
        if probe is None:
            candidates = [p for p in self.by_body.get(hashlib.sha256(body).digest(), []) if p.msgid_key is None and p.corr_key is None]
            probe = candidates[0] if len(candidates) == 1 else None
        if probe is None:
            self.unmatched_dead.append(entry)
        else:
            probe.dead.append(entry)

    # making probes ----------------------------------------------------------------------------

    def new_probe(self, kind: str, variant: str, body: bytes, rk, expect: Expect, phase: str = "mix") -> Probe:
        p = Probe(idx=len(self.probes), kind=kind, variant=variant, body=body, routing_key=rk, expect=expect, phase=phase)
        self.probes.append(p)
        return p

    def dress(self, p: Probe, plain: bool = False):
        """Chooses the AMQP properties of a probe (reply_to, correlation_id, message_id, headers,
        content type, ...) and so what can come back."""
        rng = self.rng
        base = f"{self.prefix}:{p.idx}"
        reply = "normal" if plain else pick(rng, [(80, "normal"), (4, "absent"), (3, "empty"), (5, "missing_queue"), (2, "long_missing"),
                                                  (2, "direct_unroutable"), (2, "non_utf8")])
        corr = "normal" if plain else pick(rng, [(84, "normal"), (4, "absent"), (3, "empty"), (6, "huge"), (3, "non_utf8")])
        msgid = "normal" if plain else pick(rng, [(88, "normal"), (4, "absent"), (3, "empty"), (3, "huge"), (2, "non_utf8")])
        if reply != "normal" and corr in ("absent", "empty"):
            corr = "normal"  # else nothing could tell its feed line from another's
        if msgid in ("absent", "empty", "non_utf8") and corr in ("absent", "empty"):
            msgid = "normal"  # keep one property that names it in its dead letter
        props: dict = {}
        # reply_to
        if reply == "normal":
            if corr in ("absent", "empty"):
                p.reply_queue = self.q(f"fuzz.r.{p.idx}")  # its own queue: the reply names nothing
            else:
                p.reply_queue = self.reply_queue
            props["reply_to"] = p.reply_queue
        elif reply == "empty":
            props["reply_to"] = ""
        elif reply == "missing_queue":
            props["reply_to"] = self.q(f"missing.{p.idx}")
        elif reply == "long_missing":
            props["reply_to"] = (self.q(f"missing.{p.idx}.") + "m" * 255)[:255]
        elif reply == "direct_unroutable":
            props["reply_to"] = f"amq.rabbitmq.reply-to.nodot{p.idx}"
        elif reply == "non_utf8":
            props["reply_to"] = self.reply_queue.encode() + b"\xff"
        if reply != "normal":
            p.notes.append(f"reply_to {reply}")
        # correlation_id
        if corr == "normal":
            props["correlation_id"] = base
        elif corr == "empty":
            props["correlation_id"] = ""
        elif corr == "huge":
            props["correlation_id"] = (base + ":" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-_é") for _ in range(255)))
            props["correlation_id"] = props["correlation_id"].encode()[:255].decode("utf-8", "ignore")
        elif corr == "non_utf8":
            props["correlation_id"] = base.encode() + b":\xff\xfez"
        if corr != "normal":
            p.notes.append(f"correlation_id {corr}")
        p.corr_key = norm(props.get("correlation_id")) or None
        # message_id
        if msgid == "normal":
            props["message_id"] = f"{base}:m"
        elif msgid == "empty":
            props["message_id"] = ""
        elif msgid == "huge":
            props["message_id"] = (f"{base}:m:" + "M" * 255)[:255]
        elif msgid == "non_utf8":
            props["message_id"] = f"{base}:m".encode() + b"\xc3"
        if msgid != "normal":
            p.notes.append(f"message_id {msgid}")
        p.msgid_key = norm(props.get("message_id")) or None
        if plain:
            props["content_type"] = "application/json"
            return props
        # headers
        h = rng.random()
        if h < 0.12:
            props["headers"] = header_table(rng)
            p.notes.append("headers of every type")
        elif h < 0.24:
            props["headers"], what = special_headers(rng)
            p.notes.append(f"headers: {what}")
        # content type and encoding
        ctype = pick(rng, [(70, "application/json"), (8, None), (3, "text/plain"), (3, "application/xml"), (2, ""),
                           (2, "application/json; charset=latin-1"), (2, "application/x-ndjson"), (1, "c" * 255),
                           (1, b"\xff\xfe binary")])
        if ctype is not None:
            props["content_type"] = ctype
        if ctype != "application/json":
            p.notes.append(f"content_type {norm(ctype)!r:.40}")
        enc = pick(rng, [(80, None), (4, "gzip"), (3, "deflate"), (2, "br"), (2, "identity"), (2, ""), (1, "x-garbage\u0000")])
        if enc is not None:
            props["content_encoding"] = enc
            p.notes.append(f"content_encoding {enc!r}")
        # the rest
        if rng.random() < 0.05:
            props["expiration"] = rng.choice(["3600000", "86400000", "600000"])
            p.notes.append(f"expiration {props['expiration']}")
        if rng.random() < 0.1:
            props["priority"] = rng.randrange(256)
            p.notes.append(f"priority {props['priority']}")
        if rng.random() < 0.1:
            props["delivery_mode"] = 1
            p.notes.append("delivery_mode 1")
        elif rng.random() < 0.8:
            props["delivery_mode"] = 2
        if rng.random() < 0.1:
            props["timestamp"] = rng.choice([0, 2**63 - 1, 2**64 - 1, int(time.time())])
            p.notes.append(f"timestamp {props['timestamp']}")
        if rng.random() < 0.08:
            props["type"] = rng.choice(["", "tool-call", "t" * 255])
            props["app_id"] = rng.choice(["", "fuzzer", "a" * 255])
            p.notes.append("type and app_id")
        if rng.random() < 0.05 and p.publisher == "guest":
            props["user_id"] = "guest"  # the publisher's own login: the broker accepts it
            p.notes.append("user_id guest")
        return props

    def register(self, p: Probe):
        if p.corr_key:
            assert p.corr_key not in self.by_corr, p.corr_key
            self.by_corr[p.corr_key] = p
        if p.msgid_key:
            self.by_msgid[p.msgid_key] = p
        if p.reply_queue and p.reply_queue != self.reply_queue:
            self.by_queue[p.reply_queue] = p
        self.by_body[hashlib.sha256(p.body).digest()].append(p)

    def make_call(self, variant: str, phase: str = "mix", plain: bool = False) -> Probe:
        body, rk, intent = CALL_VARIANTS[variant][1](self.gen)
        expect = expect_call(body, rk, self.args.max_message_bytes, handoff=intent == "handoff")
        if intent == "either":
            expect = Expect("either")
            decoded = expect_call(body[3:], rk, self.args.max_message_bytes)
            expect.decision, expect.rule, expect.agent_id, expect.tool_name = decoded.decision, decoded.rule, decoded.agent_id, decoded.tool_name
        wanted = {"good": "decide", "bad": "invalid", "either": "either", "handoff": "handoff"}[intent]
        if expect.outcome != wanted:
            raise AssertionError(f"generator {variant} meant {intent} but the oracle says {expect.outcome} ({expect.why}): {body[:200]!r} rk={rk!r}")
        p = self.new_probe("call", variant, body, rk, expect, phase)
        p.props = self.dress(p, plain=plain)
        if intent == "handoff":
            kind = self.rng.choice(["budget-handoff", b"budget-handoff"])
            p.props["headers"] = dict(p.props.get("headers") or {}, **{"x-tollgate-kind": kind})
            p.props.pop("user_id", None)
            p.notes.append(f"x-tollgate-kind {kind!r} without user_id")
        self.register(p)
        return p

    def make_vote(self, variant: str) -> Probe:
        body, _, intent = VOTE_VARIANTS[variant][1](self.gen)
        publisher = "guest" if variant == "vote_rejected_no_user_id" or (intent == "bad" and self.rng.random() < 0.2) else APPROVER
        expect = expect_vote(body, self.args.max_message_bytes, None if publisher == "guest" else publisher)
        wanted = {"bad": "vote_malformed", "rejected": "vote_rejected"}[intent]
        if expect.outcome != wanted:
            raise AssertionError(f"generator {variant} meant {intent} but the oracle says {expect.outcome} ({expect.why}): {body[:200]!r}")
        p = self.new_probe("vote", variant, body, self.wid, expect)
        p.publisher = publisher
        p.props = self.dress(p, plain=self.rng.random() < 0.5)
        if publisher != "guest":
            p.props["user_id"] = publisher
        else:
            p.props.pop("user_id", None)
            p.notes.append("no user_id")
        self.register(p)
        return p

    def plan(self, n: int) -> list[Probe]:
        """Every variant once, then a weighted random mix, up to n messages; flows on top."""
        rng = self.rng
        names = list(CALL_VARIANTS) + list(VOTE_VARIANTS)
        order = names[:]
        rng.shuffle(order)
        while len(order) < n:
            if rng.random() < VOTE_SHARE:
                order.append(rng.choices(list(VOTE_VARIANTS), weights=[w for w, _ in VOTE_VARIANTS.values()])[0])
            else:
                order.append(rng.choices(list(CALL_VARIANTS), weights=[w for w, _ in CALL_VARIANTS.values()])[0])
        rng.shuffle(order)
        planned = []
        for name in order[:max(n, len(names))]:
            planned.append(self.make_call(name) if name in CALL_VARIANTS else self.make_vote(name))
        for k in range(max(1, n // 250)):
            for flow_kind in FLOWS:
                flow = Flow(flow_kind, k)
                planned.append(flow.start(self))
        rng.shuffle(planned)
        planned += self.msgid_pairs(max(1, n // 500))
        return planned

    def msgid_pairs(self, count: int) -> list[Probe]:
        """Two calls of one agent whose message_ids differ only in bytes that are not UTF-8
        (b'...\xff' and b'...\xfe'): distinct keys to AMQP, one string once decoded with
        U+FFFD. Observed, not failed: message_ids should be UTF-8 (AMQP short strings)."""
        out = []
        for k in range(count):
            agent = self.rng.choice(AGENTS)
            for tool, last in (("get_balance", b"\xff"), ("delete_ledger", b"\xfe")):
                body = raw_call(agent, tool)
                p = self.new_probe("call", "msgid_non_utf8_pair", body, agent, expect_call(body, agent, self.args.max_message_bytes))
                p.props = self.dress(p, plain=True)
                p.props["message_id"] = f"{self.prefix}:pair{k}".encode() + last
                p.msgid_key = norm(p.props["message_id"]) if last == b"\xff" else None
                p.notes.append(f"message_id {p.props['message_id']!r}")
                p.observe_only = True
                self.register(p)
                out.append(p)
        return out

    # publishing -------------------------------------------------------------------------------

    def publish(self, p: Probe):
        exchange = self.q("toolcalls") if p.kind == "call" else self.q("approvals")
        user = p.publisher
        if p.reply_queue and p.reply_queue != self.reply_queue:
            self.channel("guest").queue_declare(p.reply_queue, durable=True)
            self.obs_ch.basic_consume(p.reply_queue, self.on_reply, auto_ack=True)
        for attempt in range(2):
            ch = self.channel(user)
            try:
                ch.basic_publish(exchange, p.routing_key, p.body, pika.BasicProperties(**p.props), mandatory=True)
                p.sent = True
                return
            except pika.exceptions.UnroutableError:
                p.send_error = "unroutable: no queue bound for this routing key"
                return
            except (pika.exceptions.AMQPChannelError, pika.exceptions.AMQPConnectionError) as error:
                p.send_error = f"the broker refused the publish: {error!r}"
                self.pub.pop(user, None)
                if isinstance(error, pika.exceptions.AMQPConnectionError):
                    self.conns.pop(user, None)
                if attempt == 0 and isinstance(error, pika.exceptions.AMQPConnectionError):
                    continue
                return
            except Exception as error:  # pika refusing a property before sending
                p.send_error = f"pika could not send it: {error!r}"
                return

    # waiting ----------------------------------------------------------------------------------

    def accounted(self, p: Probe) -> bool:
        if not p.sent or (p.observe_only and p.replies):
            return True
        e = p.expect.outcome
        if p.reply_queue and e != "handoff" and not p.replies:
            return False
        if e in ("invalid", "handoff", "vote_malformed") and not p.dead:
            return False
        if e == "either" and p.replies and p.replies[0].get("resolution") == "invalid" and not p.dead:
            return False
        if self.feed_expected(p) and not p.feed:
            return False
        if p.flow is not None and not p.flow.done:
            return False
        return True

    def feed_expected(self, p: Probe) -> bool:
        """A final decision made at once goes to <prefix>.decisions, where its body's
        correlation_id names it."""
        if p.kind != "call" or not p.corr_key or p.expect.outcome in ("handoff", "either"):
            return False
        if p.expect.outcome == "invalid":
            return True
        if p.flow is not None:
            return p.flow.done and p.flow.final_seen
        return p.expect.decision in ("allow", "deny")

    def wait(self, probes: list[Probe], seconds: float) -> float:
        start = time.time()
        deadline = start + seconds
        while time.time() < deadline:
            self.pump(0.2)
            for flow in self.flows_waiting():
                flow.advance(self)
            if self.worker.poll() is not None:
                break
            if all(self.accounted(p) for p in probes):
                break
        # a short grace for late duplicates (at-least-once) and for what must not come
        grace_end = time.time() + self.args.grace
        while time.time() < grace_end:
            self.pump(0.2)
            for flow in self.flows_waiting():
                flow.advance(self)
        return time.time() - start

    def flows_waiting(self):
        return [p.flow for p in self.probes if p.flow is not None and not p.flow.done and p.flow.probe is p]

    # cleanup ----------------------------------------------------------------------------------

    def cleanup(self):
        for conn in list(self.conns.values()) + [self.observer]:
            try:
                if conn is not None and conn.is_open:
                    conn.close()
            except Exception:
                pass
        names_q, names_x = set(), set()
        names_q.update([self.reply_queue, self.q("fuzz.feed"), self.q("dead"), self.q(f"toolcalls.{self.wid}"),
                        self.q(f"approvals.{self.wid}"), self.q(f"owner.{self.wid}")])
        names_q.update(p.reply_queue for p in self.probes if p.reply_queue)
        names_x.update(self.q(x) for x in ("toolcalls", "approvals", "escalations", "decisions", "dead", "control"))
        for what, target in (("queues", names_q), ("exchanges", names_x)):
            try:
                out = subprocess.run(["rabbitmqctl", "-q", f"list_{what}", "name", "--no-table-headers"],
                                     capture_output=True, text=True, timeout=60).stdout
                target.update(l.strip() for l in out.splitlines() if l.strip().startswith(self.prefix + "."))
            except (OSError, subprocess.TimeoutExpired):
                pass  # no rabbitmqctl here: the names above are all this run made
        deleted = 0
        try:
            conn = self.connect("guest")
            for name in sorted(names_q):
                ch = conn.channel()
                try:
                    ch.queue_delete(name)
                    deleted += 1
                except pika.exceptions.AMQPError:
                    pass
            for name in sorted(names_x):
                ch = conn.channel()
                try:
                    ch.exchange_delete(name)
                    deleted += 1
                except pika.exceptions.AMQPError:
                    pass
            conn.close()
        except pika.exceptions.AMQPError as error:
            print(f"cleanup: could not delete the run's queues and exchanges: {error!r}", file=sys.stderr)
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return deleted


class SetupError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Flows: escalations voted on for real
# ---------------------------------------------------------------------------------------------

# name: (call arguments text, agent, rule, steps, final)
# step: (voter or "guest" for no user_id, vote body fields, expected outcome, status or error part)
FLOWS = {
    "external_approve": (
        '{"amount":500,"to":"external-%d"}', None, "escalate-external-transfer",
        [("cfo@corp.com", {"decision": "approve"}, "vote_rejected", "is not an approver"),
         (APPROVER, {"decision": "approve", "grant": {"scope": "forever", "ttl_seconds": 60}}, "vote_malformed", None),
         (APPROVER, {"decision": "approve", "comment": "fz ok"}, "vote_accepted", "allow"),
         ("compliance@corp.com", {"decision": "deny"}, "vote_rejected", "already decided")],
        ("allow", "approved", {APPROVER}),
    ),
    "large_deny": (
        '{"amount":25000,"to":"acct-%d"}', None, "escalate-large-transfer",
        [(APPROVER, {"decision": "approve"}, "vote_accepted", "pending"),
         (APPROVER, {"decision": "approve"}, "vote_rejected", "has already voted"),
         ("guest", {"decision": "deny"}, "vote_rejected", "no user_id"),
         ("compliance@corp.com", {"decision": "deny", "comment": "fz no"}, "vote_accepted", "deny")],
        ("deny", "denied", {"compliance@corp.com"}),
    ),
    "large_approve": (
        '{"amount":10000,"to":"acct-%d"}', None, "escalate-large-transfer",
        [("cfo@corp.com", {"decision": "approve"}, "vote_accepted", "pending"),
         (APPROVER, {"decision": "approve", "approver": "compliance@corp.com"}, "vote_accepted", "allow")],
        ("allow", "approved", {"cfo@corp.com", APPROVER}),
    ),
    "own_request": (
        '{"amount":700,"to":"external-%d"}', "finance-agent", "escalate-external-transfer",
        [("finance-agent", {"decision": "approve"}, "vote_rejected", ""),
         (APPROVER, {"decision": "deny"}, "vote_accepted", "deny")],
        ("deny", "denied", {APPROVER}),
    ),
}


class Flow:
    """A call that escalates, then votes one after the other (each once the previous one is
    answered), then the final decision."""

    def __init__(self, kind: str, k: int):
        self.kind = kind
        self.k = k
        self.args_text, self.agent, self.rule, self.steps, self.final = FLOWS[kind]
        self.request_id: Optional[str] = None
        self.step = 0
        self.waiting_vote: Optional[Probe] = None
        self.final_seen = False
        self.done = False
        self.probe: Optional[Probe] = None
        self.vote_probes: list[Probe] = []
        self.started = 0.0

    def start(self, run: Run) -> Probe:
        agent = self.agent or run.rng.choice(AGENTS)
        body = raw_call(agent, "transfer_funds", self.args_text % run.rng.randrange(1000))
        expect = expect_call(body, agent, run.args.max_message_bytes)
        assert expect.outcome == "decide" and expect.decision == "pending" and expect.rule == self.rule, (self.kind, expect)
        p = run.new_probe("call", f"flow_{self.kind}", body, agent, expect)
        p.props = run.dress(p, plain=True)
        p.flow = self
        self.probe = p
        run.register(p)
        return p

    def on_reply(self, run: Run, probe: Probe, reply: dict):
        if probe is self.probe:
            if reply.get("decision") == "pending" and self.request_id is None:
                self.request_id = reply.get("request_id")
            if reply.get("final"):
                self.final_seen = True
        elif probe is self.waiting_vote:
            self.waiting_vote = None

    def on_feed(self, run: Run, probe: Probe, decision: dict):
        if probe is self.probe and decision.get("final"):
            self.final_seen = True

    def advance(self, run: Run):
        if self.done or self.request_id is None or self.waiting_vote is not None:
            return
        if self.step >= len(self.steps):
            self.done = True
            return
        voter, fields, outcome, detail = self.steps[self.step]
        if detail == "already decided" and not self.final_seen:
            return  # vote after the final decision has come
        body = json.dumps(dict({"request_id": self.request_id}, **fields)).encode()
        expect = Expect(outcome)
        if outcome == "vote_accepted":
            expect.status = detail
        elif outcome == "vote_rejected":
            expect.error_has = detail
        elif outcome == "vote_malformed":
            assert expect_vote(body, run.args.max_message_bytes, voter).outcome == "vote_malformed"
        v = run.new_probe("vote", f"flow_{self.kind}_vote{self.step + 1}", body, run.wid, expect, phase=self.probe.phase)
        v.publisher = voter
        v.flow_of_vote = self
        v.props = run.dress(v, plain=True)
        if voter != "guest":
            v.props["user_id"] = voter
        run.register(v)
        run.publish(v)
        self.vote_probes.append(v)
        self.step += 1
        self.waiting_vote = v if v.sent else None


# ---------------------------------------------------------------------------------------------
# Judging
# ---------------------------------------------------------------------------------------------


def content(reply: dict) -> str:
    """A reply without its correlation_id, for "same content"."""
    return json.dumps({k: v for k, v in reply.items() if k != "correlation_id"}, sort_keys=True)


def judge(run: Run, p: Probe) -> dict[str, int]:
    """Checks one probe; fills p.problems and returns the failure counters it adds to (an
    observe-only probe's problems become observations)."""
    fails = check(run, p)
    if p.observe_only and p.problems:
        p.observations += [f"{p.variant} ({', '.join(p.notes)}): {x}" for x in p.problems]
        p.problems = []
        return collections.Counter()
    return fails


def check(run: Run, p: Probe) -> dict[str, int]:
    fails: collections.Counter = collections.Counter()

    def fail(counter: str, text: str):
        fails[counter] = 1  # counts messages, not problems: one message counts once per counter
        p.problems.append(f"{counter}: {text}")

    if not p.sent:
        fail("not_sent", p.send_error or "not sent")
        return fails
    e = p.expect
    replies = [r for r in p.replies]
    for r in replies:
        if "_raw" in r:
            fail("reply_not_json", r["_raw"])
    replies = [r for r in replies if "_raw" not in r]
    tool_queue, votes_queue = run.q(f"toolcalls.{run.wid}"), run.q(f"approvals.{run.wid}")

    # conflicts: one request, one content per kind of answer
    if p.kind == "call":
        ids = {r.get("request_id") for r in replies + p.feed}
        if len(ids) > 1:
            fail("conflicts", f"several request_ids: {sorted(map(str, ids))}")
        finals = {content(r) for r in replies + p.feed if r.get("final")}
        if len(finals) > 1:
            fail("conflicts", f"{len(finals)} different final decisions: {sorted(finals)[:2]}")
        pendings = {content(r) for r in replies if r.get("decision") == "pending"}
        if len(pendings) > 1:
            fail("conflicts", "different pending answers")
        first_final = next((i for i, r in enumerate(replies) if r.get("final")), len(replies))
        if any(r.get("decision") == "pending" for r in replies[first_final:]):
            fail("conflicts", "a pending answer after the final one")
    else:
        if len({content(r) for r in replies}) > 1:
            fail("conflicts", f"different answers to one vote: {[content(r) for r in replies][:2]}")

    # replies
    if p.reply_queue and e.outcome != "handoff" and not replies:
        fail("unanswered", "no reply on reply_to")
    if not p.reply_queue and replies:
        fail("unexpected_reply", f"a reply reached our queue although reply_to was {p.props.get('reply_to')!r}")
    corr_expected = p.corr_key
    for r in replies:
        if p.kind == "call" and r.get("correlation_id") != corr_expected:
            fail("wrong_answer", f"body correlation_id {r.get('correlation_id')!r}, expected {corr_expected!r}")
    for raw in p.reply_corr_raw:
        if isinstance(p.props.get("correlation_id"), bytes):
            p.observations.append(f"correlation_id sent as {p.props['correlation_id']!r} came back as {raw!r}")
        elif norm(raw) != corr_expected and not (raw is None and corr_expected is None):
            fail("wrong_answer", f"correlation_id property {raw!r}, expected {corr_expected!r}")

    def check_invalid(r: dict, counter: str):
        if not (r.get("decision") == "deny" and r.get("final") is True and r.get("resolution") == "invalid"
                and isinstance(r.get("reason"), str) and r["reason"].strip()):
            fail(counter, f"expected deny/final/invalid with a reason, got {content(r)[:300]}")

    def check_decided(r: dict, counter: str, final_expected: Optional[tuple] = None):
        want = e.decision
        if final_expected and r.get("final"):
            decision, resolution, approvers = final_expected
            if r.get("decision") != decision or r.get("resolution") != resolution or set(r.get("approvers") or []) != approvers:
                fail(counter, f"final expected {decision}/{resolution} by {sorted(approvers)}, got {content(r)[:300]}")
            return
        if want is None:
            if r.get("resolution") != "policy" or r.get("decision") not in ("allow", "deny", "pending"):
                fail(counter, f"expected a policy decision, got {content(r)[:300]}")
            return
        ok = r.get("decision") == want and r.get("resolution") == "policy" and r.get("final") is (want != "pending")
        ok = ok and (e.rule is ANY or r.get("rule") == e.rule)
        ok = ok and r.get("agent_id") == e.agent_id and r.get("tool_name") == e.tool_name
        ok = ok and str(r.get("request_id", "")).startswith(run.wid + "-")
        if want == "pending":
            ok = ok and bool(r.get("deadline"))
        if not ok:
            fail(counter, f"expected {want} by rule {e.rule if e.rule is not ANY else 'any'} for {e.agent_id!r}/{e.tool_name!r}, got {content(r)[:300]}")

    final_expected = p.flow.final if p.flow is not None else None
    if e.outcome == "decide":
        for r in replies + p.feed:
            check_decided(r, "wrong_decision", final_expected)
        if p.flow is not None and p.reply_queue and not any(r.get("final") for r in replies):
            fail("unanswered", f"no final decision after the votes (step {p.flow.step} of {len(p.flow.steps)})")
        if p.dead:
            fail("good_dead_lettered", f"dead-lettered: {p.dead[0][0].get('x-tollgate-error')!r}")
    elif e.outcome == "invalid":
        for r in replies + p.feed:
            check_invalid(r, "bad_wrong_answer")
        if not p.dead:
            fail("bad_not_dead_lettered", f"not dead-lettered ({e.why})")
    elif e.outcome == "handoff":
        if replies:
            p.observations.append(f"a refused hand-off was answered: {content(replies[0])[:200]}")
        if not p.dead:
            fail("bad_not_dead_lettered", "refused hand-off not dead-lettered")
    elif e.outcome == "either":
        kinds = {"invalid" if r.get("resolution") == "invalid" else "decided" for r in replies}
        if len(kinds) > 1:
            fail("conflicts", "answered both invalid and decided")
        for r in replies:
            if r.get("resolution") == "invalid":
                check_invalid(r, "bad_wrong_answer")
                if not p.dead:
                    fail("bad_not_dead_lettered", "refused (invalid) but not dead-lettered")
            else:
                check_decided(r, "wrong_decision")
                if p.dead:
                    fail("good_dead_lettered", "decided but dead-lettered")
        if replies:
            p.observations.append(f"{p.variant}: {'refused as invalid: ' + replies[0].get('reason', '') if 'invalid' in kinds else 'decided ' + replies[0].get('decision', '')}")
    elif e.outcome in ("vote_malformed", "vote_rejected"):
        for r in replies:
            if r.get("accepted") is not False or not isinstance(r.get("error"), str) or not r["error"].strip():
                fail("vote_wrong_answer", f"expected accepted:false with an error, got {content(r)[:300]}")
            elif e.error_has and e.error_has not in r["error"]:
                fail("vote_wrong_answer", f"expected an error with {e.error_has!r}, got {r['error'][:200]!r}")
        if e.outcome == "vote_malformed" and not p.dead:
            fail("bad_not_dead_lettered", f"malformed vote not dead-lettered ({e.why})")
        if e.outcome == "vote_rejected" and p.dead:
            fail("rejected_vote_dead_lettered", f"dead-lettered: {p.dead[0][0].get('x-tollgate-error')!r}")
    elif e.outcome == "vote_accepted":
        for r in replies:
            if r.get("accepted") is not True or r.get("status") != e.status:
                fail("vote_wrong_answer", f"expected accepted with status {e.status}, got {content(r)[:300]}")
        if p.dead:
            fail("good_dead_lettered", "accepted vote dead-lettered")

    # the feed
    if run.feed_expected(p) and not p.feed:
        fail("unanswered", "no final decision on the decision feed")

    # dead letters: reason, body and origin kept
    for headers, props, body in p.dead:
        error = headers.get("x-tollgate-error")
        if not isinstance(error, (str, bytes)) or not norm(error).strip():
            continue  # counted once, globally (dead_letters_without_header)
        if norm(error) == "spoofed by the publisher":
            fail("wrong_dead_letter", "x-tollgate-error is the publisher's, not the worker's")
        if body != p.body:
            fail("wrong_dead_letter", f"body changed ({len(body)} bytes, sent {len(p.body)})")
        want_queue = tool_queue if p.kind == "call" else votes_queue
        if norm(headers.get("x-tollgate-queue")) != want_queue:
            fail("wrong_dead_letter", f"x-tollgate-queue {headers.get('x-tollgate-queue')!r}, expected {want_queue!r}")
        user = p.props.get("user_id")
        if norm(headers.get("x-tollgate-user-id")) != user:
            fail("wrong_dead_letter", f"x-tollgate-user-id {headers.get('x-tollgate-user-id')!r}, expected {user!r}")
        if isinstance(p.props.get("message_id"), bytes):
            p.observations.append(f"message_id sent as {p.props['message_id']!r} was dead-lettered as {props.message_id!r}")
    return fails


def describe(p: Probe) -> dict:
    """A probe as a reproducer: body (repr, and hex when short), routing key, properties."""
    props = {}
    for k, v in p.props.items():
        if k == "headers":
            props[k] = {hk if len(hk) < 60 else hk[:20] + "...": repr(hv)[:80] for hk, hv in (v or {}).items()}
        else:
            props[k] = repr(v) if isinstance(v, bytes) else v
    body_repr = repr(p.body[:400]) + (f"... ({len(p.body)} bytes)" if len(p.body) > 400 else "")
    out = {
        "idx": p.idx, "kind": p.kind, "variant": p.variant, "phase": p.phase, "publisher": p.publisher,
        "routing_key": repr(p.routing_key)[:300], "properties": props, "body_repr": body_repr, "body_len": len(p.body),
        "expected": p.expect.outcome + (f" ({p.expect.why})" if p.expect.why else "")
        + (f" {p.expect.decision}" if p.expect.decision else ""),
        "problems": p.problems, "replies": [content(r)[:400] for r in p.replies[:3]],
        "dead_letters": [norm(h.get("x-tollgate-error")) for h, _, _ in p.dead[:3]],
    }
    if len(p.body) <= 256:
        out["body_hex"] = p.body.hex()
    return out


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def poison_phase(run: Run) -> list[Probe]:
    """Calls whose reply_to is a forged direct reply-to address (RabbitMQ 3.10 answers a publish
    to one with 541 INTERNAL_ERROR and closes the publisher's connection), each followed by
    good calls of any agent. The forged one must still be decided (on the feed) and not cost the
    others their answers."""
    probes = []
    for i in range(run.args.poison):
        p = run.make_call("good_plain", phase="poison", plain=True)
        p.props["reply_to"] = f"amq.rabbitmq.reply-to.g2dkAAAAAAAAAAAA.fz{i}"
        p.reply_queue = None
        p.notes.append("reply_to forged direct reply-to (base64 that is no Erlang term)")
        probes.append(p)
        for _ in range(5):
            probes.append(run.make_call("good_plain", phase="poison", plain=True))
    return probes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See the module docstring for what is checked.")
    ap.add_argument("--binary", default=".build/debug/tollgate", help="the tollgate binary (default %(default)s)")
    ap.add_argument("--policy", default="policies/examples/payments.yaml", help="must be payments.yaml: the oracle models it")
    ap.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    ap.add_argument("--password", default="secret", help="of the approver users (manager@corp.com, ...)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--messages", type=int, default=2000, help="messages of the random mix (default %(default)s)")
    ap.add_argument("--short", action="store_true", help="about 300 messages, for CI (under a minute)")
    ap.add_argument("--max-message-bytes", type=int, default=65536, help="given to the worker (default %(default)s)")
    ap.add_argument("--prefix", help="default fuzz-<seed>-<random>")
    ap.add_argument("--worker-id", default="fz1")
    ap.add_argument("--wait", type=float, default=60.0, help="seconds to wait for answers after the last publish")
    ap.add_argument("--grace", type=float, default=2.0, help="seconds to keep listening once all is accounted for")
    ap.add_argument("--poison", type=int, default=3, help="forged direct reply-to calls in the last phase (default %(default)s)")
    ap.add_argument("--poison-wait", type=float, default=15.0, help="seconds to wait for the poison phase's answers")
    ap.add_argument("--skip-poison", action="store_true", help="leave the forged direct reply-to phase (and the recovery after it) out")
    ap.add_argument("--json", help="write the JSON summary here")
    ap.add_argument("--keep", action="store_true", help="keep the worker's database and log (the path is printed)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.short:
        args.messages = 300
    if args.skip_poison:
        args.poison = 0
    if os.path.basename(args.policy) != "payments.yaml":
        print("warning: the expected decisions model policies/examples/payments.yaml", file=sys.stderr)
    if not os.access(args.binary, os.X_OK):
        print(f"no executable {args.binary}", file=sys.stderr)
        return 2

    run = Run(args)
    print(f"fuzz: seed {args.seed}, {args.messages} messages, prefix {run.prefix}, worker {run.wid}, "
          f"--max-message-bytes {args.max_message_bytes}, files in {run.tmp}")
    summary: dict = {}
    try:
        try:
            run.start_worker()
            run.setup_observer()
        except (SetupError, pika.exceptions.AMQPError) as error:
            print(f"setup failed: {error!r}", file=sys.stderr)
            print("\n".join(run.log_tail()), file=sys.stderr)
            return 2
        t0 = time.time()
        planned = run.plan(args.messages)
        for i, p in enumerate(planned):
            run.publish(p)
            if i % 25 == 0:
                run.pump(0)
                for flow in run.flows_waiting():
                    flow.advance(run)
            if run.worker.poll() is not None:
                break
        publish_s = time.time() - t0
        waited = run.wait(run.probes, args.wait)
        phases = {"mix": (publish_s, waited, run.reconnects())}
        run.unroutable_after_mix = int(run.metrics().get("tollgate_unroutable_total", 0))
        if args.poison and run.worker.poll() is None:
            for phase, probes, wait_s in (("poison", poison_phase(run), args.poison_wait),
                                          ("recovery", [run.make_call("good_plain", "recovery", plain=True) for _ in range(20)], args.wait)):
                t1 = time.time()
                for p in probes:
                    run.publish(p)
                phases[phase] = (time.time() - t1, run.wait(probes, wait_s), run.reconnects())
        summary = report(run, phases)
    finally:
        exit_status = run.stop_worker()
        summary["worker_exit_status"] = exit_status
        deleted = run.cleanup()
        summary["cleanup_deleted"] = deleted
    if exit_status not in (0, None) and "failures" in summary:
        summary["failures"]["worker_unclean_exit"] = 1
        summary["ok"] = False
    print(f"worker stopped (exit status {exit_status}); deleted {deleted} queues and exchanges of {run.prefix}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2, default=str)
        print(f"JSON summary: {args.json}")
    print("RESULT:", "PASS (every failure count is 0)" if summary["ok"] else "FAIL")
    return 0 if summary["ok"] else 1


def report(run: Run, phases: dict) -> dict:
    """Judges every probe, prints the human summary, returns the JSON one."""
    failures: collections.Counter = collections.Counter()
    per_variant: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    per_property: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    wrong: list[Probe] = []
    observations: collections.Counter = collections.Counter()
    for p in run.probes:
        fails = judge(run, p)
        failures.update(fails)
        v = per_variant[f"{p.kind}:{p.variant}"]
        v["sent"] += p.sent
        v["answered"] += bool(p.replies or p.feed)
        v["dead_lettered"] += bool(p.dead)
        v["wrong"] += bool(p.problems)
        for note in p.notes or ["plain properties"]:
            c = per_property[f"{p.kind}: {re.sub(r'[0-9]+', 'N', note)[:60]}"]
            c["sent"] += p.sent
            c["wrong"] += bool(p.problems)
        if p.problems:
            wrong.append(p)
        for o in p.observations:
            observations[re.sub(r"\d+", "N", o)[:160]] += 1
    alive = run.worker.poll() is None
    ready = run.readyz() if alive else 0
    metrics = run.metrics() if alive else {}
    failures["worker_dead"] = 0 if alive else 1
    failures["readyz_not_200"] = 0 if ready == 200 else 1
    # A forged direct reply-to address makes RabbitMQ close the connection (541); the worker then
    # stops replying to it, so each forged address may cost one reconnect, and nothing else may.
    forged = sum(1 for p in run.probes if p.sent and any(n.startswith("reply_to forged") for n in p.notes))
    failures["worker_reconnects"] = max(0, int(metrics.get("tollgate_broker_reconnects_total", 0)) - forged)
    failures["dead_letters_without_header"] = len(run.headerless_dead)
    failures["dead_letters_unmatched"] = len(run.unmatched_dead)
    failures["replies_unmatched"] = len(run.unmatched_replies)
    # a reply to a queue that does not exist comes back and is counted (tollgate_unroutable_total)
    unroutable_sent = sum(1 for p in run.probes if p.phase == "mix" and p.sent and p.expect.outcome != "handoff"
                          and any(n.startswith("reply_to ") and n not in ("reply_to absent", "reply_to empty") for n in p.notes))
    if run.unroutable_after_mix is not None:
        failures["unroutable_not_counted"] = max(0, unroutable_sent - run.unroutable_after_mix)
    for key in ("unanswered", "wrong_decision", "bad_wrong_answer", "good_dead_lettered", "bad_not_dead_lettered", "conflicts",
                "vote_wrong_answer", "rejected_vote_dead_lettered", "wrong_dead_letter", "wrong_answer", "not_sent",
                "reply_not_json", "unexpected_reply"):
        failures.setdefault(key, 0)
    ok = all(v == 0 for v in failures.values())
    # by phase, for the poison phase's own picture
    by_phase: dict = {}
    before = 0
    for phase, (publish_s, wait_s, reconnects) in phases.items():
        ps = [p for p in run.probes if p.phase == phase]
        by_phase[phase] = {"messages": len(ps), "wrong": sum(bool(p.problems) for p in ps), "publish_seconds": round(publish_s, 1),
                           "wait_seconds": round(wait_s, 1), "worker_reconnects": reconnects - before}
        before = reconnects
    totals = collections.Counter()
    for c in per_variant.values():
        totals.update(c)
    summary = {
        "ok": ok, "seed": run.args.seed, "messages": len(run.probes), "prefix": run.prefix, "worker_id": run.wid,
        "max_message_bytes": run.args.max_message_bytes, "worker_command": run.worker_cmd, "phases": by_phase,
        "failures": dict(failures), "totals": dict(totals),
        "variants": {k: dict(v) for k, v in sorted(per_variant.items())},
        "property_variants": {k: dict(v) for k, v in sorted(per_property.items())},
        "worker": {"alive": alive, "readyz": ready,
                   "metrics": {k: v for k, v in metrics.items() if "{" not in k and k.startswith("tollgate_") and "bucket" not in k}},
        "observations": dict(observations),
        "wrong": [describe(p) for p in wrong[:200]],
        "dead_letters_without_header_sample": [{"headers": repr(h)[:300], "message_id": repr(pr.message_id), "body": repr(b[:200])}
                                               for h, pr, b in run.headerless_dead[:20]],
        "dead_letters_unmatched_sample": [{"headers": repr(h)[:300], "message_id": repr(pr.message_id),
                                           "correlation_id": repr(pr.correlation_id), "body": repr(b[:200])} for h, pr, b in run.unmatched_dead[:20]],
        "replies_unmatched_sample": run.unmatched_replies[:20],
    }
    if not ok:
        summary["worker_log_tail"] = run.log_tail(60)

    # the human summary
    print(f"\n{'variant':44} {'sent':>6} {'answered':>8} {'dead':>6} {'wrong':>6}")
    for name, c in sorted(per_variant.items()):
        flag = "  <--" if c["wrong"] else ""
        print(f"{name:44} {c['sent']:6} {c['answered']:8} {c['dead_lettered']:6} {c['wrong']:6}{flag}")
    print(f"{'TOTAL':44} {totals['sent']:6} {totals['answered']:8} {totals['dead_lettered']:6} {totals['wrong']:6}")
    print(textwrap.fill("property variants, sent/wrong: " + " | ".join(f"{k} {c['sent']}/{c['wrong']}" for k, c in sorted(per_property.items())),
                        width=140, subsequent_indent="  "))
    for phase, info in by_phase.items():
        print(f"phase {phase}: {info['messages']} messages, {info['wrong']} wrong, worker reconnects {info['worker_reconnects']}; "
              f"published in {info['publish_seconds']} s, answers waited {info['wait_seconds']} s")
    print("\nfailure counts (all must be 0):")
    for k, v in sorted(failures.items()):
        print(f"  {k:32} {v}{'  <--' if v else ''}")
    print(f"worker: alive={alive} readyz={ready} reconnects={int(metrics.get('tollgate_broker_reconnects_total', 0))} "
          f"unroutable={int(metrics.get('tollgate_unroutable_total', 0))} (after the mix {run.unroutable_after_mix}, "
          f"for {unroutable_sent} messages with a reply_to of no queue) invalid={int(metrics.get('tollgate_invalid_messages_total', 0))}")
    if observations:
        print("\nobservations (not failures):")
        for o, n in sorted(observations.items()):
            print(f"  {n:5} x {o}")
    if wrong:
        print(f"\nfirst wrong messages ({len(wrong)} in all):")
        for p in wrong[: 12 if not run.args.verbose else 200]:
            d = describe(p)
            print(f"  #{p.idx} {p.kind}:{p.variant} [{', '.join(p.notes) or 'plain properties'}] rk={d['routing_key'][:60]}")
            print(f"     body {d['body_repr'][:200]}")
            for prob in p.problems[:3]:
                print(f"     - {prob[:300]}")
    if run.headerless_dead:
        print(f"\ndead letters without x-tollgate-error: {len(run.headerless_dead)}, e.g. {summary['dead_letters_without_header_sample'][:2]}")
    if run.unmatched_dead:
        print(f"dead letters matching nothing sent: {len(run.unmatched_dead)}, e.g. {summary['dead_letters_unmatched_sample'][:2]}")
    if not ok:
        print("\nworker log (tail):")
        for line in run.log_tail(25):
            print("  " + line[:300])
    return summary


if __name__ == "__main__":
    sys.exit(main())
