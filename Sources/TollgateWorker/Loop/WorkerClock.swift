import Foundation
import TollgateStore

/// The two clocks the worker reads: the wall clock for times it records and announces, and a
/// monotonic clock that measures how long it waits. Tests pass a clock they move by hand.
protocol WorkerClock {
    /// Milliseconds since the Unix epoch (CLOCK_REALTIME).
    func wallMillis() -> Millis
    /// Milliseconds from an arbitrary start, never stepped (CLOCK_MONOTONIC).
    func monotonicMillis() -> Millis
}

struct SystemClock: WorkerClock {
    func wallMillis() -> Millis { wallClockMillis() }
    func monotonicMillis() -> Millis { monotonicClockMillis() }
}

/// The system's clocks with the wall clock moved by a number of milliseconds read from a file
/// (re-read at most every 100 ms): the crash tests' way to step the wall clock of a real worker
/// process (`TOLLGATE_FAULT=clock-offset-file:PATH`). Never used otherwise.
final class OffsetClock: WorkerClock {
    private let path: String
    private var offset: Millis = 0
    private var readAt: Millis?

    init(offsetFile path: String) { self.path = path }

    func wallMillis() -> Millis {
        let now = monotonicClockMillis()
        if readAt.map({ now - $0 >= 100 }) ?? true {
            readAt = now
            if let text = try? String(contentsOfFile: path, encoding: .utf8),
                let value = Millis(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                offset = value
            }
        }
        return wallClockMillis() + offset
    }

    func monotonicMillis() -> Millis { monotonicClockMillis() }
}

public func monotonicClockMillis() -> Millis {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Millis(spec.tv_sec) * 1000 + Millis(spec.tv_nsec / 1_000_000)
}

/// Notices steps of the wall clock (an NTP correction, an operator's `date -s`) by comparing how
/// far it moved with how far the monotonic clock moved since the last reading.
///
/// Deadlines are stored as wall-clock times (right across a restart). While the worker runs, a
/// step of the wall clock would move every pending deadline by the step; the loop instead moves
/// the stored deadlines by the step, so each keeps the wait it had left, and logs it.
struct ClockWatch {
    /// Differences below this are drift or scheduling, not a step.
    static let toleranceMillis: Millis = 1_000

    private var last: (wall: Millis, monotonic: Millis)?

    /// Now on the wall clock, and the step since the previous reading (positive: the wall clock
    /// jumped forward), if there was one.
    mutating func read(_ clock: some WorkerClock) -> (now: Millis, step: Millis?) {
        let wall = clock.wallMillis()
        let monotonic = clock.monotonicMillis()
        defer { last = (wall, monotonic) }
        guard let last else { return (wall, nil) }
        let step = (wall - last.wall) - (monotonic - last.monotonic)
        return (wall, abs(step) >= Self.toleranceMillis ? step : nil)
    }
}
