import Foundation
import Testing

@testable import TollgateWorker

@Suite("Request ids")
struct RequestIDTests {
    @Test("worker id, dash, lowercase version-7 UUID; no repeats; ordered by time, and in order within a millisecond")
    func format() {
        var generator = RequestIDGenerator(workerID: "w-1")
        var seen = Set<String>()
        var previous = ""
        for _ in 0..<10_000 {
            let id = generator.next()
            #expect(id > previous, "\(id) after \(previous)")
            previous = id
            #expect(id.hasPrefix("w-1-"))
            let uuid = String(id.dropFirst(4))
            #expect(uuid.count == 36)
            #expect(uuid == uuid.lowercased())
            #expect(UUID(uuidString: uuid) != nil)
            let chars = Array(uuid)
            #expect(chars[14] == "7")
            #expect("89ab".contains(chars[19]))
            seen.insert(id)
        }
        #expect(seen.count == 10_000)
        // The first 48 bits are the time in milliseconds: ids made later sort after.
        func millis(_ id: String) -> UInt64 {
            UInt64(id.dropFirst(4).prefix(13).replacingOccurrences(of: "-", with: ""), radix: 16) ?? 0
        }
        let before = UInt64(Date().timeIntervalSince1970 * 1000)
        let first = generator.next()
        let second = generator.next()
        let after = UInt64(Date().timeIntervalSince1970 * 1000)
        #expect(before <= millis(first) && millis(first) <= millis(second) && millis(second) <= after)
    }
}
