import ADCore
import Foundation

/// The per-file results CSVs `adworker evaluate` writes: every input row once, in input order, with its score.
public enum EvaluationResults {
    /// NAB's results layout: `timestamp,value,anomaly_score,label`, the timestamp and value exactly as in the
    /// input, label 1 inside a labelled window.
    public static func nabCSV(_ s: EvaluationSeries, scores: [Double], inWindow: [Bool]) -> String {
        var out = "timestamp,value,anomaly_score,label\n"
        out.reserveCapacity(s.count * 48)
        let value = s.valueText.first ?? []
        for i in 0..<s.count {
            out += field(s.timeText[i]); out += ","
            out += field(i < value.count ? value[i] : ""); out += ","
            out += score(scores[i]); out += inWindow[i] ? ",1\n" : ",0\n"
        }
        return out
    }

    /// The generic layout: the time column, the metric columns (cells as in the input), `anomaly_score`, and
    /// `label` when the corpus has a label column. Comma-separated whatever the input used, quoted where needed.
    public static func csv(_ s: EvaluationSeries, scores: [Double]) -> String {
        var header = [s.timeColumn] + s.metrics + ["anomaly_score"]
        if s.labels != nil { header.append("label") }
        var out = header.map(field).joined(separator: ",") + "\n"
        out.reserveCapacity(s.count * (24 + 12 * s.metrics.count))
        for i in 0..<s.count {
            out += field(s.timeText[i])
            for m in s.metrics.indices { out += ","; out += field(s.valueText[m][i]) }
            out += ","; out += score(scores[i])
            if let labels = s.labels { out += labels[i] ? ",1" : ",0" }
            out += "\n"
        }
        return out
    }

    /// A score as the shortest text that reads back as the same Double.
    static func score(_ x: Double) -> String { "\(x)" }

    /// A CSV field, quoted when it holds a comma, quote or line break.
    static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
