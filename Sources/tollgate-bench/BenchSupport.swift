import Foundation
import Synchronization

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
