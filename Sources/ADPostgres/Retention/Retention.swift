import Logging
import PostgresNIO

/// The retention step the worker runs on a timer (`ad.apply_retention()`).
public enum Retention {
    /// Deletes (or drops chunks of) points older than `ad.set_retention()` says; nothing while data is kept forever
    /// or a TimescaleDB retention policy does the work. Returns the rows (or chunks) removed.
    public static func apply(_ connection: PostgresConnection, logger: Logger) async throws -> Int {
        var n = 0
        for try await r in try await connection.query("SELECT ad.apply_retention()", logger: logger).decode(Int.self) {
            n = r
        }
        return n
    }
}
