import HTTPTypes
import Hummingbird

/// Answers a known path asked with a method it does not take with 405 and `Allow` (the router
/// alone would say 404), and an unknown path under `/v1/` with a JSON 404: what an API client
/// expects, and what the OpenAPI check holds the gateway to.
struct MethodCheck<Context: RequestContext>: RouterMiddleware {
    /// The gateway's paths (`*` is one path segment) and the methods each takes.
    static var routes: [(segments: [Substring], methods: [HTTPRequest.Method])] {
        let get: [HTTPRequest.Method] = [.get, .head]
        return [
            ("", get), ("inbox.css", get), ("inbox.js", get), ("healthz", get), ("readyz", get),
            ("v1/openapi.json", get), ("v1/me", get), ("v1/session", [.post, .delete]),
            ("v1/escalations", get), ("v1/escalations/*", get), ("v1/escalations/*/votes", [.post]),
            ("v1/history", get), ("v1/grants", get), ("v1/grants/*/revoke", [.post]),
        ].map { (path: String, methods: [HTTPRequest.Method]) in
            (path.split(separator: "/", omittingEmptySubsequences: false), methods)
        }
    }

    static func methods(for path: String) -> [HTTPRequest.Method]? {
        let trimmed = path.hasPrefix("/") ? path.dropFirst() : Substring(path)
        let segments = trimmed.split(separator: "/", omittingEmptySubsequences: false)
        for route in routes where route.segments.count == segments.count {
            let matches = zip(route.segments, segments).allSatisfy { pattern, segment in
                pattern == "*" ? !segment.isEmpty : pattern == segment
            }
            if matches { return route.methods }
        }
        return nil
    }

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        let path = request.uri.path
        guard let methods = Self.methods(for: path) else {
            if path.hasPrefix("/v1/") {
                return Reply.error(.notFound, "no such API path: \(path) (see /v1/openapi.json)")
            }
            return try await next(request, context)
        }
        guard methods.contains(request.method) else {
            var response = Reply.error(
                .methodNotAllowed,
                "\(path) takes \(methods.filter { $0 != .head }.map(\.rawValue).joined(separator: ", ")), not \(request.method)"
            )
            response.headers[.allow] = methods.map(\.rawValue).joined(separator: ", ")
            return response
        }
        return try await next(request, context)
    }
}
