import Foundation
import Testing
import TollgateJSON
@testable import TollgatePolicy

/// `_match_condition` with Python's operators. Each row: context value (JSON), operator, rule
/// value (YAML), and what agent-os 3.7.0 does (the rows were produced by running its
/// `_match_condition`): match, no match, or raise (which fails the decision closed).
@Suite struct PythonSemanticsTests {
    enum Outcome: Sendable { case matches, noMatch, raise }

    static let rows: [(String, PolicyOperator, String, Outcome)] = [
        ("1", .eq, "true", .matches),
        ("1", .eq, "1.0", .matches),
        ("true", .eq, "1", .matches),
        ("0", .eq, "false", .matches),
        ("\"1\"", .eq, "1", .noMatch),
        ("9007199254740993", .eq, "9007199254740992.0", .noMatch),
        ("9007199254740992", .eq, "9007199254740992.0", .matches),
        ("[1, 2]", .eq, "[1.0, true]", .noMatch),
        ("[1, 2]", .eq, "[1.0, 2]", .matches),
        ("{\"a\": 1}", .eq, "{a: 1.0}", .matches),
        ("{\"a\": 1}", .eq, "{a: 1, b: 2}", .noMatch),
        ("\"2024-01-01\"", .eq, "2024-01-01", .noMatch),
        ("\"é\"", .eq, "\"e\\u0301\"", .noMatch),
        ("1", .ne, "\"1\"", .matches),
        ("null", .ne, "1", .noMatch),
        ("1.5", .gt, "1", .matches),
        ("true", .gt, "0", .matches),
        ("\"b\"", .gt, "\"a\"", .matches),
        ("\"B\"", .gt, "\"a\"", .noMatch),
        ("\"é\"", .gt, "\"z\"", .matches),
        ("\"a\"", .gt, "1", .raise),
        ("[1, 2]", .lt, "[1, 3]", .matches),
        ("[1, 2]", .lt, "[1, 2, 0]", .matches),
        ("[1, \"a\"]", .lt, "[1, 2]", .raise),
        ("[1, \"a\"]", .lt, "[2, 2]", .matches),
        ("{\"a\": 1}", .gt, "[1]", .raise),
        ("9007199254740993", .gt, "9007199254740992.0", .matches),
        ("9223372036854775807", .gte, "9223372036854775808.0", .noMatch),
        ("1e308", .lt, ".inf", .matches),
        ("1", .lt, ".nan", .noMatch),
        ("1", .gte, ".nan", .noMatch),
        ("[]", .lte, "[]", .matches),
        ("\"a\"", .lte, "[1]", .raise),
        ("true", .lt, "1.5", .matches),
        ("\"send\"", .`in`, "[send, 1]", .matches),
        ("1", .`in`, "[true]", .matches),
        ("1", .`in`, "\"123\"", .raise),
        ("\"2\"", .`in`, "\"123\"", .matches),
        ("\"\"", .`in`, "\"abc\"", .matches),
        ("\"a\"", .`in`, "{a: 1}", .matches),
        ("1", .`in`, "{1.0: x}", .matches),
        ("[1]", .`in`, "{a: 1}", .raise),
        ("[1]", .`in`, "{}", .raise),
        ("{\"a\":1}", .`in`, "[{a: 1}]", .matches),
        ("\"x\"", .notIn, "[a]", .matches),
        ("1", .notIn, "\"abc\"", .raise),
        ("[1]", .notIn, "[[1]]", .noMatch),
        ("\"abc\"", .contains, "\"b\"", .matches),
        ("\"abc\"", .contains, "\"\"", .matches),
        ("\"abc\"", .contains, "1", .raise),
        ("[1, 2]", .contains, "2.0", .matches),
        ("[[1]]", .contains, "[1]", .matches),
        ("{\"a\": 1}", .contains, "a", .matches),
        ("{\"a\": 1}", .contains, "1", .noMatch),
        ("{\"a\": 1}", .contains, "[a]", .raise),
        ("5", .contains, "5", .raise),
        ("true", .contains, "true", .raise),
        ("\"send_email\"", .matches, "\"^send_\"", .matches),
        ("\"xsend\"", .matches, "\"^send\"", .noMatch),
        ("5", .matches, "\"^5$\"", .matches),
        ("1.0", .matches, "\"^1\\\\.0$\"", .matches),
        ("1e16", .matches, "\"^1e\\\\+16$\"", .matches),
        ("0.00001", .matches, "\"^1e-05$\"", .matches),
        ("true", .matches, "True", .matches),
        ("[1, \"a\", null]", .matches, "\"^\\\\[1, .a., None\\\\]$\"", .matches),
        ("{\"k\": [true]}", .matches, "\"\\\\{.k.: \\\\[True\\\\]\\\\}\"", .matches),
        ("\"line\\n\"", .matches, "\"line$\"", .matches),
        ("\"line\\n\"", .matches, "\"line\\\\Z\"", .noMatch),
        ("\"a\\nb\"", .matches, "\"a.b\"", .noMatch),
        ("\"A\"", .matches, "\"(?i)a\"", .matches),
        ("\"ab\"", .matches, "5", .noMatch),
        ("\"it's\"", .matches, "\"^\\\"it's\\\"$\"", .noMatch),
    ]

    @Test(arguments: rows)
    func operatorBehavesAsInPython(
        _ contextValue: String,
        _ op: PolicyOperator,
        _ value: String,
        _ want: Outcome
    ) throws {
        let set = try policy(
            """
            rules:
              - name: r
                condition:
                  field: f
                  operator: \(op.rawValue)
                  value: \(value)
                action: deny
            """
        )
        let decision = set.evaluate(try context("{\"f\": \(contextValue)}"))
        switch want {
        case .matches: #expect(decision.rule == "r" && !decision.failedClosed, "\(decision)")
        case .noMatch: #expect(decision.rule == nil && !decision.failedClosed, "\(decision)")
        case .raise:
            #expect(decision.failedClosed && decision.reason == "Policy evaluation error — access denied (fail closed)")
        }
    }

    @Test(arguments: PolicyOperator.allCases)
    func missingOrNullFieldNeverMatches(_ op: PolicyOperator) throws {
        let value = op == .matches ? "\".*\"" : (op == .in || op == .notIn ? "[1]" : "1")
        let set = try policy(
            "rules:\n  - {name: r, condition: {field: f, operator: \(op.rawValue), value: \(value)}, action: deny}\n"
        )
        #expect(set.evaluate(try context("{}")).rule == nil)
        #expect(set.evaluate(try context("{\"f\": null}")).rule == nil)
    }

    @Test(arguments: [
        (0.0, "0.0"), (-0.0, "-0.0"), (1.0, "1.0"), (0.5, "0.5"), (1e16, "1e+16"), (1e15, "1000000000000000.0"),
        (1.5e-5, "1.5e-05"), (0.0001, "0.0001"), (123456789.123456789, "123456789.12345679"), (1e100, "1e+100"),
        (1.7976931348623157e308, "1.7976931348623157e+308"), (Double.leastNonzeroMagnitude, "5e-324"), (0.1, "0.1"),
        (100.0, "100.0"),
        (12345678901234567890.0, "1.2345678901234567e+19"), (-2.5, "-2.5"), (Double.infinity, "inf"),
        (Double.nan, "nan"),
    ])
    func floatReprIsPythons(_ value: Double, _ repr: String) {
        #expect(Python.floatRepr(value) == repr)
    }

    @Test(arguments: [
        ("abc", "'abc'"), ("it's", "\"it's\""), ("say \"hi\"", "'say \"hi\"'"), ("both ' \"", "'both \\' \"'"),
        ("tab\there\n", "'tab\\there\\n'"), ("\u{1}\u{7f}", "'\\x01\\x7f'"), ("é日😀", "'é日😀'"), ("\u{a0}", "'\\xa0'"),
        ("\u{200b}", "'\\u200b'"), ("\u{e000}", "'\\ue000'"), ("back\\slash", "'back\\\\slash'"),
    ])
    func stringReprIsPythons(_ value: String, _ repr: String) {
        #expect(Python.stringRepr(value) == repr)
    }

    @Test func strOfContainersIsPythonRepr() throws {
        let value = PolicyValue(try JSONValue.parse(#"{"a": [1, 2.0, true, null, "x"], "b": {"c": "it's"}}"#))
        #expect(Python.str(value) == #"{'a': [1, 2.0, True, None, 'x'], 'b': {'c': "it's"}}"#)
    }
}
