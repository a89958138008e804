import Foundation
import TollgateStore

/// Crash points for the crash tests: `TOLLGATE_FAULT=<point>[:N]` makes the worker die at once
/// (as with SIGKILL: no cleanup, no acks) the N-th time (default 1st) it reaches `point`.
/// Unset in production, where `reached` costs one branch.
///
/// Points: `after-commit` (state committed, nothing published), `after-publish` (published,
/// not yet confirmed or acked), `before-ack` (confirmed, about to ack). And
/// `TOLLGATE_FAULT=crash-on-tool:NAME`: die while evaluating any call of tool NAME, to play a
/// message that keeps killing workers; `TOLLGATE_FAULT=clock-offset-file:PATH`: add the
/// milliseconds written in PATH to the wall clock, to step it under a running worker;
/// `TOLLGATE_FAULT=sync-hold-file:PATH`: while PATH exists, commits are not synced to disk (so
/// nothing they caused may be published); `TOLLGATE_FAULT=sync-fail-file:PATH`: while PATH
/// exists, every sync fails as a failing disk's `fdatasync` does.
struct FaultPoints {
    enum Point: String {
        case afterCommit = "after-commit"
        case afterPublish = "after-publish"
        case beforeAck = "before-ack"
    }

    private let armed: Point?
    private let trigger: Int
    private var count = 0
    /// The exit status of a fault, so tests can tell it from a real crash.
    static let exitStatus: Int32 = 86

    init(armed: Point?, trigger: Int) {
        self.armed = armed
        self.trigger = max(1, trigger)
    }

    static func fromEnvironment() -> FaultPoints {
        guard let spec = ProcessInfo.processInfo.environment["TOLLGATE_FAULT"], !spec.isEmpty else {
            return FaultPoints(armed: nil, trigger: 1)
        }
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        return FaultPoints(armed: Point(rawValue: parts[0]), trigger: parts.count > 1 ? Int(parts[1]) ?? 1 : 1)
    }

    /// The tool whose calls crash the worker (`crash-on-tool:NAME`), if any.
    static func crashingTool() -> String? {
        guard let spec = ProcessInfo.processInfo.environment["TOLLGATE_FAULT"], spec.hasPrefix("crash-on-tool:") else {
            return nil
        }
        return String(spec.dropFirst("crash-on-tool:".count))
    }

    /// The file whose number of milliseconds is added to the wall clock
    /// (`clock-offset-file:PATH`), if any.
    static func clockOffsetFile() -> String? {
        guard let spec = ProcessInfo.processInfo.environment["TOLLGATE_FAULT"], spec.hasPrefix("clock-offset-file:")
        else { return nil }
        return String(spec.dropFirst("clock-offset-file:".count))
    }

    /// While the file of `sync-hold-file:PATH` exists, the store's syncer holds its syncs; while
    /// that of `sync-fail-file:PATH` exists, its syncs fail (EIO).
    static func syncFault() -> (@Sendable () -> StoreSyncer.Fault?)? {
        guard let spec = ProcessInfo.processInfo.environment["TOLLGATE_FAULT"] else { return nil }
        for (prefix, fault) in [("sync-hold-file:", StoreSyncer.Fault.hold), ("sync-fail-file:", .fail)]
        where spec.hasPrefix(prefix) {
            let path = String(spec.dropFirst(prefix.count))
            return { FileManager.default.fileExists(atPath: path) ? fault : nil }
        }
        return nil
    }

    /// The worker's clock: the system's, or one stepped by the tests.
    static func clock() -> any WorkerClock {
        clockOffsetFile().map { OffsetClock(offsetFile: $0) } ?? SystemClock()
    }

    static func crash(_ what: String) -> Never {
        FileHandle.standardError.write(Data("tollgate: fault \(what) (TOLLGATE_FAULT); exiting at once\n".utf8))
        _exit(exitStatus)
    }

    mutating func reached(_ point: Point) {
        guard let armed, armed == point else { return }
        count += 1
        if count >= trigger { Self.crash("point \(point.rawValue) reached") }
    }
}
