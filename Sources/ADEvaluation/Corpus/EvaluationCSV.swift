import ADCore
import Foundation

/// How to read the CSVs of an evaluation corpus.
public struct EvaluationCSVOptions: Sendable, Equatable {
    /// The time column's name (matched exactly, else case-insensitively when that is unambiguous).
    public var timeColumn: String
    /// The label column, if the corpus has one; it is not a metric. Its cells are read by `EvaluationCSV.label`.
    public var labelColumn: String?
    /// Columns that are neither a metric nor the label (SKAB's `changepoint`): each must be in the header; their
    /// cells are not read at all. Matched like the time column.
    public var ignoredColumns: [String]
    /// The field separator: one ASCII character other than `"`, CR or LF.
    public var separator: UInt8
    /// What to do with rows whose time does not advance.
    public var repeatedTimestamps: RepeatedTimestamps

    public init(
        timeColumn: String, labelColumn: String? = nil, ignoredColumns: [String] = [],
        separator: UInt8 = UInt8(ascii: ","), repeatedTimestamps: RepeatedTimestamps = .reject
    ) {
        self.timeColumn = timeColumn
        self.labelColumn = labelColumn
        self.ignoredColumns = ignoredColumns
        self.separator = separator
        self.repeatedTimestamps = repeatedTimestamps
    }

    /// NAB's data files: `timestamp,value`; NAB's own corpus repeats a few timestamps, which NAB scores as rows.
    public static let nab = EvaluationCSVOptions(timeColumn: "timestamp", repeatedTimestamps: .shift)

    /// Reads `--separator`: one ASCII character, or `\t` / `tab`.
    public static func separator(_ text: String) -> UInt8? {
        if text == "\\t" || text.lowercased() == "tab" { return 9 }
        guard text.utf8.count == 1, let b = text.utf8.first, b < 128, b != 34, b != 10, b != 13 else { return nil }
        return b
    }
}

/// Reads one CSV file of an evaluation corpus into an `EvaluationSeries`, refusing anything doubtful with an
/// `EvaluationInputError` that names the file and line. Pure: the caller reads the bytes.
///
/// A header line names the columns; every column but the time column (and the label and ignored columns) is a
/// metric. Fields may be quoted (`"a,b"`, `""` for a quote) but not span lines; spaces around fields are ignored;
/// blank lines are skipped; an empty metric cell means the metric is absent at that row.
public enum EvaluationCSV {
    /// - Parameters:
    ///   - data: the file's bytes.
    ///   - path: the file's path relative to the corpus directory (the series' name).
    ///   - file: the file as the user would open it, for messages.
    public static func parse(
        _ data: Data, path: String, file: String, options: EvaluationCSVOptions
    ) throws -> EvaluationSeries {
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw EvaluationInputError(.unreadable, file: file, "is not UTF-8 text")
        }
        return try bytes.withUnsafeBufferPointer {
            try Reader(bytes: $0, path: path, file: file, options: options).read()
        }
    }

    /// Splits one line into fields (`line` holds no line break). Throws a message for a broken quoted field.
    static func fields(_ line: UnsafeBufferPointer<UInt8>, separator sep: UInt8) throws(FieldError) -> [String] {
        var out: [String] = []
        let n = line.count
        var i = 0
        func isSpace(_ c: UInt8) -> Bool { c == 32 || c == 13 || (c == 9 && sep != 9) }
        while true {
            while i < n, isSpace(line[i]) { i += 1 }
            if i < n, line[i] == 34 {  // a quoted field
                var text: [UInt8] = []
                i += 1
                var closed = false
                while i < n {
                    if line[i] == 34 {
                        if i + 1 < n, line[i + 1] == 34 { text.append(34); i += 2; continue }
                        closed = true
                        i += 1
                        break
                    }
                    text.append(line[i])
                    i += 1
                }
                guard closed else {
                    throw FieldError(
                        message:
                            "a quoted field is not closed on this line (line breaks inside fields are not supported)")
                }
                while i < n, isSpace(line[i]) { i += 1 }
                out.append(String(decoding: text, as: UTF8.self))
                if i == n { return out }
                guard line[i] == sep else {
                    throw FieldError(message: "text after the closing quote of field \(out.count)")
                }
                i += 1
            } else {
                let start = i
                while i < n, line[i] != sep { i += 1 }
                var end = i
                while end > start, isSpace(line[end - 1]) { end -= 1 }
                out.append(String(decoding: UnsafeBufferPointer(rebasing: line[start..<end]), as: UTF8.self))
                if i == n { return out }
                i += 1
            }
        }
    }

    struct FieldError: Error { var message: String }

    /// The label cells accepted, case-insensitively, for "normal" and for "anomalous": benchmarks write them as
    /// integers (NAB-style corpora), as floats (SKAB's `anomaly` column is `0.0`/`1.0`) or as booleans.
    public static let labelSpellings = (normal: ["0", "0.0", "false"], anomalous: ["1", "1.0", "true"])

    /// A label cell: false for normal, true for anomalous, nil for anything else (an empty cell, `0.5`, `yes`).
    public static func label(_ cell: String) -> Bool? {
        let folded = cell.lowercased()
        if labelSpellings.normal.contains(folded) { return false }
        if labelSpellings.anomalous.contains(folded) { return true }
        return nil
    }

    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        let path: String
        let file: String
        let options: EvaluationCSVOptions

        func fail(_ code: EvaluationInputError.Code, _ line: Int?, _ message: String) -> EvaluationInputError {
            EvaluationInputError(code, file: file, line: line, message)
        }

        /// Each non-blank line with its 1-based number.
        func forEachLine(_ body: (Int, UnsafeBufferPointer<UInt8>) throws -> Void) rethrows {
            var number = 0
            var start = 0
            let n = bytes.count
            while start < n {
                var end = start
                while end < n, bytes[end] != 10 { end += 1 }
                number += 1
                var stop = end
                if stop > start, bytes[stop - 1] == 13 { stop -= 1 }
                let line = UnsafeBufferPointer(rebasing: bytes[start..<stop])
                if line.contains(where: { $0 != 32 && $0 != 9 }) { try body(number, line) }
                start = end + 1
            }
        }

        func column(_ name: String, in header: [String]) -> Int? {
            if let exact = header.firstIndex(of: name) { return exact }
            let folded = header.indices.filter { header[$0].lowercased() == name.lowercased() }
            return folded.count == 1 ? folded[0] : nil
        }

        func read() throws -> EvaluationSeries {
            let sep = options.separator
            let sepName = sep == 9 ? "tab" : "\"\(Character(Unicode.Scalar(sep)))\""
            var header: [String]?
            var timeIndex = 0, labelIndex: Int?, metricIndex: [Int] = [], ignoredIndex: Set<Int> = []
            var timeText: [String] = [], micros: [Int64] = [], storage: [Int64] = [], lines: [Int] = []
            var values: [[Double?]] = [], valueText: [[String]] = [], labels: [Bool] = []
            var previousLine = 0

            try forEachLine { number, line in
                let fields: [String]
                do {
                    fields = try EvaluationCSV.fields(line, separator: sep)
                } catch let e as FieldError {
                    throw fail(.badRow, number, e.message)
                }
                guard let names = header else {
                    header = try checkHeader(fields, number, sepName: sepName)
                    timeIndex = column(options.timeColumn, in: header!)!
                    labelIndex = options.labelColumn.flatMap { column($0, in: header!) }
                    ignoredIndex = Set(options.ignoredColumns.compactMap { column($0, in: header!) })
                    metricIndex = header!.indices.filter {
                        $0 != timeIndex && $0 != labelIndex && !ignoredIndex.contains($0)
                    }
                    values = metricIndex.map { _ in [] }
                    valueText = metricIndex.map { _ in [] }
                    return
                }
                guard fields.count == names.count else {
                    throw fail(
                        .badRow, number,
                        "\(fields.count) field\(fields.count == 1 ? "" : "s") with separator \(sepName), but the header has \(names.count)"
                    )
                }
                let text = fields[timeIndex]
                guard let t = EvaluationTime.parse(text) else {
                    let shown = text.isEmpty ? "an empty time" : "\"\(text)\" is not a time"
                    throw fail(
                        .badTime, number, "column \"\(names[timeIndex])\": \(shown); expected \(EvaluationTime.formats)"
                    )
                }
                var stored = t
                if let previous = micros.last {
                    if t <= previous {
                        guard options.repeatedTimestamps == .shift else {
                            let what =
                                t == previous
                                ? "repeats the time of line \(previousLine)"
                                : "is earlier than line \(previousLine) (\(timeText.last!)); rows must be in time order"
                            throw fail(.repeatedTime, number, "time \"\(text)\" \(what)")
                        }
                    }
                    stored = max(t, storage.last! + 1)
                }
                var any = false
                for (k, c) in metricIndex.enumerated() {
                    let cell = fields[c]
                    if cell.isEmpty {
                        values[k].append(nil)
                    } else {
                        guard let x = Double(cell), x.isFinite else {
                            throw fail(.badValue, number, "column \"\(names[c])\": \"\(cell)\" is not a finite number")
                        }
                        values[k].append(x)
                        any = true
                    }
                    valueText[k].append(cell)
                }
                guard any else {
                    throw fail(
                        .badValue, number,
                        "no metric has a value (every metric cell is empty); remove the row or fill a cell")
                }
                if let li = labelIndex {
                    guard let label = EvaluationCSV.label(fields[li]) else {
                        throw fail(
                            .badLabel, number,
                            "column \"\(names[li])\": the label must be 0 or 1 (also accepted: 0.0/1.0, false/true), "
                                + "got \"\(fields[li])\"")
                    }
                    labels.append(label)
                }
                timeText.append(text); micros.append(t); storage.append(stored); lines.append(number)
                previousLine = number
            }
            guard let names = header else {
                throw fail(.emptyFile, nil, "is empty: expected a header line naming the columns")
            }
            guard !timeText.isEmpty else { throw fail(.emptyFile, nil, "has a header but no data rows") }
            return EvaluationSeries(
                path: path, timeColumn: names[timeIndex], timeText: timeText, micros: micros, storageMicros: storage,
                metrics: metricIndex.map { names[$0] }, values: values, valueText: valueText,
                labelColumn: labelIndex.map { names[$0] }, labels: labelIndex == nil ? nil : labels, lines: lines)
        }

        func checkHeader(_ names: [String], _ number: Int, sepName: String) throws -> [String] {
            if names.count == 1 {
                let others = [
                    (";", "a semicolon", "';'"), ("\t", "a tab", "tab"), ("|", "a |", "'|'"), (",", "a comma", "','"),
                ]
                .filter { names[0].contains($0.0) && $0.0 != String(Character(Unicode.Scalar(options.separator))) }
                let hint = others.first.map { "; it contains \($0.1): pass --separator \($0.2)" } ?? ""
                throw fail(
                    .badHeader, number,
                    "the header \"\(names[0])\" has one column with separator \(sepName)\(hint)"
                        + (hint.isEmpty ? "; a time column and at least one metric column are needed" : ""))
            }
            var seen: Set<String> = []
            for (k, name) in names.enumerated() {
                guard !name.isEmpty else { throw fail(.badHeader, number, "column \(k + 1) of the header has no name") }
                guard seen.insert(name).inserted else {
                    throw fail(.badHeader, number, "column \"\(name)\" appears twice in the header")
                }
            }
            let list = names.map { "\"\($0)\"" }.joined(separator: ", ")
            guard let t = column(options.timeColumn, in: names) else {
                throw fail(
                    .missingColumn, number, "no time column \"\(options.timeColumn)\" in the header (columns: \(list))")
            }
            var label: Int?
            if let l = options.labelColumn {
                guard let i = column(l, in: names) else {
                    throw fail(.missingColumn, number, "no label column \"\(l)\" in the header (columns: \(list))")
                }
                guard i != t else {
                    throw fail(.badHeader, number, "the label column and the time column are both \"\(names[t])\"")
                }
                label = i
            }
            var ignored: Set<Int> = []
            for name in options.ignoredColumns {
                guard let i = column(name, in: names) else {
                    throw fail(
                        .missingColumn, number, "no column \"\(name)\" to ignore in the header (columns: \(list))")
                }
                guard i != t, i != label else {
                    throw fail(
                        .badHeader, number,
                        "the ignored column \"\(names[i])\" is the \(i == t ? "time" : "label") column")
                }
                ignored.insert(i)
            }
            guard names.indices.contains(where: { $0 != t && $0 != label && !ignored.contains($0) }) else {
                let others = ["time", label == nil ? nil : "label", ignored.isEmpty ? nil : "ignored"].compactMap { $0 }
                let listed =
                    others.count == 1 ? others[0] : others.dropLast().joined(separator: ", ") + " and " + others.last!
                throw fail(
                    .badHeader, number, "no metric column besides the \(listed) column\(others.count > 1 ? "s" : "")")
            }
            return names
        }
    }
}
