import Foundation
import Synchronization
import TollgateWorker

#if canImport(Glibc)
import Glibc
#endif

/// CLOCK_MONOTONIC in nanoseconds: one clock for every thread of a benchmark.
@inline(__always)
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Runs blocking work (an AMQP connection's whole life) on a dedicated thread, never on Swift's
/// cooperative pool, and awaits its result.
func onThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (k: CheckedContinuation<T, any Error>) in
        let t = Thread { k.resume(with: Result { try body() }) }
        t.name = name
        t.start()
    }
}

/// A value handed from one thread to an awaiting task once.
final class OneShot<T: Sendable>: Sendable {
    private enum State {
        case empty
        case waiting(CheckedContinuation<T, any Error>)
        case done(Result<T, any Error>)
    }
    private let state = Mutex<State>(.empty)

    func fulfill(_ result: Result<T, any Error>) {
        let waiter: CheckedContinuation<T, any Error>? = state.withLock { s in
            switch s {
            case .empty:
                s = .done(result)
                return nil
            case .waiting(let k):
                s = .done(result)
                return k
            case .done:
                return nil
            }
        }
        waiter?.resume(with: result)
    }

    var value: T {
        get async throws {
            try await withCheckedThrowingContinuation { (k: CheckedContinuation<T, any Error>) in
                let ready: Result<T, any Error>? = state.withLock { s in
                    if case .done(let r) = s { return r }
                    s = .waiting(k)
                    return nil
                }
                if let ready { k.resume(with: ready) }
            }
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

/// A flag one thread sets and others poll.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}

/// A count one thread bumps and another reads.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// CPU time used so far by this process and by the broker, when it runs on this machine (a
/// process named `beam.smp`), for CPU per message: on a 2-core machine the broker, the load
/// generator and the system under test share the cores.
struct CPUSnapshot: Sendable {
    var process: Double
    var broker: Double?
    /// The in-process worker's own thread (named `tollgate-worker`), when one runs: the worker's
    /// CPU without the load generator's.
    var worker: Double?

    static func now() -> CPUSnapshot {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let process =
            Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        return CPUSnapshot(process: process, broker: brokerPID.flatMap(cpuSeconds(pid:)), worker: workerThreads())
    }

    /// CPU seconds used from `self` to `later`.
    func until(_ later: CPUSnapshot) -> CPUUsage {
        CPUUsage(
            processSeconds: later.process - process,
            brokerSeconds: later.broker.flatMap { b in broker.map { b - $0 } },
            workerSeconds: later.worker.flatMap { w in worker.map { w - $0 } }
        )
    }

    /// CPU seconds of this process's threads named `tollgate-worker` (nil when there is none).
    private static func workerThreads() -> Double? {
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return nil }
        var total: Double?
        for task in tasks {
            guard let comm = try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8),
                comm.trimmingCharacters(in: .whitespacesAndNewlines) == WorkerService.threadName,
                let seconds = cpuSeconds(path: "/proc/self/task/\(task)/stat")
            else { continue }
            total = (total ?? 0) + seconds
        }
        return total
    }

    private static let brokerPID: Int32? = {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for entry in entries {
            guard let pid = Int32(entry),
                let comm = try? String(contentsOfFile: "/proc/\(entry)/comm", encoding: .utf8),
                comm.trimmingCharacters(in: .whitespacesAndNewlines) == "beam.smp"
            else { continue }
            return pid
        }
        return nil
    }()

    /// CPU seconds (user + system) used so far by process `pid`, from `/proc/<pid>/stat`.
    static func cpuSeconds(pid: Int32) -> Double? { cpuSeconds(path: "/proc/\(pid)/stat") }

    /// CPU seconds (user + system) from a `stat` file of /proc (a process's or a thread's).
    static func cpuSeconds(path: String) -> Double? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

/// CPU seconds spent during a measurement.
struct CPUUsage: Sendable {
    /// This process: the load generator, plus the relay or the in-process worker.
    var processSeconds: Double
    /// The broker, when it runs here.
    var brokerSeconds: Double?
    /// The in-process worker's thread, when one ran (part of `processSeconds`).
    var workerSeconds: Double? = nil

    /// "this process 41 µs/msg (worker thread 30), broker 52 µs/msg".
    func perMessage(_ messages: Int) -> String {
        guard messages > 0 else { return "-" }
        let us = { (s: Double) in String(format: "%.0f", s * 1e6 / Double(messages)) }
        let worker = workerSeconds.map { " (worker thread \(us($0)))" } ?? ""
        return "this process \(us(processSeconds)) µs/msg\(worker), broker \(brokerSeconds.map(us) ?? "?") µs/msg"
    }

    func json(_ messages: Int) -> [String: Any] {
        let perMessage = { (s: Double) in (s * 1e7 / Double(max(1, messages))).rounded() / 10 }
        var o: [String: Any] = ["process_us_per_message": perMessage(processSeconds)]
        if let brokerSeconds { o["broker_us_per_message"] = perMessage(brokerSeconds) }
        if let workerSeconds { o["worker_thread_us_per_message"] = perMessage(workerSeconds) }
        return o
    }
}

/// This process's resident memory (or process `pid`'s), from `/proc/self/status`: now (`VmRSS`)
/// and the peak (`VmHWM`).
struct MemoryUsage: Sendable {
    var residentKiB: Int
    var peakKiB: Int

    static func now(pid: Int32? = nil) -> MemoryUsage {
        let path = pid.map { "/proc/\($0)/status" } ?? "/proc/self/status"
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        func field(_ name: String) -> Int {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return 0 }
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
        }
        return MemoryUsage(residentKiB: field("VmRSS"), peakKiB: field("VmHWM"))
    }

    var text: String { String(format: "%.0f MiB (peak %.0f MiB)", Double(residentKiB) / 1024, Double(peakKiB) / 1024) }
}
