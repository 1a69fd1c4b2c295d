import ADCore
import Foundation

/// The NAB corpus layout: labelled windows per data file (`labels/combined_windows.json`) and, optionally, the data
/// directory (`data/<category>/<file>.csv`) to check results against. Loads a detector's results laid out as NAB's
/// `results/<detector>/<category>/<detector>_<file>.csv` (columns `timestamp`, `anomaly_score`, optional `label`).
public struct NABCorpus: Sendable {
    /// Windows keyed by the data file's relative path, e.g. `realKnownCause/nyc_taxi.csv`.
    public var windows: [String: [NABWindow]]
    /// The data directory; when set, results are checked row by row against the data files' timestamps.
    public var dataDirectory: URL?

    /// A corpus from its windows and optional data directory.
    public init(windows: [String: [NABWindow]], dataDirectory: URL? = nil) {
        self.windows = windows
        self.dataDirectory = dataDirectory
    }

    /// Loads a NAB checkout or dataset copy: `labels/combined_windows.json` and `data/`.
    public static func load(nabDirectory: URL) throws -> NABCorpus {
        try load(
            windowsFile: nabDirectory.appendingPathComponent("labels/combined_windows.json"),
            dataDirectory: nabDirectory.appendingPathComponent("data"))
    }

    /// Loads the windows file and remembers the data directory (which is only read by `loadResults`).
    public static func load(windowsFile: URL, dataDirectory: URL? = nil) throws -> NABCorpus {
        let data = try readFile(windowsFile)
        return NABCorpus(windows: try decodeWindows(from: data, path: windowsFile.path), dataDirectory: dataDirectory)
    }

    /// Decodes a `combined_windows.json` document: `{"category/file.csv": [["start", "end"], …], …}`.
    public static func decodeWindows(
        from data: Data, path: String = "combined_windows.json"
    ) throws -> [String: [NABWindow]] {
        let raw: [String: [[String]]]
        do {
            raw = try JSONDecoder().decode([String: [[String]]].self, from: data)
        } catch {
            throw NABError.malformedJSON(path: path, reason: "expected {file: [[start, end], …]}: \(error)")
        }
        var out: [String: [NABWindow]] = [:]
        for (file, pairs) in raw {
            out[file] = try pairs.map { pair in
                guard pair.count == 2 else {
                    throw NABError.malformedJSON(
                        path: path, reason: "\(file): a window needs [start, end], got \(pair)")
                }
                guard let start = NABTimestamp(pair[0]), let end = NABTimestamp(pair[1]) else {
                    throw NABError.malformedJSON(path: path, reason: "\(file): bad window timestamp in \(pair)")
                }
                return NABWindow(start: start, end: end)
            }
        }
        return out
    }

    /// Loads a detector's results for every file of the corpus, sorted by relative path.
    /// - Parameters:
    ///   - directory: the detector's results directory (`results/<detector>`), holding `<category>/<detector>_<file>.csv`.
    ///   - detector: the file-name prefix; the directory's last component by default.
    /// - Throws: `NABError` naming the missing file, or the file and line of a malformed row, or a window or data mismatch.
    public func loadResults(directory: URL, detector: String? = nil) throws -> [NABFile] {
        let prefix = detector ?? directory.lastPathComponent
        return try windows.keys.sorted().map { name in
            let slash = name.lastIndex(of: "/")
            let folder = slash.map { String(name[..<$0]) }
            let base = slash.map { String(name[name.index(after: $0)...]) } ?? name
            var url = directory
            if let folder { url.appendPathComponent(folder) }
            url.appendPathComponent("\(prefix)_\(base)")
            let rows = try NABCorpus.parseResults(try NABCorpus.readFile(url), file: url.path)
            if let dataDirectory {
                let dataURL = dataDirectory.appendingPathComponent(name)
                let stamps = try NABCorpus.parseTimestamps(try NABCorpus.readFile(dataURL), file: dataURL.path)
                guard stamps.count == rows.count else {
                    throw NABError.dataMismatch(
                        file: url.path, reason: "\(rows.count) rows, but \(dataURL.path) has \(stamps.count)")
                }
                if let i = stamps.indices.first(where: { stamps[$0] != rows[$0].timestamp }) {
                    throw NABError.dataMismatch(
                        file: url.path,
                        reason: "line \(i + 2) is \(rows[i].timestamp), but \(dataURL.path) has \(stamps[i])")
                }
            }
            return try NABFile(name: name, rows: rows, windows: windows[name] ?? [])
        }
    }

    /// Parses a results CSV (header with `timestamp` and `anomaly_score`, optionally `label`; other columns ignored).
    public static func parseResults(_ data: Data, file: String) throws -> [NABRow] {
        var rows: [NABRow] = []
        try forEachRow(data, file: file, required: ["timestamp", "anomaly_score"], optional: ["label"]) {
            line, fields in
            guard let stampField = fields[0], let timestamp = NABTimestamp.parse(stampField) else {
                throw NABError.malformedRow(file: file, line: line, reason: "bad timestamp \"\(text(fields[0]))\"")
            }
            guard let score = Double(text(fields[1])), score.isFinite else {
                throw NABError.malformedRow(file: file, line: line, reason: "bad anomaly_score \"\(text(fields[1]))\"")
            }
            var label: Bool?
            if let field = fields[2] {
                guard let value = Double(text(field)) else {
                    throw NABError.malformedRow(file: file, line: line, reason: "bad label \"\(text(field))\"")
                }
                label = value != 0
            }
            rows.append(NABRow(timestamp: timestamp, score: score, label: label))
        }
        return rows
    }

    /// Parses the `timestamp` column of a data CSV.
    public static func parseTimestamps(_ data: Data, file: String) throws -> [NABTimestamp] {
        var stamps: [NABTimestamp] = []
        try forEachRow(data, file: file, required: ["timestamp"], optional: []) { line, fields in
            guard let stampField = fields[0], let timestamp = NABTimestamp.parse(stampField) else {
                throw NABError.malformedRow(file: file, line: line, reason: "bad timestamp \"\(text(fields[0]))\"")
            }
            stamps.append(timestamp)
        }
        return stamps
    }

    // MARK: - Internals

    typealias Field = UnsafeBufferPointer<UInt8>

    static func readFile(_ url: URL) throws -> Data {
        guard FileManager.default.fileExists(atPath: url.path) else { throw NABError.missingFile(path: url.path) }
        do {
            return try Data(contentsOf: url)
        } catch {
            throw NABError.unreadableFile(path: url.path, reason: error.localizedDescription)
        }
    }

    static func text(_ field: Field?) -> String {
        field.map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// Calls `body` with the 1-based line number and the wanted fields (required ones first, then optional ones,
    /// nil when the header lacks them) of every non-blank data line. Fields are trimmed of spaces, tabs and `\r`.
    /// Works on raw bytes with `memchr`, as it runs once per row of the whole corpus.
    static func forEachRow(
        _ data: Data, file: String, required: [String], optional: [String],
        _ body: (Int, [Field?]) throws -> Void
    ) throws {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> Void in
            let all = raw.bindMemory(to: UInt8.self)
            guard let base = all.baseAddress, !all.isEmpty else {
                throw NABError.malformedRow(file: file, line: 1, reason: "empty file, expected a header")
            }
            let count = all.count
            var lineNumber = 0
            var slotOfColumn: [Int] = []  // column index -> position in `fields`, -1 when not wanted
            var wantedColumns: [Int] = []  // highest wanted column index + 1 per slot (for the error message)
            var fields = [Field?](repeating: nil, count: required.count + optional.count)
            var start = 0
            while start < count {
                let end =
                    memchr(base + start, 10, count - start).map { UnsafeRawPointer($0) - UnsafeRawPointer(base) }
                    ?? count
                lineNumber += 1
                let line = trimmed(Field(start: base + start, count: end - start))
                start = end + 1
                if lineNumber == 1 {
                    let names = split(line).map { text($0).lowercased().replacingOccurrences(of: "\u{FEFF}", with: "") }
                    slotOfColumn = [Int](repeating: -1, count: names.count)
                    for (slot, name) in (required + optional).enumerated() {
                        if let column = names.firstIndex(of: name.lowercased()) {
                            slotOfColumn[column] = slot
                            wantedColumns.append(column)
                        } else if slot < required.count {
                            throw NABError.missingColumn(file: file, column: name)
                        } else {
                            wantedColumns.append(-1)
                        }
                    }
                    continue
                }
                guard let lineBase = line.baseAddress, !line.isEmpty else { continue }
                for k in fields.indices { fields[k] = nil }
                var column = 0
                var fieldStart = 0
                let lineCount = line.count
                while true {
                    let comma = memchr(lineBase + fieldStart, 44, lineCount - fieldStart)
                    let fieldEnd = comma.map { UnsafeRawPointer($0) - UnsafeRawPointer(lineBase) } ?? lineCount
                    if column < slotOfColumn.count, slotOfColumn[column] >= 0 {
                        fields[slotOfColumn[column]] = trimmed(
                            Field(start: lineBase + fieldStart, count: fieldEnd - fieldStart))
                    }
                    column += 1
                    if comma == nil { break }
                    fieldStart = fieldEnd + 1
                }
                for (slot, column) in wantedColumns.enumerated() where column >= 0 && fields[slot] == nil {
                    throw NABError.malformedRow(
                        file: file, line: lineNumber,
                        reason: "only \(column) fields, expected at least \(column + 1)")
                }
                try body(lineNumber, fields)
            }
        }
    }

    private static func trimmed(_ field: Field) -> Field {
        guard let base = field.baseAddress else { return field }
        var lo = 0, hi = field.count
        while lo < hi, base[lo] == 32 || base[lo] == 13 || base[lo] == 9 { lo += 1 }
        while hi > lo, base[hi - 1] == 32 || base[hi - 1] == 13 || base[hi - 1] == 9 { hi -= 1 }
        return Field(start: base + lo, count: hi - lo)
    }

    private static func split(_ line: Field) -> [Field] {
        guard let base = line.baseAddress else { return [line] }
        var out: [Field] = []
        var fieldStart = 0
        for i in 0..<line.count where base[i] == 44 {
            out.append(Field(start: base + fieldStart, count: i - fieldStart))
            fieldStart = i + 1
        }
        out.append(Field(start: base + fieldStart, count: line.count - fieldStart))
        return out.map(trimmed)
    }
}

extension NABProfile {
    /// Loads the profiles of a NAB `config/profiles.json` (see `decodeProfiles(from:path:)`).
    public static func load(contentsOf url: URL) throws -> [NABProfile] {
        try decodeProfiles(from: try NABCorpus.readFile(url), path: url.path)
    }
}
