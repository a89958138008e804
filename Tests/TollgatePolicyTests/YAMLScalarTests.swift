import Foundation
import Testing
import TollgateJSON
import Yams
@testable import TollgatePolicy

/// PyYAML (`yaml.safe_load`, YAML 1.1) scalars: each `v: TEXT` must load as the Python value
/// whose `repr` is given. The expectations were produced by PyYAML 6.0.3; `pyYAMLAgrees` checks
/// them again against the installed PyYAML when python3 has it.
@Suite struct YAMLScalarTests {
    static let cases: [(String, String)] = [
        ("1.0e3", "'1.0e3'"),
        ("1.0e+3", "1000.0"),
        ("1e3", "'1e3'"),
        ("1e+3", "'1e+3'"),
        (".5", "0.5"),
        ("-.5", "'-.5'"),
        ("+.5", "'+.5'"),
        ("1.", "1.0"),
        ("1_000", "1000"),
        ("0x1F", "31"),
        ("0o17", "'0o17'"),
        ("017", "15"),
        ("09", "'09'"),
        ("0b101", "5"),
        ("1:30", "90"),
        ("1:30.5", "90.5"),
        ("-1:30", "-90"),
        ("190:20:30", "685230"),
        (".inf", "inf"),
        ("-.Inf", "-inf"),
        ("+.inf", "inf"),
        (".NaN", "nan"),
        ("yes", "True"),
        ("Yes", "True"),
        ("YES", "True"),
        ("yEs", "'yEs'"),
        ("y", "'y'"),
        ("n", "'n'"),
        ("on", "True"),
        ("ON", "True"),
        ("oN", "'oN'"),
        ("off", "False"),
        ("True", "True"),
        ("TRUE", "True"),
        ("tRUE", "'tRUE'"),
        ("false", "False"),
        ("No", "False"),
        ("~", "None"),
        ("null", "None"),
        ("Null", "None"),
        ("NULL", "None"),
        ("nUll", "'nUll'"),
        ("", "None"),
        ("2024-01-01", "datetime.date(2024, 1, 1)"),
        ("2024-1-1", "'2024-1-1'"),
        ("2024-01-01 10:00:00", "datetime.datetime(2024, 1, 1, 10, 0)"),
        ("2024-01-01T10:00:00Z", "datetime.datetime(2024, 1, 1, 10, 0, tzinfo=datetime.timezone.utc)"),
        (
            "2024-01-01t10:00:00.5+05:30",
            "datetime.datetime(2024, 1, 1, 10, 0, 0, 500000, tzinfo=datetime.timezone(datetime.timedelta(seconds=19800)))"
        ),
        (
            "2024-01-01 10:00:00 -5",
            "datetime.datetime(2024, 1, 1, 10, 0, tzinfo=datetime.timezone(datetime.timedelta(days=-1, seconds=68400)))"
        ),
        ("2024-01-01 10:00:00.1234567", "datetime.datetime(2024, 1, 1, 10, 0, 0, 123456)"),
        ("0", "0"),
        ("-0", "0"),
        ("+0", "0"),
        ("00", "0"),
        ("0.", "0.0"),
        ("-0.0", "-0.0"),
        ("1_2.3_4", "12.34"),
        ("1__2", "12"),
        ("_1", "'_1'"),
        ("1_", "1"),
        ("0x_1", "1"),
        ("12e03", "'12e03'"),
        ("1.2E-03", "0.0012"),
        ("+12", "12"),
        ("0b", "'0b'"),
        ("3.14159265358979323846", "3.141592653589793"),
        ("9223372036854775807", "9223372036854775807"),
        ("-9223372036854775808", "-9223372036854775808"),
        ("-0x8000000000000000", "-9223372036854775808"),
        ("'yes'", "'yes'"),
        ("\"1.0\"", "'1.0'"),
        ("!!str 1", "'1'"),
        ("!!str yes", "'yes'"),
        ("!!int \"12\"", "12"),
        ("!!float 1", "1.0"),
        ("!!bool \"on\"", "True"),
        ("!!null x", "None"),
        ("!!int 0o17", "15"),
        ("abc", "'abc'"),
        ("a b", "'a b'"),
        ("é", "'é'"),
        ("|\n  block\n", "'block\\n'"),
        ("\"\\u00e9\\t\"", "'é\\t'"),
        ("[1, yes, ~]", "[1, True, None]"),
        ("{a: 1, 0x2: b}", "{'a': 1, 2: 'b'}"),
        ("1e-05", "'1e-05'"),
        ("1.5e-05", "1.5e-05"),
        ("100000000000000000.0", "1e+17"),
        ("0.0001", "0.0001"),
        ("123456789.123456789", "123456789.12345679"),
        ("6.02e+23", "6.02e+23"),
        ("!!float 1e400", "inf"),
        ("!!float .5", "0.5"),
        ("1:30:00.0", "5400.0"),
    ]

    static func load(_ text: String) throws -> PolicyValue {
        var builder = YAMLTreeBuilder()
        return try load(text, with: &builder)
    }

    /// Loads `v: TEXT` reusing a builder (its regular expressions are built once).
    static func load(_ text: String, with builder: inout YAMLTreeBuilder) throws -> PolicyValue {
        guard let root = try Yams.compose(yaml: "v: \(text)", YAMLTreeBuilder.resolver) else {
            throw TestFailure("empty")
        }
        builder.problems = []
        let tree = builder.build(root)
        guard builder.problems.isEmpty else { throw TestFailure("\(builder.problems)") }
        guard case .mapping(let pairs) = tree.kind, let value = pairs.first?.value else {
            throw TestFailure("no value")
        }
        return value.value
    }

    @Test(arguments: cases)
    func scalarLoadsAsPyYAMLLoadsIt(_ text: String, _ pythonRepr: String) throws {
        #expect(Python.repr(try Self.load(text)) == pythonRepr, "v: \(text)")
    }

    @Test func datesPrintAsPythonPrintsThem() throws {
        #expect(Python.str(try Self.load("2024-01-01")) == "2024-01-01")
        #expect(Python.str(try Self.load("2024-01-01T10:00:00Z")) == "2024-01-01 10:00:00+00:00")
        #expect(Python.str(try Self.load("2024-01-01 10:00:00.5 -5:30")) == "2024-01-01 10:00:00.500000-05:30")
        #expect(Python.str(try Self.load("[2024-01-01]")) == "[datetime.date(2024, 1, 1)]")
    }

    @Test(arguments: [
        ("2024-02-30", "invalid date '2024-02-30'"),
        ("99999999999999999999", "integer 99999999999999999999 is out of range (Tollgate holds 64-bit integers)"),
        ("!!int abc", "'abc' is not an integer"),
        ("!!bool maybe", "'maybe' is not a boolean"),
        ("!!binary aGk=", "unsupported YAML tag 'tag:yaml.org,2002:binary'"),
        ("!custom x", "unsupported YAML tag '!custom'"),
        ("=", "'=' (a YAML value key) is not a value; quote it"),
    ])
    func scalarsPyYAMLRejectsOrTollgateCannotHold(_ text: String, _ message: String) throws {
        let source = "name: \(text)\n"
        #expect(diagnostics(source) == ["p.yaml:1:7: \(message)"])
    }

    /// 14,000 random plain scalars (Tests/compat/gen_yaml_scalars.py) load as PyYAML loads them,
    /// or fail where PyYAML fails.
    @Test func randomScalarsLoadAsPyYAML() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Paths.fixtures + "/compat/yaml-scalars.json"))
        let cases = try #require(try JSONValue.parse(data).arrayValue)
        var problems: [String] = []
        var builder = YAMLTreeBuilder()
        for entry in cases {
            guard let text = entry.arrayValue?.first?.stringValue, let want = entry.arrayValue?.last?.stringValue else {
                continue
            }
            let got: String
            if let value = try? Self.load(text, with: &builder) { got = Python.repr(value) } else { got = "ERROR" }
            if got != want { problems.append("v: \(text) -> PyYAML \(want), Tollgate \(got)") }
        }
        #expect(cases.count > 10_000)
        #expect(
            problems.isEmpty,
            "\(problems.count) differences; first:\n\(problems.prefix(10).joined(separator: "\n"))"
        )
    }

    /// The stored table, checked against the installed PyYAML (skipped without python3 + yaml).
    @Test(.enabled(if: pythonHasYAML))
    func pyYAMLAgrees() throws {
        let texts = Self.cases.map(\.0)
        let script = """
            import json, sys, yaml
            print(json.dumps([repr(yaml.safe_load("v: " + t)["v"]) for t in json.load(sys.stdin)]))
            """
        let input = JSONValue.array(texts.map(JSONValue.string)).serializedString()
        let result = try run("/usr/bin/env", ["python3", "-c", script], stdin: input)
        try #require(result.status == 0, "\(result.err)")
        let reprs = try JSONValue.parse(result.out).arrayValue?.compactMap(\.stringValue) ?? []
        #expect(reprs == Self.cases.map(\.1))
    }
}

let pythonHasYAML: Bool = {
    (try? run("/usr/bin/env", ["python3", "-c", "import yaml"]).status) == 0
}()
