import Foundation
import Testing
import TollgateJSON

@Suite struct JSONParserTests {
    @Test(arguments: [
        #"{"a":1,"b":[true,false,null],"c":{"d":"e"},"f":-2.5e3,"g":"\u00e9\n"}"#,
        #"[1,2.5,-0,1e+16,"x\"y\\z",[],{}]"#,
        #""日本語 😀""#,
        #"9223372036854775807"#,
        #"-9223372036854775808"#,
    ])
    func roundTrip(_ text: String) throws {
        let value = try JSONValue.parse(text)
        let again = try JSONValue.parse(value.serialized())
        #expect(again == value)
    }

    @Test func valuesHavePythonTypes() throws {
        #expect(try JSONValue.parse("1") == .int(1))
        #expect(try JSONValue.parse("1.0") == .double(1.0))
        #expect(try JSONValue.parse("1e2") == .double(100))
        #expect(try JSONValue.parse("-0") == .int(0))
        #expect(try JSONValue.parse("-0.0") == .double(-0.0))
        #expect(try JSONValue.parse(" \t\r\n true ") == .bool(true))
    }

    @Test func integersBeyond64BitsBecomeDoubles() throws {
        #expect(try JSONValue.parse("9223372036854775808") == .double(9_223_372_036_854_775_808))
        #expect(try JSONValue.parse("-9223372036854775809") == .double(-9.223372036854775808e18))
        #expect(try JSONValue.parse("123456789012345678901234567890") == .double(1.2345678901234568e29))
        #expect(try JSONValue.parse("1e400") == .double(.infinity))
    }

    @Test func duplicateKeysKeepFirstPositionAndLastValue() throws {
        let value = try JSONValue.parse(#"{"a":1,"b":2,"a":3}"#)
        #expect(value.objectValue?.keys == ["a", "b"])
        #expect(value["a"] == .int(3))
        #expect(value.serializedString() == #"{"a":3,"b":2}"#)
    }

    @Test func keysCompareByCodePoints() throws {
        // "é" precomposed and "e" + combining acute are different keys (as in Python).
        let value = try JSONValue.parse("{\"\u{e9}\":1,\"e\u{301}\":2}")
        #expect(value.objectValue?.count == 2)
        #expect(value["\u{e9}"] == .int(1))
        #expect(value["e\u{301}"] == .int(2))
        #expect(JSONValue.string("\u{e9}") != JSONValue.string("e\u{301}"))
    }

    @Test func largeObjectsUseTheIndex() throws {
        let text = "{" + (0..<100).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + ",\"k5\":-1}"
        let object = try #require(try JSONValue.parse(text).objectValue)
        #expect(object.count == 100)
        #expect(object["k99"] == .int(99))
        #expect(object["k5"] == .int(-1))
        #expect(object["k100"] == nil)
        var copy = object
        copy["k5"] = nil
        #expect(copy.count == 99 && copy["k5"] == nil && copy["k6"] == .int(6))
    }

    @Test func surrogatePairsDecode() throws {
        #expect(try JSONValue.parse(#""\ud83d\ude00""#) == .string("😀"))
    }

    static let errors: [(String, String)] = [
        ("", "unexpected end of input at byte 0"),
        ("   ", "unexpected end of input at byte 3"),
        ("{\"a\" 1}", "expected ':' after object key at byte 5"),
        ("{\"a\":1,}", "trailing comma at byte 7"),
        ("[1,2,]", "trailing comma at byte 5"),
        ("[1 2]", "expected ',' or ']' in array at byte 3"),
        ("{\"a\":1 \"b\":2}", "expected ',' or '}' in object at byte 7"),
        ("{a:1}", "expected a string key in object at byte 1"),
        ("NaN", "unexpected 'N' at byte 0"),
        ("Infinity", "unexpected 'I' at byte 0"),
        ("-Infinity", "invalid number at byte 1"),
        ("[1] // c", "unexpected data after the JSON value at byte 4"),
        ("/* c */ 1", "unexpected '/' at byte 0"),
        ("01", "invalid number at byte 1"),
        ("1.", "unexpected end of input at byte 2"),
        ("1.e3", "invalid number at byte 2"),
        ("1e", "unexpected end of input at byte 2"),
        ("-", "unexpected end of input at byte 1"),
        ("tru", "unexpected end of input at byte 3"),
        ("trUe", "unexpected 'U' at byte 2"),
        ("\"a\tb\"", "unescaped control character 0x09 in string at byte 2"),
        ("\"\\x\"", "invalid escape sequence in string at byte 1"),
        ("\"\\u12g4\"", "invalid \\u escape (expected 4 hex digits) at byte 5"),
        ("\"\\ud800\"", "unpaired surrogate \\ud800 (not representable; rejected) at byte 1"),
        ("\"\\udc00\"", "unpaired surrogate \\udc00 (not representable; rejected) at byte 1"),
        ("\"\\ud800\\u0041\"", "unpaired surrogate \\ud800 (not representable; rejected) at byte 1"),
        ("\"abc", "unexpected end of input at byte 4"),
        ("{\"a\":1", "unexpected end of input at byte 6"),
    ]

    @Test(arguments: errors)
    func errorsSayWhatAndWhere(_ input: String, _ message: String) {
        #expect(throws: JSONError.self) { try JSONValue.parse(input) }
        do {
            _ = try JSONValue.parse(input)
        } catch {
            #expect(error.description == message)
        }
    }

    @Test(arguments: [
        ([0x22, 0x61, 0xFF, 0x22] as [UInt8], "invalid UTF-8 at byte 2"),
        ([0x22, 0xC3, 0x28, 0x22], "invalid UTF-8 at byte 1"),  // bad continuation
        ([0x22, 0xC0, 0xAF, 0x22], "invalid UTF-8 at byte 1"),  // overlong '/'
        ([0x22, 0xED, 0xA0, 0x80, 0x22], "invalid UTF-8 at byte 1"),  // encoded surrogate
        ([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], "invalid UTF-8 at byte 1"),  // above U+10FFFF
        ([0x22, 0xE2, 0x82], "unexpected end of input at byte 3"),
        ([0xEF, 0xBB, 0xBF, 0x31], "a byte order mark (U+FEFF), which a JSON message must not start with, at byte 0"),
    ])
    func invalidUTF8(_ bytes: [UInt8], _ message: String) {
        do {
            _ = try JSONValue.parse(bytes)
            Issue.record("accepted invalid input")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func depthBombIsRefused() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        do {
            _ = try JSONValue.parse(deep)
            Issue.record("accepted 100,000 levels")
        } catch {
            #expect(error.kind == .tooDeep(limit: 128))
            #expect(error.description == "nesting deeper than 128 levels at byte 128")
        }
        #expect(throws: Never.self) {
            try JSONValue.parse(String(repeating: "[", count: 128) + String(repeating: "]", count: 128))
        }
        #expect(throws: JSONError.self) {
            try JSONValue.parse(String(repeating: "{\"a\":", count: 129) + "1" + String(repeating: "}", count: 129))
        }
    }

    @Test func garbageNeverCrashes() {
        var generator = SystemRandomNumberGenerator()
        var accepted = 0
        for _ in 0..<2000 {
            let length = Int.random(in: 0..<40, using: &generator)
            let alphabet = Array("{}[]\":,0123456789.eE+-tfnrul\\ \n\u{e9}".utf8) + [0xFF, 0x00, 0xC3]
            let bytes = (0..<length).map { _ in alphabet.randomElement(using: &generator) ?? 0 }
            if (try? JSONValue.parse(bytes)) != nil { accepted += 1 }
        }
        #expect(accepted < 2000)
    }
}

@Suite struct JSONWriterTests {
    @Test func escapesWhatJSONRequires() {
        let value: JSONValue = .string("q\" b\\ n\n r\r t\t \u{1} \u{1f} é 😀 /")
        #expect(value.serializedString() == #""q\" b\\ n\n r\r t\t \u0001 \u001f é 😀 /""#)
    }

    @Test func numbers() {
        #expect(
            JSONValue.array([.int(0), .int(-7), .int(Int64.min), .int(Int64.max)]).serializedString()
                == "[0,-7,-9223372036854775808,9223372036854775807]"
        )
        #expect(
            JSONValue.array([.double(1.0), .double(0.5), .double(1e16), .double(-0.0)]).serializedString()
                == "[1.0,0.5,1e+16,-0.0]"
        )
        #expect(JSONValue.array([.double(.nan), .double(.infinity)]).serializedString() == "[null,null]")
    }

    @Test func fieldsKeepTheCallersOrder() {
        var w = JSONWriter()
        w.beginObject()
        w.objectField("z", true)
        w.objectField("a", nil as String?)
        w.objectField("m", 3)
        w.key("list")
        w.beginArray()
        w.string("x")
        w.value(["k": 1])
        w.endArray()
        w.endObject()
        w.endLine()
        w.beginObject()
        w.endObject()
        #expect(
            String(decoding: w.bytes, as: UTF8.self) == "{\"z\":true,\"a\":null,\"m\":3,\"list\":[\"x\",{\"k\":1}]}\n{}"
        )
    }

    @Test func objectsSerializeInInsertionOrder() throws {
        let value = try JSONValue.parse(#"{"b":1,"a":{"y":2,"x":3}}"#)
        #expect(value.serializedString() == #"{"b":1,"a":{"y":2,"x":3}}"#)
    }
}
