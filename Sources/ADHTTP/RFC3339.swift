import Foundation

/// RFC 3339 times (`2026-01-01T00:00:00Z`, `2026-01-01T01:00:00.5+01:00`) read as PostgreSQL reads them: on the
/// proleptic Gregorian calendar. Foundation's parsers (ISO8601DateFormatter, Date.ISO8601FormatStyle) switch to the
/// Julian calendar before 1582-10-15, so `0001-01-01T00:00:00Z` became a Date two days earlier, which PostgreSQL
/// stored and showed as `0001-12-30 BC` (schemathesis found it through a training window). Written by hand for that
/// reason: no package here parses on the proleptic calendar. Also takes `t`, `z` and a space for `T`, as
/// ad.rfc3339_time does for points. Times whose UTC instant falls outside years 1 to 9999 are refused: PostgreSQL
/// would render them outside RFC 3339 (`... BC`, a five-digit year).
public enum RFC3339 {
    /// The earliest and latest instants taken: 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z.
    public static let earliest = Date(timeIntervalSince1970: -62_135_596_800)
    public static let latest = Date(timeIntervalSince1970: 253_402_300_799.999_999)

    public static func parse(_ text: String) -> Date? {
        let u = Array(text.utf8)
        // yyyy-mm-ddThh:mm:ss, then an optional fraction and the offset.
        guard u.count >= 20, u[4] == UInt8(ascii: "-"), u[7] == UInt8(ascii: "-"),
            [UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")].contains(u[10]), u[13] == UInt8(ascii: ":"),
            u[16] == UInt8(ascii: ":"),
            let year = digits(u, 0, 4), let month = digits(u, 5, 2), let day = digits(u, 8, 2),
            let hour = digits(u, 11, 2), let minute = digits(u, 14, 2), let second = digits(u, 17, 2)
        else { return nil }
        var i = 19
        var fraction = 0.0
        if u[i] == UInt8(ascii: ".") {
            var scale = 0.1
            i += 1
            let start = i
            while i < u.count, let d = digit(u[i]) {
                fraction += Double(d) * scale
                scale /= 10
                i += 1
            }
            guard i > start, i - start <= 9 else { return nil }
        }
        guard i < u.count else { return nil }
        var offset = 0
        switch u[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            guard i + 1 == u.count else { return nil }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard i + 6 == u.count, u[i + 3] == UInt8(ascii: ":"), let h = digits(u, i + 1, 2),
                let m = digits(u, i + 4, 2), h <= 23, m <= 59
            else { return nil }
            offset = (h * 60 + m) * 60 * (u[i] == UInt8(ascii: "-") ? -1 : 1)
        default:
            return nil
        }
        guard year >= 1, (1...12).contains(month), day >= 1, day <= daysIn(month, of: year), hour <= 23,
            minute <= 59, second <= 60
        else { return nil }
        let days = daysFromCivil(year, month, day)
        let seconds = Double(days * 86_400 + hour * 3600 + minute * 60 + second - offset) + fraction
        let date = Date(timeIntervalSince1970: seconds)
        guard date >= earliest, date <= latest else { return nil }
        return date
    }

    static func digit(_ c: UInt8) -> Int? {
        c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") ? Int(c - UInt8(ascii: "0")) : nil
    }

    static func digits(_ u: [UInt8], _ at: Int, _ count: Int) -> Int? {
        var n = 0
        for k in at..<(at + count) {
            guard let d = digit(u[k]) else { return nil }
            n = n * 10 + d
        }
        return n
    }

    static func daysIn(_ month: Int, of year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days from 1970-01-01 to year-month-day on the proleptic Gregorian calendar (Howard Hinnant's
    /// days_from_civil).
    static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
