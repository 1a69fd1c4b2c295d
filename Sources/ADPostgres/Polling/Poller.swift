import ADCore
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// A value bound as text with no type (OID 0): the server gives the parameter the type of the column it is
/// compared with, so one stored text watermark serves a timestamptz, a bigint or a numeric column alike.
struct UntypedText: PostgresNonThrowingEncodable {
    let value: String
    static var psqlType: PostgresDataType { PostgresDataType(0) }
    static var psqlFormat: PostgresFormat { .text }
    func encode<E: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<E>) {
        buffer.writeString(value)
    }
}

/// A poll's failure on the source's side (or at the door), in words for `ad.poll_status.last_error`: it is recorded
/// and retried with backoff, and the worker goes on. It never quotes a DSN's password.
public struct PollFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// What one poll did.
public struct PollResult: Sendable, Equatable {
    public var source: String
    public var read = 0
    public var inserted = 0
    public var duplicate = 0
    public var rejected = 0
    public var firstRejection: String?
    public var caughtUp = false
    /// The error recorded for the poll (then nothing was inserted, unless the poll was stuck on ties).
    public var error: String?
}

/// One source's configuration and watermark, as `ad_internal.claim_poll()` returns it (its row locked).
struct PollClaim {
    var id: UUID
    var name: String
    var connection: String
    var dsn: String?
    var query: String
    var timeColumn: String
    var watermarkColumn: String
    var maxRows: Int
    var queryTimeout: Double
    var watermark: String?
    var interval: Double
    var failures: Int
}

/// db_poll sources (README, "Feed it from another database"). `pollOne` claims one due source (its row locked
/// `FOR UPDATE SKIP LOCKED`, so two workers never poll one source at once), reads its new rows from the source in
/// a read-only transaction under the source's statement timeout, and inserts them through `ad.data_points` while
/// moving the watermark in the same transaction as the claim: the rows arrive exactly once, and a worker that dies
/// mid-poll leaves the watermark where the rows it inserted end. A source that fails is recorded with its error
/// and polled again after a backoff; the worker's own database failing is thrown to the caller.
public struct Poller: Sendable {
    /// The worker's own database, where a `local` source's query runs (as the worker's login).
    public let localURL: DatabaseURL
    public let application: String
    public let logger: Logger

    public init(localURL: DatabaseURL, application: String, logger: Logger) {
        self.localURL = localURL
        self.application = application
        self.logger = logger
    }

    /// Polls one due source on `conn` (the worker's database, no transaction open). nil when none is due.
    public func pollOne(_ conn: PostgresConnection) async throws -> PollResult? {
        try await conn.query("BEGIN", logger: logger)
        do {
            guard let claim = try await claim(conn) else {
                try await conn.query("COMMIT", logger: logger)
                return nil
            }
            var result = PollResult(source: claim.name)
            do {
                let rows = try await fetch(claim)
                let outcome = PollPlan.outcome(
                    watermarks: rows.map(\.watermark), previous: claim.watermark, maxRows: claim.maxRows)
                result.read = rows.count
                result.caughtUp = outcome.caughtUp
                try await conn.query("SAVEPOINT poll_rows", logger: logger)
                do {
                    try await finish(conn, claim, rows, outcome, into: &result)
                } catch let error as PSQLError where error.serverInfo != nil {
                    // The door refused the batch for a reason its per-row tests did not see (a trigger of the
                    // owner's, say): nothing of it stays, the watermark stays, and the error is the poll's.
                    try await conn.query("ROLLBACK TO SAVEPOINT poll_rows", logger: logger)
                    result.inserted = 0
                    throw PollFailure("inserting the rows failed: \(describe(error))")
                }
                if outcome.stuck, let value = outcome.watermark {
                    let message = PollPlan.stuckMessage(
                        watermarkColumn: claim.watermarkColumn, value: value, maxRows: claim.maxRows)
                    try await fail(conn, claim, message)
                    result.error = message
                }
            } catch let failure as PollFailure {
                try await fail(conn, claim, failure.description)
                result.error = failure.description
            }
            try await conn.query("COMMIT", logger: logger)
            return result
        } catch {
            _ = try? await conn.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    /// Seconds until the next source is due (at most `cap`, at least 0); `cap` when none is configured.
    public func nextDue(_ conn: PostgresConnection, cap: Double) async throws -> Double {
        var out: Double? = nil
        for try await s in try await conn.query("SELECT ad_internal.next_poll_in()", logger: logger).decode(
            Double?.self)
        {
            out = s
        }
        return min(cap, max(0, out ?? cap))
    }

    func claim(_ conn: PostgresConnection) async throws -> PollClaim? {
        let rows = try await conn.query(
            """
            SELECT source_id, source_name, connection, dsn, query, time_column, watermark_column, max_rows,
                   query_timeout, watermark, poll_interval, consecutive_failures
              FROM ad_internal.claim_poll()
            """, logger: logger)
        for try await r in rows {
            let c = try r.decode(
                (UUID, String, String, String?, String, String, String, Int, Double, String?, Double, Int).self)
            return PollClaim(
                id: c.0, name: c.1, connection: c.2, dsn: c.3, query: c.4, timeColumn: c.5, watermarkColumn: c.6,
                maxRows: c.7, queryTimeout: c.8, watermark: c.9, interval: c.10, failures: c.11)
        }
        return nil
    }

    struct SourceRow {
        var watermark: String
        /// The time column as text in UTC ("" when NULL: the door's check names it).
        var time: String
        var values: String
    }

    /// Reads the source's rows past the watermark: a connection of its own, a read-only transaction, the source's
    /// statement timeout, at most max_rows rows and `PollPlan.maxBytes` bytes. Every failure is a `PollFailure`.
    func fetch(_ claim: PollClaim) async throws -> [SourceRow] {
        let url: DatabaseURL
        if claim.connection == "dsn" {
            guard let dsn = claim.dsn else { throw PollFailure("the source's DSN is missing: set it again") }
            do {
                url = try DatabaseURL(dsn)
            } catch {
                // DatabaseURL's messages never quote a password.
                throw PollFailure("the source's DSN is not a valid URL: \(error)")
            }
        } else {
            url = localURL
        }
        let limits = SessionLimits(
            statementTimeout: claim.queryTimeout, lockTimeout: claim.queryTimeout, idleInTransactionTimeout: 60)
        let conn: PostgresConnection
        do {
            conn = try await Database.connect(url, logger: logger, applicationName: application, limits: limits)
        } catch let error as DatabaseError where claim.connection == "dsn" {
            // The DSN is a secret and ad.poll_status is for readers: not even its host, user or database is shown.
            throw PollFailure("the source database (its DSN): \(error.withoutAddress)")
        } catch {
            throw PollFailure(String(describing: error))  // this database: DatabaseError.connect, password masked
        }
        do {
            let rows = try await read(conn, claim)
            try? await conn.close()
            return rows
        } catch {
            try? await conn.close()
            throw error
        }
    }

    private func read(_ conn: PostgresConnection, _ claim: PollClaim) async throws -> [SourceRow] {
        let statement = PollPlan.sourceStatement(
            query: claim.query, timeColumn: claim.timeColumn, watermarkColumn: claim.watermarkColumn,
            maxRows: claim.maxRows, resuming: claim.watermark != nil)
        var bindings = PostgresBindings(capacity: 3)
        bindings.append(claim.timeColumn)
        bindings.append(claim.watermarkColumn)
        if let w = claim.watermark { bindings.append(UntypedText(value: w)) }
        var out: [SourceRow] = []
        var bytes = 0
        do {
            // READ ONLY: the query cannot write, whatever it calls. Times and watermarks travel as text in UTC
            // and ISO form, which reads back as the same value.
            for setup in [
                "BEGIN TRANSACTION READ ONLY", "SET LOCAL TimeZone TO 'UTC'", "SET LOCAL DateStyle TO 'ISO, YMD'",
                "SET LOCAL IntervalStyle TO 'iso_8601'",
            ] {
                try await conn.query(PostgresQuery(unsafeSQL: setup), logger: logger)
            }
            let rows = try await conn.query(PostgresQuery(unsafeSQL: statement, binds: bindings), logger: logger)
            for try await row in rows {
                let cells = Array(row)
                for cell in cells { bytes += cell.bytes?.readableBytes ?? 0 }
                if bytes > PollPlan.maxBytes {
                    throw PollFailure(
                        "the poll read more than \(PollPlan.maxBytes / 1_048_576) MB in \(out.count + 1) rows: lower "
                            + "max_rows, or leave large columns out of the query")
                }
                let (w, t, v) = try row.decode((String, String?, String).self)
                out.append(SourceRow(watermark: w, time: t ?? "", values: v))
            }
            try await conn.query("ROLLBACK", logger: logger)
        } catch let failure as PollFailure {
            throw failure
        } catch {
            throw PollFailure("the poll query failed on the source: \(describe(error))")
        }
        return out
    }

    func finish(
        _ conn: PostgresConnection, _ claim: PollClaim, _ rows: [SourceRow], _ outcome: PollPlan.Outcome,
        into result: inout PollResult
    ) async throws {
        let times = rows.map(\.time), values = rows.map(\.values)
        // Rows come in watermark order: those at the previous watermark lead, and were read (and judged) before.
        let reread = claim.watermark.map { w in rows.prefix { $0.watermark == w }.count } ?? 0
        let counts = try await conn.query(
            """
            SELECT inserted, duplicate, rejected, first_rejection
              FROM ad_internal.finish_poll(\(claim.id), \(outcome.watermark), \(outcome.caughtUp),
                   coalesce((SELECT array_agg(NULLIF(u.t, '')::timestamptz ORDER BY u.o)
                               FROM unnest(\(times)::text[]) WITH ORDINALITY AS u(t, o)), '{}'),
                   \(values)::text[]::jsonb[], \(reread)::integer)
            """, logger: logger)
        for try await c in counts.decode((Int, Int, Int, String?).self) {
            result.inserted = c.0
            result.duplicate = c.1
            result.rejected = c.2
            result.firstRejection = c.3
        }
    }

    func fail(_ conn: PostgresConnection, _ claim: PollClaim, _ message: String) async throws {
        let delay = PollPlan.retryDelay(
            interval: claim.interval, failures: claim.failures + 1, random: Double.random(in: 0...1))
        try await conn.query(
            "SELECT ad_internal.fail_poll(\(claim.id), \(message), \(delay))", logger: logger)
    }
}
