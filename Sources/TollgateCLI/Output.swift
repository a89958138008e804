import Foundation

/// Buffered standard output for commands: writes go out in 64 KiB chunks and on `flush()`.
public struct StandardOutput: TextOutputStream {
    private var buffer: [UInt8] = []
    private let handle: FileHandle

    public init(_ handle: FileHandle = .standardOutput) {
        self.handle = handle
        buffer.reserveCapacity(1 << 16)
    }

    public mutating func write(_ string: String) {
        buffer.append(contentsOf: string.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    public mutating func flush() {
        guard !buffer.isEmpty else { return }
        handle.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Standard error, unbuffered.
public struct StandardError: TextOutputStream {
    public init() {}

    public mutating func write(_ string: String) {
        FileHandle.standardError.write(Data(string.utf8))
    }
}

/// Reads a file (or standard input) in chunks and hands out its lines, without holding more
/// than one chunk and one line in memory.
struct LineReader {
    static let chunkSize = 1 << 16
    /// A longer line is reported as an error instead of growing without bound.
    static let maxLineLength = 16 << 20

    enum Line {
        case text(ArraySlice<UInt8>)
        case tooLong
    }

    let descriptor: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    /// Where the search for the next newline resumes: each byte is looked at once.
    private var scanned = 0
    private var atEnd = false
    private var skippingLongLine = false

    /// Opens `path`, or standard input for `-`.
    init?(path: String) {
        if path == "-" {
            descriptor = 0
        } else {
            let fd = open(path, O_RDONLY)
            guard fd >= 0 else { return nil }
            descriptor = fd
        }
    }

    func close() {
        if descriptor != 0 { _ = Foundation.close(descriptor) }
    }

    /// The next line without its `\n` (and without a `\r` before it); nil at the end.
    mutating func next() -> Line? {
        while true {
            if let newline = buffer[max(start, scanned)...].firstIndex(of: 0x0A) {
                var end = newline
                let lineStart = start
                start = newline + 1
                scanned = start
                if skippingLongLine {
                    skippingLongLine = false
                    continue
                }
                if end > lineStart && buffer[end - 1] == 0x0D { end -= 1 }
                return .text(buffer[lineStart..<end])
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                let rest = buffer[start...]
                start = buffer.count
                if skippingLongLine { return nil }
                return .text(rest.last == 0x0D ? rest.dropLast() : rest)
            }
            scanned = buffer.count
            if buffer.count - start > Self.maxLineLength {
                // Drop what we have of the line; report it once, then skip to its end.
                buffer.removeAll(keepingCapacity: true)
                start = 0
                scanned = 0
                if !skippingLongLine {
                    skippingLongLine = true
                    return .tooLong
                }
            }
            fill()
        }
    }

    private mutating func fill() {
        if start > 0 {
            buffer.removeSubrange(0..<start)
            scanned -= start
            start = 0
        }
        let old = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: Self.chunkSize))
        var n: Int
        repeat {
            n = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return -1 }
                return read(descriptor, base + old, Self.chunkSize)
            }
        } while n < 0 && errno == EINTR
        buffer.removeLast(Self.chunkSize - max(n, 0))
        if n <= 0 { atEnd = true }
    }
}
