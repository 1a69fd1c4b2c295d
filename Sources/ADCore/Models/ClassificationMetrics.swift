/// Precision, recall, F1 (at a threshold), ROC AUC (threshold-free, ties averaged), counts.
public struct ClassificationMetrics: Sendable, Equatable, Codable {
    /// TP / (TP + FP); nil when nothing is predicted positive.
    public var precision: Double?
    /// TP / (TP + FN); nil when there are no positive labels.
    public var recall: Double?
    /// 2PR / (P + R); nil when either is nil, 0 when both are 0.
    public var f1: Double?
    /// The probability that a random positive scores above a random negative, ties counting one half (the
    /// Mann–Whitney statistic from ranks, tied scores sharing their mean rank); nil without both classes.
    public var rocAUC: Double?
    public var truePositives: Int, falsePositives: Int, falseNegatives: Int, trueNegatives: Int

    public init(
        precision: Double?, recall: Double?, f1: Double?, rocAUC: Double?, truePositives: Int, falsePositives: Int,
        falseNegatives: Int, trueNegatives: Int
    ) {
        self.precision = precision
        self.recall = recall
        self.f1 = f1
        self.rocAUC = rocAUC
        self.truePositives = truePositives
        self.falsePositives = falsePositives
        self.falseNegatives = falseNegatives
        self.trueNegatives = trueNegatives
    }

    /// A point is predicted anomalous when its score reaches `threshold` (score ≥ threshold, like severities).
    /// Pairs whose score is NaN are left out; scores and labels are paired up to the shorter of the two.
    public static func evaluate(scores: [Double], labels: [Bool], threshold: Double) -> ClassificationMetrics {
        var pairs = [(score: Double, label: Bool)]()
        pairs.reserveCapacity(min(scores.count, labels.count))
        for (s, l) in zip(scores, labels) where !s.isNaN { pairs.append((s, l)) }
        var tp = 0
        var fp = 0
        var fn = 0
        var tn = 0
        for (s, l) in pairs {
            switch (s >= threshold, l) {
            case (true, true): tp += 1
            case (true, false): fp += 1
            case (false, true): fn += 1
            case (false, false): tn += 1
            }
        }
        let precision = tp + fp > 0 ? Double(tp) / Double(tp + fp) : nil
        let recall = tp + fn > 0 ? Double(tp) / Double(tp + fn) : nil
        var f1: Double? = nil
        if let p = precision, let r = recall { f1 = p + r > 0 ? 2 * p * r / (p + r) : 0 }
        return ClassificationMetrics(
            precision: precision, recall: recall, f1: f1, rocAUC: rocAUC(pairs), truePositives: tp,
            falsePositives: fp, falseNegatives: fn, trueNegatives: tn)
    }

    static func rocAUC(_ pairs: [(score: Double, label: Bool)]) -> Double? {
        let positives = pairs.reduce(0) { $0 + ($1.label ? 1 : 0) }
        let negatives = pairs.count - positives
        guard positives > 0, negatives > 0 else { return nil }
        let sorted = pairs.sorted { $0.score < $1.score }
        var rankSum = 0.0
        var i = 0
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count && sorted[j + 1].score == sorted[i].score { j += 1 }
            // Ranks i+1 ... j+1 share their mean.
            let meanRank = Double(i + j + 2) / 2
            for k in i...j where sorted[k].label { rankSum += meanRank }
            i = j + 1
        }
        let p = Double(positives)
        return (rankSum - p * (p + 1) / 2) / (p * Double(negatives))
    }
}
