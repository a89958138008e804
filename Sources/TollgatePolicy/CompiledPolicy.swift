import TollgateJSON

/// A context field: the literal key first (agent-os's `context.get(field)`); when that key is
/// absent and the name has dots, the path through nested objects (`arguments.amount`).
struct FieldPath: Sendable {
    let literal: String
    let components: [String]?

    init(_ field: String) {
        literal = field
        let parts = field.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        components = parts.count > 1 ? parts : nil
    }

    @inline(__always)
    func lookup(_ context: JSONObject) -> JSONValue? {
        if let value = context[literal] { return value }
        guard let components else { return nil }
        var current = context
        for name in components.dropLast() {
            guard case .object(let next)? = current[name] else { return nil }
            current = next
        }
        return current[components[components.count - 1]]
    }
}

struct CompiledLeaf: Sendable {
    let path: FieldPath
    let op: PolicyOperator
    let value: PolicyValue
    let regex: PythonRegex?
    /// For `in`/`not_in` over a list of strings only: membership by hash.
    let stringSet: ExactStringTable?
    /// For `eq`/`ne` against a string.
    let stringValue: String?

    init(_ leaf: LeafCondition) {
        path = FieldPath(leaf.field)
        op = leaf.op
        value = leaf.value
        regex = leaf.regex
        if case .list(let items) = leaf.value, leaf.op == .in || leaf.op == .notIn {
            var strings: [(key: String, position: Int)] = []
            for item in items {
                guard case .str(let s) = item else { break }
                strings.append((s, 0))
            }
            stringSet = strings.count == items.count ? ExactStringTable(strings) : nil
        } else {
            stringSet = nil
        }
        if case .str(let s) = leaf.value { stringValue = s } else { stringValue = nil }
    }

    /// `_match_condition`: a missing or null field is false for every operator.
    func matches(_ context: JSONObject) throws(PythonTypeError) -> Bool {
        guard let raw = path.lookup(context), !raw.isNull else { return false }
        switch op {
        case .eq: return equals(raw)
        case .ne: return !equals(raw)
        case .gt: return try Python.order(PolicyValue(raw), value, .gt)
        case .lt: return try Python.order(PolicyValue(raw), value, .lt)
        case .gte: return try Python.order(PolicyValue(raw), value, .ge)
        case .lte: return try Python.order(PolicyValue(raw), value, .le)
        case .in: return try isIn(raw)
        case .notIn: return try !isIn(raw)
        case .contains: return try Python.contains(PolicyValue(raw), value)
        case .matches:
            guard let regex else { return false }
            if case .string(let s) = raw { return regex.search(s) }
            return regex.search(Python.str(PolicyValue(raw)))
        }
    }

    @inline(__always)
    func equals(_ raw: JSONValue) -> Bool {
        if let stringValue {
            if case .string(let s) = raw { return exactEquals(s, stringValue) }
            return false
        }
        return Python.equals(PolicyValue(raw), value)
    }

    @inline(__always)
    func isIn(_ raw: JSONValue) throws(PythonTypeError) -> Bool {
        if let stringSet {
            if case .string(let s) = raw { return stringSet.position(of: s) != nil }
            return false
        }
        return try Python.contains(value, PolicyValue(raw))
    }
}

indirect enum CompiledCondition: Sendable {
    case leaf(CompiledLeaf)
    case all([CompiledCondition])
    case any([CompiledCondition])
    case not(CompiledCondition)

    init(_ condition: PolicyCondition) {
        switch condition {
        case .leaf(let leaf): self = .leaf(CompiledLeaf(leaf))
        case .all(let parts): self = .all(parts.map(CompiledCondition.init))
        case .any(let parts): self = .any(parts.map(CompiledCondition.init))
        case .not(let inner): self = .not(CompiledCondition(inner))
        }
    }

    /// Python's short circuit: `all` stops at the first false, `any` at the first true; an
    /// error propagates (and fails the decision closed).
    func matches(_ context: JSONObject) throws(PythonTypeError) -> Bool {
        switch self {
        case .leaf(let leaf): return try leaf.matches(context)
        case .all(let parts):
            for part in parts where try !part.matches(context) { return false }
            return true
        case .any(let parts):
            for part in parts where try part.matches(context) { return true }
            return false
        case .not(let inner): return try !inner.matches(context)
        }
    }
}

struct CompiledRule: Sendable {
    let rule: PolicyRule
    let condition: CompiledCondition
    /// The decision with the escalation keyword convention on, and off.
    let withKeyword: PolicyDecision
    let withoutKeyword: PolicyDecision
}

/// Rules in evaluation order, with `field eq "string"` rules indexed by (field, value) so that a
/// policy of a thousand such rules decides as fast as one of five. First match by priority is
/// kept: the best indexed candidate only wins if no earlier non-indexed rule matches (or raises)
/// before it.
struct CompiledPolicy: Sendable {
    /// A class so that walking the list in `evaluate` costs no retains of its members.
    final class FieldIndex: Sendable {
        let path: FieldPath
        /// Value -> the first position (in evaluation order) of a rule `field eq value`.
        let firstPosition: ExactStringTable

        init(path: FieldPath, firstPosition: ExactStringTable) {
            self.path = path
            self.firstPosition = firstPosition
        }
    }

    let rules: [CompiledRule]
    let indexes: [FieldIndex]
    /// Positions of the rules that are not indexed, ascending.
    let scanned: [Int]
    let defaultWithKeyword: PolicyDecision
    let defaultWithoutKeyword: PolicyDecision

    /// `defaultAction` and `defaultEscalation`: what no rule matching comes to (`PolicySet`).
    init(documents: [PolicyDocument], defaultAction: PolicyAction, defaultEscalation: EscalationSpec) {
        // Python's sort is stable, also with reverse=True.
        var ordered: [(rule: PolicyRule, key: Int)] = []
        for document in documents {
            for rule in document.rules { ordered.append((rule, ordered.count)) }
        }
        ordered.sort { $0.rule.priority != $1.rule.priority ? $0.rule.priority > $1.rule.priority : $0.key < $1.key }

        var rules: [CompiledRule] = []
        var tables: [String: [(key: String, position: Int)]] = [:]
        var fieldOrder: [String] = []
        var scanned: [Int] = []
        for (position, entry) in ordered.enumerated() {
            let rule = entry.rule
            let reason = rule.message.isEmpty ? "Matched rule '\(rule.name)'" : rule.message
            rules.append(
                CompiledRule(
                    rule: rule,
                    condition: CompiledCondition(rule.condition),
                    withKeyword: .make(
                        action: rule.action,
                        rule: rule.name,
                        reason: reason,
                        escalation: rule.escalation,
                        keyword: true
                    ),
                    withoutKeyword: .make(
                        action: rule.action,
                        rule: rule.name,
                        reason: reason,
                        escalation: rule.escalation,
                        keyword: false
                    )
                )
            )
            if case .leaf(let leaf) = rule.condition, leaf.op == .eq, case .str(let value) = leaf.value {
                if tables[leaf.field] == nil { fieldOrder.append(leaf.field) }
                tables[leaf.field, default: []].append((value, position))
            } else {
                scanned.append(position)
            }
        }
        self.rules = rules
        self.scanned = scanned
        indexes = fieldOrder.compactMap { field in
            tables[field].map { FieldIndex(path: FieldPath(field), firstPosition: ExactStringTable($0)) }
        }
        defaultWithKeyword = .make(
            action: defaultAction,
            rule: nil,
            reason: PolicyDecision.noMatchReason,
            escalation: defaultEscalation,
            keyword: true
        )
        defaultWithoutKeyword = .make(
            action: defaultAction,
            rule: nil,
            reason: PolicyDecision.noMatchReason,
            escalation: defaultEscalation,
            keyword: false
        )
    }

    func evaluate(_ context: JSONObject, keyword: Bool) -> PolicyDecision {
        var best = Int.max
        indexes.withUnsafeBufferPointer { buffer in
            for index in buffer {
                if case .string(let s)? = index.path.lookup(context),
                    let position = index.firstPosition.position(of: s),
                    position < best
                {
                    best = position
                }
            }
        }
        for position in scanned {
            if position > best { break }
            do {
                if try rules[position].condition.matches(context) { return decision(position, keyword) }
            } catch {
                return .failClosed(error.description)
            }
        }
        if best != Int.max { return decision(best, keyword) }
        return keyword ? defaultWithKeyword : defaultWithoutKeyword
    }

    @inline(__always)
    func decision(_ position: Int, _ keyword: Bool) -> PolicyDecision {
        keyword ? rules[position].withKeyword : rules[position].withoutKeyword
    }
}
