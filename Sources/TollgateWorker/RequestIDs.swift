/// Request ids `<worker-id>-<uuid>`: a random (version 4) UUID in lowercase, as Foundation's
/// `UUID().uuidString.lowercased()` writes it, from the system's CSPRNG.
///
/// Foundation's `UUID()` opens, reads and closes `/dev/urandom` on every call on Linux: three
/// syscalls and a path lookup per decision, about 8% of the worker thread's time in the
/// `tollgate-bench worker` profile. `SystemRandomNumberGenerator` asks `getrandom(2)`.
struct RequestIDGenerator {
    private let prefix: [UInt8]
    private var random = SystemRandomNumberGenerator()

    init(workerID: String) {
        prefix = Array(workerID.utf8) + [UInt8(ascii: "-")]
    }

    mutating func next() -> String {
        let high: UInt64 = (random.next() & ~0xf000) | 0x4000  // version 4 (byte 6)
        let low: UInt64 = (random.next() & ~(0xc0 << 56)) | (0x80 << 56)  // RFC 4122 variant (byte 8)
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
