import ADCore
import Foundation

/// Point-wise classification metrics over NAB files: each row is a positive or a negative, and a detection when its
/// anomaly score is at or above a threshold. Complements the window-based NAB score.
public enum NABPointwise {
    /// What makes a row a positive.
    public enum Positives: Sendable, Hashable {
        /// The row lies inside a labelled window.
        case windows
        /// The row's `label` column is 1 (rows without a label fall back to window membership).
        case labelColumn
    }

    /// Row counts at `threshold`. By default the probationary rows are left out, as NAB's scorer does.
    public static func counts(
        files: [NABFile], threshold: Double, positives: Positives = .windows,
        includeProbationary: Bool = false,
        probationaryPercent: Double = NABSweeper.defaultProbationaryPercent
    ) -> NABCounts {
        var c = NABCounts()
        forEachRow(files, positives, includeProbationary, probationaryPercent) { score, positive in
            c.add(detected: score >= threshold, positive: positive)
        }
        return c
    }

    /// Rank-based ROC AUC of the anomaly scores (Mann-Whitney U, tied scores get their average rank); nil when all
    /// rows are positives or all are negatives.
    public static func rocAUC(
        files: [NABFile], positives: Positives = .windows, includeProbationary: Bool = false,
        probationaryPercent: Double = NABSweeper.defaultProbationaryPercent
    ) -> Double? {
        var scores: [Double] = [], labels: [Bool] = []
        forEachRow(files, positives, includeProbationary, probationaryPercent) { score, positive in
            scores.append(score)
            labels.append(positive)
        }
        return rocAUC(scores: scores, positives: labels)
    }

    /// Rank-based ROC AUC of `scores` against `positives` (same length): the probability that a random positive
    /// outscores a random negative, ties counting one half. nil when either class is empty.
    public static func rocAUC(scores: [Double], positives: [Bool]) -> Double? {
        precondition(scores.count == positives.count, "scores and positives differ in length")
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        return rocAUC(scores: scores, positives: positives, ascendingOrder: order)
    }

    /// ROC AUC given the row indices sorted by ascending score (any order among equal scores).
    static func rocAUC(scores: [Double], positives: [Bool], ascendingOrder order: some Collection<Int>) -> Double? {
        let nPos = positives.reduce(0) { $0 + ($1 ? 1 : 0) }
        let nNeg = scores.count - nPos
        guard nPos > 0, nNeg > 0 else { return nil }
        let order = Array(order)
        var rankSumPositives = 0.0
        var start = 0
        while start < order.count {
            var end = start + 1
            while end < order.count, scores[order[end]] == scores[order[start]] { end += 1 }
            // Ranks start+1 ... end share their average.
            let averageRank = Double(start + 1 + end) / 2
            for k in start..<end where positives[order[k]] { rankSumPositives += averageRank }
            start = end
        }
        let u = rankSumPositives - Double(nPos) * Double(nPos + 1) / 2
        return u / (Double(nPos) * Double(nNeg))
    }

    private static func forEachRow(
        _ files: [NABFile], _ positives: Positives, _ includeProbationary: Bool,
        _ probationaryPercent: Double, _ body: (Double, Bool) -> Void
    ) {
        for file in files {
            let inWindow = file.inWindowFlags()
            let first = includeProbationary ? 0 : file.probationaryLength(percent: probationaryPercent)
            for i in file.rows.indices where i >= first {
                let row = file.rows[i]
                let positive = positives == .labelColumn ? (row.label ?? inWindow[i]) : inWindow[i]
                body(row.score, positive)
            }
        }
    }
}
