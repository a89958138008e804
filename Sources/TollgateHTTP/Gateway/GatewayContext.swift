import Hummingbird
import NIOCore
import TollgateJSON

/// The request context of the gateway: Hummingbird's basics plus the peer's address (for
/// `--auth proxy`, whose header is believed only from `--trusted-proxy` addresses).
struct GatewayContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// 1 MiB: far more than a vote or a sign-in needs.
    var maxUploadSize: Int { 1 << 20 }
}

/// JSON responses, written with TollgateJSON.
enum Reply {
    static func json(_ status: HTTPResponse.Status = .ok, _ write: (inout JSONWriter) -> Void) -> Response {
        var w = JSONWriter(reservingCapacity: 512)
        write(&w)
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: w.bytes))
        )
    }

    static func json(_ status: HTTPResponse.Status = .ok, object: JSONObject) -> Response {
        json(status) { $0.value(.object(object)) }
    }

    /// `{"error": "..."}` with the status that says what kind of problem it is.
    static func error(_ status: HTTPResponse.Status, _ message: String, retryAfter: Int? = nil) -> Response {
        var response = json(status) { w in
            w.beginObject()
            w.objectField("error", message)
            w.endObject()
        }
        if let retryAfter { response.headers[.retryAfter] = "\(retryAfter)" }
        return response
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: type, .cacheControl: "no-cache",
                .contentSecurityPolicy:
                    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
                .init("X-Content-Type-Options")!: "nosniff",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text))
        )
    }
}
