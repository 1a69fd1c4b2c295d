import ADCore
import Foundation

/// A source's series as `GET /v1/sources/{source}/series` returns it (APIStore.series).
struct ConsoleSeries: Decodable, Sendable {
    struct Point: Decodable, Sendable {
        var timestamp: String
        var values: [String: Double?]
        var score: Double?
    }
    struct Anomaly: Decodable, Sendable {
        var anomaly_id: UUID
        var timestamp: String
        var metric: String
        var severity: String
        var score: Double
        var status: String
        var actual: Double?
        var expected: Double?
        var expected_range: [Double?]?
        var reason: String?
    }
    var source: String
    var from: String
    var to: String
    var points: [Point]
    var anomalies: [Anomaly]
}

/// The source page's chart, drawn on the server as inline SVG (no script, no library): per metric, its values
/// (line), the expected band and the anomalies (markers, with the detector's expected range as a bar); below, the
/// anomaly score of each point. The band is drawn by the console, not read from the detector: the median of the
/// `bandWindow` values before each point ± `bandWidth` robust standard deviations (1.4826·MAD, ADCore's
/// `Stats.robustCentreAndScale`), which is what a window detector of that length calls normal; the detector's own
/// expected range at each anomaly is the bar. The page's caption says so.
struct ConsoleChart: Sendable {
    struct Band: Equatable, Sendable {
        var low: Double
        var high: Double
    }

    var series: ConsoleSeries
    var bandWindow = 60
    var bandWidth = 3.0
    /// At most this many metrics are drawn (the rest are named under the chart).
    var maxMetrics = 6

    static let width = 1000.0, left = 64.0, right = 985.0
    static let panelHeight = 170.0, panelGap = 34.0, scoreHeight = 90.0, top = 16.0

    /// The metrics, sorted by name.
    var metrics: [String] {
        Array(Set(series.points.flatMap { $0.values.compactMap { $0.value == nil ? nil : $0.key } })).sorted()
    }

    /// The rolling band of `values` (nil where fewer than 5 of the window's values came before).
    static func band(_ values: [Double?], window: Int, width: Double) -> [Band?] {
        var out: [Band?] = []
        out.reserveCapacity(values.count)
        var recent: [Double] = []
        for v in values {
            if recent.count >= 5, let (centre, scale) = Stats.robustCentreAndScale(recent) {
                out.append(Band(low: centre - width * scale, high: centre + width * scale))
            } else {
                out.append(nil)
            }
            if let v, v.isFinite {
                recent.append(v)
                if recent.count > window { recent.removeFirst() }
            }
        }
        return out
    }

    /// The SVG element (inline in the page; its colours come from the page's stylesheet by class).
    func svg() -> String {
        let times = series.points.map { APIRoutes.parseTime($0.timestamp)?.timeIntervalSince1970 ?? 0 }
        let drawn = Array(metrics.prefix(maxMetrics))
        let height =
            Self.top + Double(drawn.count) * (Self.panelHeight + Self.panelGap) + Self.scoreHeight + 40
        var out =
            "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(Self.width)) \(Int(height))\" role=\"img\" aria-label=\"\(ConsoleHTML.escape("values, expected band, score and anomalies of " + series.source))\">\n"
        guard let t0 = times.first, let t1 = times.last else {
            out += "<text x=\"\(Self.left)\" y=\"40\">No points in this window.</text></svg>"
            return out
        }
        func x(_ t: Double) -> Double {
            t1 > t0 ? Self.left + (t - t0) / (t1 - t0) * (Self.right - Self.left) : (Self.left + Self.right) / 2
        }
        var panelTop = Self.top
        for metric in drawn {
            out += panel(metric: metric, times: times, top: panelTop, x: x)
            panelTop += Self.panelHeight + Self.panelGap
        }
        out += scorePanel(times: times, top: panelTop, x: x)
        out += timeAxis(t0: t0, t1: t1, y: panelTop + Self.scoreHeight, x: x)
        out += "</svg>"
        return out
    }

    private func panel(metric: String, times: [Double], top: Double, x: (Double) -> Double) -> String {
        let values = series.points.map { $0.values[metric] ?? nil }
        let band = Self.band(values, window: bandWindow, width: bandWidth)
        let anomalies = series.anomalies.filter { $0.metric == metric }
        var all = values.compactMap { $0 }.filter(\.isFinite)
        for b in band.compactMap({ $0 }) { all += [b.low, b.high].filter(\.isFinite) }
        for a in anomalies { all += (a.expected_range ?? []).compactMap { $0 }.filter(\.isFinite) }
        let lo = all.min() ?? 0, hi = all.max() ?? 1
        let bottom = top + Self.panelHeight
        func y(_ v: Double) -> Double {
            hi > lo ? bottom - (v - lo) / (hi - lo) * (bottom - top) : (top + bottom) / 2
        }
        var out = "<g class=\"panel\">\n"
        out +=
            "<text class=\"label\" x=\"\(Self.left)\" y=\"\(f(top - 4))\">\(ConsoleHTML.escape(metric))</text>\n"
        out +=
            "<rect class=\"frame\" x=\"\(Self.left)\" y=\"\(f(top))\" width=\"\(f(Self.right - Self.left))\" height=\"\(f(Self.panelHeight))\"/>\n"
        out += "<text class=\"tick\" x=\"\(f(Self.left - 4))\" y=\"\(f(top + 10))\">\(Self.number(hi))</text>\n"
        out += "<text class=\"tick\" x=\"\(f(Self.left - 4))\" y=\"\(f(bottom))\">\(Self.number(lo))</text>\n"
        // The band: one polygon per run of points that have one.
        var run: [(Double, Band)] = []
        func flush() {
            guard run.count > 1 else {
                run = []
                return
            }
            let upper = run.map { "\(f(x($0.0))),\(f(y($0.1.high)))" }
            let lower = run.reversed().map { "\(f(x($0.0))),\(f(y($0.1.low)))" }
            out += "<polygon class=\"band\" points=\"\((upper + lower).joined(separator: " "))\"/>\n"
            run = []
        }
        for (i, b) in band.enumerated() {
            if let b, b.low.isFinite, b.high.isFinite { run.append((times[i], b)) } else { flush() }
        }
        flush()
        // The values, broken where a point has none.
        var segment: [String] = []
        func stroke() {
            if segment.count > 1 {
                out += "<polyline class=\"values\" points=\"\(segment.joined(separator: " "))\"/>\n"
            }
            segment = []
        }
        for (i, v) in values.enumerated() {
            if let v, v.isFinite { segment.append("\(f(x(times[i]))),\(f(y(v)))") } else { stroke() }
        }
        stroke()
        // Anomalies: the detector's expected range as a bar, the value as a marker.
        for a in anomalies {
            guard let t = APIRoutes.parseTime(a.timestamp)?.timeIntervalSince1970 else { continue }
            let px = f(x(t))
            if let range = a.expected_range, range.count == 2, let l = range[0], let h = range[1], l.isFinite,
                h.isFinite
            {
                out +=
                    "<line class=\"expected\" x1=\"\(px)\" x2=\"\(px)\" y1=\"\(f(y(h)))\" y2=\"\(f(y(l)))\"/>\n"
            }
            let v = a.actual ?? values[times.firstIndex(of: t) ?? 0] ?? lo
            out += "<circle class=\"anomaly \(ConsoleHTML.escape(a.status))\" cx=\"\(px)\" cy=\"\(f(y(v)))\" r=\"4\">"
            out +=
                "<title>\(ConsoleHTML.escape("\(a.timestamp) \(a.metric) = \(Self.number(v)), score \(Self.number(a.score)), \(a.severity), \(a.status)"))</title></circle>\n"
        }
        out += "</g>\n"
        return out
    }

    private func scorePanel(times: [Double], top: Double, x: (Double) -> Double) -> String {
        let bottom = top + Self.scoreHeight
        func y(_ s: Double) -> Double { bottom - min(1, max(0, s)) * Self.scoreHeight }
        var out = "<g class=\"panel\">\n"
        out += "<text class=\"label\" x=\"\(Self.left)\" y=\"\(f(top - 4))\">anomaly score</text>\n"
        out +=
            "<rect class=\"frame\" x=\"\(Self.left)\" y=\"\(f(top))\" width=\"\(f(Self.right - Self.left))\" height=\"\(f(Self.scoreHeight))\"/>\n"
        out += "<text class=\"tick\" x=\"\(f(Self.left - 4))\" y=\"\(f(top + 10))\">1</text>\n"
        out += "<text class=\"tick\" x=\"\(f(Self.left - 4))\" y=\"\(f(bottom))\">0</text>\n"
        let pts = series.points.enumerated().compactMap { i, p in
            p.score.map { "\(f(x(times[i]))),\(f(y($0)))" }
        }
        if pts.count > 1 { out += "<polyline class=\"score\" points=\"\(pts.joined(separator: " "))\"/>\n" }
        for a in series.anomalies {
            guard let t = APIRoutes.parseTime(a.timestamp)?.timeIntervalSince1970 else { continue }
            out +=
                "<circle class=\"anomaly \(ConsoleHTML.escape(a.status))\" cx=\"\(f(x(t)))\" cy=\"\(f(y(a.score)))\" r=\"3\"/>\n"
        }
        out += "</g>\n"
        return out
    }

    private func timeAxis(t0: Double, t1: Double, y: Double, x: (Double) -> Double) -> String {
        let ticks = t1 > t0 ? 5 : 1
        var out = ""
        for k in 0..<ticks {
            let t = ticks == 1 ? t0 : t0 + (t1 - t0) * Double(k) / Double(ticks - 1)
            let anchor = ticks == 1 ? "middle" : (k == 0 ? "start" : (k == ticks - 1 ? "end" : "middle"))
            let text = ConsoleFormat.time(Date(timeIntervalSince1970: t), seconds: t1 - t0 < 600)
            out +=
                "<text class=\"axis\" x=\"\(f(x(t)))\" y=\"\(f(y + 18))\" text-anchor=\"\(anchor)\">\(text)</text>\n"
        }
        return out
    }

    private func f(_ v: Double) -> String { String(format: "%.1f", v) }

    static func number(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e12 ? String(Int64(v)) : String(format: "%.4g", v)
    }
}
