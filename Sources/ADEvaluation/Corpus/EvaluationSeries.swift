import ADCore

/// One CSV file of an evaluation corpus: one source, its rows in file order, each with a time and one or more metrics.
public struct EvaluationSeries: Sendable {
    /// The file's path relative to the corpus directory, with `/` separators: the source's name, and where its
    /// results go under the output directory.
    public var path: String
    /// The folder part of `path` ("" at the top level); for NAB, the category (`realKnownCause`).
    public var category: String
    /// The time column's name as in the header.
    public var timeColumn: String
    /// Each row's time cell exactly as in the input (results print it back unchanged).
    public var timeText: [String]
    /// Each row's time, microseconds since 1970-01-01 00:00:00 UTC.
    public var micros: [Int64]
    /// The time each row is stored and scored at: `micros`, except where a row's time does not advance past its
    /// predecessor's and the corpus allows that (`RepeatedTimestamps.shift`): then 1 µs after the previous row.
    /// Always strictly increasing, so file order is time order.
    public var storageMicros: [Int64]
    /// The metric columns' names, in header order.
    public var metrics: [String]
    /// `values[m][row]`: metric `m` at a row; nil where the cell was empty (the metric is absent there).
    public var values: [[Double?]]
    /// `valueText[m][row]`: the cell exactly as in the input ("" where empty).
    public var valueText: [[String]]
    /// The label column's name, when the corpus has one.
    public var labelColumn: String?
    /// Whether each row is labelled anomalous (label column 1); nil without a label column.
    public var labels: [Bool]?
    /// The 1-based line number of each row in the file.
    public var lines: [Int]
    /// Rows whose stored time was moved (see `storageMicros`).
    public var shiftedRows: Int

    /// Number of rows.
    public var count: Int { timeText.count }

    /// A series from its parts (the CSV reader checks them; see `EvaluationCSV`).
    public init(
        path: String, timeColumn: String, timeText: [String], micros: [Int64], storageMicros: [Int64]? = nil,
        metrics: [String], values: [[Double?]], valueText: [[String]]? = nil, labelColumn: String? = nil,
        labels: [Bool]? = nil, lines: [Int]? = nil
    ) {
        self.path = path
        category = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? ""
        self.timeColumn = timeColumn
        self.timeText = timeText
        self.micros = micros
        self.storageMicros = storageMicros ?? micros
        self.metrics = metrics
        self.values = values
        self.valueText = valueText ?? values.map { $0.map { $0.map { "\($0)" } ?? "" } }
        self.labelColumn = labelColumn
        self.labels = labels
        self.lines = lines ?? timeText.indices.map { $0 + 2 }
        shiftedRows = zip(micros, self.storageMicros).reduce(0) { $0 + ($1.0 != $1.1 ? 1 : 0) }
    }

    /// The row's present metrics as a JSON object, `{"cpu": 0.93, "mem": 400}`: what `ad.data_points.values` holds.
    public func valuesJSON(row: Int) -> String {
        var pairs: [(String, JSONValue)] = []
        for m in metrics.indices { if let x = values[m][row] { pairs.append((metrics[m], .number(x))) } }
        return JSONValue.object(pairs).render()
    }
}

/// What to do with a row whose time is not after the previous row's.
public enum RepeatedTimestamps: String, Sendable, CaseIterable {
    /// Refuse the file, naming both lines.
    case reject
    /// Keep the row in file order, stored 1 µs after the previous row (NAB's own data has such rows: the
    /// detector sees rows in file order, as NAB's runner feeds them).
    case shift
}
