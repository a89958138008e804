import CRabbitMQ

#if canImport(Glibc)
import Glibc
#endif

/// One-syscall publishing for plain TCP connections.
///
/// `amqp_basic_publish` sends the method, content-header and body frames with three `send`
/// calls. On a 2-core machine shared with the broker those syscalls are a measurable part of the
/// relay's CPU (see docs/benchmarks-amqp.md), so for a body that fits one frame this encodes the
/// same three frames with rabbitmq-c's own encoders (`amqp_encode_method`,
/// `amqp_encode_properties`) into a reusable buffer and sends them with one `sendmsg`, the body
/// straight from the caller's memory. rabbitmq-c keeps no outbound buffer, so writing to its
/// socket between its own calls (on the owning thread) cannot interleave frames. TLS connections
/// and multi-frame bodies take the library path.
///
/// Held publishes (`AMQPConnection.holdPublishes()`): the frames of many publishes are copied
/// into one buffer and written with one `sendmsg` (`flush`), for a burst of replies.
final class FrameWriter {
    private let buffer: UnsafeMutableRawPointer
    private let capacity: Int
    /// Publishes held for one write (`hold`, `flush`).
    private let held: UnsafeMutableRawPointer
    private let heldCapacity: Int
    private(set) var heldCount = 0

    init(frameMax: Int) {
        capacity = 2 * max(frameMax, 4096) + 64
        buffer = .allocate(byteCount: capacity, alignment: 8)
        heldCapacity = max(256 << 10, capacity)
        held = .allocate(byteCount: heldCapacity, alignment: 8)
    }

    func deallocate() {
        buffer.deallocate()
        held.deallocate()
    }

    enum Outcome {
        case sent
        /// The frames do not fit the buffer: use `amqp_basic_publish`.
        case unsuitable
        case failed(status: Int32, errno: Int32)
        case stalled
    }

    /// Encodes the method frame, the content header frame and, for a non-empty body, the body
    /// frame's header into `buffer`; returns their length (the body and one frame-end byte
    /// follow when the body is not empty), or nil when they do not fit.
    private func encodeHead(
        channel: amqp_channel_t,
        method: inout amqp_basic_publish_t,
        properties: inout amqp_basic_properties_t,
        bodyCount: Int
    ) -> Int? {
        var at = 0
        func put8(_ v: UInt8) {
            buffer.storeBytes(of: v, toByteOffset: at, as: UInt8.self)
            at += 1
        }
        func put16(_ v: UInt16) {
            buffer.storeBytes(of: v.bigEndian, toByteOffset: at, as: UInt16.self)
            at += 2
        }
        func put32(_ v: UInt32, at offset: Int) {
            buffer.storeBytes(of: v.bigEndian, toByteOffset: offset, as: UInt32.self)
        }
        // Method frame: type, channel, size, class+method id, arguments, frame-end.
        put8(UInt8(AMQP_FRAME_METHOD))
        put16(channel)
        let methodSizeAt = at
        at += 4
        put32(AMQPMethod.basicPublish, at: at)
        at += 4
        let methodLength = amqp_encode_method(
            AMQPMethod.basicPublish,
            &method,
            amqp_bytes_t(len: capacity - at - 64, bytes: buffer + at)
        )
        guard methodLength >= 0 else { return nil }
        at += Int(methodLength)
        put32(UInt32(methodLength) + 4, at: methodSizeAt)
        put8(UInt8(AMQP_FRAME_END))
        // Content header frame: class, weight, body size, property flags and values.
        put8(UInt8(AMQP_FRAME_HEADER))
        put16(channel)
        let headerSizeAt = at
        at += 4
        put16(60)
        put16(0)
        buffer.storeBytes(of: UInt64(bodyCount).bigEndian, toByteOffset: at, as: UInt64.self)
        at += 8
        let propertiesLength = amqp_encode_properties(
            60,
            &properties,
            amqp_bytes_t(len: capacity - at - 64, bytes: buffer + at)
        )
        guard propertiesLength >= 0 else { return nil }
        at += Int(propertiesLength)
        put32(UInt32(propertiesLength) + 12, at: headerSizeAt)
        put8(UInt8(AMQP_FRAME_END))
        // Body frame header; the body from the caller and a frame-end follow.
        if bodyCount > 0 {
            put8(UInt8(AMQP_FRAME_BODY))
            put16(channel)
            put32(UInt32(bodyCount), at: at)
            at += 4
        }
        return at
    }

    /// Sends basic.publish + header + one body frame on `channel` through `fd`, waiting at most
    /// `stallLimitMs` (or forever when negative) for the socket to accept more data.
    func publish(
        fd: Int32,
        channel: amqp_channel_t,
        method: inout amqp_basic_publish_t,
        properties: inout amqp_basic_properties_t,
        body: UnsafeRawBufferPointer,
        frameMax: Int,
        stallLimitMs: Int32
    ) -> Outcome {
        guard body.count <= frameMax - 8,
            let head = encodeHead(channel: channel, method: &method, properties: &properties, bodyCount: body.count)
        else { return .unsuitable }
        var iovecs = [iovec](repeating: iovec(), count: 3)
        var count = 1
        iovecs[0] = iovec(iov_base: buffer, iov_len: head)
        if body.count > 0 {
            buffer.storeBytes(of: UInt8(AMQP_FRAME_END), toByteOffset: head, as: UInt8.self)
            iovecs[1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress), iov_len: body.count)
            iovecs[2] = iovec(iov_base: buffer + head, iov_len: 1)
            count = 3
        }
        return iovecs.withUnsafeMutableBufferPointer { send(fd: fd, $0, count: count, stallLimitMs: stallLimitMs) }
    }

    enum HoldOutcome {
        case held
        /// Not enough room left: flush, then hold again.
        case full
        /// Too big to hold, or the frames cannot be encoded here: publish it another way.
        case unsuitable
    }

    /// Appends the frames of a single-frame publish to the held bytes (the body is copied).
    func hold(
        channel: amqp_channel_t,
        method: inout amqp_basic_publish_t,
        properties: inout amqp_basic_properties_t,
        body: UnsafeRawBufferPointer,
        frameMax: Int
    ) -> HoldOutcome {
        guard body.count <= frameMax - 8,
            let head = encodeHead(channel: channel, method: &method, properties: &properties, bodyCount: body.count)
        else { return .unsuitable }
        let total = head + (body.count > 0 ? body.count + 1 : 0)
        guard total <= heldCapacity else { return .unsuitable }
        guard total <= heldCapacity - heldCount else { return .full }
        let at = held + heldCount
        at.copyMemory(from: buffer, byteCount: head)
        if body.count > 0, let bytes = body.baseAddress {
            (at + head).copyMemory(from: bytes, byteCount: body.count)
            (at + head + body.count).storeBytes(of: UInt8(AMQP_FRAME_END), as: UInt8.self)
        }
        heldCount += total
        return .held
    }

    /// Writes the held publishes (one `sendmsg` unless the socket takes less at a time).
    func flush(fd: Int32, stallLimitMs: Int32) -> Outcome {
        guard heldCount > 0 else { return .sent }
        var one = iovec(iov_base: held, iov_len: heldCount)
        let outcome = withUnsafeMutablePointer(to: &one) {
            send(fd: fd, UnsafeMutableBufferPointer(start: $0, count: 1), count: 1, stallLimitMs: stallLimitMs)
        }
        if case .sent = outcome { heldCount = 0 }
        return outcome
    }

    private func send(fd: Int32, _ iov: UnsafeMutableBufferPointer<iovec>, count: Int, stallLimitMs: Int32) -> Outcome {
        var first = 0
        var remaining = count
        while remaining > 0 {
            if iov[first].iov_len == 0 {
                first += 1
                remaining -= 1
                continue
            }
            guard let vectors = iov.baseAddress else { return .sent }
            var message = msghdr()
            message.msg_iov = vectors + first
            message.msg_iovlen = remaining
            let n = sendmsg(fd, &message, Int32(MSG_NOSIGNAL))
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                guard e == EAGAIN || e == EWOULDBLOCK else {
                    return .failed(status: AMQP_STATUS_SOCKET_ERROR.rawValue, errno: e)
                }
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let ready = poll(&pfd, 1, stallLimitMs)
                if ready == 0 { return .stalled }
                if ready < 0, errno != EINTR { return .failed(status: AMQP_STATUS_SOCKET_ERROR.rawValue, errno: errno) }
                continue
            }
            // Skip what was written; the rest of a partly written iovec stays.
            var written = n
            while written > 0 {
                let len = iov[first].iov_len
                if written >= len {
                    written -= len
                    first += 1
                    remaining -= 1
                } else {
                    iov[first].iov_base += written
                    iov[first].iov_len -= written
                    written = 0
                }
            }
        }
        return .sent
    }
}
