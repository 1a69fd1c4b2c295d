/// Calendar arithmetic on the proleptic Gregorian calendar (H. Hinnant's days-from-civil and civil-from-days), for
/// the timestamp parsers and formatters that run once per row and so avoid Foundation's calendar.
public enum CivilCalendar {
    /// Days since 1970-01-01 of a civil date.
    public static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The civil date of a day count since 1970-01-01.
    public static func date(days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// Microseconds since the epoch as whole days, the second of that day and the microsecond of that second (all
    /// floored, so times before 1970 split correctly).
    public static func split(micros: Int64) -> (days: Int64, second: Int64, micro: Int64) {
        var seconds = micros / 1_000_000
        var micro = micros % 1_000_000
        if micro < 0 { micro += 1_000_000; seconds -= 1 }
        var days = seconds / 86_400
        var second = seconds % 86_400
        if second < 0 { second += 86_400; days -= 1 }
        return (days, second, micro)
    }

    /// The decimal number in `b[from ..< from + count]`, or -1 if a byte is not a digit.
    public static func digits(_ b: UnsafeBufferPointer<UInt8>, _ from: Int, _ count: Int) -> Int64 {
        var v: Int64 = 0
        for k in from..<(from + count) {
            let c = b[k] &- 48
            if c > 9 { return -1 }
            v = v * 10 + Int64(c)
        }
        return v
    }
}
