// The fuzz target for the JSON parser every tool call, vote and hand-off goes through first.
// What it checks, for every input libFuzzer makes up:
//   - parsing never crashes, hangs or reads out of bounds (the sanitizers say so);
//   - a value that parses is written again (JSONWriter, and the canonical form of receipts)
//     into JSON that parses back to the same value.
// Non-finite numbers (1e999 parses to infinity, as in Python) are written as Python writes them
// (Infinity), which is not JSON: those values skip the round trip.

import TollgateJSON

@Sendable func fuzzJSON(_ bytes: [UInt8]) {
    guard let value = try? JSONValue.parse(bytes), allFinite(value) else { return }
    var writer = JSONWriter()
    writer.value(value)
    check(value, writer.bytes, "JSONWriter", same: { $0 == $1 })
    // The canonical form (RFC 8785) writes numbers as ECMAScript does: 1e5 and 100000.0 become
    // 100000, so there an integer and a float of the same value are the same.
    check(value, canonicalJSON(value), "canonical JSON", same: sameNumbers)
}

private func check(
    _ value: JSONValue,
    _ written: [UInt8],
    _ what: String,
    same: (JSONValue, JSONValue) -> Bool
) {
    guard let again = try? JSONValue.parse(written) else {
        fatalError("\(what) wrote JSON that does not parse: \(String(decoding: written, as: UTF8.self))")
    }
    guard same(again, value) else {
        fatalError("\(what) changed the value: \(String(decoding: written, as: UTF8.self))")
    }
}

/// Equal, with numbers compared by their value.
private func sameNumbers(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case (.int, .double), (.double, .int), (.double, .double), (.int, .int):
        return a.doubleValue == b.doubleValue
    case (.array(let x), .array(let y)):
        return x.count == y.count && zip(x, y).allSatisfy { sameNumbers($0, $1) }
    case (.object(let x), .object(let y)):
        let left = Dictionary(x.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
        let right = Dictionary(y.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
        return left.count == right.count
            && left.allSatisfy { key, value in right[key].map { sameNumbers(value, $0) } ?? false }
    default:
        return a == b
    }
}

private func allFinite(_ value: JSONValue) -> Bool {
    switch value {
    case .double(let d): return d.isFinite
    case .array(let items): return items.allSatisfy(allFinite)
    case .object(let object): return object.allSatisfy { allFinite($0.value) }
    default: return true
    }
}
