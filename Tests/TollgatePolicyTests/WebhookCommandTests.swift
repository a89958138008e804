import Foundation
import Testing
@testable import TollgateCLI

/// `tollgate webhook`'s flags, without a broker.
@Suite struct WebhookCommandTests {
    @Test func theSecretIsTheFilesBytesLessSurroundingWhitespace() throws {
        let binary: [UInt8] = [0x00, 0xFF, 0xFE, 0x80, 0x41, 0x20, 0x42] + Array(repeating: 0x9C, count: 12)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-\(UUID().uuidString).secret")
            .path
        _ = FileManager.default.createFile(atPath: path, contents: Data(binary + [0x0A]))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let command = try WebhookCommand.parse(["--url", "t=http://127.0.0.1:9/", "--secret-file", path])
        #expect(try command.makeConfiguration().secret == binary)
    }

    @Test func flagsAreChecked() throws {
        for (arguments, words) in [
            (["--url", "http://x/"], "needs a name"),
            (["--url", "a=http://x/", "--events", "pending,nope"], "unknown notice"),
            (["--url", "a=http://x/", "--format", "xml"], "json or slack"), ([String](), "at least one --url"),
        ] {
            let command = try WebhookCommand.parse(arguments)
            #expect(throws: (any Error).self) { try command.makeConfiguration() }
            do { _ = try command.makeConfiguration() } catch { #expect("\(error)".contains(words), "\(error)") }
        }
    }
}
