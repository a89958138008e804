/// Why a worker stopped or could not start.
public enum WorkerError: Error, CustomStringConvertible, Sendable {
    case configuration([String])
    case policy(String)
    case store(String)
    case broker(String)
    /// The worker id's queues belong to another database (see `--take-over-queues`).
    case identity(String)

    public var description: String {
        switch self {
        case .configuration(let problems): return "invalid configuration:\n  " + problems.joined(separator: "\n  ")
        case .policy(let text): return text
        case .store(let text): return text
        case .broker(let text): return text
        case .identity(let text): return text
        }
    }
}
