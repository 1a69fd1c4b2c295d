import ADCore
import ADPostgres
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The `/v1` routes (api/openapi.yaml is their contract; `APIContractTests` checks the two name the same
/// operations). Each handler reads the request, calls one `APIStore` method (one transaction as the token's role),
/// and writes what the database returned; the rules are the database's.
struct APIRoutes: Sendable {
    let store: APIStore
    let settings: APISettings
    /// Points bodies being read or inserted at once, at most `settings.maxUploads`: each may be up to
    /// `maxBodyBytes` and is held several times over while it is parsed, so without a bound a few clients with
    /// valid tokens could hold gigabytes in the process that also scores.
    let uploads = UploadGate()
    let logger: Logger
    /// The worker's readiness (`/readyz`); nil for a server without a worker, which is ready while it runs.
    var readiness: (@Sendable () async -> Readiness)? = nil

    /// Every route, as "METHOD /path" in the OpenAPI document's spelling.
    static let operations: [String] = [
        "GET /healthz", "GET /readyz", "GET /v1/me", "POST /v1/sources/{source}/points",
        "GET /v1/sources/{source}/series",
        "GET /v1/alerts", "GET /v1/alerts/{id}", "PATCH /v1/alerts/{id}", "GET /v1/alerts/{id}/audit",
        "GET /v1/anomalies", "GET /v1/anomalies/{id}", "PATCH /v1/anomalies/{id}", "POST /v1/models/train",
        "GET /v1/models/{id}",
    ]

    func register(on router: Router<APIContext>) {
        router.add(middleware: MethodNotAllowedMiddleware<APIContext>(operations: Self.operations))
        router.get("/healthz") { _, _ in Self.json("{\"status\":\"ok\"}") }
        // The status only: this port may be published, and the reasons name the database's host, user and schema
        // (the metrics listener, bound where only the scraper reaches, answers with them).
        router.get("/readyz") { [readiness] _, _ in
            guard let readiness, await !readiness().ready else { return Self.json("{\"status\":\"ready\"}") }
            throw Problem(
                .serviceUnavailable,
                "not ready: the worker's log, or /readyz on its metrics listener (AD_METRICS_LISTEN), says why")
        }
        let v1 = router.group("v1")
        v1.get("me") { request, _ in
            let caller = try await store.whoami(token: try Self.bearer(request))
            let body = JSONValue.object([
                ("token", .string(caller.tokenName)), ("role", .string(caller.role)),
                ("person", caller.person.map(JSONValue.string) ?? .null),
            ])
            return Self.json(body.render())
        }
        v1.post("sources/:source/points") { request, context in
            try await ingest(request, context)
        }
        v1.get("sources/:source/series") { request, context in
            // The token is asked for before anything else is read: without one the answer is 401, whatever else is
            // wrong (schemathesis: a 400 without a token tells a caller nothing about what it is missing).
            let token = try Self.bearer(request)
            let q = request.uri.queryParameters
            let to = try Self.time(q.get("to"), "to") ?? Date()
            let from = try Self.time(q.get("from"), "from") ?? to.addingTimeInterval(-86_400)
            guard from < to else { throw Problem(.badRequest, "from must be before to") }
            let limit =
                try Self.integer(q.get("limit"), "limit", 1...settings.maxSeriesPoints) ?? settings.maxSeriesPoints
            let json = try await store.series(
                token: token, source: try context.parameters.require("source"), from: from, to: to, maxPoints: limit)
            return Self.json(json)
        }
        v1.get("alerts") { request, _ in
            let page = try await store.alerts(
                token: try Self.bearer(request), filter: try Self.filter(request, statuses: Self.alertStatuses))
            return Self.json(Self.pageJSON(page))
        }
        v1.get("alerts/:id") { request, context in
            Self.json(try await store.alert(token: try Self.bearer(request), id: try Self.uuid(context)))
        }
        v1.patch("alerts/:id") { request, context in
            let token = try Self.bearer(request)
            let change = try await Self.statusChange(request, allowed: ["acknowledged", "resolved"])
            return Self.json(
                try await store.changeAlert(
                    token: token, id: try Self.uuid(context), status: change.status, notes: change.notes))
        }
        v1.get("alerts/:id/audit") { request, context in
            let rows = try await store.alertAudit(token: try Self.bearer(request), id: try Self.uuid(context))
            return Self.json("{\"items\":[\(rows.joined(separator: ","))]}")
        }
        v1.get("anomalies") { request, _ in
            let page = try await store.anomalies(
                token: try Self.bearer(request), filter: try Self.filter(request, statuses: Self.anomalyStatuses))
            return Self.json(Self.pageJSON(page))
        }
        v1.get("anomalies/:id") { request, context in
            Self.json(try await store.anomaly(token: try Self.bearer(request), id: try Self.uuid(context)))
        }
        v1.patch("anomalies/:id") { request, context in
            let token = try Self.bearer(request)
            let change = try await Self.statusChange(
                request, allowed: ["acknowledged", "confirmed", "false_positive", "resolved"])
            return Self.json(
                try await store.changeAnomaly(
                    token: token, id: try Self.uuid(context), status: change.status, notes: change.notes))
        }
        v1.post("models/train") { request, _ in
            try await train(request)
        }
        v1.get("models/:id") { request, context in
            Self.json(try await store.model(token: try Self.bearer(request), id: try Self.uuid(context)).json)
        }
    }

    // MARK: handlers

    /// The largest points body read before its token is checked.
    static let unauthenticatedBodyBytes = 1024 * 1024

    func ingest(_ request: Request, _ context: APIContext) async throws -> Response {
        let token = try Self.bearer(request)
        guard let format = PointBodies.format(contentType: request.headers[.contentType]) else {
            throw Problem(
                .unsupportedMediaType,
                "points come as application/json, application/x-ndjson or text/csv, not \(request.headers[.contentType] ?? "")"
            )
        }
        // A body over 1 MiB, or of unknown length, is read only once its token is known to be valid: otherwise anyone
        // could make the server read and parse up to AD_HTTP_MAX_BODY_MB before the database said no.
        if (request.headers[.contentLength].flatMap { Int($0) } ?? Int.max) > Self.unauthenticatedBodyBytes {
            _ = try await store.whoami(token: token)
        }
        guard uploads.enter(limit: settings.maxUploads) else {
            throw Problem(
                APIFailure(
                    .unavailable,
                    "the server is taking as many points requests at once as it may (\(settings.maxUploads)); send this one again",
                    hint: "AD_HTTP_MAX_UPLOADS sets how many are taken at once."))
        }
        defer { uploads.leave() }
        var request = request
        let body = try await Self.body(&request, limit: settings.maxBodyBytes)
        let batch = try PointBodies.batch(body, format: format)
        let source = try context.parameters.require("source")
        do throws(APIFailure) {
            let result = try await store.ingest(
                token: token, source: source, batch: batch, maxPoints: settings.maxPoints)
            let json = JSONValue.object([
                ("received", .number(Double(result.received))), ("accepted", .number(Double(result.accepted))),
                ("duplicates", .number(Double(result.duplicates))),
            ])
            return Self.json(json.render(), status: .accepted)
        } catch {
            var problem = Problem(error)
            if let index = problem.index, case .lines(_, let numbers) = batch, index < numbers.count {
                problem.line = numbers[index]
            }
            throw problem
        }
    }

    func train(_ request: Request) async throws -> Response {
        let token = try Self.bearer(request)
        let wait = try Self.number(request.uri.queryParameters.get("wait"), "wait", 0...settings.maxTrainWait) ?? 0
        var request = request
        let body = try await Self.body(&request, limit: 1024 * 1024)
        let train = try Self.decoder.decode(APITrainRequest.self, from: Data(body.utf8))
        let queued = try await store.train(token: token, request: train, body: body)
        let id = queued.id
        var model = (json: queued.json, status: queued.status)
        let deadline = Date().addingTimeInterval(wait)
        // The job is committed: from here on the answer is 201 with the latest reading, whatever a poll meets.
        while ["training", "evaluating"].contains(model.status), Date() < deadline {
            do {
                try await Task.sleep(for: .milliseconds(250))
                model = try await store.model(token: token, id: id)
            } catch {
                break
            }
        }
        var headers: HTTPFields = [.contentType: "application/json"]
        headers[.location] = "/v1/models/\(id.uuidString.lowercased())"
        return Response(status: .created, headers: headers, body: .init(byteBuffer: ByteBuffer(string: model.json)))
    }

    // MARK: request parts

    /// The bearer token of `Authorization: Bearer ...`; none is 401.
    static func bearer(_ request: Request) throws(Problem) -> String {
        guard let header = request.headers[.authorization] else {
            throw Problem(APIFailure(.unauthenticated, "this request needs Authorization: Bearer <token>"))
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw Problem(APIFailure(.unauthenticated, "the Authorization header must be Bearer <token>"))
        }
        return parts[1].trimmingCharacters(in: .whitespaces)
    }

    /// The body as UTF-8 text, at most `limit` bytes (413 past it).
    static func body(_ request: inout Request, limit: Int) async throws -> String {
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw Problem.bodyTooLarge("the request body is larger than \(limit) bytes")
        }
        // Validated, not repaired: a cut-off sequence would otherwise become U+FFFD in a stored metric name.
        guard let text = String(validating: buffer.readableBytesView, as: UTF8.self), !text.contains("\u{0}")
        else { throw Problem(.badRequest, "the request body is not UTF-8 text") }
        return text
    }

    static func uuid(_ context: APIContext) throws -> UUID {
        let text = try context.parameters.require("id")
        guard let id = UUID(uuidString: text) else { throw Problem(.badRequest, "id must be a UUID, got \(text)") }
        return id
    }

    struct StatusChange: Decodable {
        var status: String?
        var notes: String?
    }

    static func statusChange(_ request: Request, allowed: [String]) async throws -> StatusChange {
        var request = request
        let body = try await Self.body(&request, limit: 64 * 1024)
        let change = try decoder.decode(StatusChange.self, from: Data(body.utf8))
        guard change.status != nil || change.notes != nil else {
            throw Problem(.badRequest, "give status, notes or both")
        }
        if let s = change.status, !allowed.contains(s) {
            throw Problem(.badRequest, "status must be one of \(allowed.joined(separator: ", ")), got \(s)")
        }
        return change
    }

    /// The values of the lists' filters (the CHECK constraints of ad.alerts and ad.anomalies): a value outside them
    /// is a 400 naming them, not a filter that silently matches nothing.
    static let alertStatuses = ["pending", "sent", "acknowledged", "escalated", "resolved", "failed"]
    static let anomalyStatuses = ["detected", "acknowledged", "confirmed", "resolved", "false_positive"]
    static let severities = ["low", "medium", "high", "critical"]

    static func filter(_ request: Request, statuses: [String]) throws -> APIListFilter {
        let q = request.uri.queryParameters
        var f = APIListFilter()
        func list(_ name: String, _ allowed: [String]) throws(Problem) -> [String]? {
            guard let text = q.get(name) else { return nil }
            let values = text.split(separator: ",", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            for v in values where !allowed.contains(v) {
                throw Problem(
                    .badRequest, "\(name) must be one or more of \(allowed.joined(separator: ", ")), got \"\(v)\"")
            }
            return values
        }
        f.statuses = try list("status", statuses)
        f.severities = try list("severity", Self.severities)
        f.source = q.get("source")
        f.metric = q.get("metric")
        f.since = try time(q.get("since"), "since")
        f.until = try time(q.get("until"), "until")
        f.minScore = try number(q.get("min_score"), "min_score", 0...1)
        f.limit = try integer(q.get("limit"), "limit", 1...500) ?? 50
        if let c = q.get("cursor") { f.cursor = try APICursor.decode(c) }
        return f
    }

    static func time(_ text: String?, _ name: String) throws(Problem) -> Date? {
        guard let text else { return nil }
        guard let date = parseTime(text) else {
            throw Problem(
                .badRequest,
                "\(name) must be an RFC 3339 time in years 1 to 9999 (UTC), such as 2026-01-01T00:00:00Z, got \(text)")
        }
        return date
    }

    /// An RFC 3339 time on PostgreSQL's calendar (`RFC3339`: Foundation's parsers are Julian before 1582).
    static func parseTime(_ text: String) -> Date? { RFC3339.parse(text) }

    static func number(_ text: String?, _ name: String, _ range: ClosedRange<Double>) throws(Problem) -> Double? {
        guard let text else { return nil }
        guard let x = Double(text), x.isFinite, range.contains(x) else {
            throw Problem(.badRequest, "\(name) must be a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return x
    }

    static func integer(_ text: String?, _ name: String, _ range: ClosedRange<Int>) throws(Problem) -> Int? {
        guard let text else { return nil }
        guard let x = Int(text), range.contains(x) else {
            throw Problem(.badRequest, "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return x
    }

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let c = try decoder.singleValueContainer()
            let text = try c.decode(String.self)
            guard let date = parseTime(text) else {
                throw DecodingError.dataCorruptedError(
                    in: c,
                    debugDescription:
                        "must be an RFC 3339 time in years 1 to 9999 (UTC), such as 2026-01-01T00:00:00Z, got \(text)")
            }
            return date
        }
        return d
    }()

    // MARK: responses

    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func pageJSON(_ page: APIPage) -> String {
        let next = page.nextCursor.map { "\"\($0)\"" } ?? "null"
        return "{\"items\":[\(page.items.joined(separator: ","))],\"next_cursor\":\(next)}"
    }
}

/// A path the API serves asked with a method it does not serve: 405 with `Allow` (RFC 9110, section 15.5.6) rather
/// than the router's 404, which would say the resource is not there. Only the router's own not-found is turned
/// (Hummingbird's router answers both "no such path" and "no such method" with it); a path no operation names stays
/// 404.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Each served path template, split at "/", and the methods it serves.
    let paths: [(segments: [Substring], methods: [String])]

    init(operations: [String]) {
        var methods: [String: [String]] = [:]
        var order: [String] = []
        for operation in operations {
            let parts = operation.split(separator: " ", maxSplits: 1).map(String.init)
            if methods[parts[1]] == nil { order.append(parts[1]) }
            methods[parts[1], default: []].append(parts[0])
        }
        paths = order.map { ($0.split(separator: "/", omittingEmptySubsequences: false), methods[$0]!) }
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            guard let allowed = allowedMethods(request.uri.path), !allowed.contains(request.method.rawValue) else {
                throw error
            }
            var problem = Problem(
                .methodNotAllowed,
                "\(request.method.rawValue) is not served at \(request.uri.path); \(allowed.joined(separator: ", ")) are"
            )
            problem.headers[.allow] = allowed.joined(separator: ", ")
            throw problem
        }
    }

    /// The methods served at `path`, or nil when no operation's template matches it.
    func allowedMethods(_ path: String) -> [String]? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        return paths.first { template in
            template.segments.count == segments.count
                && zip(template.segments, segments).allSatisfy { t, s in
                    t.hasPrefix("{") ? !s.isEmpty : t == s
                }
        }?.methods
    }
}

/// A count of requests in a section, refused past a limit rather than queued (a queue would hold their sockets).
final class UploadGate: Sendable {
    private let inFlight = Atomic<Int>(0)

    /// Takes a place if fewer than `limit` are taken.
    func enter(limit: Int) -> Bool {
        while true {
            let n = inFlight.load(ordering: .relaxed)
            if n >= limit { return false }
            if inFlight.compareExchange(expected: n, desired: n + 1, ordering: .acquiringAndReleasing).exchanged {
                return true
            }
        }
    }

    func leave() { inFlight.subtract(1, ordering: .acquiringAndReleasing) }
}
