import TollgateJSON

/// Why an input was rejected as malformed.
struct InvalidInput: Error, CustomStringConvertible, Equatable {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A body that must be one JSON object.
func parseObject(_ body: [UInt8]) -> Result<JSONObject, InvalidInput> {
    let value: JSONValue
    do {
        value = try JSONValue.parse(body)
    } catch {
        return .failure(InvalidInput("body is not valid JSON: \(error)"))
    }
    guard case .object(let object) = value else {
        return .failure(InvalidInput("body is a JSON \(value.typeName), not an object"))
    }
    return .success(object)
}

/// Reads the fields of one JSON object, collecting every problem in words an agent's author
/// can act on.
struct FieldReader {
    let object: JSONObject
    private(set) var problems: [String] = []

    init(_ object: JSONObject) { self.object = object }

    /// A required non-empty string of at most `maxBytes` bytes.
    mutating func requiredString(_ key: String, maxBytes: Int = .max) -> String? {
        switch object[key] {
        case nil, .null?:
            problems.append("\(key) is missing")
        case .string(let text)? where text.isEmpty:
            problems.append("\(key) is empty")
        case .string(let text)? where text.utf8.count > maxBytes:
            problems.append("\(key) is \(text.utf8.count) bytes long; at most \(maxBytes) are allowed")
        case .string(let text)?:
            return text
        case let other?:
            problems.append("\(key) must be a string, not \(other.typeName)")
        }
        return nil
    }

    /// An optional string (JSON null counts as absent).
    mutating func optionalString(_ key: String, nonEmpty: Bool = false) -> String? {
        switch object[key] {
        case nil, .null?: return nil
        case .string(let text)? where nonEmpty && text.isEmpty:
            problems.append("\(key) must not be empty")
        case .string(let text)?: return text
        case let other?: problems.append("\(key) must be a string, not \(other.typeName)")
        }
        return nil
    }

    /// An optional object (JSON null counts as absent).
    mutating func optionalObject(_ key: String) -> JSONObject? {
        switch object[key] {
        case nil, .null?: return nil
        case .object(let inner)?: return inner
        case let other?:
            problems.append("\(key) must be an object, not \(other.typeName)")
            return nil
        }
    }

    /// A required string that must be one of `T`'s raw values.
    mutating func required<T: RawRepresentable & CaseIterable>(_ key: String, as _: T.Type) -> T?
    where T.RawValue == String {
        let allowed = T.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " or ")
        switch object[key] {
        case nil, .null?: problems.append("\(key) is missing (\(allowed))")
        case .string(let text)?:
            if let value = T(rawValue: text) { return value }
            problems.append("\(key) must be \(allowed), not \"\(text)\"")
        case let other?: problems.append("\(key) must be \(allowed), not \(other.typeName)")
        }
        return nil
    }

    var failure: InvalidInput? { problems.isEmpty ? nil : InvalidInput(problems.joined(separator: "; ")) }
}

extension JSONValue {
    /// The JSON type's name, for error messages.
    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}
