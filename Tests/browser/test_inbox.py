"""The approvals inbox in a real browser (Debian's chromium, driven by Selenium through
chromium-driver), against a real RabbitMQ, a real worker and a real gateway.

Run by deploy/browser-test.sh (which installs what it needs); by hand:

    TOLLGATE_BINARY=.build/debug/tollgate python3 -m unittest -v Tests/browser/test_inbox.py

Screenshots go to $TOLLGATE_SCREENSHOTS (deploy/browser-test.sh --screenshots sets docs/images).
"""

import json
import os
import re
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request
import uuid

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

BINARY = os.path.abspath(os.environ.get("TOLLGATE_BINARY", ".build/debug/tollgate"))
BROKER = os.environ.get("TOLLGATE_TEST_BROKER", "127.0.0.1:5672")
PASSWORD = "secret"  # deploy/broker-users.sh
SHOTS = os.environ.get("TOLLGATE_SCREENSHOTS")

POLICY = """\
version: "1.0"
name: approval-workflow-policy
description: Chapter 5's transfer, a two-of-three quorum, and a request with a short deadline
rules:
  - name: escalate-transfer-funds
    condition: {field: tool_name, operator: eq, value: transfer_funds}
    action: escalate
    message: "Sensitive action: transfer_funds requires human approval"
    escalation: {approvers: [manager@corp.com], timeout_seconds: 300, timeout_action: deny}
  - name: wire-abroad-needs-two
    condition: {field: tool_name, operator: eq, value: wire_abroad}
    action: escalate
    message: "Wires abroad need two of the three officers"
    escalation:
      approvers: [manager@corp.com, cfo@corp.com, compliance@corp.com]
      required_approvals: 2
      timeout_seconds: 600
  - name: refund-for-the-session
    condition: {field: tool_name, operator: eq, value: issue_refund}
    action: escalate
    message: "Refunds need the manager, who may allow the rest of the session"
    escalation: {approvers: [manager@corp.com], timeout_seconds: 300, max_grant_seconds: 3600}
  - name: vendor-onboarding-in-stages
    condition: {field: tool_name, operator: eq, value: onboard_vendor}
    action: escalate
    message: "New vendors: the manager, then compliance"
    escalation:
      stages:
        - {name: manager, approvers: [manager@corp.com], timeout_seconds: 300, on_timeout: {fallback: [cfo@corp.com]}}
        - {name: compliance, approvers: [compliance@corp.com], timeout_seconds: 600}
  - name: bulk-email-quick
    condition: {field: tool_name, operator: eq, value: send_bulk_email}
    action: escalate
    message: "Mailing every customer needs a yes within seconds"
    escalation: {approvers: [manager@corp.com], timeout_seconds: 20}
"""


def amqp_url(user):
    return "amqp://%s:%s@%s/" % (urllib.parse.quote(user, safe=""), PASSWORD, BROKER)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Fleet:
    """A worker that trusts the gateway, a gateway in front of it, and agents' calls."""

    def __init__(self, gateway_args=(), worker_args=(), policy=POLICY):
        self.dir = tempfile.mkdtemp(prefix="tollgate-browser-")
        self.prefix = "tgb" + uuid.uuid4().hex[:8]
        self.port = free_port()
        policy_text = policy
        policy = os.path.join(self.dir, "policy.yaml")
        with open(policy, "w") as f:
            f.write(policy_text)
        self.processes = []
        self.metrics_port = free_port()
        self.worker = self.spawn(
            "worker",
            ["worker", "--prefix", self.prefix, "--worker-id", "w1", "--db", os.path.join(self.dir, "w1.db"),
             "--policy", policy, "--amqp-url", amqp_url("tollgate-worker"), "--trusted-gateway", "tollgate-gateway",
             "--metrics-port", str(self.metrics_port)] + list(worker_args),
        )
        self.wait_ready("http://127.0.0.1:%d/readyz" % self.metrics_port, "worker")
        self.gateway = self.spawn(
            "gateway",
            ["gateway", "--prefix", self.prefix, "--listen", "127.0.0.1:%d" % self.port,
             "--amqp-url", amqp_url("tollgate-gateway")] + list(gateway_args),
        )
        self.wait_ready(self.url + "readyz", "gateway")

    def spawn(self, name, args):
        with open(os.path.join(self.dir, name + ".log"), "w") as log:
            p = subprocess.Popen([BINARY] + args, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(p)
        return p

    def log(self, name):
        with open(os.path.join(self.dir, name + ".log")) as f:
            return f.read()

    @property
    def url(self):
        return "http://127.0.0.1:%d/" % self.port

    def wait_ready(self, url, name):
        end = time.time() + 30
        while time.time() < end and all(p.poll() is None for p in self.processes):
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("the %s did not get ready:\n%s" % (name, self.log(name)))

    def call(self, tool, arguments, agent="finance-agent", reason=None, wait=300, context=None):
        """An agent's call, waiting for its final decision in the background."""
        args = ["call", "--prefix", self.prefix, "--amqp-url", amqp_url(agent), "--agent", agent, "--tool", tool,
                "--arguments", json.dumps(arguments), "--json", "--wait", str(wait)]
        if reason:
            args += ["--reason", reason]
        if context:
            args += ["--context", json.dumps(context)]
        path = os.path.join(self.dir, "call-%s.out" % uuid.uuid4().hex[:8])
        with open(path, "w") as out:
            p = subprocess.Popen([BINARY] + args, stdout=out, stderr=subprocess.STDOUT)
        self.processes.append(p)
        return Call(p, path)

    def vote_cli(self, user, request_id, decision="approve", comment="from the terminal"):
        verb = "approve" if decision == "approve" else "deny"
        return subprocess.run(
            [BINARY, verb, request_id, "--comment", comment, "--prefix", self.prefix, "--amqp-url", amqp_url(user)],
            capture_output=True, text=True, timeout=30,
        )

    def close(self):
        for p in self.processes:
            if p.poll() is None:
                p.terminate()
        for p in self.processes:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


class Call:
    def __init__(self, process, path):
        self.process = process
        self.path = path

    def output(self):
        with open(self.path) as f:
            return f.read()

    def decisions(self):
        """The JSON decision bodies printed so far (one per line or pretty-printed)."""
        text = self.output()
        found, depth, start = [], 0, None
        for i, ch in enumerate(text):
            if ch == "{":
                if depth == 0:
                    start = i
                depth += 1
            elif ch == "}" and depth:
                depth -= 1
                if depth == 0:
                    try:
                        found.append(json.loads(text[start:i + 1]))
                    except ValueError:
                        pass
        return [d for d in found if "decision" in d]

    def request_id(self, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            for d in self.decisions():
                if d.get("request_id"):
                    return d["request_id"]
            time.sleep(0.1)
        raise AssertionError("the call got no pending answer: " + self.output())

    def final(self, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            finals = [d for d in self.decisions() if d.get("final")]
            if finals:
                return finals[-1]
            time.sleep(0.1)
        raise AssertionError("the agent got no final decision: " + self.output())


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("TOLLGATE_CHROMIUM", "/usr/bin/chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1400",
              "--force-prefers-reduced-motion"):
        options.add_argument(a)
    service = webdriver.ChromeService(executable_path=os.environ.get("TOLLGATE_CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.implicitly_wait(0)
    return driver


class Inbox:
    """One person's browser on the inbox."""

    def __init__(self, fleet):
        self.fleet = fleet
        self.driver = browser()
        self.driver.get(fleet.url)

    def wait(self, condition, timeout=15, message=""):
        try:
            # The page redraws as it polls: an element gone stale is looked up again.
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1,
                                 ignored_exceptions=(StaleElementReferenceException,)).until(lambda d: condition())
        except TimeoutException:
            raise AssertionError("timed out: %s\npage text:\n%s" % (message, self.text()))

    def text(self, selector="body"):
        try:
            return self.driver.find_element(By.CSS_SELECTOR, selector).text
        except Exception:
            return ""

    def sign_in(self, user, password=PASSWORD):
        self.wait(lambda: self.driver.find_element(By.ID, "sign-in").is_displayed(), message="the sign-in form")
        self.driver.find_element(By.ID, "user").send_keys(user)
        # The keyboard alone: Enter in the password field submits.
        self.driver.find_element(By.ID, "password").send_keys(password, Keys.ENTER)

    def signed_in(self, user):
        self.wait(lambda: self.text("#user-name") == user, message="signed in as " + user)

    def card(self, request_id):
        cards = self.driver.find_elements(By.CSS_SELECTOR, 'article.card[data-request-id="%s"]' % request_id)
        try:
            return cards[0] if cards and cards[0].is_displayed() else None
        except StaleElementReferenceException:
            return None  # removed from the page between the lookup and the check

    def wait_card(self, request_id, timeout=15):
        return self.wait(lambda: self.card(request_id), timeout, "the card of " + request_id)

    def vote(self, request_id, decision, comment=""):
        card = self.wait_card(request_id)
        box = card.find_element(By.CSS_SELECTOR, "textarea.comment")
        box.clear()
        if comment:
            box.send_keys(comment)
        card.find_element(By.CSS_SELECTOR, "button." + decision).click()

    def notice_of_vote(self, what):
        """The notice the page shows for one's own vote ("Your approval of <tool> ...")."""
        def notice():
            for n in self.driver.find_elements(By.CSS_SELECTOR, "#notices .notice"):
                if n.text.startswith("Your " + what):
                    return n.text
            return None

        return self.wait(notice, message="the notice of your " + what)

    def history_row(self, request_id, must_contain=""):
        """The text of the history row of a request (rows are redrawn on every poll)."""
        def row():
            try:
                rows = self.driver.find_elements(By.CSS_SELECTOR, '#history tr[data-request-id="%s"]' % request_id)
                text = rows[0].text if rows else None
            except StaleElementReferenceException:
                return None
            return text if text and must_contain in text else None

        return self.wait(row, message="the history row of " + request_id)

    def outcome(self, request_id, timeout=15, other_than=None):
        """The answer shown on the card (waiting for one other than `other_than`)."""
        def shown():
            card = self.card(request_id)
            if card is None:
                return None
            o = card.find_element(By.CSS_SELECTOR, ".outcome")
            return o.text if o.is_displayed() and o.text and o.text != other_than else None

        return self.wait(shown, timeout, "the outcome of the vote on " + request_id)

    def shot(self, name):
        if SHOTS:
            os.makedirs(SHOTS, exist_ok=True)
            self.driver.save_screenshot(os.path.join(SHOTS, name))

    def close(self):
        self.driver.quit()


class InboxTests(unittest.TestCase):
    def setUp(self):
        self.fleet = Fleet()
        self.inboxes = []

    def tearDown(self):
        for inbox in self.inboxes:
            inbox.close()
        self.fleet.close()

    def open(self):
        inbox = Inbox(self.fleet)
        self.inboxes.append(inbox)
        return inbox

    def test_manager_approves_the_transfer(self):
        """Chapter 5 from the browser: sign in, see the transfer, approve it, the agent gets allow."""
        call = self.fleet.call(
            "transfer_funds",
            {"amount": 5000, "to": "vendor-123", "memo": {"invoice": "INV-2291", "lines": [1200, 3800]}},
            reason="Agent wants to transfer $5,000 to vendor account",
        )
        request_id = call.request_id()
        started = time.time()
        inbox = self.open()
        inbox.sign_in("manager@corp.com")
        inbox.signed_in("manager@corp.com")
        card = inbox.wait_card(request_id)
        text = card.text
        for expected in ("transfer_funds", "finance-agent", "Agent wants to transfer $5,000 to vendor account",
                         "escalate-transfer-funds", "Sensitive action: transfer_funds requires human approval",
                         "approval-workflow-policy", "vendor-123", "5000", "manager@corp.com",
                         "Approvals: 0 of 1"):
            self.assertIn(expected, text)
        # Nested arguments are shown as JSON.
        nested = card.find_element(By.CSS_SELECTOR, ".arguments pre").text
        self.assertEqual(json.loads(nested), {"invoice": "INV-2291", "lines": [1200, 3800]})
        countdown = card.find_element(By.CSS_SELECTOR, ".countdown").text
        self.assertRegex(countdown, r"^denied automatically in [45]:\d\d$")
        first = countdown
        inbox.wait(lambda: card.find_element(By.CSS_SELECTOR, ".countdown").text != first, 5, "the countdown moves")
        inbox.shot("inbox-pending.png")

        inbox.vote(request_id, "approve", "vendor verified by phone")
        # The deciding vote's answer: on the card, or (when the next poll already took the card
        # away) in the notices at the top.
        self.assertEqual(inbox.notice_of_vote("approval of transfer_funds"),
                         "Your approval of transfer_funds for finance-agent was accepted; the request is approved.")
        final = call.final()
        elapsed = time.time() - started
        self.assertEqual(final["decision"], "allow")
        self.assertEqual(final["resolution"], "approved")
        self.assertEqual(final["approvers"], ["manager@corp.com"])
        self.assertLess(elapsed, 60, "approved within a minute of opening the page")
        # It leaves the list and enters the history, with who decided.
        inbox.wait(lambda: inbox.card(request_id) is None, message="the decided card leaves")
        row = inbox.history_row(request_id, "approved")
        self.assertIn("manager@corp.com", row)
        self.assertIn("manager@corp.com: vendor verified by phone", row, "the reviewer's words")
        self.assertEqual(final["votes"][0]["comment"], "vendor verified by phone")
        inbox.shot("inbox-decided.png")
        print("\n  approved from the browser %.1f s after opening the page" % elapsed)

    def test_agent_cannot_vote_on_another_agents_request(self):
        call = self.fleet.call("transfer_funds", {"amount": 90000, "to": "offshore-1"})
        request_id = call.request_id()
        inbox = self.open()
        inbox.sign_in("support-agent")
        inbox.signed_in("support-agent")
        inbox.vote(request_id, "deny")
        self.assertEqual(inbox.outcome(request_id), "A comment is required to deny: say why.")
        inbox.vote(request_id, "approve", "looks fine to me")
        outcome = inbox.outcome(request_id, other_than="A comment is required to deny: say why.")
        self.assertTrue(outcome.startswith("Rejected: "), outcome)
        self.assertIn("support-agent", outcome)
        self.assertIn("not", outcome)  # "... is not an approver of rule escalate-transfer-funds"
        self.assertIsNotNone(inbox.card(request_id), "the request is still pending")
        self.assertIsNone(call.process.poll(), "the agent still waits")

    def test_approve_with_changes(self):
        """An approver corrects the amount from the card; the earlier approval stops counting."""
        call = self.fleet.call("wire_abroad", {"amount": 250000, "currency": "EUR", "to": "DE89 3704 0044 0532 0130 00"},
                               reason="Pay the Frankfurt supplier's quarterly invoice")
        request_id = call.request_id()
        manager, cfo = self.open(), self.open()
        manager.sign_in("manager@corp.com")
        cfo.sign_in("cfo@corp.com")
        manager.signed_in("manager@corp.com")
        cfo.signed_in("cfo@corp.com")
        manager.vote(request_id, "approve", "counterparty checked")
        self.assertIn("it still waits for more votes", manager.outcome(request_id))
        cfo.wait(lambda: "Approvals: 1 of 2" in cfo.card(request_id).text, message="the manager's approval shows")

        card = cfo.wait_card(request_id)
        card.find_element(By.CSS_SELECTOR, "details.edit summary").click()
        field = card.find_element(By.CSS_SELECTOR, "textarea.edited-arguments")
        self.assertEqual(json.loads(field.get_attribute("value"))["amount"], 250000, "prefilled with the pending arguments")
        field.clear()
        field.send_keys("{not json")
        card.find_element(By.CSS_SELECTOR, "button.approve-edited").click()
        self.assertIn("must be a JSON object", cfo.outcome(request_id))
        field.clear()
        field.send_keys(json.dumps({"amount": 125000, "currency": "EUR", "to": "DE89 3704 0044 0532 0130 00"}))
        card.find_element(By.CSS_SELECTOR, "textarea.comment").send_keys("half this quarter")
        card.find_element(By.CSS_SELECTOR, "button.approve-edited").click()
        self.assertEqual(cfo.notice_of_vote("approval with changes"),
                         "Your approval with changes of wire_abroad for finance-agent was accepted; it still waits for more votes.")
        # Everyone sees the new arguments, that they were edited, and whose vote lapsed.
        def edited_card():
            c = manager.card(request_id)
            return c if c and "125000" in c.text and c.find_element(By.CSS_SELECTOR, ".edited-badge").is_displayed() else None
        shown = manager.wait(edited_card, message="the edited arguments on the manager's page").text
        self.assertIn("Earlier votes of manager@corp.com no longer count", shown)
        self.assertIn("Approvals: 1 of 2 (cfo@corp.com)", shown)
        manager.shot("inbox-edited.png")
        manager.vote(request_id, "approve", "fine, half")
        final = call.final()
        self.assertEqual(final["decision"], "allow")
        self.assertTrue(final["edited"])
        self.assertEqual(final["arguments"]["amount"], 125000)
        self.assertEqual([v.get("superseded", False) for v in final["votes"]], [True, False, False])

    def test_standing_grant(self):
        """Approve a refund and allow the rest of the session; the next refund is not asked; revoke it."""
        session = {"session_id": "support-chat-7"}
        call = self.fleet.call("issue_refund", {"order": "A-1001", "amount": 40}, context=session,
                               reason="Customer's parcel arrived broken")
        request_id = call.request_id()
        inbox = self.open()
        inbox.sign_in("manager@corp.com")
        inbox.signed_in("manager@corp.com")
        card = inbox.wait_card(request_id)
        scope = card.find_element(By.CSS_SELECTOR, "select.grant-scope")
        self.assertTrue(scope.is_displayed(), "the rule allows grants: the card offers one")
        ttl = card.find_element(By.CSS_SELECTOR, "select.grant-ttl")
        self.assertFalse(ttl.is_enabled(), "no duration without a scope")
        self.assertEqual([o.get_attribute("value") for o in ttl.find_elements(By.TAG_NAME, "option")],
                         ["300", "900", "3600"], "durations up to the rule's max_grant_seconds")
        Select(scope).select_by_value("session")
        Select(ttl).select_by_value("900")
        inbox.vote(request_id, "approve", "refunds are fine today")
        self.assertIn("A standing grant now allows its next calls.", inbox.notice_of_vote("approval of issue_refund"))
        final = call.final()
        self.assertEqual(final["grant"]["scope"], "session")
        self.assertEqual(final["grant"]["session_id"], "support-chat-7")

        # The next refund in the session is allowed at once, by the grant.
        again = self.fleet.call("issue_refund", {"order": "A-1002", "amount": 15}, context=session)
        decided = again.final()
        self.assertEqual((decided["decision"], decided["resolution"]), ("allow", "grant"))
        self.assertEqual(decided["approvers"], ["manager@corp.com"])

        # The grant is listed, with a countdown, and can be revoked.
        def grant_row():
            rows = inbox.driver.find_elements(By.CSS_SELECTOR, '#grants tr[data-grant-id="%s"]' % final["grant"]["grant_id"])
            return rows[0] if rows and "support-chat-7" in rows[0].text else None
        row = inbox.wait(grant_row, message="the grant in the list")
        self.assertIn("issue_refund", row.text)
        self.assertRegex(row.text, r"1[45]:\d\d")
        inbox.shot("inbox-grants.png")
        row.find_element(By.CSS_SELECTOR, "button.revoke").click()
        inbox.driver.switch_to.alert.accept()
        inbox.wait(lambda: any(n.text == "You revoked the standing grant of issue_refund for finance-agent."
                               for n in inbox.driver.find_elements(By.CSS_SELECTOR, "#notices .notice")),
                   message="the notice of the revocation")
        inbox.wait(lambda: inbox.text("#grants-empty") == "No standing grants." and
                   inbox.driver.find_element(By.ID, "grants-empty").is_displayed(), message="the grant leaves the list")
        third = self.fleet.call("issue_refund", {"order": "A-1003", "amount": 5}, context=session)
        self.assertTrue(third.request_id(), "asked again after the revocation")
        self.assertFalse(any(d.get("final") for d in third.decisions()))

    def test_stages(self):
        """A request in two stages: the manager's card, then compliance's, each with its own deadline."""
        call = self.fleet.call("onboard_vendor", {"vendor": "ACME GmbH", "iban": "DE89 3704 0044 0532 0130 00"})
        request_id = call.request_id()
        manager, compliance = self.open(), self.open()
        manager.sign_in("manager@corp.com")
        compliance.sign_in("compliance@corp.com")
        manager.signed_in("manager@corp.com")
        compliance.signed_in("compliance@corp.com")
        card = manager.wait_card(request_id)
        self.assertIn("Stage 1 of 2: manager", card.text)
        self.assertFalse(card.find_element(By.CSS_SELECTOR, "select.grant-scope").is_displayed(),
                         "no grant is offered where the rule allows none")
        self.assertRegex(card.find_element(By.CSS_SELECTOR, ".countdown").text, r"^goes to the fallback group in [45]:\d\d$")
        manager.vote(request_id, "approve", "known supplier")
        self.assertIn("it still waits for more votes", manager.outcome(request_id))
        compliance.wait(lambda: "Stage 2 of 2: compliance" in (compliance.card(request_id).text if compliance.card(request_id) else ""),
                        message="stage two on compliance's page")
        countdown = compliance.card(request_id).find_element(By.CSS_SELECTOR, ".countdown").text
        self.assertRegex(countdown, r"^denied automatically in (9|10):\d\d$", "stage two's own deadline")
        compliance.shot("inbox-stages.png")
        compliance.vote(request_id, "approve", "sanctions screening clear")
        final = call.final()
        self.assertEqual(final["decision"], "allow")
        self.assertEqual([v["stage"] for v in final["votes"]], [1, 2])

    def test_link_to_one_request(self):
        """The link of a Slack message (tollgate webhook --inbox-url): that request's card is marked."""
        first = self.fleet.call("transfer_funds", {"amount": 100}).request_id()
        second = self.fleet.call("transfer_funds", {"amount": 200}).request_id()
        inbox = self.open()
        inbox.driver.get(self.fleet.url + "#request=" + second)
        inbox.sign_in("manager@corp.com")
        inbox.signed_in("manager@corp.com")
        card = inbox.wait_card(second)
        inbox.wait(lambda: "linked" in card.get_attribute("class"), message="the linked card is marked")
        self.assertNotIn("linked", inbox.wait_card(first).get_attribute("class"))
        # A request that is no longer pending says so instead.
        inbox.driver.execute_script("location.hash = '#request=w1-not-a-request'")
        inbox.wait(lambda: "w1-not-a-request is not pending" in inbox.text("#linked-gone"), message="the note")
        self.assertNotIn("linked", inbox.wait_card(second).get_attribute("class"))

    def test_wrong_password(self):
        inbox = self.open()
        inbox.sign_in("manager@corp.com", "not-the-password")
        inbox.wait(lambda: inbox.driver.find_element(By.ID, "sign-in-error").is_displayed(), message="the error")
        self.assertEqual(inbox.text("#sign-in-error"), "wrong user name or password")
        self.assertFalse(inbox.driver.find_element(By.ID, "inbox").is_displayed())
        self.assertNotIn("not-the-password", self.fleet.log("gateway"))

    def test_quorum_moves_on_screen(self):
        call = self.fleet.call("wire_abroad", {"amount": 250000, "currency": "EUR", "to": "DE89 3704 0044 0532 0130 00"},
                               reason="Pay the Frankfurt supplier's quarterly invoice")
        request_id = call.request_id()
        manager, cfo = self.open(), self.open()
        manager.sign_in("manager@corp.com")
        cfo.sign_in("cfo@corp.com")
        manager.signed_in("manager@corp.com")
        cfo.signed_in("cfo@corp.com")
        self.assertIn("Approvals: 0 of 2", cfo.wait_card(request_id).text)
        manager.vote(request_id, "approve", "counterparty checked")
        self.assertIn("it still waits for more votes", manager.outcome(request_id))
        # The other browser sees the tally move without a reload.
        cfo.wait(lambda: "Approvals: 1 of 2 (manager@corp.com)" in (cfo.card(request_id).text if cfo.card(request_id) else ""),
                 message="the tally moves in the other session")
        cfo.shot("inbox-quorum.png")
        cfo.vote(request_id, "approve", "second signature")
        self.assertIn("was accepted; the request is approved", cfo.notice_of_vote("approval of wire_abroad"))
        final = call.final()
        self.assertEqual((final["decision"], final["resolution"]), ("allow", "approved"))
        self.assertEqual(sorted(final["approvers"]), ["cfo@corp.com", "manager@corp.com"])
        manager.wait(lambda: manager.card(request_id) is None, message="it leaves the first session too")

    def test_decided_elsewhere_leaves_without_reload(self):
        call = self.fleet.call("transfer_funds", {"amount": 120, "to": "vendor-9"})
        request_id = call.request_id()
        inbox = self.open()
        inbox.sign_in("manager@corp.com")
        inbox.wait_card(request_id)
        denied = self.fleet.vote_cli("manager@corp.com", request_id, "deny", "duplicate invoice")
        self.assertEqual(denied.returncode, 0, denied.stdout + denied.stderr)
        inbox.wait(lambda: inbox.card(request_id) is None, message="the card leaves without a reload")
        inbox.wait(lambda: "transfer_funds for finance-agent: denied by manager@corp.com." in inbox.text("#notices"),
                   message="the notice says who decided and how")
        self.assertEqual(call.final()["resolution"], "denied")

    def test_request_times_out_on_screen(self):
        inbox = self.open()
        inbox.sign_in("manager@corp.com")
        inbox.signed_in("manager@corp.com")
        call = self.fleet.call("send_bulk_email", {"to": "all-customers", "count": 10000}, wait=60)
        request_id = call.request_id()
        card = inbox.wait_card(request_id)
        self.assertRegex(card.find_element(By.CSS_SELECTOR, ".countdown").text, r"^denied automatically in 0:[012]\d$")
        inbox.wait(lambda: inbox.card(request_id) is None, 30, "the timed-out card leaves")
        row = inbox.history_row(request_id, "denied (timed out)")
        self.assertIn("nobody in time", row)
        self.assertEqual((call.final()["decision"], call.final()["resolution"]), ("deny", "timeout"))

    def test_page_says_when_the_fleet_does_not_answer(self):
        # A second gateway on a prefix no worker serves: signed in, the page says why it is empty.
        port = free_port()
        lonely = self.fleet.spawn(
            "lonely-gateway",
            ["gateway", "--prefix", "tgb-nobody-" + uuid.uuid4().hex[:6], "--listen", "127.0.0.1:%d" % port,
             "--amqp-url", amqp_url("tollgate-gateway")],
        )
        self.assertIsNone(lonely.poll())
        inbox = self.open()
        inbox.wait(lambda: True)
        inbox.driver.get("http://127.0.0.1:%d/" % port)
        inbox.sign_in("manager@corp.com")
        # "... does not exist: no Tollgate worker has started with prefix P" (no worker ever ran
        # with it), or "no worker answers: is a Tollgate worker running with prefix P?".
        inbox.wait(lambda: "Tollgate worker" in inbox.text("#banner") and "tgb-nobody-" in inbox.text("#banner"), 20,
                   "the banner names the problem")


if __name__ == "__main__":
    unittest.main(verbosity=2)
