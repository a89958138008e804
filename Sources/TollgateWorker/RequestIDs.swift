#if canImport(Glibc)
import Glibc
#endif

/// Request ids `<worker-id>-<uuid>`: a time-ordered UUID (version 7: 48 bits of Unix time in
/// milliseconds, then a 12-bit counter within the millisecond, RFC 9562 section 6.2 method 1,
/// then 62 random bits from the system's CSPRNG) in lowercase, the format
/// `UUID().uuidString.lowercased()` writes. The counter keeps one worker's ids in order within a
/// millisecond and costs one `getrandom(2)` per id instead of two.
///
/// Time-ordered, because the escalations table is keyed by request id: a random (version 4) key
/// lands on a random page of that index, so with 1,000,000 escalations pending each parked call
/// dirtied (and wrote to the WAL) a page of its own, and parking was 23% slower than with an
/// empty table (`tollgate-bench escalations`); new time-ordered keys go to the end of the index.
/// And not Foundation's `UUID()`, which opens, reads and closes `/dev/urandom` on every call on
/// Linux (about 8% of the worker thread in `tollgate-bench worker`); `SystemRandomNumberGenerator`
/// asks `getrandom(2)`.
struct RequestIDGenerator {
    private let prefix: [UInt8]
    private var random = SystemRandomNumberGenerator()
    private var lastMillis: UInt64 = 0
    private var counter: UInt64 = 0

    init(workerID: String) {
        prefix = Array(workerID.utf8) + [UInt8(ascii: "-")]
    }

    mutating func next() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var millis = UInt64(now.tv_sec) &* 1000 &+ UInt64(now.tv_nsec / 1_000_000)
        // The counter restarts each millisecond; a clock that steps back, or more than 4,096 ids
        // in one millisecond, borrow the next millisecond, so ids never go backwards.
        if millis > lastMillis {
            lastMillis = millis
            counter = 0
        } else {
            counter += 1
            if counter > 0x0fff {
                lastMillis += 1
                counter = 0
            }
            millis = lastMillis
        }
        // Bytes 0-5: time; byte 6: version 7 and the counter; byte 8: RFC 9562 variant and random.
        let high: UInt64 = (millis << 16) | 0x7000 | counter
        let low: UInt64 = (random.next() & ~(0xc0 << 56)) | (0x80 << 56)
        return format(high, low)
    }

    private func format(_ high: UInt64, _ low: UInt64) -> String {
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: prefix.count + 36) { out in
            var at = 0
            for b in prefix {
                out[at] = b
                at += 1
            }
            digits.withUTF8Buffer { hex in
                for i in 0..<16 {
                    if i == 4 || i == 6 || i == 8 || i == 10 {
                        out[at] = UInt8(ascii: "-")
                        at += 1
                    }
                    let word = i < 8 ? high : low
                    let b = UInt8(truncatingIfNeeded: word >> UInt64(56 - 8 * (i % 8)))
                    out[at] = hex[Int(b >> 4)]
                    out[at + 1] = hex[Int(b & 0x0f)]
                    at += 2
                }
            }
            return at
        }
    }
}

/// The worker id inside a request id (`<worker-id>-<uuid>`): where its votes must go. nil when
/// the text is not a request id.
public func workerID(ofRequest requestID: String) -> String? {
    // A UUID is 36 characters; the worker id may itself contain dashes.
    let utf8 = Array(requestID.utf8)
    guard utf8.count > 37, utf8[utf8.count - 37] == UInt8(ascii: "-") else { return nil }
    let uuid = utf8[(utf8.count - 36)...]
    for (offset, byte) in uuid.enumerated() {
        let isDash = offset == 8 || offset == 13 || offset == 18 || offset == 23
        let isHex = (48...57).contains(byte) || (97...102).contains(byte) || (65...70).contains(byte)
        guard isDash ? byte == UInt8(ascii: "-") : isHex else { return nil }
    }
    return String(decoding: utf8[..<(utf8.count - 37)], as: UTF8.self)
}

/// The worker id inside a grant id (`grant-<request id of the worker>`): where its revocation
/// must go. nil when the text is not a grant id.
public func workerID(ofGrant grantID: String) -> String? {
    guard grantID.hasPrefix("grant-") else { return nil }
    return workerID(ofRequest: String(grantID.dropFirst("grant-".count)))
}
