import ADPostgres
import Crypto
import Foundation
import Testing

@testable import ADHTTP

/// The console's pure parts: its CSRF tokens and origin check, the chart's band and SVG, the templates' escaping,
/// the feed's frames. The pages against a real worker and browser are ConsoleBrowserTests.
@Suite struct ConsoleTests {
    @Test func csrfTokensBelongToTheirSessionAndKey() {
        let session = ConsoleSession(key: SymmetricKey(size: .bits256))
        let token = session.csrfToken(for: "adt_a")
        #expect(token.count == 64)
        #expect(session.verify(csrf: token, session: "adt_a"))
        #expect(session.verify(csrf: token.uppercased(), session: "adt_a"), "hex either case")
        #expect(!session.verify(csrf: token, session: "adt_b"), "another session's token")
        #expect(!session.verify(csrf: nil, session: "adt_a"))
        #expect(!session.verify(csrf: "", session: "adt_a"))
        #expect(!session.verify(csrf: String(token.dropLast()) + "g", session: "adt_a"), "not hex")
        let other = ConsoleSession(key: SymmetricKey(size: .bits256))
        #expect(!other.verify(csrf: token, session: "adt_a"), "another process's key")
    }

    @Test func onlyTokenShapedCookiesAreRead() {
        #expect(ConsoleSession.isPlausibleToken("adt_" + String(repeating: "0f", count: 32)))
        #expect(!ConsoleSession.isPlausibleToken(""))
        #expect(!ConsoleSession.isPlausibleToken("a;b"))
        #expect(!ConsoleSession.isPlausibleToken("a b"))
        #expect(!ConsoleSession.isPlausibleToken(String(repeating: "a", count: 201)))
    }

    @Test func theCookieIsHttpOnlyStrictAndScopedToTheConsole() {
        let login = ConsoleSession.loginCookie("adt_x", secure: false).description
        #expect(login.contains("ad_console=adt_x"))
        #expect(login.contains("HttpOnly") && login.contains("SameSite=Strict") && login.contains("Path=/console"))
        let logout = ConsoleSession.logoutCookie(secure: false).description
        #expect(logout.contains("ad_console=;") && logout.contains("Max-Age=0"))
    }

    @Test func postsMustComeFromThisOrigin() {
        let host = "127.0.0.1:8080"
        #expect(ConsoleSession.crossOriginRefusal(origin: "http://127.0.0.1:8080", referer: nil, host: host) == nil)
        #expect(ConsoleSession.crossOriginRefusal(origin: "https://127.0.0.1:8080", referer: nil, host: host) == nil)
        #expect(
            ConsoleSession.crossOriginRefusal(origin: nil, referer: "http://127.0.0.1:8080/console", host: host)
                == nil)
        #expect(
            ConsoleSession.crossOriginRefusal(origin: "http://[::1]:8080", referer: nil, host: "[::1]:8080") == nil)
        #expect(
            ConsoleSession.crossOriginRefusal(origin: "http://evil.example", referer: nil, host: host)?.contains(
                "evil.example") == true)
        #expect(ConsoleSession.crossOriginRefusal(origin: "http://127.0.0.1:8081", referer: nil, host: host) != nil)
        #expect(
            ConsoleSession.crossOriginRefusal(origin: "null", referer: "http://evil.example/", host: host) != nil)
        #expect(ConsoleSession.crossOriginRefusal(origin: nil, referer: nil, host: host) != nil)
        #expect(ConsoleSession.crossOriginRefusal(origin: "http://127.0.0.1:8080", referer: nil, host: nil) != nil)
        #expect(ConsoleSession.crossOriginRefusal(origin: "javascript:alert(1)", referer: nil, host: host) != nil)
    }

    @Test func returnPathsStayInTheConsole() {
        func form(_ r: String?) -> ConsoleForm { ConsoleForm(return: r) }
        #expect(form("/console/alerts/x").returnPath(default: "/console") == "/console/alerts/x")
        #expect(form("//evil.example/console").returnPath(default: "/console") == "/console")
        #expect(form("https://evil.example/").returnPath(default: "/console") == "/console")
        #expect(form("/console\r\nSet-Cookie: x").returnPath(default: "/console") == "/console")
        #expect(form(nil).returnPath(default: "/console/tolerances") == "/console/tolerances")
    }

    @Test func theBandIsTheRollingMedianPlusMinusRobustDeviations() throws {
        let values: [Double?] = [10, 10, 12, 8, 10, nil, 11, 100]
        let band = ConsoleChart.band(values, window: 60, width: 3)
        #expect(band.prefix(5).allSatisfy { $0 == nil }, "fewer than 5 values before")
        // Before index 5: 10, 10, 12, 8, 10 → median 10, MAD 0 → 1.2533 × mean |dev| (0.8) = 1.00264.
        let b = try #require(band[5])
        #expect(abs(b.low - (10 - 3 * 1.2533 * 0.8)) < 1e-9 && abs(b.high - (10 + 3 * 1.2533 * 0.8)) < 1e-9)
        // The spike is outside the band drawn for its own point (only earlier values count).
        let last = try #require(band[7])
        #expect(last.high < 100)
        // The window slides.
        let slid = ConsoleChart.band([1, 1, 1, 1, 1, 1, 9, 9, 9, 9, 9, 9], window: 5, width: 3)
        #expect(slid[11] == ConsoleChart.Band(low: 9, high: 9))
    }

    @Test func theChartDrawsValuesBandScoreAndAnomaliesAndEscapesNames() throws {
        var points: [ConsoleSeries.Point] = []
        for i in 0..<30 {
            points.append(
                .init(
                    timestamp: String(format: "2026-01-01T00:%02d:00+00:00", i),
                    values: ["<x>": i == 29 ? 500 : 50 + Double(i % 5)], score: i == 29 ? 0.99 : 0.1))
        }
        let anomaly = ConsoleSeries.Anomaly(
            anomaly_id: UUID(), timestamp: "2026-01-01T00:29:00+00:00", metric: "<x>", severity: "high", score: 0.99,
            status: "detected", actual: 500, expected: 52, expected_range: [45, 59], reason: "a \"spike\"")
        let series = ConsoleSeries(
            source: "s&p", from: "2026-01-01T00:00:00Z", to: "2026-01-01T01:00:00Z", points: points,
            anomalies: [anomaly])
        let svg = ConsoleChart(series: series).svg()
        #expect(svg.contains("class=\"values\""))
        #expect(svg.contains("<polygon class=\"band\""))
        #expect(svg.contains("class=\"score\""))
        #expect(svg.contains("<circle class=\"anomaly detected\""))
        #expect(svg.contains("<line class=\"expected\""))
        #expect(svg.contains("&lt;x&gt;") && !svg.contains("<x>"), "a metric's name is text, not markup")
        #expect(svg.contains("s&amp;p") && !svg.contains("s&p"))
        let empty = ConsoleSeries(source: "s", from: "", to: "", points: [], anomalies: [])
        #expect(ConsoleChart(series: empty).svg().contains("No points"))
    }

    @Test func templatesParseAndEscapeWhatTheDatabaseSaid() throws {
        for name in ConsoleTemplates.templates.keys {
            #expect(ConsoleTemplates.library.getTemplate(named: name) != nil, "\(name)")
        }
        let json = """
            {"anomaly_id": "00000000-0000-0000-0000-000000000001", "point_timestamp": "2026-01-01T00:40:00+00:00",
             "detected_at": "2026-01-01T00:40:01.5+00:00", "source_id": "00000000-0000-0000-0000-00000000000a",
             "source_name": "<script>alert(1)</script>", "metric": "x", "severity": "high", "score": 0.97,
             "status": "detected", "actual": 500, "expected": 52, "explanation": {"reason": "it's \\"high\\""}}
            """
        let row = ConsoleTemplates.render("feedRow", try ConsoleViews.anomaly(json))
        #expect(!row.contains("<script>") && row.contains("&lt;script&gt;"))
        #expect(row.contains("href=\"/console/sources/%3Cscript%3Ealert%281%29%3C%2Fscript%3E\""))
        #expect(row.contains("it&#39;s &quot;high&quot;"))
        #expect(!row.contains("\n"), "a feed row is one data line")
        #expect(row.contains("2026-01-01 00:40:01") && row.contains("0.970"))
    }

    @Test func feedFramesAreWellFormed() {
        #expect(
            ConsoleFeed.frame(event: "anomaly", id: "t", data: "<tr></tr>")
                == "id: t\nevent: anomaly\ndata: <tr></tr>\n\n")
        #expect(ConsoleFeed.frame(event: nil, id: nil, data: "a\nb\r") == "data: a\ndata: b\n\n")
    }

    @Test func feedSlotsAreBoundedAndGivenBack() {
        let slots = ConsoleFeedSlots(limit: 2)
        var a: ConsoleFeedSlots.Slot? = slots.take()
        let b = slots.take()
        #expect(a != nil && b != nil)
        #expect(slots.take() == nil, "the third waits")
        a = nil
        #expect(slots.count == 1)
        #expect(slots.take() != nil, "a slot given back is taken again")
        _ = b
    }
}
