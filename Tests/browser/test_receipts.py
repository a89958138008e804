"""Receipts made by a real worker, checked by the Python verifier shipped in
tools/verify_receipt.py (cryptography and rfc8785 from PyPI) and by `tollgate verify-receipt`:
valid ones pass once; forged, expired, edited, reused or other-policy ones are refused with
their reason code.

Run by deploy/browser-test.sh; by hand:

    TOLLGATE_BINARY=.build/debug/tollgate python3 -m unittest -v Tests/browser/test_receipts.py
"""

import datetime
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
from test_inbox import BINARY, Fleet  # noqa: E402
import test_inbox  # noqa: E402
import verify_receipt  # noqa: E402

POLICY = """\
version: "1.0"
name: receipts-policy
rules:
  - name: never-delete
    condition: {field: tool_name, operator: eq, value: delete_database}
    action: deny
    message: "Destructive action: deleting databases is never allowed"
  - name: transfer
    condition: {field: tool_name, operator: eq, value: transfer_funds}
    action: escalate
    escalation: {approvers: [manager@corp.com], timeout_seconds: 120}
"""

# Floats, nesting, non-ASCII keys and an integer-valued float: the digest must not care how
# the agent spelled them.
ARGUMENTS = {"query": "quarterly report", "limit": 5.0, "filters": {"région": ["eu", 2.5e-7], "b": True, "a": None}}


class ReceiptTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.keydir = tempfile.mkdtemp(prefix="tollgate-receipts-")
        cls.key = os.path.join(cls.keydir, "receipts.key")
        subprocess.run([BINARY, "keygen", "--out", cls.key, "--force"], check=True, capture_output=True)
        with open(cls.key + ".pub", "rb") as f:
            cls.public = f.read()
        cls.fleet = Fleet(worker_args=["--receipt-key", cls.key], policy=POLICY)

    @classmethod
    def tearDownClass(cls):
        cls.fleet.close()

    def final(self, tool, arguments, **kw):
        return self.fleet.call(tool, arguments, **kw).final()

    def test_allowed_call_verifies_once(self):
        decision = self.final("search_documents", ARGUMENTS)
        self.assertEqual(decision["decision"], "allow")
        receipt = decision["receipt"]
        self.assertEqual((receipt["version"], receipt["alg"]), (1, "Ed25519"))
        claims = receipt["claims"]
        self.assertEqual((claims["request_id"], claims["agent_id"], claims["tool_name"], claims["resolution"]),
                         (decision["request_id"], "finance-agent", "search_documents", "policy"))
        # Python's digest of the arguments as the agent sent them (rfc8785) equals the worker's.
        self.assertEqual(claims["action_digest"],
                         verify_receipt.action_digest("finance-agent", "search_documents", ARGUMENTS))
        respelled = json.loads(json.dumps(ARGUMENTS).replace("5.0", "5"))
        consumed = verify_receipt.Consumed(":memory:")
        action = ("finance-agent", "search_documents", respelled)
        self.assertEqual(verify_receipt.verify(decision, self.public, action, consumed=consumed),
                         (True, decision["request_id"]))
        self.assertEqual(verify_receipt.verify(decision, self.public, action, consumed=consumed),
                         (False, "already_consumed"))

    def test_refusals(self):
        decision = self.final("search_documents", ARGUMENTS)
        action = ("finance-agent", "search_documents", ARGUMENTS)
        forged = json.loads(json.dumps(decision))
        forged["receipt"]["claims"]["tool_name"] = "delete_database"
        self.assertEqual(verify_receipt.verify(forged, self.public), (False, "bad_signature"))
        expires = datetime.datetime.fromisoformat(decision["receipt"]["claims"]["expires_at"].replace("Z", "+00:00"))
        self.assertEqual(verify_receipt.verify(decision, self.public, action, now=expires), (False, "expired"))
        edited = ("finance-agent", "search_documents", dict(ARGUMENTS, limit=500))
        self.assertEqual(verify_receipt.verify(decision, self.public, edited), (False, "action_digest_mismatch"))
        other_tool = ("finance-agent", "delete_database", ARGUMENTS)
        self.assertEqual(verify_receipt.verify(decision, self.public, other_tool), (False, "action_digest_mismatch"))
        self.assertEqual(verify_receipt.verify(decision, self.public, action, policy_version="receipts-policy@2.0#0"),
                         (False, "policy_version_mismatch"))
        other_key = os.path.join(self.keydir, "other.key")
        subprocess.run([BINARY, "keygen", "--out", other_key, "--force"], check=True, capture_output=True)
        with open(other_key + ".pub", "rb") as f:
            self.assertEqual(verify_receipt.verify(decision, f.read(), action), (False, "bad_signature"))

    def test_denied_calls_carry_none(self):
        self.assertNotIn("receipt", self.final("delete_database", {}))

    def test_approved_escalation(self):
        call = self.fleet.call("transfer_funds", {"amount": 5000, "to": "vendor-123"})
        request_id = call.request_id()
        voted = self.fleet.vote_cli("manager@corp.com", request_id, "approve", "vendor verified")
        self.assertEqual(voted.returncode, 0, voted.stdout + voted.stderr)
        decision = call.final()
        self.assertEqual(decision["receipt"]["claims"]["resolution"], "approved")
        action = ("finance-agent", "transfer_funds", {"amount": 5000, "to": "vendor-123"})
        self.assertEqual(verify_receipt.verify(decision, self.public, action), (True, request_id))

    def test_approval_with_edits(self):
        """The receipt of an edited approval is for the approved arguments; the agent's own are refused."""
        sent = {"amount": 5000, "to": "vendor-123"}
        call = self.fleet.call("transfer_funds", sent)
        request_id = call.request_id()
        voted = subprocess.run(
            [BINARY, "approve", request_id, "--arguments", json.dumps({"amount": 4500, "to": "vendor-123"}),
             "--prefix", self.fleet.prefix, "--amqp-url", test_inbox.amqp_url("manager@corp.com")],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(voted.returncode, 0, voted.stdout + voted.stderr)
        decision = call.final()
        self.assertTrue(decision["edited"])
        self.assertEqual(decision["arguments"], {"amount": 4500, "to": "vendor-123"})
        approved = ("finance-agent", "transfer_funds", decision["arguments"])
        self.assertEqual(verify_receipt.verify(decision, self.public, ("finance-agent", "transfer_funds", sent)),
                         (False, "action_digest_mismatch"))
        self.assertEqual(verify_receipt.verify(decision, self.public, approved), (True, request_id))

    def test_the_verifier_in_the_docs(self):
        """The Python verifier printed in docs/wire-protocol.md, run as it is printed."""
        with open(os.path.join(HERE, "..", "..", "docs", "wire-protocol.md")) as f:
            text = f.read()
        start = text.index("A complete verifier in Python:")
        code = text[text.index("```python\n", start) + len("```python\n"):text.index("```", text.index("```python\n", start) + 10)]
        namespace = {}
        exec(code, namespace)  # noqa: S102 - the project's own documentation
        decision = self.final("search_documents", ARGUMENTS)
        used = set()
        docs_verify = namespace["verify"]
        self.assertEqual(docs_verify(decision, self.public, "finance-agent", "search_documents", ARGUMENTS, used), "ok")
        self.assertEqual(docs_verify(decision, self.public, "finance-agent", "search_documents", ARGUMENTS, used),
                         "already_consumed")
        self.assertEqual(docs_verify(decision, self.public, "finance-agent", "search_documents", {"query": "x"}, set()),
                         "action_digest_mismatch")
        forged = json.loads(json.dumps(decision))
        forged["receipt"]["claims"]["agent_id"] = "support-agent"
        self.assertEqual(docs_verify(forged, self.public, "support-agent", "search_documents", ARGUMENTS, set()),
                         "bad_signature")

    def test_the_cli_agrees(self):
        decision = self.final("search_documents", ARGUMENTS)
        path = os.path.join(self.keydir, "decision.json")
        with open(path, "w") as f:
            json.dump(decision, f)
        used = os.path.join(self.keydir, "used-%s.txt" % decision["request_id"])

        def cli(*extra):
            return subprocess.run(
                [BINARY, "verify-receipt", "--public-key", self.key + ".pub", "--receipt", path, "--consumed", used]
                + list(extra), capture_output=True, text=True)

        args = ["--agent", "finance-agent", "--tool", "search_documents", "--arguments", json.dumps(ARGUMENTS)]
        first = cli(*args)
        self.assertEqual((first.returncode, first.stdout.strip()), (0, "ok " + decision["request_id"]), first.stderr)
        again = cli(*args)
        self.assertEqual(again.returncode, 1)
        self.assertTrue(again.stdout.startswith("already_consumed"), again.stdout)
        edited = cli("--agent", "finance-agent", "--tool", "search_documents", "--arguments", '{"query": "x"}')
        self.assertTrue(edited.stdout.startswith("action_digest_mismatch"), edited.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
