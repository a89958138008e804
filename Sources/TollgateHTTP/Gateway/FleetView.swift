import Synchronization
import TollgateJSON
import TollgateStore
import TollgateWorker

/// What the gateway knows of the fleet: every pending request (from the workers' answers to
/// `pending` queries and the notices on `tollgate.escalations`), the recent final decisions, and
/// whether the fleet answers. Shared between the watcher's thread and the HTTP handlers.
public final class FleetView: Sendable {
    /// A pending request as the API shows it.
    struct Pending: Sendable {
        var requestID: String
        var workerID: String
        var createdAt: Millis
        var deadline: Millis
        /// The API's entry: the notice's fields, the worker and the voters so far.
        var json: JSONObject
    }

    /// A final decision as the API shows it.
    struct Decided: Sendable {
        var requestID: String
        var json: JSONObject
    }

    /// A standing grant in force, as the workers describe it.
    struct Grant: Sendable {
        var grantID: String
        var workerID: String
        var expiresAt: Millis
        var json: JSONObject
    }

    struct State: Sendable {
        var pending: [String: Pending] = [:]
        var grants: [String: Grant] = [:]
        /// Grants revoked lately, so a fleet answer sent before the revocation does not bring one back.
        var revoked: Set<String> = []
        var history: [Decided] = []
        var recentlyDecided: Set<String> = []
        var workers: Set<String> = []
        var connected = false
        var problem: String? = "the gateway is connecting to the broker"

        /// A worker spoke (a notice or an answer): the fleet answers, whatever the last query saw.
        mutating func workerHeardFrom() {
            if connected { problem = nil }
        }
    }

    static let historyLimit = 100
    private let state = Mutex(State())

    public init() {}

    // MARK: Reading (HTTP handlers)

    /// Pending requests, newest first.
    func pendingList() -> [Pending] {
        state.withLock { $0.pending.values.sorted { ($0.createdAt, $0.requestID) > ($1.createdAt, $1.requestID) } }
    }

    func pending(_ requestID: String) -> Pending? { state.withLock { $0.pending[requestID] } }

    func decided(_ requestID: String) -> Decided? {
        state.withLock { $0.history.first { $0.requestID == requestID } }
    }

    func history() -> [Decided] { state.withLock { $0.history } }

    /// The grants in force at `now`, soonest to expire first.
    func grantList(now: Millis) -> [Grant] {
        state.withLock { s in
            s.grants.values.filter { $0.expiresAt > now }.sorted {
                ($0.expiresAt, $0.grantID) < ($1.expiresAt, $1.grantID)
            }
        }
    }

    func grant(_ grantID: String) -> Grant? { state.withLock { $0.grants[grantID] } }

    var snapshot: (workers: [String], connected: Bool, problem: String?) {
        state.withLock { ($0.workers.sorted(), $0.connected, $0.problem) }
    }

    // MARK: Updating (the watcher)

    func setConnection(_ connected: Bool, problem: String?) {
        state.withLock {
            $0.connected = connected
            $0.problem = problem
        }
    }

    func setProblem(_ problem: String?) { state.withLock { $0.problem = problem } }

    /// A `pending.<tool>` or `voted.<tool>` notice (or an entry of a fleet answer).
    func upsert(notice: JSONObject, worker: String? = nil) {
        guard let entry = Self.entry(notice, worker: worker) else { return }
        state.withLock {
            $0.workerHeardFrom()
            guard !$0.recentlyDecided.contains(entry.requestID) else { return }
            $0.pending[entry.requestID] = entry
            $0.workers.insert(entry.workerID)
        }
    }

    /// A `resolved.<tool>` notice: the final decision.
    func resolve(decision: JSONObject, at now: Millis) {
        guard let requestID = decision["request_id"]?.stringValue else { return }
        if let grant = decision["grant"]?.objectValue { upsert(grant: grant) }
        var json = decision
        json["worker_id"] = .string(workerID(ofRequest: requestID) ?? "?")
        json["decided_at"] = .string(isoTime(now))
        state.withLock {
            $0.workerHeardFrom()
            $0.pending[requestID] = nil
            guard !$0.recentlyDecided.contains(requestID) else { return }
            $0.recentlyDecided.insert(requestID)
            $0.history.insert(Decided(requestID: requestID, json: json), at: 0)
            if $0.history.count > Self.historyLimit {
                let dropped = $0.history.removeLast()
                $0.recentlyDecided.remove(dropped.requestID)
            }
        }
    }

    /// A grant made (in a final decision's `grant`) or listed by a worker.
    func upsert(grant: JSONObject, worker: String? = nil) {
        guard let entry = Self.grantEntry(grant, worker: worker) else { return }
        state.withLock {
            guard !$0.revoked.contains(entry.grantID) else { return }
            $0.grants[entry.grantID] = entry
        }
    }

    /// A `revoked.<tool>` notice.
    func revoke(grantID: String) {
        state.withLock {
            $0.grants[grantID] = nil
            $0.revoked.insert(grantID)
        }
    }

    /// A worker's complete answer to a `grants` query: its grants replace what was known of it.
    func replace(worker: String, withGrants grants: [JSONObject]) {
        let entries = grants.compactMap { Self.grantEntry($0, worker: worker) }
        state.withLock { s in
            for (id, entry) in s.grants where entry.workerID == worker { s.grants[id] = nil }
            for entry in entries where !s.revoked.contains(entry.grantID) { s.grants[entry.grantID] = entry }
        }
    }

    static func grantEntry(_ grant: JSONObject, worker: String?) -> Grant? {
        guard let id = grant["grant_id"]?.stringValue,
            let expires = grant["expires_at"]?.stringValue.flatMap(parseISOTime)
        else { return nil }
        let holder = worker ?? workerID(ofGrant: id) ?? "?"
        var json = grant
        json["worker_id"] = .string(holder)
        return Grant(grantID: id, workerID: holder, expiresAt: expires, json: json)
    }

    /// A worker's complete answer to a `pending` query: its requests replace what was known of it.
    func replace(worker: String, with notices: [JSONObject]) {
        let entries = notices.compactMap { Self.entry($0, worker: worker) }
        state.withLock { s in
            s.workerHeardFrom()
            s.workers.insert(worker)
            for (id, entry) in s.pending where entry.workerID == worker { s.pending[id] = nil }
            for entry in entries where !s.recentlyDecided.contains(entry.requestID) {
                s.pending[entry.requestID] = entry
            }
        }
    }

    /// The API's entry for a notice, with the fields the OpenAPI document names.
    static func entry(_ notice: JSONObject, worker: String?) -> Pending? {
        guard let requestID = notice["request_id"]?.stringValue,
            let deadline = notice["deadline"]?.stringValue.flatMap(parseISOTime),
            let created = notice["created_at"]?.stringValue.flatMap(parseISOTime)
        else { return nil }
        let holder =
            worker ?? notice["approve_via"]?["routing_key"]?.stringValue ?? workerID(ofRequest: requestID) ?? "?"
        var json = JSONObject()
        json["request_id"] = .string(requestID)
        json["worker_id"] = .string(holder)
        for key in [
            "agent_id", "session_id", "tool_name", "arguments", "reason", "rule", "message", "policy_version",
            "created_at",
            "deadline", "timeout_action", "quorum",
        ] {
            json[key] = notice[key] ?? .null
        }
        json["approvals"] = notice["approvals"] ?? .array([])
        json["denials"] = notice["denials"] ?? .array([])
        // Approve with edits (workers before it send neither).
        json["edited"] = notice["edited"] ?? .bool(false)
        json["round"] = notice["round"] ?? .int(0)
        json["superseded"] = notice["superseded"] ?? .array([])
        if let stage = notice["stage"] { json["stage"] = stage }
        return Pending(requestID: requestID, workerID: holder, createdAt: created, deadline: deadline, json: json)
    }
}
