import ADCore
import Foundation
import Logging
import PostgresNIO

/// The feedback loop's transaction: claim unprocessed feedback (SKIP LOCKED, so several workers share the queue),
/// write what each teaches into `ad.scoring_adjustments`, and mark it processed, all in one transaction: a crash
/// leaves the feedback queued and nothing learned; a row is never applied twice.
public struct FeedbackProcessor: Sendable {
    public var logger: Logger

    public init(logger: Logger) { self.logger = logger }

    static let claimQuery = """
        SELECT f.id, f.feedback_type, a.source_id, a.metric, a.score, s.config::text, coalesce(u.name, ''),
               a.explanation #>> '{pattern,measure}', a.explanation #>> '{pattern,direction}',
               CASE WHEN jsonb_typeof(a.explanation #> '{pattern,deviation}') = 'number'
                    THEN (a.explanation #>> '{pattern,deviation}')::double precision END
          FROM ad.feedback f
          JOIN ad.anomalies a ON a.id = f.anomaly_id AND a.point_timestamp = f.anomaly_timestamp
          JOIN ad.data_sources s ON s.id = a.source_id
          LEFT JOIN ad.users u ON u.id = f.user_id
         WHERE f.processed_at IS NULL
         ORDER BY f.created_at, f.id
         LIMIT $1
           FOR UPDATE OF f SKIP LOCKED
        """

    /// The standing adjustments of every series, or of one (`$1`, `$2`; this transaction's own included), reduced
    /// as `SeriesLearning` and the view `ad.learned_patterns` reduce them.
    static let learnedQuery = """
        SELECT source_id, metric, kind, CASE kind WHEN 'tolerate' THEN measure ELSE '' END, direction,
               CASE kind WHEN 'tolerate' THEN max(deviation) ELSE min(deviation) END
          FROM ad.scoring_adjustments
         WHERE undone_at IS NULL AND (expires_at IS NULL OR expires_at > now())
           AND ($1::uuid IS NULL OR (source_id = $1 AND metric = $2))
         GROUP BY 1, 2, 3, 4, 5
        """

    static let insertQuery = """
        INSERT INTO ad.scoring_adjustments (source_id, metric, kind, measure, direction, deviation, score,
                                            effective_before, effective_after, reason, feedback_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        ON CONFLICT (feedback_id) DO NOTHING
        RETURNING id
        """

    static let doneQuery = "UPDATE ad.feedback SET processed_at = now(), result = $2::jsonb WHERE id = $1"

    /// Processes up to `limit` feedback rows in one transaction; returns how many.
    public func pass(_ connection: PostgresConnection, limit: Int = 100) async throws -> Int {
        try await connection.query("BEGIN", logger: logger)
        do {
            let n = try await claimAndApply(connection, limit: limit)
            try await connection.query("COMMIT", logger: logger)
            return n
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    private struct Claimed {
        var id: UUID, kind: String, source: UUID, metric: String, score: Double, config: String, who: String
        var pattern: Pattern?
    }

    private func claimAndApply(_ connection: PostgresConnection, limit: Int) async throws -> Int {
        var claim = PostgresQuery(unsafeSQL: Self.claimQuery)
        claim.binds.append(limit)
        var rows: [Claimed] = []
        for try await (id, kind, source, metric, score, config, who, measure, direction, deviation)
            in try await connection.query(claim, logger: logger)
            .decode((UUID, String, UUID, String, Double, String, String, String?, String?, Double?).self)
        {
            var pattern: Pattern?
            if let measure, let direction = direction.flatMap(Pattern.Direction.init(rawValue:)), let deviation {
                pattern = Pattern(measure: measure, direction: direction, deviation: deviation)
            }
            rows.append(
                Claimed(
                    id: id, kind: kind, source: source, metric: metric, score: score, config: config, who: who,
                    pattern: pattern))
        }
        for row in rows {
            let result = try await apply(connection, row)
            var done = PostgresQuery(unsafeSQL: Self.doneQuery)
            done.binds.append(row.id); done.binds.append(result.render())
            try await connection.query(done, logger: logger)
        }
        if !rows.isEmpty { logger.info("feedback: processed \(rows.count)") }
        return rows.count
    }

    private func apply(_ connection: PostgresConnection, _ row: Claimed) async throws -> JSONValue {
        guard let kind = FeedbackKind(rawValue: row.kind) else {
            return .object([("effect", .string("none")), ("note", .string("unknown feedback type \(row.kind)"))])
        }
        // A source whose config the database accepted always parses; should it not, the defaults bound the effect.
        var thresholds = SourceConfig.defaults.thresholds
        if let json = try? JSONDecoder().decode(JSONValue.self, from: Data(row.config.utf8)),
            let c = try? SourceConfig.parse(json)
        {
            thresholds = c.thresholds
        }
        let learned = try await Self.learned(
            connection, series: HistoryCache.Key(source: row.source, metric: row.metric), logger: logger)
        switch FeedbackLearning.learn(
            kind, pattern: row.pattern, score: row.score, thresholds: thresholds,
            learned: learned.series[HistoryCache.Key(source: row.source, metric: row.metric)] ?? SeriesLearning(),
            who: row.who)
        {
        case .nothing(let why):
            return .object([("effect", .string("none")), ("note", .string(why))])
        case .adjust(let a):
            var insert = PostgresQuery(unsafeSQL: Self.insertQuery)
            insert.binds.append(row.source); insert.binds.append(row.metric); insert.binds.append(a.kind.rawValue)
            insert.binds.append(a.measure); insert.binds.append(a.direction.rawValue); insert.binds.append(a.deviation)
            insert.binds.append(a.score); insert.binds.append(a.effectiveBefore); insert.binds.append(a.effectiveAfter)
            insert.binds.append(a.reason); insert.binds.append(row.id)
            var made: Int64? = nil
            for try await id in try await connection.query(insert, logger: logger).decode(Int64.self) { made = id }
            guard let made else {
                return .object([("effect", .string("none")), ("note", .string("already applied"))])
            }
            return .object([
                ("effect", .string(a.kind.rawValue)), ("adjustment_id", .number(Double(made))),
                ("measure", .string(a.measure)), ("direction", .string(a.direction.rawValue)),
                ("deviation", .number(a.deviation)),
                ("effective_before", a.effectiveBefore.map(JSONValue.number) ?? .null),
                ("effective_after", a.effectiveAfter.map(JSONValue.number) ?? .null), ("note", .string(a.reason)),
            ])
        }
    }

    /// What feedback taught, for every series with standing adjustments or for one (the scoring loop reloads it
    /// with the configs).
    public static func learned(
        _ connection: PostgresConnection, series: HistoryCache.Key? = nil,
        logger: Logger
    ) async throws -> LearnedPatterns {
        var query = PostgresQuery(unsafeSQL: learnedQuery)
        query.binds.append(series?.source); query.binds.append(series?.metric)
        var out = LearnedPatterns()
        for try await (source, metric, kind, measure, direction, deviation) in try await connection.query(
            query, logger: logger
        )
        .decode((UUID, String, String, String, String, Double).self) {
            guard let d = Pattern.Direction(rawValue: direction) else { continue }
            let key = HistoryCache.Key(source: source, metric: metric)
            if kind == "tolerate" {
                out.series[key, default: SeriesLearning()].tolerated[SeriesLearning.Key(measure, d)] = deviation
            } else {
                out.series[key, default: SeriesLearning()].kept[d] = deviation
            }
        }
        return out
    }
}
