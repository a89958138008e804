import Crypto
import Foundation
import TollgateStore

/// Ed25519 keys for receipts, as PEM files any TLS or crypto library reads: the private key as
/// PKCS #8 (`BEGIN PRIVATE KEY`), the public key as SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`).
/// Both DER encodings are a fixed prefix and the 32 key bytes (RFC 8410).
public enum ReceiptKeys {
    static let privatePrefix: [UInt8] = [
        0x30, 0x2E, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ]
    static let publicPrefix: [UInt8] = [0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00]

    public struct KeyError: Error, CustomStringConvertible {
        public var description: String
    }

    public static func privateKeyPEM(_ key: Curve25519.Signing.PrivateKey) -> String {
        pem("PRIVATE KEY", privatePrefix + Array(key.rawRepresentation))
    }

    public static func publicKeyPEM(_ key: Curve25519.Signing.PublicKey) -> String {
        pem("PUBLIC KEY", publicPrefix + Array(key.rawRepresentation))
    }

    public static func loadPrivateKey(path: String) throws -> Curve25519.Signing.PrivateKey {
        let der = try derBytes(path: path, label: "PRIVATE KEY")
        guard der.count == 48, Array(der.prefix(16)) == privatePrefix else {
            throw KeyError(
                description: "\(path) is not an Ed25519 private key (PKCS #8): make one with `tollgate keygen`"
            )
        }
        return try Curve25519.Signing.PrivateKey(rawRepresentation: der.suffix(32))
    }

    public static func loadPublicKey(path: String) throws -> Curve25519.Signing.PublicKey {
        let der = try derBytes(path: path, label: "PUBLIC KEY")
        guard der.count == 44, Array(der.prefix(12)) == publicPrefix else {
            throw KeyError(description: "\(path) is not an Ed25519 public key (SubjectPublicKeyInfo)")
        }
        return try Curve25519.Signing.PublicKey(rawRepresentation: der.suffix(32))
    }

    /// The first 16 hex digits of the SHA-256 of the raw public key: names the key in receipts.
    public static func keyID(_ key: Curve25519.Signing.PublicKey) -> String {
        String(Array(SHA256.hash(data: key.rawRepresentation)).hexString.prefix(16))
    }

    private static func pem(_ label: String, _ der: [UInt8]) -> String {
        "-----BEGIN \(label)-----\n\(Data(der).base64EncodedString())\n-----END \(label)-----\n"
    }

    private static func derBytes(path: String, label: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KeyError(description: "cannot read \(path)")
        }
        let text = String(decoding: data, as: UTF8.self)
        guard let begin = text.range(of: "-----BEGIN \(label)-----"),
            let end = text.range(of: "-----END \(label)-----", range: begin.upperBound..<text.endIndex)
        else { throw KeyError(description: "\(path) holds no '\(label)' PEM block") }
        let body = text[begin.upperBound..<end.lowerBound].filter { !$0.isWhitespace }
        guard let der = Data(base64Encoded: String(body)) else {
            throw KeyError(description: "\(path): the PEM block is not base64")
        }
        return Array(der)
    }
}

extension Array where Element == UInt8 {
    /// base64url without padding (RFC 4648 §5), for signatures.
    var base64URL: String {
        // Written directly: Foundation's encoder and three replacements cost more than the
        // rest of a receipt but the signature (perf, tollgate-bench receipts).
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out = [UInt8]()
        out.reserveCapacity((count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= count {
            let n = UInt32(self[index]) << 16 | UInt32(self[index + 1]) << 8 | UInt32(self[index + 2])
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(alphabet[Int(n & 63)])
            index += 3
        }
        let rest = count - index
        if rest > 0 {
            let n = UInt32(self[index]) << 16 | (rest == 2 ? UInt32(self[index + 1]) << 8 : 0)
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            if rest == 2 { out.append(alphabet[Int(n >> 6 & 63)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
