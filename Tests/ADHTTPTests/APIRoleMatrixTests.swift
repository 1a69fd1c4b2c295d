import ADCore
import ADDBTestSupport
import ADPostgres
import Foundation
import Testing

@testable import ADHTTP

/// Every endpoint as every kind of caller: a token of each role, and no token, an unknown token, a revoked token and
/// an expired one. The expected answer is sql/130_roles.sql's privilege matrix: each request runs as its token's
/// role, so an endpoint is allowed exactly when that role may run its SQL in psql, and refused (403) otherwise; a
/// caller without a valid token is 401 everywhere but /healthz. One worker for the whole matrix.
@Suite(.tags(.database)) struct APIRoleMatrixTests {
    static let roles = ["ad_ingest", "ad_reader", "ad_operator", "ad_scientist"]

    struct Endpoint {
        let method: String
        let path: String
        var body: String? = nil
        var contentType = "application/json"
        /// The roles that may; nil: anyone, even without a token.
        let allowed: Set<String>?
        let success: Int
    }

    @Test func eachRoleGetsExactlyWhatItsPrivilegesAllow() async throws {
        try await withAPIWorker { api in
            let ids = try await Self.seed(api.url)
            // The callers without a valid token: unknown, revoked, expired (an operator's, the strongest role).
            let unknown = "adt_" + String(repeating: "0", count: 64)
            let revoked = try #require(
                try await strings(api.url, "SELECT ad.issue_api_token('revoked', 'ad_operator', 'olga@example.com')")
                    .first)
            try await sql(api.url, "SELECT ad.revoke_api_token('revoked')")
            let expired = try #require(
                try await strings(
                    api.url, "SELECT ad.issue_api_token('expired', 'ad_operator', 'olga@example.com', '1 hour')"
                ).first)
            try await sql(
                api.url, "UPDATE ad.api_tokens SET expires_at = now() - interval '1 second' WHERE name = 'expired'")

            let point = #"{"timestamp": "2026-01-01T00:00:00Z", "values": {"x": 1}}"#
            let change = #"{"status": "acknowledged", "notes": "matrix"}"#
            let train =
                #"{"algorithm": "isolation_forest", "source": "src-a", "train_from": "2026-01-01T00:00:00Z", "train_to": "2026-01-02T00:00:00Z"}"#
            let readers: Set<String> = ["ad_reader", "ad_operator", "ad_scientist"]
            let endpoints = [
                Endpoint(method: "GET", path: "/healthz", allowed: nil, success: 200),
                Endpoint(method: "GET", path: "/readyz", allowed: nil, success: 200),
                Endpoint(method: "GET", path: "/v1/me", allowed: Set(Self.roles), success: 200),
                Endpoint(
                    method: "POST", path: "/v1/sources/src-a/points", body: point, allowed: ["ad_ingest"],
                    success: 202),
                Endpoint(method: "GET", path: "/v1/sources/src-a/series", allowed: readers, success: 200),
                Endpoint(method: "GET", path: "/v1/alerts", allowed: readers, success: 200),
                Endpoint(method: "GET", path: "/v1/alerts/\(ids.alert)", allowed: readers, success: 200),
                Endpoint(
                    method: "PATCH", path: "/v1/alerts/\(ids.alert)", body: change, allowed: ["ad_operator"],
                    success: 200),
                Endpoint(method: "GET", path: "/v1/alerts/\(ids.alert)/audit", allowed: ["ad_operator"], success: 200),
                Endpoint(method: "GET", path: "/v1/anomalies", allowed: readers, success: 200),
                Endpoint(method: "GET", path: "/v1/anomalies/\(ids.anomaly)", allowed: readers, success: 200),
                Endpoint(
                    method: "PATCH", path: "/v1/anomalies/\(ids.anomaly)", body: change, allowed: ["ad_operator"],
                    success: 200),
                Endpoint(
                    method: "POST", path: "/v1/models/train", body: train, allowed: ["ad_scientist"], success: 201),
                Endpoint(method: "GET", path: "/v1/models/\(ids.model)", allowed: readers, success: 200),
            ]
            // Every operation the API serves is in the matrix.
            #expect(
                Set(endpoints.map { "\($0.method) \(Self.template($0.path, ids))" })
                    == Set(APIRoutes.operations))

            var callers: [(name: String, authorization: String?)] = Self.roles.map {
                ($0, "Bearer \(api.token($0))")
            }
            callers += [
                ("no token", nil), ("unknown token", "Bearer \(unknown)"), ("revoked token", "Bearer \(revoked)"),
                ("expired token", "Bearer \(expired)"), ("not a bearer", "Basic \(api.token("ad_operator"))"),
            ]
            var wrong: [String] = []
            for e in endpoints {
                for (caller, authorization) in callers {
                    var headers: [String: String] = [:]
                    if let authorization { headers["Authorization"] = authorization }
                    if e.body != nil { headers["Content-Type"] = e.contentType }
                    let r = try await TestHTTP.send(
                        e.method, api.url(e.path), headers: headers, body: e.body.map { Data($0.utf8) }, timeout: 60)
                    let expected: Int
                    if let allowed = e.allowed {
                        expected = Self.roles.contains(caller) ? (allowed.contains(caller) ? e.success : 403) : 401
                    } else {
                        expected = e.success
                    }
                    if r.status != expected {
                        wrong.append("\(e.method) \(e.path) as \(caller): \(r.status), expected \(expected): \(r.text)")
                    }
                    if r.status >= 400 {
                        if r.header("Content-Type") != "application/problem+json" {
                            wrong.append("\(e.method) \(e.path) as \(caller): \(r.status) without a problem document")
                        }
                        if r.status == 401 && r.header("WWW-Authenticate") != "Bearer realm=\"adworker\"" {
                            wrong.append("\(e.method) \(e.path) as \(caller): 401 without WWW-Authenticate")
                        }
                    }
                }
            }
            #expect(
                wrong.isEmpty, "\(wrong.count) answers not as the privileges say:\n\(wrong.joined(separator: "\n"))")

            // What the allowed calls did is attributed to the token's person, and nothing refused left a trace:
            // one acknowledgement of each (by Olga Operator), one point, one training job.
            #expect(
                try await strings(
                    api.url,
                    """
                    SELECT o.status || ' ' || o.acknowledged_by FROM ad.alert_overview o
                     WHERE o.alert_id = '\(ids.alert)'
                    """) == ["acknowledged Olga Operator"])
            #expect(try await integer(api.url, "SELECT count(*) FROM ad.data_points") == 1)
            #expect(
                try await integer(api.url, "SELECT count(*) FROM ad.ml_models WHERE algorithm = 'isolation_forest'")
                    == 1)
        }
    }

    /// `path` with the seeded ids put back as the document's templates.
    static func template(_ path: String, _ ids: (alert: String, anomaly: String, model: String)) -> String {
        path.replacingOccurrences(of: ids.alert, with: "{id}").replacingOccurrences(of: ids.anomaly, with: "{id}")
            .replacingOccurrences(of: ids.model, with: "{id}").replacingOccurrences(of: "src-a", with: "{source}")
    }

    /// One anomaly with an alert on it (as scoring would open them), and the built-in model's id.
    static func seed(_ url: DatabaseURL) async throws -> (alert: String, anomaly: String, model: String) {
        try await sql(url, "INSERT INTO ad.alert_rules (name) VALUES ('matrix-rule')")
        let anomaly = try #require(
            try await strings(
                url,
                """
                INSERT INTO ad.anomalies (data_point_id, point_timestamp, source_id, metric, detector, severity, score,
                                          explanation)
                VALUES (gen_random_uuid(), '2026-01-01 00:05:00+00', '00000000-0000-0000-0000-00000000000a', 'x',
                        'robust', 'high', 0.99, '{"actual": 100, "expected": 10, "expected_range": [5, 15]}')
                RETURNING id::text
                """
            ).first)
        let alert = try #require(
            try await strings(
                url,
                """
                INSERT INTO ad.alerts (rule_id, anomaly_id, anomaly_timestamp, source_id, metric, severity, title, message)
                SELECT r.id, '\(anomaly)', '2026-01-01 00:05:00+00', '00000000-0000-0000-0000-00000000000a', 'x',
                       'high', 'x is high', 'x is 100, expected 10'
                  FROM ad.alert_rules r WHERE r.name = 'matrix-rule'
                RETURNING id::text
                """
            ).first)
        let model = try #require(try await strings(url, "SELECT id::text FROM ad.model_registry LIMIT 1").first)
        return (alert, anomaly, model)
    }
}
