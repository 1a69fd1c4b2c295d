/// The pure decisions of a `db_poll` source's poll (README, "Feed it from another database"): the statement the
/// worker sends to the source, when to try again after a failure, and what a poll's rows mean for the watermark.
public enum PollPlan {
    /// The most bytes one poll reads from the source before it gives up (a careless query's huge rows must not
    /// exhaust the worker's memory); max_rows bounds the count.
    public static let maxBytes = 64 * 1024 * 1024

    /// Columns of the statement `sourceStatement` builds, in order.
    public static let watermarkAlias = "ad_poll_watermark"
    public static let timeAlias = "ad_poll_time"
    public static let valuesAlias = "ad_poll_values"

    /// `name` as a quoted SQL identifier (doubling any double quote), so a column name is never SQL.
    public static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// The statement the worker runs on the source: the owner's query as a subquery, only rows with a watermark
    /// at or past the last one (`$3`, its text form, typed by the server as the column), in watermark order, at
    /// most `maxRows`. Each row gives the watermark and the time column as text (the session is in UTC), and every other non-NULL column as a
    /// JSON object of metric name to value (`$1`, `$2` are the time and watermark column names, removed from it).
    ///
    /// The query itself is SQL the database owner wrote (`ad.add_poll_source` is owner-only): it is the one thing
    /// spliced, on lines of its own so a trailing `--` comment cannot swallow the wrapper. The extended protocol
    /// refuses a second statement; the source transaction is read-only.
    public static func sourceStatement(
        query: String, timeColumn: String, watermarkColumn: String, maxRows: Int, resuming: Bool
    ) -> String {
        let wm = "q." + quoteIdentifier(watermarkColumn)
        let time = "q." + quoteIdentifier(timeColumn)
        return """
            SELECT (\(wm))::text AS \(watermarkAlias), (\(time))::timestamptz::text AS \(timeAlias),
                   jsonb_strip_nulls(to_jsonb(q) - $1::text - $2::text) AS \(valuesAlias)
              FROM (
            \(query)
            ) AS q
             WHERE \(resuming ? "\(wm) >= $3" : "\(wm) IS NOT NULL")
             ORDER BY \(wm)
             LIMIT \(max(1, maxRows))
            """
    }

    /// Seconds to wait before polling a failing source again: the interval doubled per consecutive failure, at
    /// most five minutes (or the interval, when that is longer), with ±20% jitter so workers do not retry in step.
    public static func retryDelay(interval: Double, failures: Int, random unit: Double) -> Double {
        let cap = max(interval, 300)
        let ceiling = min(cap, interval * Double(1 << min(max(failures - 1, 0), 20)))
        return jittered(ceiling, random: unit)
    }

    /// What one poll's rows mean, from their watermarks in the order read.
    public struct Outcome: Sendable, Equatable {
        /// The watermark to store: the last row's, or nil when no row was read (the old one stays).
        public var watermark: String?
        /// Fewer rows than max_rows: the poll reached the source's newest row.
        public var caughtUp: Bool
        /// Every row of a full poll had the stored watermark: the poll cannot move past it (more than max_rows
        /// rows share one watermark value: at least max_rows), and says so.
        public var stuck: Bool
    }

    public static func outcome(watermarks: [String], previous: String?, maxRows: Int) -> Outcome {
        let full = watermarks.count >= maxRows
        let stuck = full && previous != nil && watermarks.allSatisfy { $0 == previous }
        return Outcome(watermark: watermarks.last, caughtUp: !full, stuck: stuck)
    }

    /// The error a stuck poll records.
    public static func stuckMessage(watermarkColumn: String, value: String, maxRows: Int) -> String {
        "max_rows (\(maxRows)) or more rows have the watermark \(watermarkColumn) = \(value): the poll cannot move "
            + "past them; raise max_rows with ad.add_poll_source, or use a watermark column with fewer ties"
    }
}
