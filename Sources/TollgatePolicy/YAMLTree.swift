import Yams

/// A position in a policy file: 1-based line and column (columns count Unicode scalars).
public struct SourceLocation: Sendable, Hashable {
    public let line: Int
    public let column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }
}

/// A YAML node after PyYAML's resolution, with the position it came from.
struct YNode {
    enum Kind {
        case scalar(PolicyValue)
        case sequence([YNode])
        case mapping([(key: YNode, value: YNode)])
        /// A node that already produced an error; checks skip it silently.
        case invalid
    }

    let kind: Kind
    let location: SourceLocation
    /// For scalars: written in plain style (used for hints such as quoting `version: 1.0`).
    var isPlainScalar = false

    /// The Python value of the node (mappings become dicts, sequences lists).
    var value: PolicyValue {
        switch kind {
        case .scalar(let v): return v
        case .sequence(let nodes): return .list(nodes.map(\.value))
        case .mapping(let pairs): return .dict(pairs.map { (key: $0.key.value, value: $0.value.value) })
        case .invalid: return .none
        }
    }

    var isInvalid: Bool {
        if case .invalid = kind { return true }
        return false
    }
}

/// Turns Yams' composed nodes into `YNode`s with PyYAML's scalar rules, merge keys (`<<`) and
/// Tollgate's strict checks (unhashable or duplicate mapping keys), collecting every problem.
struct YAMLTreeBuilder {
    /// Yams leaves the tag of a plain, untagged scalar unresolved (empty) until something asks
    /// for it (its duplicate-key check does, for mapping keys), then asks the resolver; quoted and
    /// block scalars get `!!str`. Our resolver answers this marker for every plain scalar, so an
    /// empty tag or the marker means "plain": PyYAML's rules apply here.
    static let plainTag = "tag:tollgate,2026:plain"

    static var resolver: Resolver {
        (try? Resolver.basic.appending(Tag.Name(rawValue: plainTag), "^")) ?? .basic
    }

    static func isPlain(_ tag: String) -> Bool {
        tag == plainTag || tag == Tag.Name.implicit.rawValue
    }

    var problems: [(SourceLocation, String)] = []
    let patterns = YAMLScalars.Patterns()

    /// Aliases are expanded here, so nested aliases ("billion laughs") could multiply nodes
    /// without end: building stops past this many.
    static let maxNodes = 1_000_000
    var nodeCount = 0

    static func location(_ mark: Mark?) -> SourceLocation {
        SourceLocation(line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    mutating func build(_ node: Node) -> YNode {
        nodeCount += 1
        if nodeCount > Self.maxNodes {
            if nodeCount == Self.maxNodes + 1 {
                problems.append(
                    (Self.location(node.mark), "YAML expands to more than \(Self.maxNodes) nodes (nested aliases?)")
                )
            }
            return YNode(kind: .invalid, location: Self.location(node.mark))
        }
        switch node {
        case .scalar(let scalar): return build(scalar)
        case .sequence(let sequence):
            let loc = Self.location(sequence.mark)
            let tag = sequence.tag.description
            guard
                tag == Tag.Name.seq.rawValue || tag == Tag.Name.implicit.rawValue
                    || tag == Tag.Name.nonSpecific.rawValue
            else {
                problems.append((loc, "unsupported YAML tag '\(tag)' on a sequence"))
                return YNode(kind: .invalid, location: loc)
            }
            return YNode(kind: .sequence(sequence.map { build($0) }), location: loc)
        case .mapping(let mapping):
            return build(mapping)
        case .alias(let alias):
            problems.append((Self.location(alias.mark), "unsupported YAML alias"))
            return YNode(kind: .invalid, location: Self.location(alias.mark))
        }
    }

    mutating func build(_ scalar: Node.Scalar) -> YNode {
        let loc = Self.location(scalar.mark)
        var tag = scalar.tag.description
        let plain = Self.isPlain(tag)
        if plain { tag = YAMLScalars.implicitTag(of: scalar.string, patterns) }
        if tag == Tag.Name.nonSpecific.rawValue { tag = YAMLScalars.strTag }
        switch YAMLScalars.construct(tag: tag, text: scalar.string) {
        case .success(let value):
            var node = YNode(kind: .scalar(value), location: loc)
            node.isPlainScalar = plain
            return node
        case .failure(let error):
            problems.append((loc, error.message))
            return YNode(kind: .invalid, location: loc)
        }
    }

    mutating func build(_ mapping: Node.Mapping) -> YNode {
        let loc = Self.location(mapping.mark)
        let tag = mapping.tag.description
        guard tag == Tag.Name.map.rawValue || tag == Tag.Name.implicit.rawValue || tag == Tag.Name.nonSpecific.rawValue
        else {
            problems.append((loc, "unsupported YAML tag '\(tag)' on a mapping"))
            return YNode(kind: .invalid, location: loc)
        }
        // PyYAML's flatten_mapping: merged pairs come first, explicit keys override them.
        var merged: [(key: YNode, value: YNode)] = []
        var explicit: [(key: YNode, value: YNode)] = []
        for (keyNode, valueNode) in mapping {
            if case .scalar(let k) = keyNode, Self.isPlain(k.tag.description), k.string == "<<" {
                merged.append(contentsOf: mergeSource(valueNode))
                continue
            }
            explicit.append((build(keyNode), build(valueNode)))
        }
        var pairs: [(key: YNode, value: YNode)] = []
        for pair in merged + explicit {
            guard case .scalar = pair.key.kind else {
                if !pair.key.isInvalid {
                    problems.append(
                        (pair.key.location, "a mapping key must be a scalar (found an unhashable sequence or mapping)")
                    )
                }
                continue
            }
            if let existing = pairs.firstIndex(where: { Python.equals($0.key.value, pair.key.value) }) {
                let isExplicit = explicit.contains { $0.key.location == pair.key.location }
                let existingExplicit = explicit.contains { $0.key.location == pairs[existing].key.location }
                if isExplicit && existingExplicit {
                    problems.append(
                        (
                            pair.key.location,
                            "duplicate mapping key \(Python.repr(pair.key.value)) (first at line \(pairs[existing].key.location.line))"
                        )
                    )
                    continue
                }
                pairs[existing].value = pair.value
                continue
            }
            pairs.append(pair)
        }
        return YNode(kind: .mapping(pairs), location: loc)
    }

    mutating func mergeSource(_ node: Node) -> [(key: YNode, value: YNode)] {
        switch node {
        case .mapping(let m):
            if case .mapping(let pairs) = build(m).kind { return pairs }
            return []
        case .sequence(let s):
            // Later mappings in the list are overridden by earlier ones.
            var result: [(key: YNode, value: YNode)] = []
            for sub in s.reversed() {
                guard case .mapping(let m) = sub else {
                    problems.append((Self.location(sub.mark), "a merge key '<<' takes a mapping or a list of mappings"))
                    continue
                }
                if case .mapping(let pairs) = build(m).kind {
                    for pair in pairs {
                        if let i = result.firstIndex(where: { Python.equals($0.key.value, pair.key.value) }) {
                            result[i].value = pair.value
                        } else {
                            result.append(pair)
                        }
                    }
                }
            }
            return result
        default:
            problems.append((Self.location(node.mark), "a merge key '<<' takes a mapping or a list of mappings"))
            return []
        }
    }
}
