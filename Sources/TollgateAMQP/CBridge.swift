import CRabbitMQ

#if canImport(Glibc)
import Glibc
#endif

// Everything in this file is internal: C types never leave the module.

/// AMQP method ids (class << 16 | method). rabbitmq-c defines them as cast macros, which Swift
/// does not import.
enum AMQPMethod {
    static func id(_ cls: UInt32, _ method: UInt32) -> amqp_method_number_t { cls << 16 | method }
    static let connectionClose = id(10, 50)
    static let connectionCloseOk = id(10, 51)
    static let connectionBlocked = id(10, 60)
    static let connectionUnblocked = id(10, 61)
    static let channelFlow = id(20, 20)
    static let channelFlowOk = id(20, 21)
    static let channelClose = id(20, 40)
    static let channelCloseOk = id(20, 41)
    static let basicPublish = id(60, 40)
    static let basicCancel = id(60, 30)
    static let basicCancelOk = id(60, 31)
    static let basicReturn = id(60, 50)
    static let basicDeliver = id(60, 60)
    static let basicAck = id(60, 80)
    static let basicNack = id(60, 120)
    static let basicGetOk = id(60, 71)
}

/// A scratch arena for the C views of Swift values during one library call: a rabbitmq-c
/// `amqp_pool_t`, recycled (pages kept, nothing freed) before each use, so building the C
/// properties and tables of a publish allocates nothing once warm.
final class Arena {
    private let pool: UnsafeMutablePointer<amqp_pool_t>

    init(pageSize: Int = 4096) {
        pool = .allocate(capacity: 1)
        init_amqp_pool(pool, pageSize)
    }

    deinit {
        empty_amqp_pool(pool)
        pool.deallocate()
    }

    /// Invalidates everything handed out before.
    func recycle() { recycle_amqp_pool(pool) }

    private func allocate(_ count: Int) -> UnsafeMutableRawPointer {
        guard let p = amqp_pool_alloc(pool, count) else { fatalError("out of memory (amqp_pool_alloc \(count))") }
        return p
    }

    func bytes(_ s: String) -> amqp_bytes_t {
        var s = s
        return s.withUTF8 { bytes(UnsafeRawBufferPointer($0)) }
    }

    func bytes(_ b: UnsafeRawBufferPointer) -> amqp_bytes_t {
        guard b.count > 0, let base = b.baseAddress else { return amqp_bytes_t(len: 0, bytes: nil) }
        let p = allocate(b.count)
        p.copyMemory(from: base, byteCount: b.count)
        return amqp_bytes_t(len: b.count, bytes: p)
    }

    func table(_ t: AMQPTable) -> amqp_table_t {
        guard !t.entries.isEmpty else { return amqp_table_t(num_entries: 0, entries: nil) }
        let entries = allocate(MemoryLayout<amqp_table_entry_t>.stride * t.entries.count)
            .bindMemory(to: amqp_table_entry_t.self, capacity: t.entries.count)
        for (i, e) in t.entries.enumerated() {
            (entries + i).initialize(to: amqp_table_entry_t(key: bytes(e.key), value: value(e.value)))
        }
        return amqp_table_t(num_entries: Int32(t.entries.count), entries: entries)
    }

    func value(_ v: AMQPFieldValue) -> amqp_field_value_t {
        var f = amqp_field_value_t()
        func kind(_ c: Character) { f.kind = c.asciiValue! }
        switch v {
        case .bool(let b):
            kind("t")
            f.value.boolean = b ? 1 : 0
        case .int8(let x):
            kind("b")
            f.value.i8 = x
        case .uint8(let x):
            kind("B")
            f.value.u8 = x
        case .int16(let x):
            kind("s")
            f.value.i16 = x
        case .uint16(let x):
            kind("u")
            f.value.u16 = x
        case .int32(let x):
            kind("I")
            f.value.i32 = x
        case .uint32(let x):
            kind("i")
            f.value.u32 = x
        case .int64(let x):
            kind("l")
            f.value.i64 = x
        case .uint64(let x):
            kind("L")
            f.value.u64 = x
        case .float(let x):
            kind("f")
            f.value.f32 = x
        case .double(let x):
            kind("d")
            f.value.f64 = x
        case .decimal(let scale, let value):
            kind("D")
            f.value.decimal = amqp_decimal_t(decimals: scale, value: value)
        case .string(let s):
            kind("S")
            f.value.bytes = bytes(s)
        case .bytes(let b):
            kind("x")
            f.value.bytes = b.withUnsafeBytes { bytes($0) }
        case .timestamp(let x):
            kind("T")
            f.value.u64 = x
        case .table(let t):
            kind("F")
            f.value.table = table(t)
        case .array(let a):
            kind("A")
            if a.isEmpty {
                f.value.array = amqp_array_t(num_entries: 0, entries: nil)
            } else {
                let items = allocate(MemoryLayout<amqp_field_value_t>.stride * a.count)
                    .bindMemory(to: amqp_field_value_t.self, capacity: a.count)
                for (i, item) in a.enumerated() { (items + i).initialize(to: value(item)) }
                f.value.array = amqp_array_t(num_entries: Int32(a.count), entries: items)
            }
        case .void: kind("V")
        }
        return f
    }

    func properties(_ p: AMQPProperties) -> amqp_basic_properties_t {
        var c = amqp_basic_properties_t()
        var flags: UInt32 = 0
        func set(_ s: String?, _ flag: Int32, _ field: WritableKeyPath<amqp_basic_properties_t, amqp_bytes_t>) {
            guard let s else { return }
            c[keyPath: field] = bytes(s)
            flags |= UInt32(flag)
        }
        set(p.contentType, AMQP_BASIC_CONTENT_TYPE_FLAG, \.content_type)
        set(p.contentEncoding, AMQP_BASIC_CONTENT_ENCODING_FLAG, \.content_encoding)
        set(p.correlationId, AMQP_BASIC_CORRELATION_ID_FLAG, \.correlation_id)
        set(p.replyTo, AMQP_BASIC_REPLY_TO_FLAG, \.reply_to)
        set(p.expiration, AMQP_BASIC_EXPIRATION_FLAG, \.expiration)
        set(p.messageId, AMQP_BASIC_MESSAGE_ID_FLAG, \.message_id)
        set(p.type, AMQP_BASIC_TYPE_FLAG, \.type)
        set(p.userId, AMQP_BASIC_USER_ID_FLAG, \.user_id)
        set(p.appId, AMQP_BASIC_APP_ID_FLAG, \.app_id)
        if let h = p.headers {
            c.headers = table(h)
            flags |= UInt32(AMQP_BASIC_HEADERS_FLAG)
        }
        if let d = p.deliveryMode {
            c.delivery_mode = d
            flags |= UInt32(AMQP_BASIC_DELIVERY_MODE_FLAG)
        }
        if let pr = p.priority {
            c.priority = pr
            flags |= UInt32(AMQP_BASIC_PRIORITY_FLAG)
        }
        if let t = p.timestamp {
            c.timestamp = t
            flags |= UInt32(AMQP_BASIC_TIMESTAMP_FLAG)
        }
        c._flags = flags
        return c
    }
}

// MARK: - Decoding (copies out of library-owned memory, which is recycled after each event)

extension amqp_bytes_t {
    var raw: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: bytes, count: len) }
    var string: String { String(decoding: raw, as: UTF8.self) }
    var array: [UInt8] { Array(raw) }
}

/// Reuses the previous `String` when the bytes are the same: consumer tags, exchange names,
/// routing keys and reply queues repeat on every delivery and are often longer than the 15
/// bytes Swift stores inline, so this saves a heap allocation per field per message.
struct StringCache {
    private var last = ""

    mutating func string(_ b: amqp_bytes_t) -> String {
        let same = last.utf8.withContiguousStorageIfAvailable { mine in
            mine.count == b.len && (b.len == 0 || memcmp(mine.baseAddress!, b.bytes, b.len) == 0)
        }
        if same == true { return last }
        last = b.string
        return last
    }
}

func decodeTable(_ t: amqp_table_t) -> AMQPTable {
    var out = AMQPTable()
    guard t.num_entries > 0, let entries = t.entries else { return out }
    out.entries.reserveCapacity(Int(t.num_entries))
    for i in 0..<Int(t.num_entries) {
        out.entries.append(AMQPTable.Entry(key: entries[i].key.string, value: decodeValue(entries[i].value)))
    }
    return out
}

func decodeValue(_ f: amqp_field_value_t) -> AMQPFieldValue {
    switch Character(Unicode.Scalar(f.kind)) {
    case "t": return .bool(f.value.boolean != 0)
    case "b": return .int8(f.value.i8)
    case "B": return .uint8(f.value.u8)
    case "s": return .int16(f.value.i16)
    case "u": return .uint16(f.value.u16)
    case "I": return .int32(f.value.i32)
    case "i": return .uint32(f.value.u32)
    case "l": return .int64(f.value.i64)
    case "L": return .uint64(f.value.u64)
    case "f": return .float(f.value.f32)
    case "d": return .double(f.value.f64)
    case "D": return .decimal(scale: f.value.decimal.decimals, value: f.value.decimal.value)
    case "S": return .string(f.value.bytes.string)
    case "x": return .bytes(f.value.bytes.array)
    case "T": return .timestamp(f.value.u64)
    case "F": return .table(decodeTable(f.value.table))
    case "A":
        let a = f.value.array
        guard a.num_entries > 0, let items = a.entries else { return .array([]) }
        return .array((0..<Int(a.num_entries)).map { decodeValue(items[$0]) })
    default: return .void
    }
}

/// Caches for the string fields that repeat from message to message.
struct PropertyStringCaches {
    var contentType = StringCache()
    var replyTo = StringCache()
    var appId = StringCache()
    var userId = StringCache()
    var type = StringCache()
}

func decodeProperties(_ c: amqp_basic_properties_t, caches: inout PropertyStringCaches) -> AMQPProperties {
    var p = AMQPProperties()
    let flags = c._flags
    func has(_ flag: Int32) -> Bool { flags & UInt32(flag) != 0 }
    if has(AMQP_BASIC_CONTENT_TYPE_FLAG) { p.contentType = caches.contentType.string(c.content_type) }
    if has(AMQP_BASIC_CONTENT_ENCODING_FLAG) { p.contentEncoding = c.content_encoding.string }
    if has(AMQP_BASIC_HEADERS_FLAG) { p.headers = decodeTable(c.headers) }
    if has(AMQP_BASIC_DELIVERY_MODE_FLAG) { p.deliveryMode = c.delivery_mode }
    if has(AMQP_BASIC_PRIORITY_FLAG) { p.priority = c.priority }
    if has(AMQP_BASIC_CORRELATION_ID_FLAG) { p.correlationId = c.correlation_id.string }
    if has(AMQP_BASIC_REPLY_TO_FLAG) { p.replyTo = caches.replyTo.string(c.reply_to) }
    if has(AMQP_BASIC_EXPIRATION_FLAG) { p.expiration = c.expiration.string }
    if has(AMQP_BASIC_MESSAGE_ID_FLAG) { p.messageId = c.message_id.string }
    if has(AMQP_BASIC_TIMESTAMP_FLAG) { p.timestamp = c.timestamp }
    if has(AMQP_BASIC_TYPE_FLAG) { p.type = caches.type.string(c.type) }
    if has(AMQP_BASIC_USER_ID_FLAG) { p.userId = caches.userId.string(c.user_id) }
    if has(AMQP_BASIC_APP_ID_FLAG) { p.appId = caches.appId.string(c.app_id) }
    return p
}

extension timeval {
    init(_ d: Duration) {
        let c = d.components
        if c.seconds < 0 || (c.seconds == 0 && c.attoseconds <= 0) {
            self.init(tv_sec: 0, tv_usec: 0)
        } else {
            self.init(tv_sec: Int(c.seconds), tv_usec: Int(c.attoseconds / 1_000_000_000_000))
        }
    }
}

/// rabbitmq-c's text for a status code.
func libraryMessage(_ status: Int32) -> String {
    guard let s = amqp_error_string2(status) else { return "rabbitmq-c status \(status)" }
    return String(cString: s)
}
