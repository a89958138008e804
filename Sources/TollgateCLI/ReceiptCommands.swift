import ArgumentParser
import Crypto
import Foundation
import TollgateJSON
import TollgateStore
import TollgateWorker

struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write an Ed25519 key pair for receipts: FILE (private, mode 0600) and FILE.pub.",
        discussion: """
            The worker signs with the private key (--receipt-key FILE); tool executors verify with \
            the public one (tollgate verify-receipt, or any Ed25519 library: the files are PKCS #8 \
            and SubjectPublicKeyInfo PEM).

            Example:
              tollgate keygen --out /etc/tollgate/receipts.key
            """
    )

    @Option(help: "Where to write the private key; the public key goes to the same path plus .pub.")
    var out: String

    @Flag(help: "Replace existing files.")
    var force = false

    func run() throws {
        let publicPath = out + ".pub"
        for path in [out, publicPath] where FileManager.default.fileExists(atPath: path) && !force {
            throw ValidationError("\(path) exists: not replacing a key (use --force to replace it)")
        }
        let key = Curve25519.Signing.PrivateKey()
        guard
            FileManager.default.createFile(
                atPath: out,
                contents: Data(ReceiptKeys.privateKeyPEM(key).utf8),
                attributes: [.posixPermissions: 0o600]
            ),
            FileManager.default.createFile(
                atPath: publicPath,
                contents: Data(ReceiptKeys.publicKeyPEM(key.publicKey).utf8)
            )
        else { throw ValidationError("cannot write \(out) or \(publicPath)") }
        print("wrote \(out) (private, 0600) and \(publicPath); key id \(ReceiptKeys.keyID(key.publicKey))")
    }
}

struct VerifyReceiptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-receipt",
        abstract: "Check a receipt before running a tool: signature, expiry, action, policy version, one-time use.",
        discussion: """
            Reads a decision (or just its receipt) as JSON from --receipt FILE or standard input. \
            Prints `ok <request id>`, or the reason code and why: bad_signature, expired, \
            action_digest_mismatch, policy_version_mismatch, already_consumed, not_allowed, \
            malformed. Exit status 0 ok, 1 refused, 2 error.

            Example:
              tollgate call --agent finance-agent --tool search_documents --json \\
                | tollgate verify-receipt --public-key receipts.key.pub \\
                    --agent finance-agent --tool search_documents --consumed used.txt
            """
    )

    @Option(help: "The worker's public key (PEM, from tollgate keygen).")
    var publicKey: String

    @Option(help: "A file holding the decision or receipt JSON (default: standard input).")
    var receipt: String?

    @Option(help: "The agent_id of the call about to run (with --tool: checks the action digest).")
    var agent: String?

    @Option(help: "The tool_name of the call about to run.")
    var tool: String?

    @Option(help: "The arguments of the call about to run, a JSON object (default {}).")
    var arguments = "{}"

    @Option(help: "Refuse a receipt issued under another policy version.")
    var policyVersion: String?

    @Option(help: "A file of used request ids, one per line: refuse one already there, else add it.")
    var consumed: String?

    func run() throws {
        let key: Curve25519.Signing.PublicKey
        do { key = try ReceiptKeys.loadPublicKey(path: publicKey) } catch { throw fail("\(error)") }
        let input: Data
        if let receipt {
            guard let data = FileManager.default.contents(atPath: receipt) else { throw fail("cannot read \(receipt)") }
            input = data
        } else {
            input = FileHandle.standardInput.readDataToEndOfFile()
        }
        // `tollgate call --json` prints one decision per line; the final one is last.
        let lines = String(decoding: input, as: UTF8.self).split(separator: "\n").filter { !$0.isEmpty }
        let candidates = lines.count > 1 ? lines.compactMap { try? JSONValue.parse(Array($0.utf8)) } : []
        let document =
            candidates.last { $0["receipt"] != nil }
            ?? (try? JSONValue.parse(Array(input)))
        guard let document else { throw fail("the input is not JSON") }
        var action: ReceiptVerifier.Action?
        if agent != nil || tool != nil {
            guard let agent, let tool else { throw fail("give both --agent and --tool") }
            guard let parsed = try? JSONValue.parse(Array(arguments.utf8)) else {
                throw fail("--arguments is not JSON")
            }
            action = .init(agentID: agent, toolName: tool, arguments: parsed)
        }
        let outcome = try ReceiptVerifier.verify(
            document,
            publicKey: key,
            action: action,
            policyVersion: policyVersion,
            now: wallClockMillis(),
            consume: consumed.map { path in { requestID in try Self.consume(requestID, in: path) } }
        )
        switch outcome {
        case .valid(let requestID):
            print("ok \(requestID)")
        case .refused(let reason, let why):
            print("\(reason.rawValue): \(why)")
            throw ExitCode(1)
        }
    }

    /// Whether `requestID` was unused in `path`; marks it used. (One executor per file: a
    /// simple list, not a database shared by many.)
    static func consume(_ requestID: String, in path: String) throws -> Bool {
        let existing = FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
        if existing.split(separator: "\n").contains(where: { $0 == requestID }) { return false }
        guard
            let handle = FileHandle(forWritingAtPath: path)
                ?? {
                    _ = FileManager.default.createFile(atPath: path, contents: nil)
                    return FileHandle(forWritingAtPath: path)
                }()
        else { throw ValidationError("cannot write \(path)") }
        defer { try? handle.close() }
        handle.seekToEndOfFile()
        handle.write(Data((requestID + "\n").utf8))
        return true
    }

    private func fail(_ message: String) -> Error {
        FileHandle.standardError.write(Data("verify-receipt: \(message)\n".utf8))
        return ExitCode(2)
    }
}
