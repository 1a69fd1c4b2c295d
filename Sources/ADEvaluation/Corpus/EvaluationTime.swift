import ADCore

/// Times in evaluation CSVs: `YYYY-MM-DD[ T]HH:MM:SS[.frac][Z|±HH:MM]` (no zone means UTC) or epoch seconds
/// (`1400000000`, `1400000000.25`, optionally negative), as microseconds since 1970-01-01 00:00:00 UTC.
public enum EvaluationTime {
    /// What `parse` accepts, for error messages.
    public static let formats =
        "YYYY-MM-DD HH:MM:SS[.fraction][Z|±HH:MM] (T may replace the space; no zone = UTC) or epoch seconds"

    /// Parses one time; nil for anything else, including impossible dates (2023-02-29) and years past 9999.
    /// Digits of a fraction beyond microseconds are dropped.
    public static func parse(_ text: some StringProtocol) -> Int64? {
        var copy = String(text)
        return copy.withUTF8 { parse($0) }
    }

    /// Parses UTF-8 bytes (see `parse(_:)`).
    public static func parse(_ b: UnsafeBufferPointer<UInt8>) -> Int64? {
        if b.count >= 19, b[4] == 45 { return iso(b) }
        return epoch(b)
    }

    /// Days in a month of the proleptic Gregorian calendar.
    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    private static func iso(_ b: UnsafeBufferPointer<UInt8>) -> Int64? {
        let n = b.count
        guard b[7] == 45, b[10] == 32 || b[10] == 84, b[13] == 58, b[16] == 58 else { return nil }
        let year = digits(b, 0, 4), month = digits(b, 5, 2), day = digits(b, 8, 2)
        let hour = digits(b, 11, 2), minute = digits(b, 14, 2), second = digits(b, 17, 2)
        guard year >= 0, (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
            (0..<24).contains(hour), (0..<60).contains(minute), (0..<60).contains(second)
        else { return nil }
        var i = 19
        var micros: Int64 = 0
        if i < n, b[i] == 46 {  // '.'
            i += 1
            var places = 0
            let start = i
            while i < n, b[i] &- 48 <= 9 {
                if places < 6 { micros = micros * 10 + Int64(b[i] - 48); places += 1 }
                i += 1
            }
            guard i > start else { return nil }
            while places < 6 { micros *= 10; places += 1 }
        }
        var offset: Int64 = 0
        if i < n {
            if b[i] == 90, i + 1 == n {  // 'Z'
                i += 1
            } else if b[i] == 43 || b[i] == 45, i + 6 == n, b[i + 3] == 58 {  // ±HH:MM
                let h = digits(b, i + 1, 2), m = digits(b, i + 4, 2)
                guard (0...23).contains(h), (0..<60).contains(m) else { return nil }
                offset = (h * 60 + m) * 60 * (b[i] == 45 ? -1 : 1)
                i += 6
            } else {
                return nil
            }
        }
        guard i == n else { return nil }
        let seconds =
            ((CivilCalendar.days(year: year, month: month, day: day) * 24 + hour) * 60 + minute) * 60 + second - offset
        return seconds * 1_000_000 + micros
    }

    /// 253402300799 is 9999-12-31 23:59:59: the same range the ISO form allows, and far inside PostgreSQL's.
    private static func epoch(_ b: UnsafeBufferPointer<UInt8>) -> Int64? {
        let n = b.count
        var i = 0
        let negative = n > 0 && b[0] == 45
        if negative { i += 1 }
        var whole: Int64 = 0, wholeDigits = 0
        while i < n, b[i] &- 48 <= 9 {
            guard wholeDigits < 12 else { return nil }
            whole = whole * 10 + Int64(b[i] - 48)
            wholeDigits += 1
            i += 1
        }
        var micros: Int64 = 0, fractionDigits = 0
        if i < n, b[i] == 46 {
            i += 1
            while i < n, b[i] &- 48 <= 9 {
                if fractionDigits < 6 { micros = micros * 10 + Int64(b[i] - 48) }
                fractionDigits += 1
                i += 1
            }
            for _ in min(fractionDigits, 6)..<6 { micros *= 10 }
        }
        guard i == n, wholeDigits > 0 || fractionDigits > 0, whole <= 253_402_300_799 else { return nil }
        let value = whole * 1_000_000 + micros
        return negative ? -value : value
    }

    private static func digits(_ b: UnsafeBufferPointer<UInt8>, _ from: Int, _ count: Int) -> Int64 {
        CivilCalendar.digits(b, from, count)
    }
}
