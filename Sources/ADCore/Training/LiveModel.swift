import Foundation

/// A source's production model as the scoring loop uses it: scores each point from its metrics' recent values,
/// beside the streaming scorer; the higher score decides (`combine`).
public struct LiveModel: Sendable {
    public let ref: ModelRef
    public let model: TrainedModel

    public init(ref: ModelRef, model: TrainedModel) { self.ref = ref; self.model = model }

    /// The model's score of one point, from the point's metric observations (each with its history, oldest first):
    /// nil when the point lacks one of the model's metrics or its series is younger than the model needs.
    public func score(_ observations: some Collection<MetricObservation>) -> (ModelScore, values: [Double])? {
        var recent: [ArraySlice<Double>] = []
        recent.reserveCapacity(model.metrics.count)
        var values: [Double] = []
        values.reserveCapacity(model.metrics.count)
        let need = model.rowsNeeded
        for metric in model.metrics {
            guard let o = observations.first(where: { $0.metric == metric }), o.history.count >= need - 1 else {
                return nil
            }
            var r = Array(o.history.suffix(need - 1))
            r.append(o.x)
            recent.append(r[...])
            values.append(o.x)
        }
        return model.score(recent: recent).map { ($0, values) }
    }

    /// The explanation of a point the model decided (`ad.anomalies.explanation`): the model by name and version,
    /// the metrics that contributed and their shares, and one sentence saying so.
    public func explanation(_ s: ModelScore, values: [Double]) -> Explanation {
        let top = s.contributions.first
        let value = top.flatMap { t in model.metrics.firstIndex(of: t.metric).map { values[$0] } }
        let parts = s.contributions.prefix(3).map { "\($0.metric) \(Int(($0.share * 100).rounded()))%" }
        let reason =
            "Decided by the trained model \(ref.label) (\(ref.algorithm)): the point is rarer than "
            + "1 in \(Self.odds(s.surprise)) of the normal points it was calibrated on"
            + (parts.isEmpty ? "." : "; most of the deviation is in " + parts.joined(separator: ", ") + ".")
        return Explanation(
            detector: ref.algorithm, decidedBy: "model", metric: top?.metric, actual: JSONValue.roundedValue(value, 6),
            score: JSONValue.roundedValue(s.score, 8), surprise: JSONValue.roundedValue(s.surprise, 4),
            topContributions: s.contributions.prefix(5).map {
                Explanation.Contribution(
                    metric: $0.metric, feature: "share", value: JSONValue.roundedValue($0.share, 4), surprise: nil)
            },
            reason: reason, model: Explanation.ModelName(ref))
    }

    /// 10^surprise as people read it: "1,000", "2.5 million", capped at "10^12 or more".
    static func odds(_ surprise: Double) -> String {
        guard surprise.isFinite, surprise < 12 else { return "10^12 or more" }
        let x = pow(10, max(0, surprise))
        if x < 1_000_000 {
            let f = NumberFormatter()
            f.numberStyle = .decimal; f.maximumFractionDigits = 0; f.locale = Locale(identifier: "en_US_POSIX")
            f.usesGroupingSeparator = true; f.groupingSeparator = ","
            return f.string(from: NSNumber(value: x.rounded())) ?? String(Int(x))
        }
        if x < 1e9 { return String(format: "%.2g million", x / 1e6) }
        return String(format: "%.2g billion", x / 1e9)
    }
}

/// How a point's streaming score and its production model's score combine: the higher decides, and its source
/// is what the anomaly names (`ad.anomalies.model_id`, `detector`, `explanation`).
public enum ModelCombination {
    public enum Decider: Sendable { case streaming, model }
    public static func decide(streaming: Double, model: Double?) -> Decider {
        guard let model, model > streaming else { return .streaming }
        return .model
    }
}
