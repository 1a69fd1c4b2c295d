import Foundation
import Testing

@testable import ADHTTP

/// RFC 3339 times on PostgreSQL's calendar. The expected instants are PostgreSQL's own
/// (`SELECT extract(epoch FROM timestamptz '...')`).
@Suite struct RFC3339Tests {
    @Test(arguments: [
        ("2026-01-01T00:00:00Z", 1_767_225_600.0),
        ("2026-01-01T01:00:00.5+01:00", 1_767_225_600.5),
        ("2025-12-31T19:00:00-05:00", 1_767_225_600.0),
        ("2026-01-01t00:00:00z", 1_767_225_600.0),
        ("2026-01-01 00:00:00.000001Z", 1_767_225_600.000001),
        ("2026-01-01T00:00:00.123456789Z", 1_767_225_600.123456789),
        ("2024-02-29T00:00:00Z", 1_709_164_800.0),
        ("2000-02-29T00:00:00Z", 951_782_400.0),
        // Before 1582-10-15 Foundation's parsers are Julian: these were 2 and 10 days early.
        ("0001-01-01T00:00:00Z", -62_135_596_800.0),
        ("1582-10-04T00:00:00Z", -12_220_243_200.0),
        ("1600-01-01T00:00:00Z", -11_676_096_000.0),
        ("9999-12-31T23:59:59Z", 253_402_300_799.0),
        ("2016-12-31T23:59:60Z", 1_483_228_800.0),  // a leap second is the next second, as in PostgreSQL
    ])
    func readsAsPostgreSQLDoes(text: String, epoch: Double) throws {
        let date = try #require(RFC3339.parse(text), "\(text)")
        #expect(abs(date.timeIntervalSince1970 - epoch) < 0.000_001, "\(text)")
    }

    @Test(arguments: [
        "", "2026-01-01", "2026-01-01T00:00:00", "2026-01-01T00:00Z", "26-01-01T00:00:00Z", "2026-1-01T00:00:00Z",
        "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00.1234567890Z", "2026-01-01T00:00:00+0100",
        "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00Zjunk", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z",
        "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-01-01T24:00:00Z",
        "2026-01-01T00:60:00Z", "0000-06-01T00:00:00Z", "yesterday", "2026-01-01T00:00:00 Z", "２０２６-01-01T00:00:00Z",
        // Instants outside years 1 to 9999 in UTC, which PostgreSQL would render as "... BC" or a five-digit year.
        "0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01",
    ])
    func refuses(text: String) {
        #expect(RFC3339.parse(text) == nil, "\(text)")
    }
}
