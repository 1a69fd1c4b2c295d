import ADCore

/// Where a worker's time went, summed over batches (printed when it stops; `adworker bench` reads it).
public struct ScoringTimings: Sendable {
    public var batches = 0, points = 0, anomalies = 0, cacheHits = 0
    /// Alerts the batches opened (an anomaly grouped into an open alert opens none).
    public var alerts = 0
    public var claim: Duration = .zero, features: Duration = .zero, scoring: Duration = .zero, writes: Duration = .zero,
        commit: Duration = .zero
    public init() {}

    /// Both together (the loops of one worker).
    public static func + (a: ScoringTimings, b: ScoringTimings) -> ScoringTimings {
        var s = a
        s.batches += b.batches; s.points += b.points; s.anomalies += b.anomalies; s.cacheHits += b.cacheHits
        s.alerts += b.alerts
        s.claim += b.claim; s.features += b.features; s.scoring += b.scoring; s.writes += b.writes; s.commit += b.commit
        return s
    }

    /// One line of JSON.
    public var json: String {
        func s(_ d: Duration) -> JSONValue {
            .rounded(Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18, 4)
        }
        return JSONValue.object([
            ("batches", .number(Double(batches))), ("points", .number(Double(points))),
            ("anomalies", .number(Double(anomalies))),
            ("cache_hits", .number(Double(cacheHits))),
            (
                "seconds",
                .object([
                    ("claim_sql", s(claim)), ("features_sql", s(features)), ("scoring_swift", s(scoring)),
                    ("writes_sql", s(writes)), ("commit", s(commit)),
                ])
            ),
        ]).render()
    }
}
