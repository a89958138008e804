import Foundation
import Testing
import TollgateJSON
@testable import TollgatePolicy

/// `matches` uses Python's `re.search` semantics through a translation to ICU. The expected
/// results were produced by CPython 3.11's `re.search`.
@Suite struct PythonRegexTests {
    static let searches: [(String, String, Bool)] = [
        ("^send_", "send_email", true),
        ("line$", "line\n", true),
        ("line$", "line\n\n", false),
        ("line$", "line\r", false),
        ("line\\Z", "line\n", false),
        ("a.b", "a\nb", false),
        ("a.b", "a\rb", true),
        ("(?s)a.b", "a\nb", true),
        ("^b", "a\nb", false),
        ("(?m)^b", "a\nb", true),
        ("(?m)a$", "a\nb", true),
        ("a{", "a{", true),
        ("a{1", "a{1", true),
        ("x{,2}y", "xxy", true),
        ("x{}", "x{}", true),
        ("{}", "{}", true),
        ("(?P<n>ab)(?P=n)", "abab", true),
        ("(a)\\1", "aa", true),
        ("\\d+", "٣", true),
        ("\\w+", "é_1", true),
        ("\\s", "\u{1c}", true),
        ("\\s", "\u{2028}", true),
        ("\\bfoo\\b", "a foo.", true),
        ("\\bfoo\\b", "foobar", false),
        ("[[]", "[", true),
        ("[]a]", "]", true),
        ("[a-]", "-", true),
        ("[^a]", "b", true),
        ("[\\d-]", "-", true),
        ("a|b", "b", true),
        ("(?i)straße", "STRASSE", false),
        ("", "anything", true),
        ("(?s)", "", true),
        ("(?i)k", "\u{212a}", true),
        ("(?x) a b # c", "ab", true),
        ("\\x41\\u00e9\\U0001F600", "Aé😀", true),
        ("\\0", "\u{0}", true),
        ("\\101", "A", true),
        ("(?<=a)b", "ab", true),
        ("(?<!a)b", "cb", true),
        ("(?=a)", "a", true),
        ("a*+a", "aaa", false),
        ("(?>a+)b", "aab", true),
        ("\\$", "$", true),
        ("\\.", "a", false),
        ("(?a)\\w", "é", false),
        ("[é-ü]", "ö", true),
        (".", "\u{2028}", true),
        ("^$", "", true),
        ("$", "x\n", true),
    ]

    @Test func alternationsInLookbehindOfEqualWidthAreFine() throws {
        #expect(try PythonRegex("(?<=ab|cd)e").search("cde"))
        #expect(try PythonRegex("(?<=a{2})b").search("aab"))
    }

    @Test(arguments: searches)
    func searchesAsPythonDoes(_ pattern: String, _ text: String, _ found: Bool) throws {
        let regex = try PythonRegex(pattern)
        #expect(
            regex.search(text) == found,
            "re.search(\(Python.stringRepr(pattern)), \(Python.stringRepr(text))) -> ICU \(regex.icuPattern)"
        )
    }

    /// Patterns Python rejects are rejected at load, with Python's message where Tollgate gives
    /// the same one.
    @Test(arguments: [
        ("a(", "missing ), unterminated subpattern at position 1"),
        ("(?<=a|bc)x", "look-behind requires fixed-width pattern at position 0"),
        ("a**", "multiple repeat at position 2"),
        ("*a", "nothing to repeat at position 0"),
        ("\\q", "bad escape \\q at position 0"),
        ("[z-a]", "bad character range z-a at position 1"),
        ("(?P<n>a)(?P<n>b)", "redefinition of group name 'n' as group 2; was group 1 at position 8"),
        ("\\2(a)", "invalid group reference 2 at position 1"),
        ("a)", "unbalanced parenthesis at position 1"),
        ("[a", "unterminated character set at position 0"),
        ("(?P=x)", "unknown group name 'x' at position 0"),
        ("x(?i)", "global flags not at the start of the expression at position 1"),
        ("[\\d-z]", "bad character range \\d-z at position 1"),
        ("(?<n>a)", "unknown extension ?<n at position 1"),
        ("a{3,2}", "min repeat greater than max repeat at position 1"),
        ("\\", "bad escape (end of pattern) at position 0"),
        // Accepted by Python, refused by Tollgate (see docs/policy-format.md):
        ("\\N{LATIN SMALL LETTER A}", "\\N{...} named characters are not supported by Tollgate at position 0"),
        ("(a)(?(1)a|b)", "conditional groups (?(...)...) are not supported by Tollgate at position 3"),
        ("(?<=((a{1000000000}){1000000000}){1000000000}|b)c", "look-behind requires fixed-width pattern at position 0"),
    ])
    func invalidPatternsAreRejected(_ pattern: String, _ message: String) {
        do {
            _ = try PythonRegex(pattern)
            Issue.record("accepted \(pattern)")
        } catch {
            #expect(error.message == message)
        }
    }
}

/// Random patterns (Tests/compat/gen_regex_corpus.py) and what CPython 3.11's `re` does with
/// them: Tollgate must reject what Python rejects and find what Python finds.
@Suite struct PythonRegexCorpusTests {
    @Test func corpusMatchesCPython() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Paths.fixtures + "/compat/regex.json"))
        let cases = try #require(try JSONValue.parse(data).arrayValue)
        var problems: [String] = []
        var searched = 0
        for entry in cases {
            let pattern = entry["pattern"]?.stringValue ?? ""
            let regex = try? PythonRegex(pattern)
            guard entry["accepted"] == true else {
                if regex != nil { problems.append("accepted \(Python.stringRepr(pattern)), which Python rejects") }
                continue
            }
            if entry["repeated_lookaround"] == true {
                if regex != nil { problems.append("accepted a repeated lookaround \(Python.stringRepr(pattern))") }
                continue
            }
            guard let regex else {
                problems.append("rejected \(Python.stringRepr(pattern)), which Python accepts")
                continue
            }
            for (text, found) in zip(entry["texts"]?.arrayValue ?? [], entry["found"]?.arrayValue ?? []) {
                searched += 1
                let t = text.stringValue ?? ""
                if regex.search(t) != found.boolValue {
                    problems.append(
                        "re.search(\(Python.stringRepr(pattern)), \(Python.stringRepr(t))): Python \(found), Tollgate \(!(found.boolValue ?? false)) (ICU \(regex.icuPattern))"
                    )
                }
            }
        }
        #expect(searched > 10_000)
        #expect(
            problems.isEmpty,
            "\(problems.count) differences; first:\n\(problems.prefix(10).joined(separator: "\n"))"
        )
    }
}
