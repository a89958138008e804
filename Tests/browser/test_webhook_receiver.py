"""The example receiver of docs/webhooks.md (tools/webhook_receiver.py, Python's standard library
only) against a real worker and a real `tollgate webhook`: it verifies every signature the
bridge makes, and refuses forged, replayed and unsigned requests.

Run by deploy/browser-test.sh; by hand:

    TOLLGATE_BINARY=.build/debug/tollgate python3 -m unittest -v Tests/browser/test_webhook_receiver.py
"""

import hashlib
import hmac
import http.server
import json
import os
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
from test_inbox import Fleet, amqp_url, free_port  # noqa: E402
import webhook_receiver  # noqa: E402

SECRET = b"whsec-" + os.urandom(16).hex().encode()


class WebhookReceiverTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fleet = Fleet()
        secret_file = os.path.join(cls.fleet.dir, "webhook.secret")
        with open(secret_file, "wb") as f:
            f.write(SECRET + b"\n")
        webhook_receiver.Receiver.secret = SECRET
        cls.port = free_port()
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", cls.port), webhook_receiver.Receiver)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        metrics = free_port()
        cls.bridge = cls.fleet.spawn(
            "webhook",
            ["webhook", "--prefix", cls.fleet.prefix, "--amqp-url", amqp_url("tollgate-worker"),
             "--url", "tickets=http://127.0.0.1:%d/" % cls.port, "--secret-file", secret_file,
             "--metrics-port", str(metrics), "--metrics-address", "127.0.0.1"],
        )
        # Notices published before its queue is bound are not its to deliver: wait until ready.
        cls.fleet.wait_ready("http://127.0.0.1:%d/readyz" % metrics, "webhook")

    @classmethod
    def tearDownClass(cls):
        cls.fleet.close()
        cls.server.shutdown()

    def handled(self, count, timeout=20):
        end = time.time() + timeout
        while time.time() < end and len(webhook_receiver.Receiver.handled) < count:
            time.sleep(0.05)
        return list(webhook_receiver.Receiver.handled)

    def post(self, body, headers):
        request = urllib.request.Request("http://127.0.0.1:%d/" % self.port, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def test_a_real_bridge_is_verified_and_a_forgery_is_not(self):
        before = len(webhook_receiver.Receiver.handled)
        call = self.fleet.call("transfer_funds", {"amount": 5000, "to": "vendor-123"},
                               reason="Agent wants to transfer $5,000 to vendor account")
        handled = self.handled(before + 1)
        self.assertEqual(len(handled), before + 1, self.fleet.log("webhook"))
        event, notice = handled[-1]
        self.assertEqual(event, "pending.transfer_funds")
        self.assertEqual(notice["arguments"], {"amount": 5000, "to": "vendor-123"})
        self.assertEqual(notice["rule"], "escalate-transfer-funds")
        self.assertIsNotNone(call)

        body = json.dumps(notice).encode()
        now = int(time.time())
        good = "t=%d,v1=%s" % (now, hmac.new(SECRET, b"%d." % now + body, hashlib.sha256).hexdigest())
        forged = "t=%d,v1=%s" % (now, hmac.new(b"guessed", b"%d." % now + body, hashlib.sha256).hexdigest())
        old = now - 3600
        replayed = "t=%d,v1=%s" % (old, hmac.new(SECRET, b"%d." % old + body, hashlib.sha256).hexdigest())
        base = {"Content-Type": "application/json", "Tollgate-Event": "pending.transfer_funds"}
        self.assertEqual(self.post(body, {**base, "Tollgate-Signature": forged, "Tollgate-Delivery": "f"}), 401)
        self.assertEqual(self.post(body, {**base, "Tollgate-Signature": replayed, "Tollgate-Delivery": "r"}), 401)
        self.assertEqual(self.post(body, {**base, "Tollgate-Delivery": "u"}), 401)
        self.assertEqual(self.post(body + b" ", {**base, "Tollgate-Signature": good, "Tollgate-Delivery": "c"}), 401)
        self.assertEqual(self.post(body, {**base, "Tollgate-Signature": good, "Tollgate-Delivery": "g"}), 200)
        # A repeat of a delivery id is answered but not handled twice.
        count = len(webhook_receiver.Receiver.handled)
        self.assertEqual(self.post(body, {**base, "Tollgate-Signature": good, "Tollgate-Delivery": "g"}), 200)
        self.assertEqual(len(webhook_receiver.Receiver.handled), count)


if __name__ == "__main__":
    unittest.main()
