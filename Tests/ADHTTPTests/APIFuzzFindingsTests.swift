import ADCore
import ADDBTestSupport
import Foundation
import Testing

/// What schemathesis (and adworker bench's HTTP figure) found against api/openapi.yaml, each fixed in the server,
/// kept as plain requests so a change that brings one back fails here, whether or not the Python tools are installed.
@Suite(.tags(.database)) struct APIFuzzFindingsTests {
    @Test func eachFindingStaysFixed() async throws {
        try await withAPIWorker { api in
            // A time before 1582 was read on the Julian calendar: a training window from 0001-01-01T00:00:00Z was
            // stored two days early, and the registry showed it as "0001-12-30T00:00:00+00:00 BC".
            try await insertPoints(api.url, from: 0, count: 10)
            let train = try await api.send(
                "POST", "/v1/models/train", as: "ad_scientist",
                body:
                    #"{"algorithm": "pca", "source": "src-a", "train_from": "0001-01-01T00:00:00Z", "train_to": "2026-01-02T01:00:00+01:00"}"#
            )
            #expect(train.status == 201, "\(train.text)")
            let model = try train.json()
            #expect(model["train_from"] == .string("0001-01-01T00:00:00+00:00"))
            #expect(model["train_to"] == .string("2026-01-02T00:00:00+00:00"))
            let early = try await api.send(
                "GET", "/v1/anomalies?since=0001-01-01T00:00:00%2B00:30", as: "ad_reader")
            #expect(early.status == 400 && early.text.contains("years 1 to 9999"), "\(early.text)")

            // A served path asked with another method was 404 (as if it were not there): now 405 with Allow.
            for (method, path, allow) in [
                ("DELETE", "/v1/me", "GET"), ("PUT", "/v1/alerts/00000000-0000-0000-0000-000000000001", "GET, PATCH"),
                ("GET", "/v1/sources/src-a/points", "POST"), ("POST", "/healthz", "GET"),
            ] {
                let r = try await api.send(method, path, as: "ad_operator")
                #expect(r.status == 405, "\(method) \(path): \(r.status) \(r.text)")
                #expect(r.header("Allow") == allow, "\(method) \(path)")
                #expect(r.header("Content-Type") == "application/problem+json")
            }
            #expect(try await api.send("GET", "/v1/nothing", as: "ad_operator").status == 404)

            // Without a token, a series with a bad window and a PATCH with a bad body answered 400: the missing
            // token comes first.
            let series = try await api.send(
                "GET", "/v1/sources/src-a/series?from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", as: nil)
            #expect(series.status == 401, "\(series.text)")
            let patch = try await api.send(
                "PATCH", "/v1/alerts/00000000-0000-0000-0000-000000000001", as: nil, body: "{}")
            #expect(patch.status == 401, "\(patch.text)")

            // A source named by its id in upper case (as Swift's UUID prints it) was not found (adworker bench).
            let upper = "00000000-0000-0000-0000-00000000000A"
            let ingest = try await api.send(
                "POST", "/v1/sources/\(upper)/points", as: "ad_ingest",
                body: #"{"timestamp": "2026-01-01T00:00:30Z", "values": {"x": 1}}"#)
            #expect(ingest.status == 202, "\(ingest.text)")
            #expect(try await api.send("GET", "/v1/sources/\(upper)/series", as: "ad_reader").status == 200)

            // A status or severity filter outside the CHECK constraint's values matched nothing, silently.
            let typo = try await api.send("GET", "/v1/alerts?status=acknowleged", as: "ad_reader")
            #expect(typo.status == 400 && typo.text.contains("acknowleged"), "\(typo.text)")
            #expect(try await api.send("GET", "/v1/anomalies?severity=", as: "ad_reader").status == 400)
            #expect(
                try await api.send("GET", "/v1/anomalies?status=false_positive,detected", as: "ad_reader").status == 200
            )
        }
    }
}
