import ArgumentParser
import Crypto
import Foundation
import TollgateWorker

/// `tollgate-bench receipts`: what one signed receipt costs the worker (canonical JSON of the
/// action and the claims, SHA-256, one Ed25519 signature), on one core. The worker's throughput
/// with receipts on and off: `tollgate-bench worker --receipts` beside `tollgate-bench worker`.
struct ReceiptBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receipts",
        abstract: "Receipts signed per second on one core, and the cost of one.",
        discussion: "Run: swift build -c release --product tollgate-bench && .build/release/tollgate-bench receipts"
    )

    @Option(help: "Receipts per measurement.") var count = 20_000
    @Option(help: "Measurements; the best is reported.") var repeats = 3

    func run() throws {
        let signer = ReceiptSigner(key: Curve25519.Signing.PrivateKey(), ttlSeconds: 300, workerID: "bench")
        let arguments =
            #"{"amount": 5000, "to": "vendor-123", "memo": {"invoice": "INV-2291", "lines": [1200, 3800.5]}}"#
        var best = Double.infinity
        var bytes = 0
        for _ in 0..<repeats {
            let start = ContinuousClock.now
            for n in 0..<count {
                bytes &+=
                    signer.receipt(
                        requestID: "bench-\(n)",
                        agentID: "finance-agent",
                        toolName: "transfer_funds",
                        argumentsJSON: arguments,
                        resolution: "policy",
                        policyVersion: "approval-workflow-policy@1.0#3756a80e",
                        at: 1_800_000_000_000
                    ).count
            }
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            best = min(best, seconds)
        }
        let perReceipt = best / Double(count) * 1e6
        // The signature alone, over claims of the same size.
        let key = Curve25519.Signing.PrivateKey()
        let claims = [UInt8](repeating: 0x61, count: 330)
        var signatureBest = Double.infinity
        for _ in 0..<repeats {
            let start = ContinuousClock.now
            for _ in 0..<count { _ = try key.signature(for: claims) }
            let elapsed = ContinuousClock.now - start
            signatureBest = min(
                signatureBest,
                Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            )
        }
        print(
            String(
                format:
                    "receipts: %.0f signed/s on one core, %.1f µs each (%d bytes avg); the Ed25519 signature alone %.1f µs",
                Double(count) / best,
                perReceipt,
                bytes / (count * repeats),
                signatureBest / Double(count) * 1e6
            )
        )
    }
}
