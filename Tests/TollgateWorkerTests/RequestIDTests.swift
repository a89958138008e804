import Foundation
import Testing

@testable import TollgateWorker

@Suite("Request ids")
struct RequestIDTests {
    @Test("worker id, dash, lowercase version-4 UUID; no repeats")
    func format() {
        var generator = RequestIDGenerator(workerID: "w-1")
        var seen = Set<String>()
        for _ in 0..<10_000 {
            let id = generator.next()
            #expect(id.hasPrefix("w-1-"))
            let uuid = String(id.dropFirst(4))
            #expect(uuid.count == 36)
            #expect(uuid == uuid.lowercased())
            #expect(UUID(uuidString: uuid) != nil)
            let chars = Array(uuid)
            #expect(chars[14] == "4")
            #expect("89ab".contains(chars[19]))
            seen.insert(id)
        }
        #expect(seen.count == 10_000)
    }
}
