import Foundation
import Testing
import TollgateJSON

/// The inputs libFuzzer found that reach new code in the parser (tools/fuzz/run.sh keeps them in
/// tools/fuzz/corpus/json), replayed on every test run: none may crash, and every one that parses
/// to finite values is written back into JSON that parses to the same value (the fuzz target's
/// own checks, tools/fuzz/FuzzJSON.swift).
@Suite("JSON fuzz corpus")
struct FuzzCorpusTests {
    static let folder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("tools/fuzz/corpus/json")

    @Test("every kept fuzz input parses or is refused, and what parses is written back unchanged")
    func replay() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path).sorted()
        #expect(names.count > 100, "the corpus is there")
        var parsed = 0
        for name in names {
            let bytes = [UInt8](try Data(contentsOf: Self.folder.appendingPathComponent(name)))
            guard let value = try? JSONValue.parse(bytes) else { continue }
            parsed += 1
            guard finite(value) else { continue }
            var writer = JSONWriter()
            writer.value(value)
            let again = try JSONValue.parse(writer.bytes)
            #expect(again == value, "\(name): \(String(decoding: writer.bytes, as: UTF8.self))")
        }
        #expect(parsed > 0, "some inputs are valid JSON")
    }

    private func finite(_ value: JSONValue) -> Bool {
        switch value {
        case .double(let d): return d.isFinite
        case .array(let items): return items.allSatisfy(finite)
        case .object(let object): return object.allSatisfy { finite($0.value) }
        default: return true
        }
    }
}
