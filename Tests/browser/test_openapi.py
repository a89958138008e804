"""The gateway keeps to its OpenAPI document: schemathesis (from PyPI) generates requests from
/v1/openapi.json against a running gateway, worker and broker, and checks every answer against
the document (status codes, content types, schemas, headers) and that none is a server error.

Run by deploy/browser-test.sh; by hand:

    TOLLGATE_BINARY=.build/debug/tollgate python3 -m unittest -v Tests/browser/test_openapi.py

TOLLGATE_SCHEMATHESIS_EXAMPLES sets the examples per operation (default 40).
"""

import json
import os
import shutil
import subprocess
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from test_inbox import Fleet, amqp_url, free_port  # noqa: E402

class OpenAPITests(unittest.TestCase):
    def schemathesis(self, base, arguments):
        st = shutil.which("schemathesis", path=os.path.dirname(sys.executable)) or shutil.which("schemathesis")
        self.assertIsNotNone(st, "schemathesis is not installed (deploy/browser-test.sh installs it)")
        examples = os.environ.get("TOLLGATE_SCHEMATHESIS_EXAMPLES", "40")
        run = subprocess.run(
            [st, "run", base + "v1/openapi.json", "--checks", "all", "--max-examples", examples,
             # Left out, each for a reason: ignored_auth sends one scheme's credentials wrong
             # while our -H gives another scheme's right ones (the schemes are alternatives),
             # and expects a refusal; positive_data_acceptance generates {"decision": "deny"}
             # without a comment from the document's oneOf (a denial needs one), which
             # GatewayTests.signInAndVote and the browser test check the other way round.
             "--exclude-checks", "ignored_auth,positive_data_acceptance",
             "--workers", "1", "--phases", "examples,coverage,fuzzing", "--no-color"] + arguments,
            capture_output=True, text=True, timeout=900,
        )
        print(run.stdout[-3000:])
        self.assertEqual(run.returncode, 0, run.stdout[-8000:] + run.stderr[-2000:])

    def test_the_gateway_keeps_to_its_document(self):
        # As a person behind a single sign-on proxy (the test is that proxy): the document's
        # vote schema is then exact (a bot must also name an approver, which a schema cannot
        # make conditional on the caller).
        fleet = Fleet(gateway_args=["--auth", "proxy", "--trusted-proxy", "127.0.0.1", "--votes-per-minute", "100000"])
        try:
            # One real pending request, so that reads of it and votes on it are exercised too.
            call = fleet.call("transfer_funds", {"amount": 5000, "to": "vendor-123"}, wait=120)
            call.request_id()
            person = "fuzz@corp.com"
            with urllib.request.urlopen(urllib.request.Request(fleet.url + "v1/me", headers={"X-Forwarded-User": person})) as r:
                csrf = json.load(r)["csrf_token"]
            # Everything but signing in and out (which a proxy's gateway does not do), as that person.
            self.schemathesis(fleet.url, ["--exclude-path", "/v1/session",
                                          "-H", "X-Forwarded-User: " + person, "-H", "X-CSRF-Token: " + csrf])
            # Signing in and out, on a gateway that signs people in with their broker user.
            port = free_port()
            fleet.spawn("broker-gateway", ["gateway", "--prefix", fleet.prefix, "--listen", "127.0.0.1:%d" % port,
                                           "--amqp-url", amqp_url("tollgate-gateway")])
            fleet.wait_ready("http://127.0.0.1:%d/readyz" % port, "broker-gateway")
            self.schemathesis("http://127.0.0.1:%d/" % port, ["--include-path", "/v1/session"])
            self.assertIsNone(fleet.gateway.poll(), "the gateway is still running")
            self.assertIsNone(fleet.worker.poll(), "the worker is still running")
        finally:
            fleet.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
