import ADCore
import ADEvaluation
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Loads points with `COPY ad.data_points (source_id, "timestamp", values) FROM STDIN`, the fastest way in:
/// what `adworker bench` measures ingest with, and what a loader would use.
public struct PointCopier: Sendable {
    /// One point: source, time in microseconds since the Unix epoch, values as JSON text.
    public struct Point: Sendable {
        public var source: UUID
        public var micros: Int64
        public var values: String
        public init(source: UUID, micros: Int64, values: String) {
            self.source = source; self.micros = micros; self.values = values
        }
    }

    public let logger: Logger
    public init(logger: Logger) { self.logger = logger }

    /// Encodes points as COPY text-format rows (tab-separated, newline-terminated). Rendered JSON carries no raw tab
    /// or line break, but a string in it may hold a backslash (`{"a \"b\"": 1}`), which COPY's text format would
    /// read as an escape: those are doubled.
    public static func encode(_ points: ArraySlice<Point>) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: points.count * 96)
        for p in points {
            buffer.writeString(p.source.uuidString)
            buffer.writeInteger(UInt8(ascii: "\t"))
            buffer.writeString(timestamp(p.micros))
            buffer.writeInteger(UInt8(ascii: "\t"))
            if p.values.utf8.contains(where: { $0 == 92 || $0 == 9 || $0 == 10 || $0 == 13 }) {
                for b in p.values.utf8 {
                    switch b {
                    case 92: buffer.writeStaticString("\\\\")
                    case 9: buffer.writeStaticString("\\t")
                    case 10: buffer.writeStaticString("\\n")
                    case 13: buffer.writeStaticString("\\r")
                    default: buffer.writeInteger(b)
                    }
                }
            } else {
                buffer.writeString(p.values)
            }
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
        return buffer
    }

    /// Streams one encoded chunk as one COPY (its own transaction when the connection is in autocommit).
    public func copy(_ chunk: ByteBuffer, on connection: PostgresConnection) async throws {
        // postgres-nio quotes the table name as one identifier (so it cannot carry a schema) and the column names:
        // the schema comes from search_path.
        try await connection.query("SET search_path TO ad, pg_catalog", logger: logger)
        try await connection.copyFrom(
            table: "data_points", columns: ["source_id", "timestamp", "values"],
            logger: logger
        ) { writer in
            try await writer.write(chunk)
        }
    }

    /// `YYYY-MM-DD HH:MM:SS.ffffff+00` for microseconds since the Unix epoch (`CivilCalendar`, no Foundation).
    static func timestamp(_ micros: Int64) -> String {
        let (days, rem, fraction) = CivilCalendar.split(micros: micros)
        let (y, m, d) = CivilCalendar.date(days: days)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let micro = String(fraction)
        return "\(y)-\(two(m))-\(two(d)) \(two(rem / 3600)):\(two(rem % 3600 / 60)):\(two(rem % 60))."
            + String(repeating: "0", count: 6 - micro.count) + micro + "+00"
    }
}
