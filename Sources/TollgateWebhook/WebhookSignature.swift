import Crypto

/// The signature of a webhook request, in the scheme Stripe's and Slack's receivers already know:
///
///     Tollgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
///
/// `t` is the time of the attempt (each retry is signed again), so a receiver can refuse a
/// request whose `t` is far from its own clock (replays), and the HMAC covers `t` and the exact
/// bytes of the body. docs/webhooks.md has a receiver that checks it.
public enum WebhookSignature {
    public static let headerName = "Tollgate-Signature"
    /// How far `t` may be from the receiver's clock, by default.
    public static let defaultToleranceSeconds: Int64 = 300

    /// The header value for `body` sent at `timestamp`.
    public static func header(body: some Sequence<UInt8>, timestamp: Int64, secret: [UInt8]) -> String {
        "t=\(timestamp),v1=\(hex(mac(body: body, timestamp: timestamp, secret: secret)))"
    }

    static func mac(body: some Sequence<UInt8>, timestamp: Int64, secret: [UInt8]) -> [UInt8] {
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: secret))
        hmac.update(data: Array("\(timestamp).".utf8))
        hmac.update(data: Array(body))
        return Array(hmac.finalize())
    }

    public enum Verdict: Equatable, Sendable {
        case valid
        /// The header is not `t=<digits>,v1=<64 hex digits>[,v1=...]`.
        case malformed
        /// `t` is further than the tolerance from `now`.
        case stale(seconds: Int64)
        /// No `v1` matches: another secret, or a body changed on the way.
        case mismatch
    }

    /// Checks a received header, the way a receiver should: parse, check the time, then compare
    /// every `v1` (a sender rolling its secret may send two) in constant time.
    public static func verify(
        header: String,
        body: some Sequence<UInt8>,
        secret: [UInt8],
        now: Int64,
        toleranceSeconds: Int64 = defaultToleranceSeconds
    ) -> Verdict {
        var timestamp: Int64?
        var candidates: [[UInt8]] = []
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: " ") }
            guard pair.count == 2 else { return .malformed }
            switch pair[0] {
            case "t":
                guard timestamp == nil, !pair[1].isEmpty, pair[1].utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                    let t = Int64(pair[1])
                else { return .malformed }
                timestamp = t
            case "v1":
                guard let bytes = unhex(pair[1]), bytes.count == 32 else { return .malformed }
                candidates.append(bytes)
            default:
                continue  // other schemes, for later versions
            }
        }
        guard let timestamp, !candidates.isEmpty else { return .malformed }
        let skew = now > timestamp ? now - timestamp : timestamp - now
        if skew > toleranceSeconds { return .stale(seconds: skew) }
        let expected = mac(body: body, timestamp: timestamp, secret: secret)
        for candidate in candidates where constantTimeEqual(candidate, expected) { return .valid }
        return .mismatch
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func unhex(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let high = nibble(utf8[i]), let low = nibble(utf8[i + 1]) else { return nil }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var s = self[...]
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
