import ADCore
import Foundation

/// One series drawn as a self-contained SVG: the values on top (each metric min-max scaled), the anomaly score
/// below, labelled windows as shaded bands across both, the probationary (or warm-up) rows shaded differently, the
/// threshold as a dashed line, rows at or over it marked, and a time axis with dates. Long series are downsampled
/// to at most `maxPoints` per line by keeping each bucket's minimum and maximum, so a one-row spike survives.
public struct EvaluationPlot: Sendable {
    /// A metric to draw.
    public struct Line: Sendable {
        public var name: String
        public var values: [Double?]
        public init(name: String, values: [Double?]) { self.name = name; self.values = values }
    }

    public var title: String
    /// Each row's time, µs since the epoch, increasing.
    public var micros: [Int64]
    public var lines: [Line]
    public var scores: [Double]
    /// Labelled windows as row-index ranges.
    public var windows: [ClosedRange<Int>]
    /// Rows at or over it are marked; drawn when within [0, 1].
    public var threshold: Double?
    public var thresholdLabel: String
    /// The first `probation` rows are shaded.
    public var probation: Int
    public var probationLabel: String
    public var maxPoints = 2000

    public init(
        title: String, micros: [Int64], lines: [Line], scores: [Double], windows: [ClosedRange<Int>],
        threshold: Double?, thresholdLabel: String, probation: Int, probationLabel: String
    ) {
        self.title = title; self.micros = micros; self.lines = lines; self.scores = scores; self.windows = windows
        self.threshold = threshold; self.thresholdLabel = thresholdLabel; self.probation = probation
        self.probationLabel = probationLabel
    }

    // Geometry, in SVG user units.
    private static let width = 1200.0, left = 70.0, right = 1180.0
    private static let valueTop = 40.0, valueBottom = 290.0, scoreTop = 320.0, scoreBottom = 460.0
    private static let colors = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#7f7f7f"]

    /// The SVG document.
    public func svg() -> String {
        let n = micros.count
        let t0 = micros.first ?? 0, t1 = micros.last ?? 0
        func x(_ i: Int) -> Double {
            t1 > t0 ? Self.left + Double(micros[i] - t0) / Double(t1 - t0) * (Self.right - Self.left) : Self.left
        }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var out = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="1200" height="530" viewBox="0 0 1200 530" font-family="sans-serif" font-size="11">
            <title>\(Self.escape(title))</title>
            <rect x="0" y="0" width="1200" height="530" fill="white"/>
            <text x="\(f(Self.left))" y="22" font-size="14" font-weight="bold">\(Self.escape(title))</text>

            """
        // Bands first, so lines draw over them.
        if probation > 0, n > 0 {
            let end = x(min(probation, n) - 1)
            for (top, bottom) in [(Self.valueTop, Self.valueBottom), (Self.scoreTop, Self.scoreBottom)] {
                out +=
                    "<rect class=\"probation\" x=\"\(f(Self.left))\" y=\"\(f(top))\" width=\"\(f(max(1, end - Self.left)))\" height=\"\(f(bottom - top))\" fill=\"#d9d9d9\" fill-opacity=\"0.5\"/>\n"
            }
        }
        for w in windows where w.lowerBound >= 0 && w.upperBound < n {
            let a = x(w.lowerBound), b = x(w.upperBound)
            for (top, bottom) in [(Self.valueTop, Self.valueBottom), (Self.scoreTop, Self.scoreBottom)] {
                out +=
                    "<rect class=\"window\" x=\"\(f(a))\" y=\"\(f(top))\" width=\"\(f(max(1, b - a)))\" height=\"\(f(bottom - top))\" fill=\"#f4a3a3\" fill-opacity=\"0.45\"/>\n"
            }
        }
        // Frames and axes.
        for (top, bottom) in [(Self.valueTop, Self.valueBottom), (Self.scoreTop, Self.scoreBottom)] {
            out +=
                "<rect x=\"\(f(Self.left))\" y=\"\(f(top))\" width=\"\(f(Self.right - Self.left))\" height=\"\(f(bottom - top))\" fill=\"none\" stroke=\"#444\" stroke-width=\"0.8\"/>\n"
        }
        out +=
            "<text x=\"16\" y=\"\(f((Self.valueTop + Self.valueBottom) / 2))\" transform=\"rotate(-90 16 \(f((Self.valueTop + Self.valueBottom) / 2)))\" text-anchor=\"middle\">value (min-max scaled)</text>\n"
        out +=
            "<text x=\"16\" y=\"\(f((Self.scoreTop + Self.scoreBottom) / 2))\" transform=\"rotate(-90 16 \(f((Self.scoreTop + Self.scoreBottom) / 2)))\" text-anchor=\"middle\">anomaly score</text>\n"
        for v in [0.0, 0.5, 1.0] {
            let y = Self.scoreBottom - v * (Self.scoreBottom - Self.scoreTop)
            out += "<text x=\"\(f(Self.left - 4))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(v)</text>\n"
        }
        out += timeAxis(x: x)

        // Values: each line scaled to its own range.
        var flaggedRows: [Int] = []
        if let threshold { flaggedRows = scores.indices.filter { scores[$0] >= threshold } }
        for (k, line) in lines.enumerated() {
            let present = line.values.compactMap { $0 }
            guard let lo = present.min(), let hi = present.max() else { continue }
            func y(_ v: Double) -> Double {
                hi > lo
                    ? Self.valueBottom - (v - lo) / (hi - lo) * (Self.valueBottom - Self.valueTop)
                    : (Self.valueTop + Self.valueBottom) / 2
            }
            let kept = Self.downsample(count: n, maxPoints: maxPoints) { line.values[$0] }
            let color = Self.colors[k % Self.colors.count]
            out += "<polyline class=\"values\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1\" points=\""
            out += kept.map { "\(f(x($0))),\(f(y(line.values[$0]!)))" }.joined(separator: " ")
            out += "\"/>\n"
            if k == 0 && lines.count == 1 {  // with several metrics, each has its own range: no common scale to label
                out +=
                    "<text x=\"\(f(Self.left - 4))\" y=\"\(f(Self.valueTop + 4))\" text-anchor=\"end\">\(Self.number(hi))</text>\n"
                out +=
                    "<text x=\"\(f(Self.left - 4))\" y=\"\(f(Self.valueBottom + 4))\" text-anchor=\"end\">\(Self.number(lo))</text>\n"
            }
            if k == 0 { out += markers(flaggedRows.filter { line.values[$0] != nil }, x: x) { y(line.values[$0]!) } }
        }
        // Scores.
        func ys(_ v: Double) -> Double { Self.scoreBottom - min(1, max(0, v)) * (Self.scoreBottom - Self.scoreTop) }
        let keptScores = Self.downsample(count: scores.count, maxPoints: maxPoints) { scores[$0] }
        out += "<polyline class=\"scores\" fill=\"none\" stroke=\"#333\" stroke-width=\"1\" points=\""
        out += keptScores.map { "\(f(x($0))),\(f(ys(scores[$0])))" }.joined(separator: " ")
        out += "\"/>\n"
        if let threshold, threshold >= 0, threshold <= 1 {
            out +=
                "<line class=\"threshold\" x1=\"\(f(Self.left))\" x2=\"\(f(Self.right))\" y1=\"\(f(ys(threshold)))\" y2=\"\(f(ys(threshold)))\" stroke=\"#d62728\" stroke-width=\"1\" stroke-dasharray=\"6 4\"/>\n"
        }
        out += markers(flaggedRows, x: x) { ys(scores[$0]) }
        out += legend()
        out += "</svg>\n"
        return out
    }

    /// Circles at flagged rows, at most one per pixel column, so a long run of flags stays a small file.
    private func markers(_ rows: [Int], x: (Int) -> Double, y: (Int) -> Double) -> String {
        var out = ""
        var lastColumn = Int.min
        for i in rows {
            let column = Int(x(i).rounded())
            if column == lastColumn { continue }
            lastColumn = column
            out +=
                "<circle class=\"flag\" cx=\"\(String(format: "%.1f", x(i)))\" cy=\"\(String(format: "%.1f", y(i)))\" r=\"2.5\" fill=\"#d62728\"/>\n"
        }
        return out
    }

    private func timeAxis(x: (Int) -> Double) -> String {
        guard let t0 = micros.first, let t1 = micros.last else { return "" }
        let span = t1 - t0
        let ticks = span > 0 ? 6 : 1
        var out = ""
        for k in 0..<ticks {
            let t = ticks == 1 ? t0 : t0 + span / Int64(ticks - 1) * Int64(k)
            let px = Self.left + (span > 0 ? Double(t - t0) / Double(span) * (Self.right - Self.left) : 0)
            let text = NABTimestamp(microseconds: t).description
            let label = span >= 3 * 86_400_000_000 ? String(text.prefix(10)) : String(text.dropFirst(5).prefix(11))
            let anchor = k == 0 ? "start" : (k == ticks - 1 ? "end" : "middle")
            out +=
                "<line x1=\"\(String(format: "%.1f", px))\" x2=\"\(String(format: "%.1f", px))\" y1=\"\(Self.scoreBottom)\" y2=\"\(Self.scoreBottom + 5)\" stroke=\"#444\"/>\n"
            out +=
                "<text x=\"\(String(format: "%.1f", px))\" y=\"\(Self.scoreBottom + 18)\" text-anchor=\"\(anchor)\">\(label)</text>\n"
        }
        out +=
            "<text x=\"\((Self.left + Self.right) / 2)\" y=\"\(Self.scoreBottom + 34)\" text-anchor=\"middle\">time (UTC)</text>\n"
        return out
    }

    private func legend() -> String {
        var items: [(String, String)] = lines.enumerated().map {
            (
                "<line x1=\"0\" x2=\"14\" y1=\"-4\" y2=\"-4\" stroke=\"\(Self.colors[$0.offset % Self.colors.count])\"/>",
                $0.element.name
            )
        }
        items.append(("<line x1=\"0\" x2=\"14\" y1=\"-4\" y2=\"-4\" stroke=\"#333\"/>", "anomaly score"))
        items.append(
            (
                "<rect x=\"0\" y=\"-9\" width=\"14\" height=\"9\" fill=\"#f4a3a3\" fill-opacity=\"0.45\"/>",
                "labelled window"
            ))
        if probation > 0 {
            items.append(("<rect x=\"0\" y=\"-9\" width=\"14\" height=\"9\" fill=\"#d9d9d9\"/>", probationLabel))
        }
        if let threshold, threshold <= 1 {
            items.append(
                (
                    "<line x1=\"0\" x2=\"14\" y1=\"-4\" y2=\"-4\" stroke=\"#d62728\" stroke-dasharray=\"4 3\"/>",
                    thresholdLabel
                ))
            items.append(("<circle cx=\"7\" cy=\"-4\" r=\"2.5\" fill=\"#d62728\"/>", "at or over the threshold"))
        } else {
            items.append(("", thresholdLabel))
        }
        var out = ""
        var px = Self.left
        for (symbol, text) in items {
            out +=
                "<g transform=\"translate(\(String(format: "%.1f", px)) 522)\">\(symbol)<text x=\"\(symbol.isEmpty ? 0 : 18)\" y=\"0\">\(Self.escape(text))</text></g>\n"
            px += (symbol.isEmpty ? 0 : 24) + Double(text.count) * 6.2 + 16
        }
        return out
    }

    /// Row indices to draw, in order: all rows with a value when they are few, otherwise each bucket's minimum and
    /// maximum (so no more than `maxPoints`).
    static func downsample(count n: Int, maxPoints: Int, _ value: (Int) -> Double?) -> [Int] {
        let present = (0..<n).filter { value($0) != nil }
        guard present.count > maxPoints else { return present }
        let buckets = max(1, maxPoints / 2)
        var out: [Int] = []
        out.reserveCapacity(buckets * 2)
        for b in 0..<buckets {
            let lo = b * present.count / buckets, hi = (b + 1) * present.count / buckets
            guard lo < hi else { continue }
            var minAt = present[lo], maxAt = present[lo]
            for i in present[lo..<hi] {
                if value(i)! < value(minAt)! { minAt = i }
                if value(i)! > value(maxAt)! { maxAt = i }
            }
            if minAt == maxAt {
                out.append(minAt)
            } else {
                out.append(min(minAt, maxAt)); out.append(max(minAt, maxAt))
            }
        }
        return out
    }

    /// Text for XML content and attributes.
    public static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default:
                // XML 1.0 forbids most control characters, even escaped.
                if let a = c.asciiValue, a < 32, a != 9, a != 10, a != 13 { out += "?" } else { out.append(c) }
            }
        }
        return out
    }

    private static func number(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e12 ? String(Int64(v)) : String(format: "%.4g", v)
    }
}
