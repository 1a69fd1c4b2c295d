import ADPostgres
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The operator console under `/console`: server-rendered pages over the same SQL as the API. Every page and action
/// is one or more `APIStore` calls as the session's token (one transaction each, as its role), so a reader sees
/// the pages and the buttons, and the database refuses what a reader may not do, in its own words, on the page.
/// The pages work without JavaScript; only the live feed needs it.
struct ConsoleRoutes: Sendable {
    let store: APIStore
    let settings: APISettings
    let logger: Logger
    let session: ConsoleSession
    let feed: ConsoleFeed
    let slots: ConsoleFeedSlots

    /// `maxFeeds`: the most live feeds open at once (each holds a connection and polls every second).
    init(
        store: APIStore, settings: APISettings, logger: Logger, session: ConsoleSession = ConsoleSession(),
        maxFeeds: Int = 64
    ) {
        self.store = store
        self.settings = settings
        self.logger = logger
        self.session = session
        feed = ConsoleFeed(store: store, logger: logger)
        slots = ConsoleFeedSlots(limit: maxFeeds)
    }

    /// Every console route, as "METHOD /path".
    static let operations: [String] = [
        "GET /console", "GET /console/login", "POST /console/login", "POST /console/logout", "GET /console/feed",
        "GET /console/alerts/{id}", "POST /console/alerts/{id}", "POST /console/anomalies/{id}",
        "GET /console/sources", "GET /console/sources/{source}", "GET /console/tolerances",
        "POST /console/adjustments/{id}/undo", "GET /console/static/console.css", "GET /console/static/feed.js",
    ]

    /// What a finished action says on the page it returns to (by code, so a link cannot make the page say
    /// anything else).
    static let flashes: [String: String] = [
        "alert.acknowledged": "Alert acknowledged.", "alert.resolved": "Alert resolved.",
        "alert.notes": "Alert notes saved.", "anomaly.acknowledged": "Anomaly acknowledged.",
        "anomaly.confirmed": "Anomaly confirmed.", "anomaly.false_positive": "Anomaly marked a false positive.",
        "anomaly.resolved": "Anomaly resolved.", "anomaly.notes": "Anomaly notes saved.",
        "adjustment.undone": "Adjustment undone; the worker follows at its next configuration refresh.",
        "adjustment.already undone": "That adjustment was already undone.", "login": "Logged in.",
    ]

    func register(on router: Router<APIContext>) {
        let console = router.group("console")
        console.get { request, _ in await overview(request) }
        console.get("login") { request, _ in
            page("login", ["title": "Log in"], request: request, caller: nil, token: nil)
        }
        console.post("login") { request, _ in await login(request) }
        console.post("logout") { request, _ in
            await action(request) { _, _ in
                var response = Self.redirect("/console/login")
                response.setCookie(ConsoleSession.logoutCookie(secure: false))
                return response
            }
        }
        console.get("feed") { request, _ in await liveFeed(request) }
        console.get("alerts/:id") { request, context in await alertPage(request, context) }
        console.post("alerts/:id") { request, context in
            await action(request) { token, form in
                let id = try Self.uuid(context)
                let (status, notes) = try form.change()
                _ = try await store.changeAlert(token: token, id: id, status: status, notes: notes)
                return Self.redirect(form.returnPath(default: "/console"), flash: "alert.\(status ?? "notes")")
            }
        }
        console.post("anomalies/:id") { request, context in
            await action(request) { token, form in
                let id = try Self.uuid(context)
                let (status, notes) = try form.change()
                _ = try await store.changeAnomaly(token: token, id: id, status: status, notes: notes)
                return Self.redirect(form.returnPath(default: "/console"), flash: "anomaly.\(status ?? "notes")")
            }
        }
        console.get("sources") { request, _ in await sourcesPage(request) }
        console.get("sources/:source") { request, context in await sourcePage(request, context) }
        console.get("tolerances") { request, _ in await tolerancesPage(request) }
        console.post("adjustments/:id/undo") { request, context in
            await action(request) { token, form in
                let text = try context.parameters.require("id")
                guard let id = Int64(text), id > 0 else {
                    throw APIFailure(.invalid, "an adjustment is a positive number, got \(text)")
                }
                let said = try await store.undoAdjustment(token: token, id: id, notes: form.notes.nonEmpty)
                return Self.redirect(form.returnPath(default: "/console/tolerances"), flash: "adjustment.\(said)")
            }
        }
        console.get("static/console.css") { _, _ in
            Self.asset(ConsoleAssets.css, type: "text/css; charset=utf-8")
        }
        console.get("static/feed.js") { _, _ in
            Self.asset(ConsoleAssets.feedJS, type: "text/javascript; charset=utf-8")
        }
    }

    // MARK: pages

    func overview(_ request: Request) async -> Response {
        await authenticated(request) { token in
            let (latest, open) = try await store.consoleOverview(token: token, anomalies: 50, alerts: 200)
            var context: [String: Any] = [
                "title": "Live & alerts", "navOverview": true, "feed": true,
                "since": ConsoleFormat.rfc3339(latest.now),
                "anomalies": try latest.rows.map(ConsoleViews.anomaly),
                "alerts": try open.map { try ConsoleViews.alert($0, returnTo: "/console") },
            ]
            context["flash"] = flash(request)
            return page("overview", context, request: request, caller: latest.caller, token: token)
        }
    }

    func alertPage(_ request: Request, _ context: APIContext) async -> Response {
        await authenticated(request) { token in
            let id = try Self.uuid(context)
            let rows = try await store.consoleAlert(token: token, id: id)
            let path = "/console/alerts/\(id.uuidString.lowercased())"
            let card = try ConsoleViews.alert(rows.rows[0], returnTo: path)
            var view: [String: Any] = [
                "title": "Alert \(card["title"] ?? "")", "navOverview": true, "card": card,
            ]
            do {
                view["audit"] = try await store.alertAudit(token: token, id: id).map(ConsoleViews.audit)
            } catch {
                view["auditProblem"] = Self.refusal(error)
            }
            view["flash"] = flash(request)
            return page("alert", view, request: request, caller: rows.caller, token: token)
        }
    }

    func sourcesPage(_ request: Request) async -> Response {
        await authenticated(request) { token in
            let rows = try await store.consoleSources(token: token)
            let view: [String: Any] = [
                "title": "Sources", "navSources": true, "sources": try rows.rows.map(ConsoleViews.source),
            ]
            return page("sources", view, request: request, caller: rows.caller, token: token)
        }
    }

    static let windows: [(hours: Int, label: String)] = [
        (1, "1 hour"), (6, "6 hours"), (24, "24 hours"), (72, "3 days"), (168, "7 days"), (720, "30 days"),
    ]

    func sourcePage(_ request: Request, _ context: APIContext) async -> Response {
        await authenticated(request) { token in
            let name = try context.parameters.require("source")
            let q = request.uri.queryParameters
            let hours = try APIRoutes.integer(q.get("hours"), "hours", 1...720) ?? 24
            let overview = try await store.consoleSource(token: token, source: name)
            let row = try ConsoleViews.decode(ConsoleViews.SourceRow.self, overview.rows[0])
            // The window ends at the time asked for, else just after the latest point (a source that stopped
            // sending still shows its data), else now.
            let to: Date
            if let text = q.get("to"), !text.isEmpty {
                guard
                    let t = APIRoutes.parseTime(text)
                        ?? APIRoutes.parseTime(text.replacingOccurrences(of: " ", with: "T") + "Z")
                else {
                    throw APIFailure(.invalid, "to must be a time such as 2026-01-01T00:00:00Z, got \(text)")
                }
                to = t
            } else {
                to = (row.last_point_at.flatMap(APIRoutes.parseTime) ?? overview.now).addingTimeInterval(1)
            }
            let from = to.addingTimeInterval(-Double(hours) * 3600)
            let json = try await store.series(
                token: token, source: row.source_id.uuidString.lowercased(), from: from, to: to,
                maxPoints: settings.maxSeriesPoints)
            let series = try JSONDecoder().decode(ConsoleSeries.self, from: Data(json.utf8))
            let chart = ConsoleChart(series: series)
            let metrics = chart.metrics
            var view: [String: Any] = [
                "title": row.source_name, "navSources": true, "name": row.source_name,
                "href": ConsoleFormat.sourceHref(row.source_name), "chart": chart.svg(),
                "from": ConsoleFormat.time(from), "to": ConsoleFormat.time(to), "pointCount": series.points.count,
                "truncated": series.points.count >= settings.maxSeriesPoints, "bandWindow": chart.bandWindow,
                "bandWidth": ConsoleChart.number(chart.bandWidth),
                "windows": Self.windows.map { ["hours": $0.hours, "label": $0.label, "selected": $0.hours == hours] },
                "anomalies": series.anomalies.reversed().map { a -> [String: Any] in
                    [
                        "time": ConsoleFormat.time(a.timestamp), "metric": a.metric, "severity": a.severity,
                        "score": ConsoleFormat.score(a.score), "actual": ConsoleFormat.number(a.actual),
                        "expected": ConsoleFormat.number(a.expected), "status": a.status, "reason": a.reason ?? "",
                    ]
                },
            ]
            if metrics.count > chart.maxMetrics {
                view["moreMetrics"] = metrics.dropFirst(chart.maxMetrics).joined(separator: ", ")
            }
            return page("source", view, request: request, caller: overview.caller, token: token)
        }
    }

    func tolerancesPage(_ request: Request) async -> Response {
        await authenticated(request) { token in
            let patterns = try await store.consoleLearnedPatterns(token: token)
            var view: [String: Any] = [
                "title": "Tolerances", "navTolerances": true, "patterns": try patterns.rows.map(ConsoleViews.pattern),
            ]
            // Operators may read the adjustments; readers see only what is in force, and the database's refusal.
            do {
                view["adjustments"] = try await store.consoleAdjustments(token: token, limit: 200).rows.map(
                    ConsoleViews.adjustment)
            } catch {
                view["adjustmentsProblem"] = Self.refusal(error)
            }
            view["flash"] = flash(request)
            return page("tolerances", view, request: request, caller: patterns.caller, token: token)
        }
    }

    // MARK: login and the feed

    func login(_ request: Request) async -> Response {
        if let why = Self.crossOrigin(request) {
            return page(
                "login", ["title": "Log in", "problem": "Refused: \(why)."], request: request, caller: nil, token: nil,
                status: .forbidden)
        }
        let form: ConsoleForm
        do {
            form = try await ConsoleForm.read(request)
        } catch {
            return page(
                "login", ["title": "Log in", "problem": Self.refusal(error)], request: request, caller: nil,
                token: nil, status: .badRequest)
        }
        let token = (form.token ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        do {
            guard ConsoleSession.isPlausibleToken(token) else {
                throw APIFailure(.unauthenticated, "the token is unknown, revoked or expired")
            }
            _ = try await store.whoami(token: token)
        } catch {
            return page(
                "login", ["title": "Log in", "problem": Self.refusal(error)], request: request, caller: nil,
                token: nil, status: .unauthorized)
        }
        var response = Self.redirect("/console", flash: "login")
        response.setCookie(ConsoleSession.loginCookie(token, secure: false))
        return response
    }

    func liveFeed(_ request: Request) async -> Response {
        guard let token = ConsoleSession.token(request) else {
            return Self.plain(.unauthorized, "log in at /console/login first")
        }
        do {
            _ = try await store.whoami(token: token)
        } catch {
            return Self.plain(error.kind == .unauthenticated ? .unauthorized : .serviceUnavailable, error.message)
        }
        guard let slot = slots.take() else {
            var response = Self.plain(
                .serviceUnavailable, "\(slots.limit) live feeds are open, the most this server keeps; try again")
            response.headers[.retryAfter] = "10"
            return response
        }
        // Where to start: the event id the browser saw last (on a reconnect), else the time the page was read,
        // else now; never more than an hour back.
        let asked = request.headers[FieldName("Last-Event-ID")!] ?? request.uri.queryParameters.get("since")
        let earliest = Date().addingTimeInterval(-3600)
        let since = max(asked.flatMap(APIRoutes.parseTime) ?? Date(), earliest)
        let feed = self.feed
        let logger = self.logger
        let slots = self.slots
        var headers = Self.securityHeaders
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[FieldName("X-Accel-Buffering")!] = "no"  // a proxy in front must pass each event on at once
        return Response(
            status: .ok, headers: headers,
            body: .init { writer in
                _ = slot  // held until the stream is over
                logger.info("console feed opened (\(slots.count) open)")
                var why = "the session's token is no longer valid"
                do {
                    try await request.body.consumeWithCancellationOnInboundClose { _ in
                        try await feed.run(token: token, since: since) { text in
                            try await writer.write(ByteBuffer(string: text))
                        }
                    }
                    if Task.isShuttingDownGracefully { why = "the server is shutting down" }
                } catch is CancellationError {
                    why = "the client went away"
                } catch {
                    why = "the client went away (\(error))"
                }
                logger.info("console feed ended: \(why)")
                try? await writer.finish(nil)
            })
    }

    // MARK: plumbing

    /// Runs `body` with the session's token; no session goes to the login page, a token the database no longer
    /// takes ends the session there, and any other failure is an error page with the database's words.
    func authenticated(_ request: Request, _ body: (String) async throws -> Response) async -> Response {
        guard let token = ConsoleSession.token(request) else { return Self.redirect("/console/login") }
        do {
            return try await body(token)
        } catch {
            return failure(error, request: request, token: token, back: "/console")
        }
    }

    /// A POST: same origin, a session, its CSRF token, then `body`; an action's failure is shown on a page.
    func action(_ request: Request, _ body: (String, ConsoleForm) async throws -> Response) async -> Response {
        let token = ConsoleSession.token(request)
        if let why = Self.crossOrigin(request) {
            return errorPage(
                "Refused", "Refused: \(why).", hint: nil, request: request, token: token, back: "/console",
                status: .forbidden)
        }
        guard let token else { return Self.redirect("/console/login") }
        let form: ConsoleForm
        do {
            form = try await ConsoleForm.read(request)
        } catch {
            return failure(error, request: request, token: token, back: "/console")
        }
        guard session.verify(csrf: form.csrf, session: token) else {
            return errorPage(
                "Refused", "Refused: the form's CSRF token does not belong to this session.",
                hint: "Reload the page you came from and try again.", request: request, token: token,
                back: form.returnPath(default: "/console"), status: .forbidden)
        }
        do {
            return try await body(token, form)
        } catch {
            return failure(error, request: request, token: token, back: form.returnPath(default: "/console"))
        }
    }

    func failure(_ error: any Error, request: Request, token: String, back: String) -> Response {
        let failure = Self.failure(error)
        if failure.kind == .unauthenticated {
            var response = page(
                "login", ["title": "Log in", "problem": "Your session ended: \(failure.message). Log in again."],
                request: request, caller: nil, token: nil, status: .unauthorized)
            response.setCookie(ConsoleSession.logoutCookie(secure: false))
            return response
        }
        if failure.kind == .internalError || failure.kind == .unavailable {
            logger.warning("console request failed: \(failure.message)")
        }
        let heading: String
        switch failure.kind {
        case .forbidden: heading = "Not allowed"
        case .notFound: heading = "Not found"
        case .conflict: heading = "Not possible now"
        case .invalid: heading = "Not accepted"
        default: heading = "Something went wrong"
        }
        return errorPage(
            heading, failure.message, hint: failure.hint, request: request, token: token, back: back,
            status: Problem(failure).status)
    }

    func errorPage(
        _ heading: String, _ message: String, hint: String?, request: Request, token: String?, back: String,
        status: HTTPResponse.Status
    ) -> Response {
        var view: [String: Any] = ["title": heading, "heading": heading, "message": message, "back": back]
        if let hint { view["hint"] = hint }
        return page("error", view, request: request, caller: nil, token: token, status: status)
    }

    /// A page: `name`'s template with the header's fields (who, the CSRF token for the forms).
    func page(
        _ name: String, _ view: [String: Any], request: Request, caller: APICaller?, token: String?,
        status: HTTPResponse.Status = .ok
    ) -> Response {
        var view = view
        if let token { view["csrf"] = session.csrfToken(for: token) }
        if let caller {
            view["who"] = [
                "person": caller.person ?? caller.tokenName, "role": caller.role, "tokenName": caller.tokenName,
            ]
        }
        var headers = Self.securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(
            status: status, headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: ConsoleTemplates.render(name, view))))
    }

    func flash(_ request: Request) -> String? {
        request.uri.queryParameters.get("done").flatMap { Self.flashes[$0] }
    }

    /// No script or style but the console's own files, no framing, no form posting elsewhere, no referrer abroad.
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy:
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
            + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        FieldName("X-Content-Type-Options")!: "nosniff",
        FieldName("Referrer-Policy")!: "same-origin",
        FieldName("X-Frame-Options")!: "DENY",
    ]

    static func asset(_ text: String, type: String) -> Response {
        var headers = securityHeaders
        headers[.contentType] = type
        headers[.cacheControl] = "max-age=300"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func plain(_ status: HTTPResponse.Status, _ text: String) -> Response {
        var headers = securityHeaders
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
    }

    /// 303 See Other to `path` (a console path), with a flash code.
    static func redirect(_ path: String, flash: String? = nil) -> Response {
        var location = path
        if let flash, flashes[flash] != nil {
            location += (path.contains("?") ? "&" : "?") + "done=" + ConsoleFormat.segment(flash)
        }
        var headers = securityHeaders
        headers[.location] = location
        return Response(status: .seeOther, headers: headers)
    }

    static func crossOrigin(_ request: Request) -> String? {
        ConsoleSession.crossOriginRefusal(
            origin: request.headers[.origin], referer: request.headers[.referer], host: request.head.authority)
    }

    static func uuid(_ context: APIContext) throws -> UUID {
        let text = try context.parameters.require("id")
        guard let id = UUID(uuidString: text) else { throw APIFailure(.invalid, "id must be a UUID, got \(text)") }
        return id
    }

    static func failure(_ error: any Error) -> APIFailure {
        if let p = error as? Problem {
            return APIFailure(p.status == .contentTooLarge ? .tooLarge : .invalid, p.detail, hint: p.hint)
        }
        if error is DecodingError {
            return APIFailure(.internalError, "the database answered in a shape the console does not read")
        }
        return APIFailure.from(error)
    }

    /// A failure as one line for the page: the database's message, and its hint when it gave one.
    static func refusal(_ error: any Error) -> String {
        let f = failure(error)
        return f.hint.map { "\(f.message) — \($0)" } ?? f.message
    }
}

/// HTTPTypes' field names (Hummingbird re-exports HTTPFields but not the name's type by its own name).
typealias FieldName = HTTPFields.Element.Name

/// A console form's fields (application/x-www-form-urlencoded); each POST uses some of them.
struct ConsoleForm: Decodable, Sendable {
    var csrf: String?
    var status: String?
    var notes: String?
    var `return`: String?
    var token: String?

    static func read(_ request: Request) async throws -> ConsoleForm {
        var request = request
        let body = try await APIRoutes.body(&request, limit: 64 * 1024)
        do {
            return try URLEncodedFormDecoder().decode(ConsoleForm.self, from: body)
        } catch {
            throw APIFailure(.invalid, "the form could not be read: \(error)")
        }
    }

    /// The status and notes of a status change (empty is none); one of them is needed.
    func change() throws -> (status: String?, notes: String?) {
        let s = status.nonEmpty, n = notes.nonEmpty
        guard s != nil || n != nil else { throw APIFailure(.invalid, "choose a status, or write notes to save") }
        return (s, n)
    }

    /// Where to go back to: a console path from the form, else `fallback` (never another site).
    func returnPath(default fallback: String) -> String {
        guard let path = self.return, path.hasPrefix("/console"), !path.hasPrefix("//"),
            path.utf8.count < 300,
            path.unicodeScalars.allSatisfy({ CharacterSet.urlPathAllowed.contains($0) })
        else { return fallback }
        return path
    }
}

extension Optional where Wrapped == String {
    /// The text, trimmed, unless it is missing or blank.
    var nonEmpty: String? {
        guard let t = self?.trimmingCharacters(in: .whitespacesAndNewlines), !t.isEmpty else { return nil }
        return t
    }
}
