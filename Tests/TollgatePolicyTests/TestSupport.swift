import Foundation
import TollgateJSON
@testable import TollgatePolicy

/// Paths of the package, found from this file (Tests/TollgatePolicyTests/TestSupport.swift).
enum Paths {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let fixtures = packageRoot + "/Tests/TollgatePolicyTests/Fixtures"
    /// The shared folder beside the package root (`../shared`).
    static let tutorial = packageRoot + "/../shared/spec/compat/agent-os-tutorial"
    static let policies = packageRoot + "/policies"
}

/// Loads one policy from YAML text (the file name shown in errors is `name`).
func policy(_ yaml: String, name: String = "policy.yaml") throws -> PolicySet {
    try PolicyLoader.load(sources: [PolicySource(path: name, bytes: Array(yaml.utf8))])
}

/// The diagnostics a YAML text produces, as printed.
func diagnostics(_ yaml: String, name: String = "p.yaml") -> [String] {
    switch PolicyLoader.parse(PolicySource(path: name, bytes: Array(yaml.utf8))) {
    case .success: return []
    case .failure(let error): return error.diagnostics.map(\.description)
    }
}

func context(_ json: String) throws -> JSONObject {
    guard case .object(let o) = try JSONValue.parse(json) else { throw TestFailure("not an object: \(json)") }
    return o
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs a process and returns its exit status and standard output.
func run(
    _ executable: String,
    _ arguments: [String],
    stdin: String? = nil
) throws -> (status: Int32, out: String, err: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let input = Pipe()
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (
        process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self)
    )
}
