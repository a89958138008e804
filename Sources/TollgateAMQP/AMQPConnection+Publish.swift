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
struct FrameWriter {
    private let buffer: UnsafeMutableRawPointer
    private let capacity: Int

    init(frameMax: Int) {
        capacity = 2 * max(frameMax, 4096) + 64
        buffer = .allocate(byteCount: capacity, alignment: 8)
    }

    func deallocate() { buffer.deallocate() }

    enum Outcome {
        case sent
        /// The frames do not fit the buffer: use `amqp_basic_publish`.
        case unsuitable
        case failed(status: Int32, errno: Int32)
        case stalled
    }

    /// Sends basic.publish + header + one body frame on `channel` through `fd`, waiting at most
    /// `stallLimitMs` (or forever when negative) for the socket to accept more data.
    func publish(
        fd: Int32, channel: amqp_channel_t, method: inout amqp_basic_publish_t,
        properties: inout amqp_basic_properties_t, body: UnsafeRawBufferPointer, frameMax: Int, stallLimitMs: Int32
    ) -> Outcome {
        guard body.count <= frameMax - 8 else { return .unsuitable }
        var at = 0
        func put8(_ v: UInt8) {
            buffer.storeBytes(of: v, toByteOffset: at, as: UInt8.self)
            at += 1
        }
        func put16(_ v: UInt16) {
            buffer.storeBytes(of: v.bigEndian, toByteOffset: at, as: UInt16.self)
            at += 2
        }
        func put32(_ v: UInt32, at offset: Int) { buffer.storeBytes(of: v.bigEndian, toByteOffset: offset, as: UInt32.self) }
        // Method frame: type, channel, size, class+method id, arguments, frame-end.
        put8(UInt8(AMQP_FRAME_METHOD))
        put16(channel)
        let methodSizeAt = at
        at += 4
        put32(AMQPMethod.basicPublish, at: at)
        at += 4
        let methodLength = amqp_encode_method(
            AMQPMethod.basicPublish, &method, amqp_bytes_t(len: capacity - at - 64, bytes: buffer + at))
        guard methodLength >= 0 else { return .unsuitable }
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
        buffer.storeBytes(of: UInt64(body.count).bigEndian, toByteOffset: at, as: UInt64.self)
        at += 8
        let propertiesLength = amqp_encode_properties(
            60, &properties, amqp_bytes_t(len: capacity - at - 64, bytes: buffer + at))
        guard propertiesLength >= 0 else { return .unsuitable }
        at += Int(propertiesLength)
        put32(UInt32(propertiesLength) + 12, at: headerSizeAt)
        put8(UInt8(AMQP_FRAME_END))
        // Body frame header here, the body from the caller, then frame-end.
        var iovecs = [iovec](repeating: iovec(), count: 3)
        var count = 1
        if body.count > 0 {
            put8(UInt8(AMQP_FRAME_BODY))
            put16(channel)
            put32(UInt32(body.count), at: at)
            at += 4
            iovecs[1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress), iov_len: body.count)
            count = 3
        }
        let endAt = at
        put8(UInt8(AMQP_FRAME_END))
        iovecs[0] = iovec(iov_base: buffer, iov_len: endAt)
        if body.count > 0 { iovecs[2] = iovec(iov_base: buffer + endAt, iov_len: 1) }
        return iovecs.withUnsafeMutableBufferPointer { send(fd: fd, $0, count: count, stallLimitMs: stallLimitMs) }
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
            var message = msghdr()
            message.msg_iov = iov.baseAddress! + first
            message.msg_iovlen = remaining
            let n = sendmsg(fd, &message, Int32(MSG_NOSIGNAL))
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                guard e == EAGAIN || e == EWOULDBLOCK else { return .failed(status: AMQP_STATUS_SOCKET_ERROR.rawValue, errno: e) }
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
