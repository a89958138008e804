import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// POSTs one notice and says what came of it. async-http-client, on the SwiftNIO event loops
/// the rest of Tollgate already runs: a connection pool per target, a deadline per request,
/// redirects refused (a signed notice goes where it was configured to go, nowhere else), and
/// errors that say whether the target refused the connection, timed out or failed TLS.
public final class WebhookSender: Sendable {
    let client: HTTPClient
    let timeout: TimeAmount
    /// Bytes of a refusal's body kept for the log and the dead-letter reason.
    static let bodyKept = 1024

    /// `connections`: how many POSTs to one host may be under way at once (the bridge's
    /// `--prefetch`, so that no POST waits for a connection while its deadline runs).
    public init(timeoutSeconds: Int64, connections: Int) {
        timeout = .seconds(timeoutSeconds)
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(min(timeoutSeconds, 10)), read: .seconds(timeoutSeconds)),
            decompression: .disabled
        )
        configuration.connectionPool.idleTimeout = .seconds(60)
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(connections, 1)
        // A refused connection is a failed attempt at once, retried on the bridge's own backoff
        // (the client would otherwise keep trying until the deadline).
        configuration.connectionPool.retryConnectionEstablishment = false
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    public func shutdown() async { try? await client.shutdown() }

    /// One POST of `body` to `url`, with these headers; never throws.
    public func post(url: String, body: [UInt8], headers: [(String, String)], nowMillis: Int64) async -> AttemptOutcome
    {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, timeout: timeout)
            var kept = ByteBuffer()
            var read = 0
            // Read the answer (so the connection can be reused), keep its start; a body past
            // 1 MiB is not read further (the connection is dropped instead).
            for try await var chunk in response.body {
                read += chunk.readableBytes
                if kept.readableBytes < Self.bodyKept {
                    var part = chunk.readSlice(length: min(chunk.readableBytes, Self.bodyKept - kept.readableBytes))!
                    kept.writeBuffer(&part)
                }
                if read > 1 << 20 { break }
            }
            let retryAfter = response.headers.first(name: "Retry-After").flatMap {
                RetryPolicy.retryAfterMillis($0, nowMillis: nowMillis)
            }
            let text = String(decoding: kept.readableBytesView, as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            return .answered(status: Int(response.status.code), retryAfterMillis: retryAfter, body: text)
        } catch {
            return .unreachable(Self.describe(error, url: url))
        }
    }

    static func describe(_ error: Error, url: String) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout:
                return "no answer from \(host(url)) within the timeout (\(error))"
            case .remoteConnectionClosed:
                return "\(host(url)) closed the connection before answering"
            default:
                return "\(host(url)): \(error)"
            }
        }
        return "\(host(url)) cannot be reached: \(error)"
    }

    /// The host of a URL, for messages that must not show its path (Slack's carries the secret).
    public static func host(_ url: String) -> String {
        URLComponents(string: url)?.host ?? "the target"
    }
}
