#!/usr/bin/env python3
"""A receiver for `tollgate webhook`, with nothing but Python's standard library.

It checks each request the way docs/webhooks.md says a receiver should:

1. read the raw body (the signature covers its exact bytes; do not re-serialise the JSON first);
2. parse `Tollgate-Signature: t=<unix seconds>,v1=<hex>` (several v1 values may come while a
   secret is being rolled; any one may match);
3. refuse a `t` more than 5 minutes from its own clock (a replayed request);
4. compute HMAC-SHA256(secret, t + b"." + body), t as the header wrote it, and compare it to
   each v1 with hmac.compare_digest (constant time);
5. answer 2xx only once the notice is safely handled, and 2xx to a repeat of a
   `Tollgate-Delivery` id it already handled (the bridge delivers at least once).

Anything but 2xx makes the bridge try again later (408, 429 with Retry-After, 5xx) or give the
notice up to the dead-letter queue (any other 4xx), so answer 401 to a bad signature: a forgery
is not retried and a misconfigured secret shows up in the bridge's dead letters.

    tools/webhook_receiver.py --port 8099 --secret-file webhook.secret
    tollgate webhook --url tickets=http://127.0.0.1:8099/ --secret-file webhook.secret
"""
import argparse
import hashlib
import hmac
import http.server
import json
import sys
import time

TOLERANCE_SECONDS = 300


def verify(header, body, secret, now=None, tolerance=TOLERANCE_SECONDS):
    """(True, None) when `header` signs `body` with `secret`, else (False, why)."""
    timestamp, candidates = None, []
    for part in (header or "").split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return False, "malformed signature header"
        if key == "t":
            if timestamp is not None or not value.isdigit():
                return False, "malformed signature header"
            timestamp = value  # signed as written
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False, "malformed signature header"
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance:
        return False, "timestamp outside the tolerance"
    expected = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if any(hmac.compare_digest(expected, c) for c in candidates):
        return True, None
    return False, "signature mismatch"


class Receiver(http.server.BaseHTTPRequestHandler):
    secret = b""
    seen = set()  # Tollgate-Delivery ids handled (keep them in a database in real life)
    handled = []  # (event, notice) in the order handled

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        ok, why = verify(self.headers.get("Tollgate-Signature"), body, self.secret)
        if not ok:
            return self.answer(401, why)
        delivery = self.headers.get("Tollgate-Delivery", "")
        if delivery in self.seen:
            return self.answer(200, "repeat")
        notice = json.loads(body)
        type(self).handled.append((self.headers.get("Tollgate-Event"), notice))
        self.seen.add(delivery)
        return self.answer(200, "ok")

    def answer(self, status, text):
        data = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stderr.write("webhook-receiver: " + fmt % args + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--secret-file", required=True)
    args = parser.parse_args()
    with open(args.secret_file, "rb") as f:
        Receiver.secret = f.read().strip()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Receiver)
    print(f"webhook-receiver: listening on http://127.0.0.1:{args.port}/", file=sys.stderr)
    server.serve_forever()


if __name__ == "__main__":
    main()
