import Testing
import TollgateJSON
@testable import TollgateWebhook

@Suite struct SignatureTests {
    let secret = Array("0123456789abcdef-secret".utf8)
    let body = Array(#"{"request_id":"w1-1"}"#.utf8)

    @Test func matchesPythonsHMAC() {
        // python3 -c 'import hmac,hashlib; print(hmac.new(b"0123456789abcdef-secret",
        //   b"1764058200." + b"{\"request_id\":\"w1-1\"}", hashlib.sha256).hexdigest())'
        #expect(
            WebhookSignature.header(body: body, timestamp: 1_764_058_200, secret: secret)
                == "t=1764058200,v1=3f45ddfe2db5867eead93d30e48ca92aff142d9824dc836650a1fd6ee2f54855"
        )
    }

    @Test func verifiesWhatItSigns() {
        let header = WebhookSignature.header(body: body, timestamp: 1000, secret: secret)
        #expect(WebhookSignature.verify(header: header, body: body, secret: secret, now: 1100) == .valid)
    }

    @Test func refusesAChangedBodyAnotherSecretAnOldTime() {
        let header = WebhookSignature.header(body: body, timestamp: 1000, secret: secret)
        #expect(WebhookSignature.verify(header: header, body: body + [0x20], secret: secret, now: 1000) == .mismatch)
        #expect(
            WebhookSignature.verify(header: header, body: body, secret: Array("another-secret-16b".utf8), now: 1000)
                == .mismatch
        )
        #expect(WebhookSignature.verify(header: header, body: body, secret: secret, now: 1301) == .stale(seconds: 301))
        #expect(WebhookSignature.verify(header: header, body: body, secret: secret, now: 699) == .stale(seconds: 301))
    }

    @Test func refusesMalformedHeaders() {
        for header in [
            "", "t=1000", "v1=" + String(repeating: "0", count: 64), "t=abc,v1=00", "t=1000,v1=zz",
            "t=1000,v1=" + String(repeating: "0", count: 62), "t=-5,v1=" + String(repeating: "0", count: 64),
            "t=1,t=2,v1=" + String(repeating: "0", count: 64), "garbage",
        ] {
            #expect(
                WebhookSignature.verify(header: header, body: body, secret: secret, now: 1000) == .malformed,
                "\(header)"
            )
        }
    }

    @Test func acceptsAnyOfSeveralSignaturesAndIgnoresOtherSchemes() {
        let good = WebhookSignature.header(body: body, timestamp: 1000, secret: secret)
        let v1 = good.split(separator: ",")[1]
        let header = "t=1000,v0=abc,v1=\(String(repeating: "a", count: 64)),\(v1)"
        #expect(WebhookSignature.verify(header: header, body: body, secret: secret, now: 1000) == .valid)
    }
}

@Suite struct RetryPolicyTests {
    let policy = RetryPolicy(maxAttempts: 5, maxAgeMillis: 60_000, initialBackoffMillis: 1_000, maxBackoffMillis: 8_000)

    @Test func backoffDoublesUpToTheMaximumWithJitterInTheUpperHalf() {
        #expect(policy.backoffMillis(afterFailures: 1, jitter: 0) == 500)
        #expect(policy.backoffMillis(afterFailures: 1, jitter: 0.999_999) == 999)
        #expect(policy.backoffMillis(afterFailures: 2, jitter: 0) == 1_000)
        #expect(policy.backoffMillis(afterFailures: 3, jitter: 0) == 2_000)
        #expect(policy.backoffMillis(afterFailures: 4, jitter: 0) == 4_000)
        #expect(policy.backoffMillis(afterFailures: 5, jitter: 0) == 4_000)  // 8 s cap, halved
        #expect(policy.backoffMillis(afterFailures: 500, jitter: 0.5) == 6_000)
    }

    @Test func twoHundredsAreDeliveredOtherRefusalsAreNotRetried() {
        #expect(
            policy.next(
                attempts: 1,
                outcome: .answered(status: 204, retryAfterMillis: nil, body: ""),
                ageMillis: 0,
                jitter: 0
            ) == .delivered
        )
        for status in [301, 400, 401, 403, 404, 410, 422] {
            let verdict = policy.next(
                attempts: 1,
                outcome: .answered(status: status, retryAfterMillis: nil, body: "no such hook"),
                ageMillis: 0,
                jitter: 0
            )
            #expect(verdict == .giveUp(reason: "the target answered \(status): no such hook (not retried)"))
        }
    }

    @Test func networkErrorsTimeoutsRateLimitsAndServerErrorsAreRetried() {
        for outcome: AttemptOutcome in [
            .unreachable("connection refused"), .answered(status: 408, retryAfterMillis: nil, body: ""),
            .answered(status: 429, retryAfterMillis: nil, body: ""),
            .answered(status: 500, retryAfterMillis: nil, body: ""),
            .answered(status: 503, retryAfterMillis: nil, body: ""),
        ] {
            #expect(policy.next(attempts: 2, outcome: outcome, ageMillis: 0, jitter: 0) == .retry(afterMillis: 1_000))
        }
    }

    @Test func retryAfterIsHonoured() {
        let outcome = AttemptOutcome.answered(status: 429, retryAfterMillis: 7_000, body: "slow down")
        #expect(policy.next(attempts: 1, outcome: outcome, ageMillis: 0, jitter: 0) == .retry(afterMillis: 7_000))
        // Never shorter than the backoff (no burst on "Retry-After: 0"), never longer than the
        // longest backoff.
        let now = AttemptOutcome.answered(status: 503, retryAfterMillis: 0, body: "")
        #expect(policy.next(attempts: 3, outcome: now, ageMillis: 0, jitter: 0) == .retry(afterMillis: 2_000))
        let tomorrow = AttemptOutcome.answered(status: 503, retryAfterMillis: 86_400_000, body: "")
        #expect(policy.next(attempts: 1, outcome: tomorrow, ageMillis: 0, jitter: 0) == .retry(afterMillis: 8_000))
    }

    @Test func givesUpAfterTheAttemptsOrTheAge() {
        let outcome = AttemptOutcome.unreachable("connection refused")
        #expect(
            policy.next(attempts: 5, outcome: outcome, ageMillis: 0, jitter: 0)
                == .giveUp(reason: "gave up after 5 attempts; the last: connection refused")
        )
        guard case .giveUp(let reason) = policy.next(attempts: 2, outcome: outcome, ageMillis: 59_500, jitter: 0) else {
            Issue.record("not given up")
            return
        }
        #expect(reason.contains("older than --max-age (60 s)"))
        // A wait that would end past the age limit gives up now rather than wait for nothing.
        let late = AttemptOutcome.answered(status: 503, retryAfterMillis: 120_000, body: "")
        guard case .giveUp = policy.next(attempts: 1, outcome: late, ageMillis: 55_000, jitter: 0) else {
            Issue.record("waited past --max-age")
            return
        }
    }

    @Test func parsesRetryAfter() {
        let now: Int64 = 1_792_567_600_000  // 2026-10-21T07:26:40Z
        #expect(RetryPolicy.retryAfterMillis("120", nowMillis: now) == 120_000)
        #expect(RetryPolicy.retryAfterMillis(" 0 ", nowMillis: now) == 0)
        #expect(RetryPolicy.retryAfterMillis("Wed, 21 Oct 2026 07:28:00 GMT", nowMillis: now) == 80_000)
        #expect(RetryPolicy.retryAfterMillis("Wed, 21 Oct 2026 07:00:00 GMT", nowMillis: now) == 0)
        for bad in ["", "soon", "-1", "1.5", "21 Oct 2026 07:28:00 GMT", "Wed, 21 Foo 2026 07:28:00 GMT"] {
            #expect(RetryPolicy.retryAfterMillis(bad, nowMillis: now) == nil, "\(bad)")
        }
    }
}

@Suite struct DeliveryLineTests {
    func notice(_ tag: UInt64, _ key: String, at: Int64 = 0) -> HeldNotice {
        HeldNotice(tag: tag, key: key, routingKey: "pending.t", body: [], publishedAtMillis: at, deliveryID: "\(tag)")
    }

    @Test func oneRequestsNoticesGoOneAtATimeInOrderOthersSideBySide() {
        var line = DeliveryLine()
        #expect(line.receive(notice(1, "a"))?.tag == 1)
        #expect(line.receive(notice(2, "b"))?.tag == 2)
        #expect(line.receive(notice(3, "a")) == nil)
        #expect(line.receive(notice(4, "a")) == nil)
        #expect(line.head(3) == nil)
        #expect(line.recordAttempt(1)?.attempts == 1)
        #expect(line.recordAttempt(1)?.attempts == 2)
        #expect(line.recordAttempt(3) == nil)
        #expect(line.finish(1)?.tag == 3)
        #expect(line.finish(2) == nil)
        #expect(line.finish(3)?.tag == 4)
        #expect(line.count == 1)
        #expect(line.finish(4) == nil)
        #expect(line.count == 0)
        #expect(line.finish(4) == nil)
    }

    @Test func oldestAgeAndReset() {
        var line = DeliveryLine()
        #expect(line.oldestAgeMillis(nowMillis: 100) == nil)
        _ = line.receive(notice(1, "a", at: 50))
        _ = line.receive(notice(2, "a", at: 10))
        _ = line.receive(notice(3, "b", at: 70))
        #expect(line.oldestAgeMillis(nowMillis: 100) == 90)
        line.reset()
        #expect(line.count == 0)
        #expect(line.head(1) == nil)
    }
}

@Suite struct WebhookConfigurationTests {
    @Test func targetsAreNamed() throws {
        let target = try WebhookConfiguration.parseTarget("slack=https://hooks.slack.com/services/T/B/X?a=b")
        #expect(target == .init(name: "slack", url: "https://hooks.slack.com/services/T/B/X?a=b"))
        for (spec, words) in [
            ("https://example.com/hook", "needs a name"), ("https://example.com/?a=b", "must be letters"),
            ("my hook=https://x.example", "must be letters"), ("t=ftp://example.com", "must start with http"),
        ] {
            #expect(throws: WebhookConfigurationError.self) { try WebhookConfiguration.parseTarget(spec) }
            do {
                _ = try WebhookConfiguration.parseTarget(spec)
            } catch {
                #expect(error.description.contains(words), "\(spec): \(error)")
            }
        }
    }

    @Test func validationNamesTheProblem() {
        var c = WebhookConfiguration()
        #expect(throws: WebhookConfigurationError.self) { try c.validate() }
        c.targets = [.init(name: "a", url: "http://x"), .init(name: "a", url: "http://y")]
        #expect(throws: WebhookConfigurationError.self) { try c.validate() }
        c.targets = [.init(name: "a", url: "http://x")]
        c.events = ["pending", "approved"]
        #expect(throws: WebhookConfigurationError.self) { try c.validate() }
        c.events = ["pending"]
        c.secret = Array("short".utf8)
        #expect(throws: WebhookConfigurationError.self) { try c.validate() }
        c.secret = Array("sixteen-bytes-ok".utf8)
        #expect(throws: Never.self) { try c.validate() }
        #expect(c.queueName(of: c.targets[0]) == "tollgate.webhook.a")
    }
}
