import ADCore

/// What an evaluation found, for `summary.json`, `report.md` and the terminal.
public struct EvaluationSummary: Sendable {
    /// One input file.
    public struct FileResult: Sendable {
        public var path: String
        public var rows: Int
        /// Rows stored 1 µs after their predecessor because their time did not advance (NAB's data has some).
        public var shiftedRows: Int
        /// Rows scoring at or above the source's `low` threshold: what the product would report as anomalies (among
        /// the evaluated rows).
        public var flagged: Int
        /// Rows the figures cover: `rows` less the train part (`--train-rows`).
        public var evaluatedRows: Int
        /// With a label column: point-wise counts at the `low` threshold.
        public var counts: NABCounts?
        /// With a label column: ROC AUC of the scores against the labels (nil when one class is empty).
        public var rocAUC: Double?

        public init(
            path: String, rows: Int, shiftedRows: Int, flagged: Int, counts: NABCounts? = nil, rocAUC: Double? = nil,
            evaluatedRows: Int? = nil
        ) {
            self.path = path; self.rows = rows; self.shiftedRows = shiftedRows; self.flagged = flagged
            self.counts = counts; self.rocAUC = rocAUC; self.evaluatedRows = evaluatedRows ?? rows
        }
    }

    /// `nab` or `csv`.
    public var layout: String
    public var input: String
    public var output: String
    public var engine: String
    /// Engine settings worth reporting (batch size, ...).
    public var engineSettings: [(String, JSONValue)]
    /// `--config` as given.
    public var configGiven: JSONValue
    /// The configuration every source was scored with, every field spelled out.
    public var config: SourceConfig
    public var files: [FileResult]
    public var rowCount: Int
    public var wallSeconds: Double
    public var phases: [EvaluationPhase]
    /// The NAB scores (NAB layout only).
    public var nab: NABReport?
    /// The label column (CSV layout with labels only).
    public var labelColumn: String?
    /// Over every file: point-wise counts at the `low` threshold and ROC AUC (CSV layout with labels only).
    public var overall: FileResult?
    /// Plots written, relative to the output directory.
    public var plots: [String]
    /// `--train-rows` (CSV layout): each file's first rows, left out of the figures.
    public var trainRows: Int?

    public init(
        layout: String, input: String, output: String, engine: String, engineSettings: [(String, JSONValue)],
        configGiven: JSONValue, config: SourceConfig, files: [FileResult], rowCount: Int, wallSeconds: Double,
        phases: [EvaluationPhase], nab: NABReport?, labelColumn: String?, overall: FileResult?, plots: [String],
        trainRows: Int? = nil
    ) {
        self.layout = layout; self.input = input; self.output = output; self.engine = engine
        self.engineSettings = engineSettings; self.configGiven = configGiven; self.config = config; self.files = files
        self.rowCount = rowCount; self.wallSeconds = wallSeconds; self.phases = phases; self.nab = nab
        self.labelColumn = labelColumn; self.overall = overall; self.plots = plots; self.trainRows = trainRows
    }

    /// Rows shifted over all files.
    public var shiftedRows: Int { files.reduce(0) { $0 + $1.shiftedRows } }

    /// `summary.json`.
    public var json: JSONValue {
        var pairs: [(String, JSONValue)] = [
            ("layout", .string(layout)), ("input", .string(input)), ("output", .string(output)),
            ("engine", .string(engine)), ("engine_settings", .object(engineSettings)),
            ("config_given", configGiven), ("config", config.json),
            ("files", .number(Double(files.count))), ("rows", .number(Double(rowCount))),
            ("shifted_rows", .number(Double(shiftedRows))),
            ("train_rows", trainRows.map { .number(Double($0)) } ?? .null),
            ("wall_seconds", .rounded(wallSeconds, 4)),
            (
                "phases",
                .array(
                    phases.map { p in
                        .object([
                            ("name", .string(p.name)), ("seconds", .rounded(p.seconds, 4)),
                            ("detail", p.detail.map(JSONValue.string) ?? .null),
                        ])
                    })
            ),
        ]
        if let nab { pairs.append(("nab", Self.json(nab))) }
        if let overall, let labelColumn {
            pairs.append(
                (
                    "pointwise",
                    .object([
                        ("label_column", .string(labelColumn)), ("threshold", .number(config.thresholds.low)),
                        ("train_rows", .number(Double(trainRows ?? 0))), ("overall", Self.json(overall)),
                    ])
                ))
        }
        pairs.append(("file_results", .array(files.map(Self.json))))
        pairs.append(("plots", .array(plots.map(JSONValue.string))))
        return .object(pairs)
    }

    static func json(_ c: NABCounts) -> [(String, JSONValue)] {
        [
            ("tp", .number(Double(c.tp))), ("fp", .number(Double(c.fp))), ("fn", .number(Double(c.fn))),
            ("tn", .number(Double(c.tn))), ("precision", .rounded(c.precision)), ("recall", .rounded(c.recall)),
            ("f1", .rounded(c.f1)), ("far", .rounded(c.falseAlarmRate)), ("mar", .rounded(c.missedAlarmRate)),
        ]
    }

    static func json(_ f: FileResult) -> JSONValue {
        var pairs: [(String, JSONValue)] = [
            ("path", .string(f.path)), ("rows", .number(Double(f.rows))),
            ("shifted_rows", .number(Double(f.shiftedRows))), ("evaluated_rows", .number(Double(f.evaluatedRows))),
            ("flagged", .number(Double(f.flagged))),
        ]
        if let c = f.counts { pairs += json(c); pairs.append(("roc_auc", .rounded(f.rocAUC))) }
        return .object(pairs)
    }

    static func json(_ r: NABReport) -> JSONValue {
        .object([
            ("files", .number(Double(r.fileCount))), ("rows", .number(Double(r.rowCount))),
            ("scored_rows", .number(Double(r.scoredRowCount))), ("windows", .number(Double(r.windowCount))),
            ("roc_auc", .rounded(r.rocAUC)),
            (
                "profiles",
                .array(
                    r.profiles.map { p in
                        .object(
                            [
                                ("name", .string(p.profile.name)), ("normalized_score", .rounded(p.normalizedScore)),
                                ("threshold", .number(p.threshold)), ("raw_score", .rounded(p.rawScore)),
                                ("null_score", .rounded(p.nullScore)), ("perfect_score", .rounded(p.perfectScore)),
                            ] + json(p.counts) + [
                                (
                                    "categories",
                                    .array(
                                        p.categories.map { c in
                                            .object([
                                                ("name", .string(c.name)), ("files", .number(Double(c.fileCount))),
                                                ("windows", .number(Double(c.windowCount))),
                                                ("normalized_score", .rounded(c.normalizedScore)),
                                                ("raw_score", .rounded(c.rawScore)),
                                            ])
                                        })
                                )
                            ])
                    })
            ),
            (
                "halves",
                r.halves.map { halves in
                    .array(
                        halves.halves.map { h in
                            .object([
                                ("name", .string(h.name)), ("files", .array(h.files.map { .string($0) })),
                                ("windows", .number(Double(h.windowCount))),
                                (
                                    "profiles",
                                    .array(
                                        h.profiles.map { p in
                                            .object([
                                                ("name", .string(p.profile)),
                                                ("normalized_score", .rounded(p.normalizedScore)),
                                                ("threshold", .number(p.threshold)),
                                                ("at_other_threshold", .rounded(p.atOtherThreshold)),
                                            ])
                                        })
                                ),
                            ])
                        })
                } ?? .null
            ),
            (
                "published",
                .array(
                    NABScoreboard.published.map { e in
                        .object([
                            ("detector", .string(e.detector)), ("standard", .number(e.standard)),
                            ("reward_low_FP_rate", .number(e.rewardLowFPRate)),
                            ("reward_low_FN_rate", .number(e.rewardLowFNRate)),
                        ])
                    })
            ),
        ])
    }
}
