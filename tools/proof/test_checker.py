"""The proof checker catches what it claims to catch: each count goes up for the fault it names.

Synthetic records, no broker: python3 -m unittest tools/proof/test_checker.py (pika installed).
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from proof import Call, Record, Vote, check  # noqa: E402

W1 = "w1-01a23c1d-70ce-7cce-8c2b-2347471f11eb"
W1B = "w1-01a23c1d-70ce-7cce-8c2b-2347471f11ec"
W2 = "w2-01a23c1d-7fe1-77af-b320-4c25c07df812"


def decision(request_id, decision, resolution, final=True, votes=None):
    return {"request_id": request_id, "decision": decision, "resolution": resolution, "final": final,
            "votes": votes or []}


def outage(**changes):
    """One disk-full phase as the fault records it: /readyz said not ready 0.3 s in."""
    seen = {"fault": "disk full", "n": 1, "unwritable": True, "hold_s": 4.5, "exits": [],
            "not_ready_after_s": 0.3, "readyz": "not ready: the database cannot be written: disk full",
            "readyz_polls": {"503": 20, "200": 2}}
    seen.update(changes)
    return seen


def clean():
    """One allowed call, one malformed call and one approved escalation, all seen everywhere."""
    r = Record()
    r.calls["m-1"] = Call("m-1", "agent-01", "search_documents", "s-1", "allow")
    r.replies["m-1"] = [decision(W1, "allow", "policy")]
    r.feed[W1] = [decision(W1, "allow", "policy")]
    r.calls["m-2"] = Call("m-2", "agent-01", "?", "s-1", "malformed")
    r.replies["m-2"] = [decision(W1B, "deny", "invalid")]
    r.feed[W1B] = [decision(W1B, "deny", "invalid")]
    esc = "w1-01a23c1d-70ce-7cce-8c2b-2347471f11ed"
    votes = [{"voter": "manager@corp.com", "decision": "approve"}]
    r.calls["m-3"] = Call("m-3", "agent-02", "send_email", "s-2", "escalate")
    r.replies["m-3"] = [decision(esc, "pending", "policy", final=False), decision(esc, "allow", "approved", votes=votes)]
    r.feed[esc] = [decision(esc, "allow", "approved", votes=votes)]
    r.resolved[esc] = [decision(esc, "allow", "approved", votes=votes)]
    r.votes["v-1"] = Vote(esc, "manager@corp.com", "approve", False, "v-1")
    r.vote_answers["v-1"] = [{"request_id": esc, "accepted": True, "status": "allow"}]
    dead = [({"x-tollgate-error": "body is not valid JSON"}, "m-2")]
    return r, dead, [{"worker": "w1", "status": 0, "output": "OK"}]


class CheckerTests(unittest.TestCase):
    def counts(self, record, dead, audit):
        return check(record, dead, audit)[0]

    def test_clean_record_passes(self):
        self.assertEqual(set(self.counts(*clean()).values()), {0})

    def test_each_fault_is_counted(self):
        def lost(r, d, a):
            r.replies["m-1"] = []

        def split(r, d, a):
            r.replies["m-1"].append(decision(W1B, "allow", "policy"))

        def conflicting(r, d, a):
            r.feed[W1].append(decision(W1, "deny", "policy"))

        def decided_twice(r, d, a):
            esc = r.replies["m-3"][0]["request_id"]
            r.resolved[esc].append(decision(esc, "deny", "timeout"))

        def wrong(r, d, a):
            r.replies["m-1"] = [decision(W1, "deny", "policy")]
            r.feed[W1] = [decision(W1, "deny", "policy")]

        def bad_vote(r, d, a):
            r.votes["v-2"] = Vote("x", "compliance@corp.com", "approve", True, "v-2")
            r.vote_answers["v-2"] = [{"accepted": True}]

        def dead_no_reason(r, d, a):
            d[0] = ({}, "m-2")

        def not_dead(r, d, a):
            d.clear()

        def overspend(r, d, a):
            for n in range(26):
                m = f"b-{n}"
                rid = f"w1-01a23c1d-70ce-7cce-8c2b-{n:012d}"
                r.calls[m] = Call(m, "agent-budget-1", "search_documents", "budget", "budget")
                r.replies[m] = [decision(rid, "allow", "policy")]
                r.feed[rid] = [decision(rid, "allow", "policy")]

        def feed_missing(r, d, a):
            del r.feed[W1]

        def audit_break(r, d, a):
            a[0]["status"] = 1

        def ready_while_unwritable(r, d, a):
            r.outages.append(outage(not_ready_after_s=None, readyz_polls={"200": 25}))

        cases = {
            "lost": lost, "split": split, "conflicting": conflicting, "decided_twice": decided_twice,
            "wrong": wrong, "bad_votes_applied": bad_vote, "dead_no_reason": dead_no_reason,
            "malformed_not_dead": not_dead, "budget_overspend": overspend, "feed_missing": feed_missing,
            "audit_breaks": audit_break, "ready_while_unwritable": ready_while_unwritable,
        }
        for name, spoil in cases.items():
            with self.subTest(name):
                record, dead, audit = clean()
                spoil(record, dead, audit)
                counts = self.counts(record, dead, audit)
                self.assertGreater(counts[name], 0, f"{name} not counted: {counts}")

    def test_disk_phases_that_said_not_ready_and_broker_stops_pass(self):
        record, dead, audit = clean()
        record.outages.append(outage())
        record.outages.append(outage(fault="broker server stopped", unwritable=False, not_ready_after_s=None))
        counts, info = check(record, dead, audit)
        self.assertEqual(set(counts.values()), {0})
        self.assertEqual(len(info["outages"]), 2)

    def test_a_voter_who_is_no_approver_listed_in_the_decision_is_a_bad_vote(self):
        record, dead, audit = clean()
        esc = record.replies["m-3"][0]["request_id"]
        votes = [{"voter": "cfo@corp.com", "decision": "approve"}]
        record.replies["m-3"][1] = decision(esc, "allow", "approved", votes=votes)
        self.assertGreater(self.counts(record, dead, audit)["bad_votes_applied"], 0)

    def test_a_retry_decided_again_by_another_worker_is_a_split(self):
        record, dead, audit = clean()
        record.replies["m-1"].append(decision(W2, "allow", "policy"))
        counts, _ = check(record, dead, audit)
        self.assertEqual(counts["split"], 1)


if __name__ == "__main__":
    unittest.main()
