/// A property every input must keep; a broken one is a crash libFuzzer reports with the input.
func require(_ holds: Bool, _ what: @autoclosure () -> String) {
    if !holds { fatalError("fuzz: \(what())") }
}

/// A name or id the wire protocol bounds: present, not empty, at most `maxBytes` bytes.
func requireName(_ text: String, _ field: String, maxBytes: Int) {
    require(!text.isEmpty && text.utf8.count <= maxBytes, "\(field) of \(text.utf8.count) bytes was accepted")
}
