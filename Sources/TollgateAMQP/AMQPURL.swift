/// An AMQP 0-9-1 URI: `amqp://user:password@host:port/vhost` (`amqps://` for TLS).
///
/// Follows RabbitMQ's URI spec: user, password, host and vhost are percent-decoded;
/// the port defaults to 5672 (`amqp`) or 5671 (`amqps`); user and password default to
/// `guest`; host defaults to `localhost`; an empty path or `/` means vhost `/`, and a
/// vhost named `/` is written `%2f` (`amqp://host/%2f`). IPv6 hosts go in brackets.
/// A query string (`?heartbeat=...`) is accepted and ignored: use `AMQPConfiguration`.
/// `description` never shows the password.
public struct AMQPURL: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var vhost: String
    public var tls: Bool

    public init(
        host: String = "localhost",
        port: Int? = nil,
        user: String = "guest",
        password: String = "guest",
        vhost: String = "/",
        tls: Bool = false
    ) {
        self.host = host
        self.port = port ?? (tls ? 5671 : 5672)
        self.user = user
        self.password = password
        self.vhost = vhost
        self.tls = tls
    }

    public init(parsing text: String) throws(AMQPError) {
        func invalid(_ why: String) -> AMQPError {
            AMQPError(.invalidURL, message: why, context: "parsing the AMQP URL '\(AMQPURL.redacted(text))'")
        }
        guard let schemeEnd = text.firstRange(of: "://") else {
            throw invalid("it must start with amqp:// or amqps://")
        }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        switch scheme {
        case "amqp": tls = false
        case "amqps": tls = true
        default: throw invalid("unknown scheme '\(scheme)': use amqp:// or amqps://")
        }
        var rest = text[schemeEnd.upperBound...]
        if let cut = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<cut] }
        let authority: Substring
        let path: Substring
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = rest[rest.index(after: slash)...]
        } else {
            authority = rest
            path = ""
        }
        var hostPort = authority
        user = "guest"
        password = "guest"
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            hostPort = authority[authority.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                user = try AMQPURL.decode(userInfo[..<colon], invalid("bad percent-encoding in the user"))
                password = try AMQPURL.decode(
                    userInfo[userInfo.index(after: colon)...],
                    invalid("bad percent-encoding in the password")
                )
            } else {
                user = try AMQPURL.decode(userInfo, invalid("bad percent-encoding in the user"))
            }
        }
        var portText: Substring? = nil
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw invalid("unclosed '[' in an IPv6 host") }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("unexpected text after the IPv6 host") }
                portText = after.dropFirst()
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = try AMQPURL.decode(hostPort[..<colon], invalid("bad percent-encoding in the host"))
            portText = hostPort[hostPort.index(after: colon)...]
        } else {
            host = try AMQPURL.decode(hostPort, invalid("bad percent-encoding in the host"))
        }
        if host.isEmpty { host = "localhost" }
        if let portText, !portText.isEmpty {
            guard let p = Int(portText), (1...65535).contains(p) else {
                throw invalid("port '\(portText)' is not a number from 1 to 65535")
            }
            port = p
        } else {
            port = tls ? 5671 : 5672
        }
        if path.isEmpty {
            vhost = "/"
        } else {
            guard !path.contains("/") else {
                throw invalid("the vhost must be one path segment; write a '/' inside it as %2f")
            }
            vhost = try AMQPURL.decode(path, invalid("bad percent-encoding in the vhost"))
        }
    }

    /// `amqp://user@host:port/vhost`: what logs and errors may show.
    public var description: String {
        let vhostPart = vhost == "/" ? "%2f" : AMQPURL.encode(vhost)
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "\(tls ? "amqps" : "amqp")://\(AMQPURL.encode(user))@\(hostPart):\(port)/\(vhostPart)"
    }

    /// `host:port`.
    public var endpoint: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    static func decode(_ s: Substring, _ error: AMQPError) throws(AMQPError) -> String {
        guard s.contains("%") else { return String(s) }
        var bytes: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "%") {
                guard it.count >= 2, let hi = hexValue(it.removeFirst()), let lo = hexValue(it.removeFirst()) else {
                    throw error
                }
                bytes.append(hi << 4 | lo)
            } else {
                bytes.append(b)
            }
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else { throw error }
        return decoded
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func encode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(b >> 4)], hex[Int(b & 15)]], as: UTF8.self)
            }
        }
        return out
    }

    /// The URL text with any password replaced by `***` (for error messages about unparsable URLs).
    static func redacted(_ text: String) -> String {
        guard let schemeEnd = text.firstRange(of: "://") else { return text }
        let rest = text[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@"),
            let colon = rest[..<at].firstIndex(of: ":")
        else { return text }
        return String(text[..<rest.index(after: colon)]) + "***" + String(text[at...])
    }
}
