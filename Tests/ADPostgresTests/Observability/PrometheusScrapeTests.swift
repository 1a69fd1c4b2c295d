import ADCore
import ADDBTestSupport
import ADPostgres
import ADTestSupport
import Foundation
import Testing

/// A real worker with AD_METRICS_LISTEN, scraped by a real Prometheus (Debian's, on loopback): after a scored spike
/// the series are read back through Prometheus's HTTP API. Every wait is "eventually" with a generous deadline.
@Suite(
    .tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"),
    .enabled(
        if: PrometheusProcess.isInstalled,
        "needs /usr/bin/prometheus: apt-get install prometheus (scripts/lib/deps.sh test installs it)")
)
struct PrometheusScrapesTheWorker {
    @Test func theSeriesOfAScoredSpikeReachPrometheusAndReadyzFollowsTheSchema() async throws {
        try await withWorkerDatabase { url in
            let port = try freeLoopbackPort()
            let worker = try WorkerProcess(
                url, name: "scraped",
                environment: [
                    "AD_METRICS_LISTEN": "127.0.0.1:\(port)", "AD_METRICS_REFRESH": "1", "AD_POLL_INTERVAL": "0.2",
                ])
            let base = "http://127.0.0.1:\(port)"
            func get(_ path: String) async -> HTTPResponse? {
                try? await TestHTTP.send("GET", URL(string: base + path)!, timeout: 5)
            }
            let ready = try await eventually(timeout: .seconds(120)) { await get("/readyz")?.status == 200 }
            let readyz = await get("/readyz")?.text ?? "no answer"
            #expect(ready, "never ready: \(readyz); worker: \(worker.output)")
            let healthz = await get("/healthz")?.text
            #expect(healthz == "ok\n")
            let metrics = await get("/metrics")
            #expect(metrics?.header("content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(metrics?.text.contains("ad_build_info{version=\"\(Migrator.bundledVersion)\"} 1") == true)
            let nothing = await get("/nothing")?.status
            #expect(nothing == 404)

            let prometheus = PrometheusProcess()
            defer { prometheus.stop() }
            try await prometheus.start(targets: ["127.0.0.1:\(port)"])

            // 40 ordinary points and a spike.
            try await insertPoints(url, from: 0, count: 40, value: "50 + (g % 5)")
            try await insertPoints(url, from: 40, count: 1, value: "500")
            #expect(
                try await eventually(timeout: .seconds(120)) {
                    let unscored = try await integer(
                        url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NULL")
                    let anomalies = try await integer(url, "SELECT count(*) FROM ad.anomalies")
                    return unscored == 0 && anomalies >= 1
                }, "the spike was not scored: \(worker.output)")
            let severity = try #require(
                try await strings(url, "SELECT severity FROM ad.anomalies ORDER BY score DESC LIMIT 1").first)

            func value(_ promql: String) async -> Double? {
                (try? await prometheus.query(promql))?.first?.value
            }
            let expectations: [(String, (Double) -> Bool)] = [
                (#"up{job="adworker"}"#, { $0 == 1 }),
                ("ad_points_scored_total", { $0 == 41 }),
                (#"ad_anomalies_total{severity="\#(severity)"}"#, { $0 >= 1 }),
                ("ad_scoring_batches_total", { $0 >= 1 }),
                (#"ad_scoring_batch_duration_seconds_count{phase="total"}"#, { $0 >= 1 }),
                (#"ad_scoring_batch_duration_seconds_count{phase="claim"}"#, { $0 >= 1 }),
                ("ad_listener_connected", { $0 == 1 }),
                ("ad_unscored_points", { $0 == 0 }),
                ("ad_quarantined_points", { $0 == 0 }),
                ("ad_ready", { $0 == 1 }),
                ("ad_history_cache_series", { $0 >= 1 }),
                (#"ad_build_info{version="\#(Migrator.bundledVersion)"}"#, { $0 == 1 }),
            ]
            for (promql, ok) in expectations {
                let reached = try await eventually(timeout: .seconds(120)) { await value(promql).map(ok) ?? false }
                let last = await value(promql)
                #expect(reached, "\(promql) = \(String(describing: last)); prometheus: \(prometheus.output)")
            }

            // A schema newer than this binary: /readyz answers 503 and says so, and ad_ready reaches Prometheus as 0.
            try await sql(
                url, "INSERT INTO ad_internal.schema_migrations (version, installer) VALUES ('9.9.9', 'migrate')")
            let notReady = try await eventually(timeout: .seconds(60)) { await get("/readyz")?.status == 503 }
            #expect(notReady, "still ready with schema 9.9.9")
            let body = await get("/readyz")?.text ?? ""
            #expect(body.contains("9.9.9") && body.contains("\"schema_ok\":false"), "\(body)")
            let zero = try await eventually(timeout: .seconds(120)) { await value("ad_ready") == 0 }
            let adReady = await value("ad_ready")
            #expect(zero, "ad_ready = \(String(describing: adReady))")
            try await sql(url, "DELETE FROM ad_internal.schema_migrations WHERE version = '9.9.9'")
            let readyAgain = try await eventually(timeout: .seconds(60)) { await get("/readyz")?.status == 200 }
            #expect(readyAgain)
            await worker.stop()
        }
    }
}
