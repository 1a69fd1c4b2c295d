/// The evaluation's own SQL: registering the corpus' sources and reading the scores back. Loading and scoring go
/// through the product's COPY path and `ScoringCycle`.
enum EvaluationQueries {
    /// One source per file: $1 names, $2 the config every one gets.
    static let registerSources = """
        INSERT INTO ad.data_sources (name, config)
        SELECT n, $2::jsonb FROM unnest($1::text[]) AS n
        RETURNING id, name
        """

    /// Points the worker has not scored (0 when the loop is done).
    static let unscored = "SELECT count(*)::int8 FROM ad.data_points WHERE anomaly_score IS NULL"

    /// Every point's score, per source in time order; times as integer microseconds, exact.
    static let scores = """
        SELECT source_id, (extract(epoch FROM "timestamp") * 1000000)::int8, anomaly_score
          FROM ad.data_points
         ORDER BY source_id, "timestamp"
        """
}
