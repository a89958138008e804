import ArgumentParser
import Foundation
import TollgateJSON
import TollgateStore
import TollgateWorker

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check or export the hash-chained audit trail of a worker's database.",
        subcommands: [AuditVerifyCommand.self, AuditExportCommand.self]
    )
}

struct AuditVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that no audit entry was edited, removed or reordered.",
        discussion: """
            Walks the chain: each entry's SHA-256 covers its content and the previous entry's hash. \
            Prints the head (last entry and its hash); keep it somewhere else to detect later that \
            the newest entries were cut off.

            Exit status: 0 intact, 1 tampered (the first bad entry is named), 2 unreadable.

            Example:
              tollgate audit verify --db var/tollgate.db
            """
    )

    @Option(help: "The worker's SQLite file (env TOLLGATE_DB).")
    var db: String?

    @Option(help: "The head hash recorded earlier: also fail when the chain no longer contains it.")
    var expectHead: String?

    func run() throws {
        guard let path = db ?? environment("DB") else {
            throw ValidationError("give --db FILE (the worker's database)")
        }
        let result: AuditVerification
        do {
            let store = try Store(readingExisting: path)
            result = try store.verifyAudit()
            if result.isIntact, let expected = expectHead?.lowercased() {
                var found = false
                try store.forEachAudit { if $0.hash.hexString == expected { found = true } }
                if !found {
                    print(
                        "TAMPERED: the recorded head \(expected) is not in the chain (entries were removed or rewritten)"
                    )
                    throw ExitCode(1)
                }
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            print("error: \(error)")
            throw ExitCode(2)
        }
        if let problem = result.problem {
            print("TAMPERED: \(problem)")
            print("checked \(result.checked) entries before it")
            throw ExitCode(1)
        }
        print("OK: \(result.checked) entries, chain intact; head entry \(result.headSeq) hash \(result.headHash)")
    }
}

struct AuditExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the audit trail as JSON Lines, one entry per line, oldest first.",
        discussion: """
            Fields: seq, at (RFC 3339, milliseconds), kind (decision, escalated, vote), request_id, \
            agent_id, tool_name, decision, resolution, rule, voter, accepted, detail, \
            policy_version, prev_hash, hash. Streams in constant memory.

            Examples:
              tollgate audit export --db var/tollgate.db > audit.jsonl
              tollgate audit export --db var/tollgate.db --from-seq 1001 --output new.jsonl
            """
    )

    @Option(help: "The worker's SQLite file (env TOLLGATE_DB).")
    var db: String?

    @Option(help: "Write to this file instead of standard output.")
    var output: String?

    @Option(help: "Start at this entry (for incremental exports).")
    var fromSeq: Int64 = 1

    func run() throws {
        guard let path = db ?? environment("DB") else {
            throw ValidationError("give --db FILE (the worker's database)")
        }
        let sink: FileHandle
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: nil) else {
                print("error: cannot write \(output)")
                throw ExitCode(2)
            }
            guard let handle = FileHandle(forWritingAtPath: output) else { throw ExitCode(2) }
            sink = handle
        } else {
            sink = FileHandle.standardOutput
        }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 16)
        var count = 0
        do {
            let store = try Store(readingExisting: path)
            try store.forEachAudit(fromSeq: fromSeq) { record in
                buffer += auditLine(record)
                buffer.append(0x0A)
                count += 1
                if buffer.count >= 1 << 16 {
                    sink.write(Data(buffer))
                    buffer.removeAll(keepingCapacity: true)
                }
            }
        } catch {
            print("error: \(error)")
            throw ExitCode(2)
        }
        sink.write(Data(buffer))
        if output != nil {
            try? sink.close()
            print("wrote \(count) entries to \(output!)")
        }
    }
}

/// One audit entry as a JSON object.
func auditLine(_ r: AuditRecord) -> [UInt8] {
    var w = JSONWriter(reservingCapacity: 512)
    w.beginObject()
    w.objectField("seq", r.seq)
    w.objectField("at", isoTime(withMilliseconds: r.at))
    w.objectField("kind", r.kind.rawValue)
    w.objectField("request_id", r.requestID)
    w.objectField("agent_id", r.agentID)
    w.objectField("tool_name", r.toolName)
    w.objectField("decision", r.decision)
    w.objectField("resolution", r.resolution)
    w.objectField("rule", r.rule)
    w.objectField("voter", r.voter)
    w.key("accepted")
    if let accepted = r.accepted { w.bool(accepted) } else { w.null() }
    w.objectField("detail", r.detail)
    w.objectField("policy_version", r.policyVersion)
    w.objectField("prev_hash", r.previousHash.hexString)
    w.objectField("hash", r.hash.hexString)
    w.endObject()
    return w.bytes
}
