// `tollgate-fuzz`: coverage-guided fuzz targets for every input Tollgate parses (libFuzzer, the
// Swift toolchain's). tools/fuzz/run.sh builds this with the sanitizers and runs each target for a
// bounded time; what crashes is a defect to fix, and the inputs that reach new code are kept in
// tools/fuzz/corpus/<target>/, which `swift test` replays.
//
//   tollgate-fuzz <target> [libFuzzer options] [corpus folders]
//
// Targets: json (the JSON parser), tool-call (the tool-call parser and the policy deciding it),
// vote (the vote, grant and revocation parsers), policy (the policy loader and the policy it
// loads). Built without FUZZING (no libFuzzer), it runs the target once on each file or folder
// given: the way to replay a crashing input under a debugger.

import Foundation

let targets: [String: @Sendable ([UInt8]) -> Void] = [
    "json": fuzzJSON,
    "tool-call": fuzzToolCall,
    "vote": fuzzVote,
    "policy": fuzzPolicy,
]

// libFuzzer runs itself again for -merge=1 (and -jobs) with the options it was given, which no
// longer hold the target's name: the name travels to those children in the environment.
let targetVariable = "TOLLGATE_FUZZ_TARGET"
let arguments = CommandLine.arguments
let named = arguments.count >= 2 && targets[arguments[1]] != nil
guard let targetName = named ? arguments[1] : ProcessInfo.processInfo.environment[targetVariable],
    let target = targets[targetName]
else {
    FileHandle.standardError.write(
        Data(
            "usage: tollgate-fuzz <\(targets.keys.sorted().joined(separator: "|"))> [libFuzzer options] [corpus]\n".utf8
        )
    )
    exit(2)
}
setenv(targetVariable, targetName, 1)

#if FUZZING
/// libFuzzer's entry when its own `main` is not linked (libclang_rt.fuzzer_no_main).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// The target libFuzzer calls: set once, before the driver starts.
nonisolated(unsafe) var selected: ([UInt8]) -> Void = { _ in }
selected = target
// libFuzzer reads its options from argv: the target's name is taken out of it.
var argc = CommandLine.argc - (named ? 1 : 0)
var argv = CommandLine.unsafeArgv
if named { argv[1] = argv[0] }
var shifted = argv + (named ? 1 : 0)
exit(
    LLVMFuzzerRunDriver(&argc, &shifted) { data, size in
        selected(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
        return 0
    }
)
#else
var inputs = 0
for path in arguments.dropFirst(named ? 2 : 1) {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
        FileHandle.standardError.write(Data("tollgate-fuzz: no such file or folder: \(path)\n".utf8))
        exit(2)
    }
    let files =
        isFolder.boolValue
        ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 }
        : [path]
    for file in files {
        guard let data = FileManager.default.contents(atPath: file) else { continue }
        target([UInt8](data))
        inputs += 1
    }
}
print("tollgate-fuzz: \(targetName): \(inputs) inputs, no failure")
#endif
