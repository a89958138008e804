// RFC 8785 canonical JSON: the examples of the RFC and ECMAScript's number printing.
import Testing

@testable import TollgateJSON

@Suite("Canonical JSON (RFC 8785)")
struct CanonicalJSONTests {
    func canonical(_ text: String) throws -> String {
        String(decoding: canonicalJSON(try JSONValue.parse(Array(text.utf8))), as: UTF8.self)
    }

    @Test(
        "numbers print as ECMAScript prints the nearest double",
        arguments: [
            ("5000", "5000"), ("5000.0", "5000"), ("5e3", "5000"), ("-0", "0"), ("0.0", "0"), ("4.50", "4.5"),
            ("0.1", "0.1"), ("2e-3", "0.002"), ("0.000001", "0.000001"), ("1e-7", "1e-7"), ("1.5e-7", "1.5e-7"),
            ("1e21", "1e+21"), ("1e20", "100000000000000000000"), ("1E30", "1e+30"), ("-1.25e+25", "-1.25e+25"),
            ("333333333.33333329", "333333333.3333333"), ("9007199254740992", "9007199254740992"),
            ("123456789012345678", "123456789012345680"), ("4.35", "4.35"),
            ("0.30000000000000004", "0.30000000000000004"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"), ("5e-324", "5e-324"),
        ]
    )
    func numbers(input: String, expected: String) throws {
        #expect(try canonical(input) == expected)
    }

    @Test("keys sort by UTF-16 code units; no spaces; a repeated key keeps its last value")
    func objects() throws {
        #expect(
            try canonical(#"{"b": 1, "a": {"d": [true, null], "c": "x"}, "a2": 2}"#)
                == #"{"a":{"c":"x","d":[true,null]},"a2":2,"b":1}"#
        )
        // UTF-16 order, not code point order: 😀 (U+1F600, the pair D83D DE00) sorts before
        // ﬓ (U+FB13), whose code point is smaller.
        #expect(
            try canonical(#"{"ﬓ": 1, "😀": 2, "€": 3, "\r": 4, "1": 5}"#)
                == "{\"\\r\":4,\"1\":5,\"€\":3,\"😀\":2,\"ﬓ\":1}"
        )
        #expect(try canonical(#"{"a": 1, "a": 2}"#) == #"{"a":2}"#)
    }

    @Test("strings escape only what JSON.stringify escapes")
    func strings() throws {
        #expect(try canonical(#""\u20ac$\u000f\nA'B\"\\\\\"/""#) == #""€$\u000f\nA'B\"\\\\\"/""#)
        #expect(
            try canonical(#""\u0008\u0009\u000c\u000d\u001f\u007f\u2028""#) == "\"\\b\\t\\f\\r\\u001f\u{7f}\u{2028}\""
        )
    }
}
