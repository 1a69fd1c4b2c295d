import ADCore
import ADPostgres
import Foundation
import PostgresNIO

/// A worker with its HTTP API on a free loopback port, against a migrated scratch database (from
/// `withWorkerDatabase`: source src-a), with the group roles created, a login for the API (a member of ad_api,
/// dropped afterwards: roles are cluster-wide), a person for each kind of user, and a token for each role.
public struct APITestEnvironment: Sendable {
    public let url: DatabaseURL
    public let worker: WorkerProcess
    public let port: Int
    /// Token by role: ad_ingest, ad_reader, ad_operator, ad_scientist.
    public let tokens: [String: String]
    /// The person each role's token is attributed to (ad.users name); ad_ingest's has none.
    public static let people = [
        "ad_operator": "Olga Operator", "ad_scientist": "Sam Scientist", "ad_reader": "Rita Reader",
    ]

    public func url(_ path: String) -> URL { URL(string: "http://127.0.0.1:\(port)\(path)")! }

    public func token(_ role: String) -> String { tokens[role]! }

    /// One request with `role`'s token (no Authorization header when `role` is nil).
    public func send(
        _ method: String, _ path: String, as role: String?, body: String? = nil,
        contentType: String = "application/json", headers: [String: String] = [:], timeout: TimeInterval = 60
    ) async throws -> HTTPResponse {
        var h = headers
        if let role { h["Authorization"] = "Bearer \(token(role))" }
        if body != nil { h["Content-Type"] = contentType }
        return try await TestHTTP.send(
            method, url(path), headers: h, body: body.map { Data($0.utf8) }, timeout: timeout)
    }
}

/// Runs `body` with an API worker (see `APITestEnvironment`); `environment` adds to the worker's.
public func withAPIWorker<T: Sendable>(
    environment: [String: String] = [:], _ body: (APITestEnvironment) async throws -> T
) async throws -> T {
    try await withWorkerDatabase { url in
        try await sql(url, "SELECT ad.create_roles()")
        let login = "api_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        try await sql(url, "CREATE ROLE \(login) LOGIN IN ROLE ad_api")
        do {
            try await sql(
                url,
                """
                INSERT INTO ad.users (name, email) VALUES
                  ('Olga Operator', 'olga@example.com'), ('Sam Scientist', 'sam@example.com'),
                  ('Rita Reader', 'rita@example.com')
                """)
            var tokens: [String: String] = [:]
            for (role, person) in [
                ("ad_operator", "'olga@example.com'"), ("ad_scientist", "'sam@example.com'"),
                ("ad_reader", "'rita@example.com'"), ("ad_ingest", "NULL"),
            ] {
                tokens[role] = try await strings(
                    url, "SELECT ad.issue_api_token('\(role)-token', '\(role)', \(person))"
                ).first
            }
            let port = try freeLoopbackPort()
            var env = environment
            env["AD_HTTP_LISTEN"] = "127.0.0.1:\(port)"
            env["AD_HTTP_DATABASE_URL"] = url.with(username: String(login)).text
            let worker = try WorkerProcess(url, name: "api", environment: env)
            let api = APITestEnvironment(url: url, worker: worker, port: port, tokens: tokens)
            // Up when /healthz answers.
            var up = false
            for _ in 0..<600 where !up {
                up = (try? await TestHTTP.send("GET", api.url("/healthz"), timeout: 2))?.status == 200
                if !up {
                    guard worker.process.isRunning else { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            guard up else {
                let output = worker.output
                await worker.stop()
                throw SQLFailure(description: "the API did not come up on port \(port):\n\(output)")
            }
            let result: T
            do {
                result = try await body(api)
            } catch {
                await worker.stop()
                throw error
            }
            await worker.stop()
            try await dropLogin(String(login), url)
            return result
        } catch {
            try? await dropLogin(String(login), url)
            throw error
        }
    }
}

private func dropLogin(_ login: String, _ url: DatabaseURL) async throws {
    // The scratch database is dropped after; its grants must go first or DROP ROLE fails.
    try await sql(url, "DROP OWNED BY \(login)")
    try await sql(url, "DROP ROLE IF EXISTS \(login)")
}
