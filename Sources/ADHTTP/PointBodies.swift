import ADPostgres
import CSV
import Foundation

/// A points request body in the form the database takes it (`PointBatch`), by its content type: JSON (one point or
/// an array), NDJSON (one point a line) or CSV (a header `timestamp,metric,...`, then one point a row). Only the
/// framing is read here; every check of the points themselves is the database's (the trigger on ad.data_points).
public enum PointBodies {
    public enum Format: String, Sendable {
        case json, ndjson, csv
    }

    /// The format a `Content-Type` names, or nil.
    public static func format(contentType: String?) -> Format? {
        let type = (contentType ?? "application/json").split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        switch type {
        case "application/json": return .json
        case "application/x-ndjson", "application/jsonl", "application/ndjson": return .ndjson
        case "text/csv": return .csv
        default: return nil
        }
    }

    /// The batch for `body` in `format`. NDJSON skips blank lines; CSV cells that read as JSON numbers go as
    /// numbers, others as strings (so the database names them: `metric "cpu" must be a finite number, got string`),
    /// and an empty cell leaves its metric out of that point.
    public static func batch(_ body: String, format: Format) throws(Problem) -> PointBatch {
        switch format {
        case .json:
            return .json(body)
        case .ndjson:
            var lines: [String] = []
            var numbers: [Int] = []
            var n = 0
            // "\r\n" is one Character in Swift: split on either.
            for text in body.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
                n += 1
                if text.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
                lines.append(String(text))
                numbers.append(n)
            }
            return .lines(lines, lineNumbers: numbers)
        case .csv:
            return try csv(body)
        }
    }

    static func csv(_ body: String) throws(Problem) -> PointBatch {
        let reader: CSVReader
        do {
            // A byte-order mark (Excel writes one) is not part of the first column's name.
            let text = body.hasPrefix("\u{FEFF}") ? String(body.dropFirst()) : body
            reader = try CSVReader(string: text, hasHeaderRow: true, trimFields: true)
        } catch {
            throw Problem(.badRequest, "the CSV body does not parse: \(error)")
        }
        guard let header = reader.headerRow, !header.isEmpty else {
            throw Problem(.badRequest, "the CSV body has no header row", hint: "The first row is: timestamp,metric,...")
        }
        guard let timeColumn = header.firstIndex(where: { $0.lowercased() == "timestamp" }) else {
            throw Problem(
                .badRequest, "the CSV header has no timestamp column (got \(header.prefix(5).joined(separator: ",")))",
                hint: "The first row is: timestamp,metric,...")
        }
        if let empty = header.firstIndex(where: \.isEmpty) {
            throw Problem(.badRequest, "the CSV header's column \(empty + 1) has no name")
        }
        if Set(header).count != header.count {
            throw Problem(.badRequest, "the CSV header names a column twice")
        }
        var lines: [String] = []
        var numbers: [Int] = []
        var line = 1
        while let row = reader.next() {
            line += 1
            if row.allSatisfy(\.isEmpty) { continue }
            guard row.count == header.count else {
                var p = Problem(
                    .badRequest, "CSV line \(line) has \(row.count) fields; the header has \(header.count)")
                p.line = line
                p.index = lines.count
                throw p
            }
            var values: [String] = []
            for (i, cell) in row.enumerated() where i != timeColumn && !cell.isEmpty {
                values.append("\(jsonString(header[i])):\(isJSONNumber(cell) ? cell : jsonString(cell))")
            }
            lines.append(
                "{\"timestamp\":\(jsonString(row[timeColumn])),\"values\":{\(values.joined(separator: ","))}}")
            numbers.append(line)
        }
        return .lines(lines, lineNumbers: numbers)
    }

    /// Whether `s` is a number in JSON's grammar (RFC 8259 section 6).
    static func isJSONNumber(_ s: String) -> Bool {
        s.range(of: #"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$"#, options: .regularExpression) != nil
    }

    /// `s` as a JSON string literal. By hand rather than with JSONEncoder: it runs for every header name and
    /// timestamp of a bulk CSV body, where an encoder per cell cost more than the rest of the conversion.
    static func jsonString(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    out += String(format: "\\u%04x", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
