import ADCore
import Foundation

/// An anomaly the batch found, for logs and the demo.
public struct FoundAnomaly: Sendable {
    public var source: String
    public var metric: String
    public var time: Date
    public var severity: Severity
    public var score: Double
    public var detector: String
    public var explanation: Explanation
}

/// Phase 3 of a scoring cycle: score each point in Swift (`PointScorer`), in the batch's order, each series from the state
/// its previous point left, with its window kept sorted as it slides (`SlidingWindows`). No I/O.
extension ScoringCycle {
    /// What the write phase stores: per point scored, its id, source, time, features and score; per anomaly kept, its
    /// columns; and what the cache keeps of each series once the batch commits.
    struct ScoredBatch {
        var ids: [UUID] = [], sources: [UUID] = [], stamps: [Int64] = [], scores: [Double] = []
        var features: TextArray
        var anomalies = Anomalies()
        var found: [FoundAnomaly] = []
        var histories: [HistoryCache.Key: HistoryCache.Series] = [:]
        /// Points that are no anomaly but whose value still lies far from normal (`PointScore.off`), for
        /// `AlertRaiser.sustain`.
        var off: [OffPoint] = []
        /// Points scored.
        var count: Int { sources.count }

        /// The `ad.anomalies` rows to insert, column by column.
        struct Anomalies {
            var pointIDs: [UUID] = [], stamps: [Int64] = [], sources: [UUID] = [], metrics: [String] = []
            var detectors: [String] = [], severities: [String] = [], scores: [Double] = [], explanations: [String] = []
            /// The model that produced each: the source's production model, or the streaming scorer's row.
            var models: [UUID] = []
        }
    }

    /// The time of a point as the cycle carries it (µs since 2000-01-01 UTC, `ScoringQueries.micros`).
    static func date(micros: Int64) -> Date {
        Date(timeIntervalSince1970: Double(micros) / 1_000_000 + 946_684_800)
    }

    /// For a source newer than the catalog (loaded again at once) or one whose config vanished meanwhile.
    private static let defaultScorer = PointScorer(config: .defaults)

    func score(_ batch: inout FeatureBatch, catalog: SourceCatalog, cache: HistoryCache) -> ScoredBatch {
        let rows = batch.rows, keys = batch.plan.keys, latestRow = batch.plan.latestRow
        var out = ScoredBatch(features: TextArray(reservingBytes: rows.count * 400, count: rows.count))
        var carried: [(pos: Int64, state: DetectorState)?] = Array(repeating: nil, count: keys.count)
        var sliding = SlidingWindows(series: keys.count)

        var start = 0
        while start < rows.count {
            var end = start + 1
            while end < rows.count && rows[end].id == rows[start].id { end += 1 }
            let point = rows[start]
            let entry = catalog.entries[point.source]
            let scorer = entry?.scorer ?? Self.defaultScorer
            let observations = rows[start..<end].map { row in
                var o = row.observation
                o.state = BatchPlan.startingState(
                    for: row, carried: carried[row.series], cached: cache[keys[row.series]]?.state)
                let windows = sliding.windows(
                    for: row.observation, at: row.pos, series: row.series, size: scorer.config.window,
                    cached: row.cached ? cache[keys[row.series]]?.sorted : nil)
                o.sortedHistory = windows.values; o.sortedSteps = windows.steps
                o.sortedDailyDiffs = windows.dailyDiffs; o.sortedWeeklyDiffs = windows.weeklyDiffs
                return o
            }
            let result = scorer.score(
                observations,
                storingState: { metric in rows[start..<end].contains { $0.metric == metric && $0.checkpoint } })
            for i in start..<end {
                guard let state = result.states[rows[i].metric] else { continue }
                let n = rows[i].series
                carried[n] = (rows[i].pos, state)
                if latestRow[n] == i {
                    batch.histories[n].state = state
                    batch.histories[n].sorted = sliding.advanced(n)
                }
            }
            // The source's production model scores the point too; the higher score decides (`ModelCombination`).
            let modelScore = catalog.models[point.source].flatMap { live in
                live.score(observations).map { (live, $0) }
            }
            out.ids.append(point.id); out.sources.append(point.source); out.stamps.append(point.micros)
            out.features.append { FeatureList.write(result.metricFeatures, into: &$0) }
            if let (live, (ms, values)) = modelScore,
                ModelCombination.decide(streaming: result.score, model: ms.score) == .model
            {
                out.scores.append(ms.score)
                if let severity = Severity.of(score: ms.score, thresholds: scorer.config.thresholds) {
                    let explanation = live.explanation(ms, values: values)
                    let metric = explanation.metric ?? result.metric
                    out.anomalies.pointIDs.append(point.id); out.anomalies.stamps.append(point.micros)
                    out.anomalies.sources.append(point.source); out.anomalies.metrics.append(metric)
                    out.anomalies.detectors.append(live.ref.algorithm)
                    out.anomalies.severities.append(severity.rawValue)
                    out.anomalies.scores.append(ms.score); out.anomalies.explanations.append(explanation.render())
                    out.anomalies.models.append(live.ref.id)
                    out.found.append(
                        FoundAnomaly(
                            source: entry?.name ?? point.source.uuidString, metric: metric,
                            time: ScoringCycle.date(micros: point.micros), severity: severity, score: ms.score,
                            detector: live.ref.algorithm, explanation: explanation))
                }
                start = end
                continue
            }
            out.scores.append(result.score)
            for (metric, severity) in result.off {
                out.off.append(
                    OffPoint(
                        source: point.source, sourceName: entry?.name ?? point.source.uuidString, metric: metric,
                        micros: point.micros, time: ScoringCycle.date(micros: point.micros),
                        value: observations.first { $0.metric == metric }?.x, severity: severity))
            }
            // Feedback may have made points like this one normal on its series (the point keeps its score).
            if let severity = result.severity,
                !catalog.learned.tolerates(
                    source: point.source, metric: result.metric, pattern: result.pattern,
                    score: result.score, thresholds: scorer.config.thresholds)
            {
                let explanation = result.explanation
                out.anomalies.pointIDs.append(point.id); out.anomalies.stamps.append(point.micros)
                out.anomalies.sources.append(point.source); out.anomalies.metrics.append(result.metric)
                out.anomalies.detectors.append(result.detector); out.anomalies.severities.append(severity.rawValue)
                out.anomalies.scores.append(result.score); out.anomalies.explanations.append(explanation.render())
                out.anomalies.models.append(ModelRef.streamingID)
                out.found.append(
                    FoundAnomaly(
                        source: entry?.name ?? point.source.uuidString, metric: result.metric,
                        time: ScoringCycle.date(micros: point.micros),
                        severity: severity, score: result.score, detector: result.detector,
                        explanation: explanation))
            }
            start = end
        }
        for n in keys.indices { out.histories[keys[n]] = batch.histories[n] }
        return out
    }
}
