import TollgateJSON

/// A read-only map from strings (compared by code points) to positions, built once at load:
/// open addressing with FNV-1a over the UTF-8 bytes. Faster than `Dictionary` here because it
/// skips the seeded SipHash that every Swift `Hasher` runs, which dominated the lookup of a
/// short tool name. Keys come from policy files, not from agents, so flooding is not a concern;
/// the context string is only looked up.
struct ExactStringTable: Sendable {
    private struct Slot: Sendable {
        let hash: UInt64
        let key: String
        let position: Int
    }

    private let slots: [Slot?]
    private let mask: Int
    let count: Int

    /// `entries`: key -> position; the first occurrence of a key is kept.
    init(_ entries: [(key: String, position: Int)]) {
        var capacity = 8
        while capacity < entries.count * 2 { capacity *= 2 }
        var slots = [Slot?](repeating: nil, count: capacity)
        var count = 0
        for entry in entries {
            let hash = Self.hash(entry.key)
            var i = Int(truncatingIfNeeded: hash) & (capacity - 1)
            var duplicate = false
            while let slot = slots[i] {
                if slot.hash == hash && exactEquals(slot.key, entry.key) {
                    duplicate = true
                    break
                }
                i = (i + 1) & (capacity - 1)
            }
            if !duplicate {
                slots[i] = Slot(hash: hash, key: entry.key, position: entry.position)
                count += 1
            }
        }
        self.slots = slots
        mask = capacity - 1
        self.count = count
    }

    @inline(__always)
    static func hash(_ key: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 {
            h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3
        }
        return h
    }

    @inline(__always)
    func position(of key: String) -> Int? {
        let hash = Self.hash(key)
        let mask = self.mask
        return slots.withUnsafeBufferPointer { buffer -> Int? in
            var i = Int(truncatingIfNeeded: hash) & mask
            while let slot = buffer[i] {
                if slot.hash == hash && exactEquals(slot.key, key) { return slot.position }
                i = (i + 1) & mask
            }
            return nil
        }
    }
}
