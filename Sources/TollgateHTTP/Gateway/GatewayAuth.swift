import Crypto
import Foundation
import Synchronization
import TollgateWorker

/// Who a request comes from, once checked.
enum Caller: Sendable {
    /// A person signed in with their broker user: votes go over their own connection.
    case brokerUser(Session)
    /// A person named by a trusted proxy's header: the gateway votes for them.
    case proxyUser(String)
    /// A bot (HMAC or bearer token), naming the person it authenticated.
    case bot(String)

    var name: String {
        switch self {
        case .brokerUser(let session): session.user
        case .proxyUser(let user): user
        case .bot(let bot): "bot \(bot)"
        }
    }
}

/// A signed-in person: a server-side record behind an opaque cookie.
final class Session: Sendable {
    let id: String
    let user: String
    let csrfToken: String
    let voter: VoterConnection
    private let lastSeen: Atomic<Int64>

    init(user: String, voter: VoterConnection) {
        id = randomToken()
        csrfToken = randomToken()
        self.user = user
        self.voter = voter
        lastSeen = Atomic(monotonicClockMillis())
    }

    func touch() { lastSeen.store(monotonicClockMillis(), ordering: .relaxed) }
    func idle(longerThan millis: Int64) -> Bool { monotonicClockMillis() - lastSeen.load(ordering: .relaxed) > millis }
}

/// 32 random bytes, hex: session ids and CSRF tokens.
func randomToken() -> String {
    var generator = SystemRandomNumberGenerator()
    return (0..<4).map { _ in generator.next() as UInt64 }.flatMap { word in
        (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * UInt64($0))) }
    }.hexString
}

/// The sessions of people signed in with their broker user.
final class SessionStore: Sendable {
    private let sessions = Mutex<[String: Session]>([:])
    let idleMillis: Int64

    init(idleSeconds: Int) { idleMillis = Int64(idleSeconds) * 1000 }

    func add(_ session: Session) { sessions.withLock { $0[session.id] = session } }

    /// The live session for a cookie value (an idle or broken one is ended).
    func session(_ id: String) -> Session? {
        let found = sessions.withLock { $0[id] }
        guard let found else { return nil }
        if found.idle(longerThan: idleMillis) || !found.voter.isAlive {
            end(id)
            return nil
        }
        found.touch()
        return found
    }

    func end(_ id: String) {
        let ended = sessions.withLock { $0.removeValue(forKey: id) }
        ended?.voter.close()
    }

    /// Ends idle sessions (closing their broker connections).
    func expire() {
        let idle = sessions.withLock { all in all.values.filter { $0.idle(longerThan: idleMillis) }.map(\.id) }
        for id in idle { end(id) }
    }

    var count: Int { sessions.withLock { $0.count } }
}

/// Token buckets: at most `burst` votes at once, refilled at `perMinute`.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var at: Int64
    }

    private let buckets = Mutex<[String: Bucket]>([:])
    let burst: Double
    let perMillisecond: Double

    init(perMinute: Int, burst: Int) {
        self.burst = Double(burst)
        perMillisecond = Double(perMinute) / 60_000
    }

    /// nil when allowed; else the seconds to wait.
    func take(_ key: String) -> Int? {
        let now = monotonicClockMillis()
        return buckets.withLock { all in
            var bucket = all[key] ?? Bucket(tokens: burst, at: now)
            bucket.tokens = min(burst, bucket.tokens + Double(now - bucket.at) * perMillisecond)
            bucket.at = now
            defer { all[key] = bucket }
            guard bucket.tokens >= 1 else { return Int(((1 - bucket.tokens) / perMillisecond / 1000).rounded(.up)) }
            bucket.tokens -= 1
            return nil
        }
    }
}

/// Bots: one secret per bot, from a file, used as an HMAC-SHA256 key
/// (`Tollgate-Signature: t=<unix>,v1=<hex of HMAC over "<t>.<body>">`) or as a bearer token.
public final class BotAuthenticator: Sendable {
    public struct Bot: Sendable {
        public var name: String
        /// The HMAC key, or the bearer token.
        public var secret: [UInt8]
        /// A bearer token rather than an HMAC key.
        public var bearer: Bool

        public init(name: String, secret: [UInt8], bearer: Bool) {
            self.name = name
            self.secret = secret
            self.bearer = bearer
        }
    }

    private let bots: [String: Bot]
    /// Signatures seen within the tolerance, so a replay is refused.
    private let seen = Mutex<[String: Int64]>([:])
    static let toleranceSeconds: Int64 = 300

    init(bots: [Bot]) { self.bots = Dictionary(bots.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }) }

    var isEmpty: Bool { bots.isEmpty }

    enum Outcome: Equatable {
        case bot(String)
        case refused(String)
    }

    /// Checks a bot request; `now` in Unix seconds. A signature is accepted once, unless
    /// `allowReplay` (reads, which change nothing).
    func authenticate(
        bot name: String?,
        authorization: String?,
        signature: String?,
        body: [UInt8],
        now: Int64,
        allowReplay: Bool = false
    ) -> Outcome {
        guard let name, let bot = bots[name] else { return .refused("unknown bot (X-Tollgate-Bot)") }
        if bot.bearer {
            guard let authorization, authorization.hasPrefix("Bearer ") else {
                return .refused("a bearer token is required")
            }
            let token = Array(authorization.dropFirst("Bearer ".count).utf8)
            return constantTimeEqual(token, bot.secret) ? .bot(name) : .refused("wrong token")
        }
        guard let signature else { return .refused("a Tollgate-Signature header is required") }
        var timestamp: Int64?
        var given: String?
        for part in signature.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { continue }
            if pair[0] == "t" { timestamp = Int64(pair[1]) }
            if pair[0] == "v1" { given = pair[1].lowercased() }
        }
        guard let timestamp, let given else { return .refused("Tollgate-Signature must be t=<unix>,v1=<hex>") }
        guard abs(now - timestamp) <= Self.toleranceSeconds else {
            return .refused(
                "stale signature: its timestamp is more than \(Self.toleranceSeconds) s from the gateway's clock"
            )
        }
        let expected = Self.signature(secret: bot.secret, timestamp: timestamp, body: body)
        guard constantTimeEqual(Array(given.utf8), Array(expected.utf8)) else { return .refused("wrong signature") }
        if allowReplay { return .bot(name) }
        let key = "\(name):\(given)"
        let replayed = seen.withLock { all -> Bool in
            all = all.filter { now - $0.value <= Self.toleranceSeconds * 2 }
            if all[key] != nil { return true }
            all[key] = now
            return false
        }
        return replayed ? .refused("replayed signature: each signed request is accepted once") : .bot(name)
    }

    static func signature(secret: [UInt8], timestamp: Int64, body: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(
            for: Array("\(timestamp).".utf8) + body,
            using: SymmetricKey(data: secret)
        )
        return Array(mac).hexString
    }
}

func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for i in 0..<a.count { difference |= a[i] ^ b[i] }
    return difference == 0
}
