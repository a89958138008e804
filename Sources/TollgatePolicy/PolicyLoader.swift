import Crypto
import Foundation
import TollgateJSON
import Yams

/// One problem in a policy file, printed as `file:line:column: message`.
public struct PolicyDiagnostic: Sendable, Equatable, CustomStringConvertible {
    public let file: String
    /// nil when the problem is the file as a whole (unreadable).
    public let location: SourceLocation?
    public let message: String

    public init(file: String, location: SourceLocation?, message: String) {
        self.file = file
        self.location = location
        self.message = message
    }

    public var description: String {
        guard let location else { return "\(file): \(message)" }
        return "\(file):\(location.line):\(location.column): \(message)"
    }
}

/// Policies that could not be loaded: every problem found, in file order.
public struct PolicyLoadError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        /// A file or folder could not be read (missing, a directory without policies, no permission).
        case unreadable
        /// The files were read but are not valid policies (YAML syntax, schema, strict checks).
        case invalid
    }

    public let kind: Kind
    public let diagnostics: [PolicyDiagnostic]

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// A policy file's name (as shown in errors) and its bytes.
public struct PolicySource: Sendable {
    public let path: String
    public let bytes: [UInt8]

    public init(path: String, bytes: [UInt8]) {
        self.path = path
        self.bytes = bytes
    }

    /// The lines of the file as YAML counts them, which is how a diagnostic's line is numbered:
    /// a line ends at LF, CR LF, a lone CR, or NEL, LS and PS (U+0085, U+2028, U+2029).
    public var lineCount: Int {
        var breaks = 0
        var i = 0
        while i < bytes.count {
            switch bytes[i] {
            case 0x0A: breaks += 1
            case 0x0D: if i + 1 >= bytes.count || bytes[i + 1] != 0x0A { breaks += 1 }
            case 0xC2: if i + 1 < bytes.count, bytes[i + 1] == 0x85 { breaks += 1 }
            case 0xE2:
                if i + 2 < bytes.count, bytes[i + 1] == 0x80, bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9 {
                    breaks += 1
                }
            default: break
            }
            i += 1
        }
        return breaks + 1
    }
}

/// Reads policy files and folders into a `PolicySet`.
public enum PolicyLoader {
    /// Loads files and folders in the order given. A folder contributes its `*.yaml` files, then
    /// its `*.yml` files, each sorted by name, not recursing (agent-os's `load_policies`).
    /// `compat`: the `--compat` flag; nil follows the first document's `compat:`, else agent-os 3.7.
    public static func load(paths: [String], compat: PolicyCompatibility? = nil) throws(PolicyLoadError) -> PolicySet {
        try load(sources: read(paths: paths), compat: compat)
    }

    /// Loads already-read sources; all problems of all files are collected.
    public static func load(
        sources: [PolicySource],
        compat: PolicyCompatibility? = nil
    ) throws(PolicyLoadError) -> PolicySet {
        var documents: [PolicyDocument] = []
        var diagnostics: [PolicyDiagnostic] = []
        for source in sources {
            switch parse(source) {
            case .success(let document): documents.append(document)
            case .failure(let error): diagnostics.append(contentsOf: error.diagnostics)
            }
        }
        guard diagnostics.isEmpty else { throw PolicyLoadError(kind: .invalid, diagnostics: diagnostics) }
        let effective = try compatibility(of: documents, flag: compat)
        var all = SHA256()
        for source in sources { all.update(data: source.bytes) }
        let hash = sources.count == 1 ? documents[0].sha256 : Array(all.finalize())
        return PolicySet(
            documents: documents,
            version: PolicyVersion(documents: documents, sha256: hex(hash)),
            compat: effective
        )
    }

    /// The generation documents loaded together decide like: the flag, else the first document's
    /// `compat:`, else agent-os 3.7 (`PolicySet` applies its default). `compat:` in a later
    /// document, or a flag that contradicts the file, is refused.
    public static func compatibility(
        of documents: [PolicyDocument],
        flag: PolicyCompatibility?
    ) throws(PolicyLoadError) -> PolicyCompatibility {
        var diagnostics: [PolicyDiagnostic] = []
        for document in documents.dropFirst() where document.compat != nil {
            diagnostics.append(
                PolicyDiagnostic(
                    file: document.path,
                    location: document.compatLocation,
                    message:
                        "'compat' is read from the first document only (\(documents[0].path)): remove it here, or move it there"
                )
            )
        }
        if let flag, let written = documents.first?.compat, written != flag {
            diagnostics.append(
                PolicyDiagnostic(
                    file: documents[0].path,
                    location: documents[0].compatLocation,
                    message: "the policy says compat: \(written.rawValue) and --compat says \(flag.rawValue): give one"
                )
            )
        }
        guard diagnostics.isEmpty else { throw PolicyLoadError(kind: .invalid, diagnostics: diagnostics) }
        return flag ?? documents.first?.compat ?? .agentOS3
    }

    /// Reads the files named (folders expanded), or fails with every unreadable path.
    public static func read(paths: [String]) throws(PolicyLoadError) -> [PolicySource] {
        var sources: [PolicySource] = []
        var diagnostics: [PolicyDiagnostic] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                diagnostics.append(PolicyDiagnostic(file: path, location: nil, message: "no such file or directory"))
                continue
            }
            let files: [String]
            if isDirectory.boolValue {
                files = policyFiles(inFolder: path)
                if files.isEmpty {
                    diagnostics.append(
                        PolicyDiagnostic(file: path, location: nil, message: "folder holds no *.yaml or *.yml files")
                    )
                }
            } else {
                files = [path]
            }
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else {
                    diagnostics.append(PolicyDiagnostic(file: file, location: nil, message: "cannot read the file"))
                    continue
                }
                sources.append(PolicySource(path: file, bytes: Array(data)))
            }
        }
        guard diagnostics.isEmpty else { throw PolicyLoadError(kind: .unreadable, diagnostics: diagnostics) }
        return sources
    }

    static func policyFiles(inFolder folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        let base = folder.hasSuffix("/") ? folder : folder + "/"
        func files(_ suffix: String) -> [String] {
            names.filter { $0.hasSuffix(suffix) }
                .sorted { exactLess($0, $1) }
                .map { base + $0 }
                .filter { path in
                    var isDirectory: ObjCBool = false
                    return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
                        && !isDirectory.boolValue
                }
        }
        return files(".yaml") + files(".yml")
    }

    /// Parses and validates one file.
    public static func parse(_ source: PolicySource) -> Result<PolicyDocument, PolicyLoadError> {
        func failure(_ problems: [(SourceLocation, String)]) -> Result<PolicyDocument, PolicyLoadError> {
            .failure(
                PolicyLoadError(
                    kind: .invalid,
                    diagnostics: problems.map { PolicyDiagnostic(file: source.path, location: $0.0, message: $0.1) }
                )
            )
        }
        if let offset = firstInvalidUTF8Offset(source.bytes) {
            return failure([
                (location(ofByte: offset, in: source.bytes), "the file is not valid UTF-8 (byte \(offset))")
            ])
        }
        let text = String(decoding: source.bytes, as: UTF8.self)
        if let deep = tooDeepFlowNesting(source.bytes) {
            return failure([
                (location(ofByte: deep, in: source.bytes), "YAML nested more than \(maxFlowDepth) levels deep")
            ])
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text, YAMLTreeBuilder.resolver)
        } catch {
            return failure([describe(error, text: text)])
        }
        var builder = YAMLTreeBuilder()
        let tree = root.map { builder.build($0) }
        var validator = PolicyValidator()
        var document = validator.document(tree)
        let problems = (builder.problems + validator.problems).sorted {
            ($0.0.line, $0.0.column) < ($1.0.line, $1.0.column)
        }
        guard problems.isEmpty else { return failure(problems) }
        document.strictFindings = validator.strictFindings.map {
            PolicyDiagnostic(file: source.path, location: $0.0, message: $0.1)
        }
        document.path = source.path
        document.sha256 = Array(SHA256.hash(data: source.bytes))
        return .success(document)
    }

    static let maxFlowDepth = 200

    /// Yams composes recursively: refuse absurd `[[[[...` nesting before it can exhaust the stack.
    static func tooDeepFlowNesting(_ bytes: [UInt8]) -> Int? {
        var depth = 0
        for (i, b) in bytes.enumerated() {
            if b == UInt8(ascii: "[") || b == UInt8(ascii: "{") {
                depth += 1
                if depth > maxFlowDepth { return i }
            } else if b == UInt8(ascii: "]") || b == UInt8(ascii: "}") {
                depth = max(0, depth - 1)
            } else if b == UInt8(ascii: "\n") {
                depth = min(depth, maxFlowDepth)
            }
        }
        return nil
    }

    static func describe(_ error: Error, text: String) -> (SourceLocation, String) {
        guard let yaml = error as? YamlError else {
            return (SourceLocation(line: 1, column: 1), "YAML error: \(error)")
        }
        func at(_ mark: Mark) -> SourceLocation { SourceLocation(line: mark.line, column: mark.column) }
        switch yaml {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let detail = context.map { " (\($0.text) at line \($0.mark.line), column \($0.mark.column))" } ?? ""
            return (at(mark), "YAML syntax error: \(problem)\(detail)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return (at(context.mark), "duplicate mapping key \(keys)")
        case .reader(let problem, let offset, _, _):
            let bytes = Array(text.utf8)
            return (location(ofByte: offset ?? 0, in: bytes), "YAML syntax error: \(problem)")
        default:
            return (SourceLocation(line: 1, column: 1), "YAML error: \(yaml)")
        }
    }

    static func location(ofByte offset: Int, in bytes: [UInt8]) -> SourceLocation {
        var line = 1
        var column = 1
        for b in bytes.prefix(offset) {
            if b == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if b & 0xC0 != 0x80 {
                column += 1
            }
        }
        return SourceLocation(line: line, column: column)
    }
}

func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0xF)])
    }
    return String(decoding: out, as: UTF8.self)
}
