import Crypto

/// One entry of the audit trail. Entries are only ever appended; each carries a SHA-256 over
/// its content and the previous entry's hash, so an edited, removed or reordered entry breaks
/// the chain (`tollgate audit verify`).
public struct AuditRecord: Sendable, Equatable {
    /// What the entry records. A struct over its text (not an enum) so that an entry whose kind
    /// was edited to anything still reads back, and fails its hash check.
    public struct Kind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        /// A final decision on a tool call (any resolution).
        public static let decision = Kind(rawValue: "decision")
        /// A tool call parked for people to decide.
        public static let escalated = Kind(rawValue: "escalated")
        /// A vote, accepted or rejected.
        public static let vote = Kind(rawValue: "vote")
        /// A budget handed over by a draining worker (applied or refused).
        public static let handoff = Kind(rawValue: "handoff")
        /// A standing grant made (by the approval of a request) or revoked (accepted or not).
        public static let grant = Kind(rawValue: "grant")
        public var description: String { rawValue }
    }

    /// Position in the chain, from 1, without gaps.
    public var seq: Int64
    public var at: Millis
    public var kind: Kind
    public var requestID: String?
    public var agentID: String?
    public var toolName: String?
    /// `allow`, `deny` or `pending` for calls; `approve` or `deny` for votes.
    public var decision: String?
    /// `policy`, `approved`, `denied`, `timeout`, `invalid`, `limit`, `grant` for decisions.
    public var resolution: String?
    public var rule: String?
    public var voter: String?
    /// For votes: whether it counted.
    public var accepted: Bool?
    /// The reason of a decision, the comment of an accepted vote, the error of a rejected one.
    public var detail: String?
    public var policyVersion: String?
    public var previousHash: [UInt8]
    public var hash: [UInt8]

    public init(
        seq: Int64 = 0,
        at: Millis,
        kind: Kind,
        requestID: String?,
        agentID: String?,
        toolName: String?,
        decision: String?,
        resolution: String?,
        rule: String?,
        voter: String? = nil,
        accepted: Bool? = nil,
        detail: String?,
        policyVersion: String?,
        previousHash: [UInt8] = [],
        hash: [UInt8] = []
    ) {
        self.seq = seq
        self.at = at
        self.kind = kind
        self.requestID = requestID
        self.agentID = agentID
        self.toolName = toolName
        self.decision = decision
        self.resolution = resolution
        self.rule = rule
        self.voter = voter
        self.accepted = accepted
        self.detail = detail
        self.policyVersion = policyVersion
        self.previousHash = previousHash
        self.hash = hash
    }

    /// The hash before the first entry.
    public static let genesisHash = [UInt8](repeating: 0, count: 32)

    /// SHA-256 over the previous hash and an unambiguous encoding of every field (each field is
    /// tagged and length-prefixed, and absent differs from empty).
    public func computeHash() -> [UInt8] {
        // One buffer, filled in place (no array per field): this runs for every decision.
        var buffer: [UInt8] = []
        buffer.reserveCapacity(
            previousHash.count + 96 + (requestID?.utf8.count ?? 0) + (agentID?.utf8.count ?? 0)
                + (detail?.utf8.count ?? 0) + (policyVersion?.utf8.count ?? 0)
        )
        buffer.append(contentsOf: previousHash)
        func put(_ value: String?) {
            guard let value else {
                buffer.append(0)
                return
            }
            buffer.append(1)
            putLength(value.utf8.count)
            buffer.append(contentsOf: value.utf8)
        }
        func putLength(_ count: Int) {
            let n = UInt32(truncatingIfNeeded: count)
            buffer.append(UInt8(n >> 24))
            buffer.append(UInt8((n >> 16) & 0xff))
            buffer.append(UInt8((n >> 8) & 0xff))
            buffer.append(UInt8(n & 0xff))
        }
        func putInt(_ value: Int64) {
            let n = UInt64(bitPattern: value)
            for shift in stride(from: 56, through: 0, by: -8) { buffer.append(UInt8((n >> UInt64(shift)) & 0xff)) }
        }
        buffer.append(contentsOf: "tollgate-audit-v1".utf8)
        putInt(seq)
        putInt(at)
        put(kind.rawValue)
        put(requestID)
        put(agentID)
        put(toolName)
        put(decision)
        put(resolution)
        put(rule)
        put(voter)
        put(accepted.map { $0 ? "true" : "false" })
        put(detail)
        put(policyVersion)
        return Array(SHA256.hash(data: buffer))
    }
}

/// The result of checking the audit chain.
public struct AuditVerification: Sendable, Equatable {
    /// How many entries were checked.
    public var checked: Int64
    /// The last entry's sequence number and hash (hex) when the chain is intact.
    public var headSeq: Int64
    public var headHash: String
    /// The first problem found, naming the entry; nil when the chain is intact.
    public var problem: String?
    /// The sequence number of the first entry that was edited, removed or reordered.
    public var firstBadSeq: Int64?

    public var isIntact: Bool { problem == nil }
}

extension Array where Element == UInt8 {
    /// Lowercase hexadecimal.
    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
