import ADCore
import ADDBTestSupport
import ADPostgres
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Points every minute of 2026-01-01 from `start`, as NDJSON lines, value = f(minute).
func ndjson(from start: Int, count: Int, _ value: (Int) -> String) -> String {
    (start..<(start + count)).map { m in
        let t = String(format: "2026-01-01T%02d:%02d:00Z", m / 60, m % 60)
        return "{\"timestamp\":\"\(t)\",\"values\":{\"x\":\(value(m))}}"
    }.joined(separator: "\n")
}

/// received, accepted, duplicates of an ingest answer.
func counts(_ r: HTTPResponse) throws -> [Double] {
    let j = try r.json()
    return ["received", "accepted", "duplicates"].map { k in
        if case .number(let n)? = j[k] { return n }
        return -1
    }
}

/// Delivery settings that make polls and retries quick enough for tests.
let quickDelivery = [
    "AD_POLL_INTERVAL": "0.2", "AD_DELIVERY_POLL": "0.1", "AD_DELIVERY_BACKOFF_BASE": "0.2",
    "AD_DELIVERY_BACKOFF_CAP": "0.5",
]

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"), .serialized)
struct APIFlowTests {
    /// The seed's flows through the HTTP doors, with the real worker and real receivers: a loader pushes points, the
    /// worker scores them and raises an alert that reaches PagerDuty and a webhook; the operator acknowledges it
    /// with PATCH, the receivers hear it, and the audit log names the token's person.
    @Test func pushScoreAlertAcknowledgeOverHTTP() async throws {
        let receiver = HTTPReceiver()
        try receiver.start(secrets: ["hook": "s3cret"])
        defer { receiver.stop() }
        try await withAPIWorker(environment: quickDelivery) { api in
            for statement in [
                "INSERT INTO ad_internal.outbound_allowlist (network, note) VALUES ('127.0.0.0/8', 'test receivers')",
                """
                INSERT INTO ad.channels (name, type, target) VALUES
                    ('hook', 'webhook', '\(receiver.url("/webhook/hook"))'),
                    ('pager', 'pagerduty', '\(receiver.url("/pagerduty/v2/enqueue"))')
                """,
                "SELECT ad.set_channel_secret('hook', 's3cret'), ad.set_channel_secret('pager', 'R0UT1NGKEY0123456789ABCDEFGHIJKL')",
                #"INSERT INTO ad.alert_rules (name, conditions) VALUES ('r', '{"min_severity": "low", "metrics": ["x"]}')"#,
                "SELECT ad.add_rule_channel('r', c) FROM unnest(ARRAY['hook', 'pager']) c",
            ] {
                try await sql(api.url, statement)
            }
            // 40 ordinary points as NDJSON: 202 only once they are committed, so the database has them all.
            let history = try await api.send(
                "POST", "/v1/sources/src-a/points", as: "ad_ingest",
                body: ndjson(from: 0, count: 40) { "\(50 + $0 % 5)" },
                contentType: "application/x-ndjson")
            #expect(history.status == 202, "\(history.text)")
            #expect(try counts(history) == [40, 40, 0])
            #expect(try await integer(api.url, "SELECT count(*) FROM ad.data_points") == 40)
            // Re-sending the same points changes nothing and says so.
            let again = try await api.send(
                "POST", "/v1/sources/src-a/points", as: "ad_ingest",
                body: ndjson(from: 38, count: 2) { "\(50 + $0 % 5)" },
                contentType: "application/x-ndjson")
            #expect(try counts(again) == [2, 0, 2])

            // The spike, as one JSON point.
            let spike = try await api.send(
                "POST", "/v1/sources/src-a/points", as: "ad_ingest",
                body: #"{"timestamp": "2026-01-01T00:40:00Z", "values": {"x": 500}}"#)
            #expect(spike.status == 202, "\(spike.text)")
            let triggers = try await receiver.waitForRecords(2, timeout: .seconds(120))
            #expect(triggers.allSatisfy { $0.verdict == .ok }, "\(triggers.map(\.reasons))\n\(api.worker.output)")

            // The operator finds it through the API: the open alert and its anomaly.
            let list = try await api.send("GET", "/v1/alerts?status=pending,sent&source=src-a", as: "ad_operator")
            #expect(list.status == 200, "\(list.text)")
            guard case .array(let items)? = try list.json()["items"], items.count == 1,
                case .string(let alertID)? = items[0]["alert_id"], case .string(let anomalyID)? = items[0]["anomaly_id"]
            else {
                Issue.record("no open alert in \(list.text)")
                return
            }
            let anomaly = try await api.send("GET", "/v1/anomalies/\(anomalyID)", as: "ad_reader")
            #expect(try anomaly.json()["actual"] == .number(500))
            #expect(
                try await eventually {
                    try await integer(
                        api.url, "SELECT count(*) FROM ad.alert_deliveries WHERE kind = 'trigger' AND status = 'sent'")
                        == 2
                })

            // PATCH acknowledge, as Olga's token: the same state machine, the receivers told, the audit names her.
            let ack = try await api.send(
                "PATCH", "/v1/alerts/\(alertID)", as: "ad_operator",
                body: #"{"status": "acknowledged", "notes": "on it"}"#)
            #expect(ack.status == 200, "\(ack.text)")
            #expect(try ack.json()["status"] == .string("acknowledged"))
            #expect(try ack.json()["acknowledged_by"] == .string("Olga Operator"))
            let told = try await receiver.waitForRecords(4, timeout: .seconds(120))
            #expect(Set(told.dropFirst(2).map(\.path)) == ["/webhook/hook", "/pagerduty/v2/enqueue"])
            #expect(
                told.dropFirst(2).first { $0.path.hasPrefix("/pagerduty") }?.json["event_action"]
                    == .string("acknowledge"))
            #expect(
                try await strings(
                    api.url,
                    """
                    SELECT l.new_value->>'status' || ' by ' || u.name || ' via ' || l.db_role
                      FROM ad.audit_log l JOIN ad.users u ON u.id = l.user_id
                     WHERE l.entity = 'alert' AND l.action = 'status_change' AND l.new_value->>'status' = 'acknowledged'
                    """
                ).first?.hasPrefix("acknowledged by Olga Operator via api_") == true)
            let audit = try await api.send("GET", "/v1/alerts/\(alertID)/audit", as: "ad_operator")
            #expect(audit.text.contains("Olga Operator"), "\(audit.text)")

            // The anomaly judged a false positive; the alert resolved; then a state the machine does not allow
            // (resolved is final) is the trigger's refusal, as 409 with its words.
            let judged = try await api.send(
                "PATCH", "/v1/anomalies/\(anomalyID)", as: "ad_operator", body: #"{"status": "false_positive"}"#)
            #expect(judged.status == 200, "\(judged.text)")
            #expect(try judged.json()["status"] == .string("false_positive"))
            let resolved = try await api.send(
                "PATCH", "/v1/alerts/\(alertID)", as: "ad_operator", body: #"{"status": "resolved"}"#)
            #expect(try resolved.json()["resolved_by"] == .string("Olga Operator"), "\(resolved.text)")
            let reopen = try await api.send(
                "PATCH", "/v1/alerts/\(alertID)", as: "ad_operator", body: #"{"status": "acknowledged"}"#)
            #expect(reopen.status == 409, "\(reopen.text)")
            #expect(reopen.text.contains("cannot go from resolved to acknowledged"), "\(reopen.text)")
            // A reader may look but not act: the database's own refusal.
            let readerAck = try await api.send(
                "PATCH", "/v1/alerts/\(alertID)", as: "ad_reader", body: #"{"status": "resolved"}"#)
            #expect(readerAck.status == 403, "\(readerAck.text)")
            #expect(readerAck.header("content-type") == "application/problem+json")
        }
    }

    /// A bad point fails its batch with the door's own message and the point's place; nothing of the batch is kept.
    @Test func aBadPointFailsItsBatchNamingIndexLineAndReason() async throws {
        try await withAPIWorker { api in
            var lines = ndjson(from: 0, count: 10) { "\($0)" }.split(separator: "\n").map(String.init)
            lines[7] = #"{"timestamp": "2026-01-01T00:07:00Z", "values": {"x": "high"}}"#
            let r = try await api.send(
                "POST", "/v1/sources/src-a/points", as: "ad_ingest", body: lines.joined(separator: "\n"),
                contentType: "application/x-ndjson")
            #expect(r.status == 400)
            let p = try r.json()
            #expect(p["index"] == .number(7))
            #expect(p["line"] == .number(8))
            #expect(
                "\(p["detail"] ?? .null)".contains(#"metric \"x\" must be a finite number, got string \"high\""#),
                "\(r.text)")
            #expect(try await integer(api.url, "SELECT count(*) FROM ad.data_points") == 0)

            // A JSON array: the bad point is found by its index (the search counts the array's elements first).
            let array = try await api.send(
                "POST", "/v1/sources/src-a/points", as: "ad_ingest",
                body: #"[{"timestamp": "2026-01-01T00:00:00Z", "values": {"x": 1}}, "#
                    + #"{"timestamp": "2026-01-01T00:01:00Z", "values": {"x": 2}}, "#
                    + #"{"timestamp": "2026-01-01T00:02:00Z", "values": {"x": null}}]"#)
            #expect(array.status == 400)
            #expect(try array.json()["index"] == .number(2), "\(array.text)")
            #expect(try array.json()["line"] == nil)

            let csv = "timestamp,x\n2026-01-01T00:00:00Z,1\nyesterday,2\n"
            let c = try await api.send(
                "POST", "/v1/sources/src-a/points", as: "ad_ingest", body: csv, contentType: "text/csv")
            #expect(c.status == 400)
            #expect(try c.json()["line"] == .number(3), "\(c.text)")
            #expect(c.text.contains("RFC 3339"), "\(c.text)")

            let missing = try await api.send(
                "POST", "/v1/sources/nope/points", as: "ad_ingest", body: #"{"timestamp": "2026-01-01T00:00:00Z"}"#)
            #expect(missing.status == 404, "\(missing.text)")
            let noToken = try await api.send("GET", "/v1/alerts", as: nil)
            #expect(noToken.status == 401)
            #expect(noToken.header("www-authenticate")?.hasPrefix("Bearer") == true)
        }
    }

    /// Lists page by keyset cursors: every anomaly once, newest first, whatever the page size; a cursor this API
    /// did not give is a 400, not a crash or an empty page.
    @Test func listsPageThroughEveryRowOnceWithCursors() async throws {
        try await withAPIWorker { api in
            try await sql(
                api.url,
                """
                INSERT INTO ad.anomalies (data_point_id, point_timestamp, source_id, metric, detector, severity, score, explanation)
                SELECT gen_random_uuid(), timestamptz '2026-01-01' + (g / 2) * interval '1 minute',
                       '00000000-0000-0000-0000-00000000000a', 'm' || g, 'd' || (g % 2), 'high', 0.9, '{}'
                  FROM generate_series(1, 7) g
                """)
            var seen: [String] = []
            var path = "/v1/anomalies?limit=3&source=src-a"
            var pages = 0
            while pages < 10 {
                pages += 1
                let r = try await api.send("GET", path, as: "ad_reader")
                #expect(r.status == 200, "\(r.text)")
                guard case .array(let items)? = try r.json()["items"] else { break }
                for item in items { if case .string(let id)? = item["anomaly_id"] { seen.append(id) } }
                guard case .string(let cursor)? = try r.json()["next_cursor"] else { break }
                path = "/v1/anomalies?limit=3&source=src-a&cursor=\(cursor)"
            }
            #expect(pages == 3)
            #expect(seen.count == 7 && Set(seen).count == 7)
            let expected = try await strings(
                api.url, "SELECT id::text FROM ad.anomalies ORDER BY point_timestamp DESC, id DESC")
            #expect(seen == expected)
            let bad = try await api.send("GET", "/v1/anomalies?cursor=not-a-cursor", as: "ad_reader")
            #expect(bad.status == 400, "\(bad.text)")
            let badLimit = try await api.send("GET", "/v1/anomalies?limit=0", as: "ad_reader")
            #expect(badLimit.status == 400, "\(badLimit.text)")
        }
    }

    /// A database the API cannot reach answers 503 with Retry-After within the connect timeout, instead of keeping
    /// the request waiting for as long as the database stays away.
    @Test func anUnreachableDatabaseIs503NotAHang() async throws {
        try await withWorkerDatabase { url in
            let port = try freeLoopbackPort()
            let unreachable = try freeLoopbackPort()  // nothing listens there
            let worker = try WorkerProcess(
                url, name: "api-down",
                environment: [
                    "AD_HTTP_LISTEN": "127.0.0.1:\(port)",
                    "AD_HTTP_DATABASE_URL":
                        "postgres://nobody@127.0.0.1:\(unreachable)/x?sslmode=disable&connect_timeout=2",
                ])
            var up = false
            for _ in 0..<600 where !up {
                up =
                    (try? await TestHTTP.send("GET", URL(string: "http://127.0.0.1:\(port)/healthz")!, timeout: 2))?
                    .status == 200
                if !up { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(up, "\(worker.output)")
            // One request: before the lease timeout, it waited as long as the database stayed away (this bound is
            // only there so a regression fails instead of hanging the suite).
            let answer = try? await TestHTTP.send(
                "GET", URL(string: "http://127.0.0.1:\(port)/v1/me")!, headers: ["Authorization": "Bearer adt_x"],
                timeout: 300)
            #expect(answer?.status == 503, "\(answer?.text ?? "no answer")\n\(worker.output)")
            #expect(answer?.header("retry-after") == "5")
            #expect(answer?.header("content-type") == "application/problem+json")
            await worker.stop()
        }
    }

    /// A request never waits for another's lock on its token's row: last_used_at is written at most once a minute
    /// and skipped when locked. (A plain UPDATE made every request with the token queue behind the one that held it:
    /// with a 1 s lock timeout, 503.)
    @Test func aTokenRowLockedElsewhereDoesNotStallItsRequests() async throws {
        try await withAPIWorker(environment: ["AD_LOCK_TIMEOUT": "1"]) { api in
            try await sql(api.url, "UPDATE ad.api_tokens SET last_used_at = now() - interval '1 hour'")
            let admin = api.url
            try await Database.withConnection(admin, logger: TestServer.logger) { held in
                try await held.query("BEGIN", logger: TestServer.logger)
                try await held.query(
                    "SELECT 1 FROM ad.api_tokens WHERE name = 'ad_reader-token' FOR UPDATE", logger: TestServer.logger)
                let r = try await api.send("GET", "/v1/me", as: "ad_reader")
                #expect(r.status == 200, "\(r.text)")
                try await held.query("ROLLBACK", logger: TestServer.logger)
            }
        }
    }

    /// Hostile bodies: a large upload with a bad token is refused before it is read (it was read and parsed, up to
    /// 16 MiB, first); bytes that are not UTF-8 are refused, not repaired into U+FFFD in a stored metric name.
    @Test func hostileBodiesAreRefusedBeforeTheyCost() async throws {
        try await withAPIWorker { api in
            let big = "timestamp,x\n" + String(repeating: "2026-01-01T00:00:00Z,1,2,3\n", count: 80_000)
            var h = ["Authorization": "Bearer adt_" + String(repeating: "0", count: 64), "Content-Type": "text/csv"]
            let r = try await TestHTTP.send(
                "POST", api.url("/v1/sources/src-a/points"), headers: h, body: Data(big.utf8), timeout: 120)
            #expect(r.status == 401, "\(r.text)")
            h["Authorization"] = "Bearer \(api.token("ad_ingest"))"
            h["Content-Type"] = "application/json"
            var bytes = Array(#"{"timestamp": "2026-01-01T00:00:00Z", "values": {"bad"#.utf8)
            bytes += [0xF0, 0x9F, 0x98]
            bytes += Array(#"x": 1}}"#.utf8)
            let u = try await TestHTTP.send(
                "POST", api.url("/v1/sources/src-a/points"), headers: h, body: Data(bytes), timeout: 120)
            #expect(u.status == 400, "\(u.text)")
            #expect(u.text.contains("not UTF-8"))
            #expect(try await integer(api.url, "SELECT count(*) FROM ad.data_points") == 0)
        }
    }

    /// Points requests past AD_HTTP_MAX_UPLOADS are refused at once with 503, so slow or large uploads cannot pile
    /// up bodies in the process; when they end, requests are taken again.
    @Test func uploadsPastTheLimitAre503UntilOthersEnd() async throws {
        try await withAPIWorker(environment: ["AD_HTTP_MAX_UPLOADS": "1"]) { api in
            // An upload that sends its headers and part of its body, then stalls, holding the one place.
            func stall() throws -> Int32 {
                let fd = try rawConnect(port: api.port)
                rawSend(
                    fd,
                    "POST /v1/sources/src-a/points HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                        + "\(api.token("ad_ingest"))\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n{"
                )
                return fd
            }
            var stalled = try stall()
            let point = #"{"timestamp": "2026-01-01T00:00:00Z", "values": {"x": 1}}"#
            // Ask until the answer is 503. A probe that came first takes the place instead, and the stalled upload is
            // the one refused: then stall another.
            var refused: HTTPResponse?
            for _ in 0..<600 where refused == nil {
                if rawPeek(stalled).hasPrefix("HTTP/1.1 503") {
                    close(stalled)
                    stalled = try stall()
                }
                let r = try await api.send("POST", "/v1/sources/src-a/points", as: "ad_ingest", body: point)
                #expect(r.status == 503 || r.status == 202, "\(r.text)")
                if r.status == 503 { refused = r } else { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(
                refused?.text.contains("as many points requests at once as it may (1)") == true,
                "\(refused?.text ?? "")")
            #expect(refused?.header("retry-after") == "5")
            close(stalled)
            var taken = false
            for _ in 0..<600 where !taken {
                taken =
                    try await api.send("POST", "/v1/sources/src-a/points", as: "ad_ingest", body: point).status == 202
                if !taken { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(taken)
        }
    }
}

/// A TCP connection to 127.0.0.1:`port`, for requests a URLSession cannot leave half sent.
func rawConnect(port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw SQLFailure(description: "socket: \(errno)") }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard rc == 0 else {
        close(fd)
        throw SQLFailure(description: "cannot connect to 127.0.0.1:\(port): \(errno)")
    }
    return fd
}

@discardableResult
func rawSend(_ fd: Int32, _ text: String) -> Int {
    let bytes = Array(text.utf8)
    return bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
}

/// What the server has sent on `fd` so far, without waiting.
func rawPeek(_ fd: Int32) -> String {
    var buf = [UInt8](repeating: 0, count: 2000)
    let n = recv(fd, &buf, buf.count, Int32(MSG_DONTWAIT))
    return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : "nothing (\(n))"
}
