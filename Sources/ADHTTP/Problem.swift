import ADCore
import ADPostgres
import Foundation
import Hummingbird
import Logging
import NIOCore

/// An error as the API answers it: RFC 9457 `application/problem+json` with `type`, `title`, `status`, `detail`,
/// and, when known, the database's `hint`, its `sqlstate` and the `index` (and `line`) of the point a batch failed
/// at. Never a stack trace or an internal type name.
public struct Problem: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var detail: String
    public var hint: String?
    public var sqlState: String?
    public var index: Int?
    public var line: Int?
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ detail: String, hint: String? = nil) {
        self.status = status
        self.detail = detail
        self.hint = hint
    }

    /// 413 for a body past the limit, closing the connection: otherwise Hummingbird reads the rest of the upload to
    /// keep the connection, so a client could make it read without end.
    public static func bodyTooLarge(_ detail: String) -> Problem {
        var p = Problem(.contentTooLarge, detail)
        p.headers[.connection] = "close"
        return p
    }

    /// The status an `APIFailure` is answered with.
    public init(_ failure: APIFailure) {
        let status: HTTPResponse.Status
        switch failure.kind {
        case .unauthenticated: status = .unauthorized
        case .forbidden: status = .forbidden
        case .notFound: status = .notFound
        case .invalid: status = .badRequest
        case .conflict: status = .conflict
        case .tooLarge: status = .contentTooLarge
        case .unavailable: status = .serviceUnavailable
        case .internalError: status = .internalServerError
        }
        self.init(status, failure.message, hint: failure.hint)
        sqlState = failure.sqlState
        index = failure.index
        if failure.kind == .unauthenticated { headers[.wwwAuthenticate] = "Bearer realm=\"adworker\"" }
        if failure.kind == .unavailable { headers[.retryAfter] = "5" }
    }

    /// The document, members in RFC 9457's order, then ours.
    public var body: JSONValue {
        var out: [(String, JSONValue)] = [
            ("type", .string("about:blank")), ("title", .string(status.reasonPhrase)),
            ("status", .number(Double(status.code))), ("detail", .string(detail)),
        ]
        if let hint { out.append(("hint", .string(hint))) }
        if let sqlState { out.append(("sqlstate", .string(sqlState))) }
        if let index { out.append(("index", .number(Double(index)))) }
        if let line { out.append(("line", .number(Double(line)))) }
        return .object(out)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body.render())))
    }
}

/// Turns every error a handler or Hummingbird throws into a problem document: ours as they are, Hummingbird's own
/// (unknown route 404, 405, body too large 413) with their status, a body that does not decode as 400 naming the
/// field, anything else as 500 with nothing but "internal error" (the error itself goes to the log).
public struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    )
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch {
            return try Self.problem(for: error, logger: logger).response(from: request, context: context)
        }
    }

    static func problem(for error: any Error, logger: Logger) -> Problem {
        switch error {
        case let p as Problem: return p
        case let f as APIFailure:
            if f.kind == .internalError || f.kind == .unavailable {
                logger.warning("request failed: \(f.message)")
            }
            return Problem(f)
        case let d as DecodingError: return Problem(.badRequest, describe(d))
        case let h as HTTPError:
            return Problem(h.status, h.body ?? h.status.reasonPhrase)
        case is NIOTooManyBytesError:
            return Problem.bodyTooLarge("the request body is larger than this server takes")
        case let r as any HTTPResponseError:
            return Problem(r.status, r.status.reasonPhrase)
        default:
            logger.error("request failed: \(String(reflecting: error))")
            return Problem(.internalServerError, "internal error")
        }
    }

    /// A decoding error in words, naming the field by its path.
    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            let p = keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return p.isEmpty ? "the body" : p
        }
        switch error {
        case .keyNotFound(let key, let c): return "\(path(c.codingPath + [key])) is missing"
        case .typeMismatch(_, let c): return "\(path(c.codingPath)) has the wrong type: \(c.debugDescription)"
        case .valueNotFound(_, let c): return "\(path(c.codingPath)) is null"
        case .dataCorrupted(let c):
            return "\(path(c.codingPath)) is not valid: \(c.debugDescription)"
        @unknown default: return "the body does not decode"
        }
    }
}
