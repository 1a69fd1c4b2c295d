import ADCore
import Foundation

/// `adworker evaluate` once the corpus is read: score it with an engine, then write the per-file results, the
/// summary (`summary.json`), the report (`report.md`) and plots under the output directory. Nothing is written
/// before the engine has scored everything.
public struct Evaluation: Sendable {
    public var corpus: EvaluationCorpus
    public var output: URL
    /// `--config` as given, and parsed.
    public var configGiven: JSONValue
    public var config: SourceConfig
    /// Engine settings to report (batch size, ...).
    public var engineSettings: [(String, JSONValue)]
    /// `--train-rows N` (CSV layout): each file's first N rows are its "train" part, the usual protocol of
    /// multivariate benchmarks (SKAB: 400). They are scored like every row but left out of every point-wise
    /// figure (counts, precision, recall, F1, FAR, MAR, ROC AUC, rows flagged); every file needs more than N rows.
    /// An engine that trains a model per file reads the same value. Ignored for NAB, which has its own probation.
    public var trainRows: Int?

    /// NAB files plotted when present; otherwise the first four.
    public static let nabPlotFiles = [
        "realKnownCause/machine_temperature_system_failure.csv", "realKnownCause/nyc_taxi.csv",
        "realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv", "artificialWithAnomaly/art_daily_jumpsdown.csv",
    ]

    public init(
        corpus: EvaluationCorpus, output: URL, configGiven: JSONValue, config: SourceConfig,
        engineSettings: [(String, JSONValue)] = [], trainRows: Int? = nil
    ) {
        self.corpus = corpus
        self.output = output
        self.configGiven = configGiven
        self.config = config
        self.engineSettings = engineSettings
        self.trainRows = trainRows
    }

    /// Scores, writes everything, and returns the summary. `started` is when the command started (for the wall time).
    public func run(
        engine: any EvaluationEngine, phases: EvaluationPhases, started: ContinuousClock.Instant
    ) async throws
        -> EvaluationSummary
    {
        try checkTrainRows()
        let created = try prepareOutput()
        let scores: [[Double]]
        do {
            scores = try await engine.score(corpus.series, config: config)
            try check(scores)
        } catch {
            // Leave no empty output directory behind a failed run.
            if created, (try? FileManager.default.contentsOfDirectory(atPath: output.path))?.isEmpty == true {
                try? FileManager.default.removeItem(at: output)
            }
            throw error
        }
        return try write(scores, engine: engine.name, phases: phases, started: started)
    }

    /// Refuses an output directory inside the data it would be read from again, or that is a file. No side effects:
    /// `adworker evaluate` calls it before it starts a database.
    public func checkOutput() throws {
        func resolved(_ u: URL) -> String { u.standardizedFileURL.resolvingSymlinksInPath().path }
        let data: URL
        if case .nab = corpus.layout {
            data = corpus.directory.appendingPathComponent("data")
        } else {
            data = corpus.directory
        }
        let out = resolved(output), input = resolved(data)
        if out == input || out.hasPrefix(input.hasSuffix("/") ? input : input + "/") {
            throw EvaluationInputError(
                .badOutput, file: output.path, "is inside the input data \(data.path); choose another --out")
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: output.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw EvaluationInputError(.badOutput, file: output.path, "exists and is not a directory")
            }
            guard FileManager.default.isWritableFile(atPath: output.path) else {
                throw EvaluationInputError(.badOutput, file: output.path, "is not writable")
            }
        }
    }

    /// Refuses `trainRows` below 0, or a file with no row after its train part. No side effects: `adworker evaluate`
    /// calls it before it starts a database.
    public func checkTrainRows() throws {
        guard let n = trainRows, case .csv = corpus.layout else { return }
        guard n >= 0 else {
            throw EvaluationInputError(
                .tooFewRows, file: corpus.directory.path, "--train-rows must be 0 or more, got \(n)")
        }
        if let short = corpus.series.first(where: { $0.count <= n }) {
            throw EvaluationInputError(
                .tooFewRows, file: corpus.directory.appendingPathComponent(short.path).path,
                "has \(short.count) row\(short.count == 1 ? "" : "s"): --train-rows \(n) leaves none to evaluate")
        }
    }

    /// Checks the output directory (`checkOutput`) and creates it.
    /// - Returns: whether it was created.
    public func prepareOutput() throws -> Bool {
        try checkOutput()
        if FileManager.default.fileExists(atPath: output.path) { return false }
        do {
            try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        } catch {
            throw EvaluationInputError(
                .badOutput, file: output.path, "cannot be created: \(error.localizedDescription)")
        }
        return true
    }

    /// An engine must give one score in [0, 1] per row.
    private func check(_ scores: [[Double]]) throws {
        guard scores.count == corpus.series.count else {
            throw EngineError(
                message: "the engine returned \(scores.count) series of scores for \(corpus.series.count) files")
        }
        for (s, row) in zip(corpus.series, scores) {
            guard row.count == s.count else {
                throw EngineError(
                    message: "the engine returned \(row.count) scores for the \(s.count) rows of \(s.path)")
            }
            if let bad = row.firstIndex(where: { !($0 >= 0 && $0 <= 1) }) {
                throw EngineError(
                    message: "the engine scored line \(s.lines[bad]) of \(s.path) \(row[bad]), outside [0, 1]")
            }
        }
    }

    /// An engine that broke its contract.
    public struct EngineError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    private func write(
        _ scores: [[Double]], engine: String, phases: EvaluationPhases, started: ContinuousClock.Instant
    ) throws
        -> EvaluationSummary
    {
        let writing = ContinuousClock.now
        let low = config.thresholds.low
        var files: [EvaluationSummary.FileResult] = []
        var nab: NABReport?
        var overall: EvaluationSummary.FileResult?
        var plots: [Plotted] = []
        var labelColumn: String?

        switch corpus.layout {
        case .nab(let windows, let profiles):
            let nabFiles = try zip(corpus.series, scores).map { s, sc in
                try EvaluationInput.nabFile(s, scores: sc, windows: windows[s.path] ?? [])
            }
            let sweeper = NABSweeper(profiles: profiles)
            var report = sweeper.score(files: nabFiles)
            report.halves = NABHalves(files: nabFiles, sweeper: sweeper)
            nab = report
            let standard = report[profile: NABProfile.standard.name] ?? report.profiles.first
            for (k, s) in corpus.series.enumerated() {
                try save(EvaluationResults.nabCSV(s, scores: scores[k], inWindow: nabFiles[k].inWindowFlags()), s.path)
                files.append(
                    .init(
                        path: s.path, rows: s.count, shiftedRows: s.shiftedRows,
                        flagged: scores[k].filter { $0 >= low }.count))
            }
            let present = Self.nabPlotFiles.compactMap { name in corpus.series.firstIndex { $0.path == name } }
            for k in present.isEmpty ? Array(corpus.series.indices.prefix(4)) : present {
                let label =
                    standard.map {
                        "\($0.profile.name) threshold \(String(format: "%.6g", $0.threshold))"
                            + ($0.threshold > 1 ? " (best to flag nothing)" : "")
                    } ?? "no threshold"
                plots.append(
                    Plotted(
                        series: corpus.series[k], scores: scores[k], windows: nabFiles[k].windowRanges,
                        threshold: standard?.threshold, thresholdLabel: label,
                        probation: nabFiles[k].probationaryLength(), probationLabel: "probationary period"))
            }
        case .csv(let options):
            labelColumn = options.labelColumn
            for (k, s) in corpus.series.enumerated() {
                try save(EvaluationResults.csv(s, scores: scores[k]), s.path)
            }
            (files, overall) = Self.pointwise(corpus.series, scores, threshold: low, trainRows: trainRows ?? 0)
            for k in corpus.series.indices.prefix(4) {
                let s = corpus.series[k]
                plots.append(
                    Plotted(
                        series: s, scores: scores[k], windows: Self.runs(s.labels ?? []), threshold: low,
                        thresholdLabel: "low threshold \(low)",
                        probation: min(trainRows ?? config.minHistory, s.count),
                        probationLabel: trainRows == nil ? "warm-up (min_history)" : "train rows (not evaluated)"))
            }
        }

        var plotPaths: [String] = []
        for p in plots {
            let name =
                "plots/"
                + String(p.series.path.dropLast(p.series.path.lowercased().hasSuffix(".csv") ? 4 : 0))
                .replacingOccurrences(of: "/", with: "__") + ".svg"
            let plot = EvaluationPlot(
                title: p.series.path, micros: p.series.storageMicros,
                lines: p.series.metrics.indices.map { .init(name: p.series.metrics[$0], values: p.series.values[$0]) },
                scores: p.scores, windows: p.windows, threshold: p.threshold, thresholdLabel: p.thresholdLabel,
                probation: p.probation, probationLabel: p.probationLabel)
            try save(plot.svg(), name)
            plotPaths.append(name)
        }

        phases.record(
            EvaluationPhase(
                name: nab == nil ? "write results" : "NAB scoring, write results",
                seconds: (ContinuousClock.now - writing).seconds,
                detail: "\(files.count) results files, \(plotPaths.count) plots"))
        let layout: String
        if case .nab = corpus.layout { layout = "nab" } else { layout = "csv" }
        let summary = EvaluationSummary(
            layout: layout, input: corpus.directory.path, output: output.path, engine: engine,
            engineSettings: engineSettings, configGiven: configGiven, config: config, files: files,
            rowCount: corpus.rowCount, wallSeconds: (ContinuousClock.now - started).seconds, phases: phases.all,
            nab: nab, labelColumn: labelColumn, overall: overall, plots: plotPaths,
            trainRows: nab == nil ? trainRows : nil)
        try save(summary.json.render() + "\n", "summary.json")
        try save(summary.markdown, "report.md")
        return summary
    }

    private struct Plotted {
        var series: EvaluationSeries, scores: [Double], windows: [ClosedRange<Int>], threshold: Double?
        var thresholdLabel: String, probation: Int, probationLabel: String
    }

    private func save(_ text: String, _ relative: String) throws {
        let url = output.appendingPathComponent(relative)
        do {
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url, options: .atomic)
        } catch {
            throw EvaluationInputError(.badOutput, file: url.path, "cannot be written: \(error.localizedDescription)")
        }
    }

    /// A CSV corpus's per-file results and, when it is labelled, the point-wise figures over every file's evaluated
    /// rows concatenated (the benchmark protocol of SKAB and its kind: one confusion matrix over all files, not a
    /// mean of per-file figures). Each file's first `trainRows` rows are left out of everything but `rows`.
    static func pointwise(
        _ series: [EvaluationSeries], _ scores: [[Double]], threshold: Double, trainRows: Int
    ) -> (files: [EvaluationSummary.FileResult], overall: EvaluationSummary.FileResult?) {
        var files: [EvaluationSummary.FileResult] = []
        var allScores: [Double] = [], allLabels: [Bool] = []
        var total = NABCounts()
        var labelled = !series.isEmpty
        for (s, sc) in zip(series, scores) {
            let skip = min(max(trainRows, 0), sc.count)
            let evaluated = Array(sc[skip...])
            var result = EvaluationSummary.FileResult(
                path: s.path, rows: s.count, shiftedRows: s.shiftedRows,
                flagged: evaluated.filter { $0 >= threshold }.count, evaluatedRows: evaluated.count)
            if let all = s.labels {
                let labels = Array(all[skip...])
                let c = counts(evaluated, labels, threshold: threshold)
                result.counts = c
                result.rocAUC = NABPointwise.rocAUC(scores: evaluated, positives: labels)
                total = NABCounts(tp: total.tp + c.tp, fp: total.fp + c.fp, fn: total.fn + c.fn, tn: total.tn + c.tn)
                allScores += evaluated
                allLabels += labels
            } else {
                labelled = false
            }
            files.append(result)
        }
        guard labelled else { return (files, nil) }
        let overall = EvaluationSummary.FileResult(
            path: "all files", rows: files.reduce(0) { $0 + $1.rows },
            shiftedRows: files.reduce(0) { $0 + $1.shiftedRows }, flagged: files.reduce(0) { $0 + $1.flagged },
            counts: total, rocAUC: NABPointwise.rocAUC(scores: allScores, positives: allLabels),
            evaluatedRows: files.reduce(0) { $0 + $1.evaluatedRows })
        return (files, overall)
    }

    /// Point-wise counts of scores at or over `threshold` against labels.
    static func counts(_ scores: [Double], _ labels: [Bool], threshold: Double) -> NABCounts {
        var c = NABCounts()
        for (s, positive) in zip(scores, labels) { c.add(detected: s >= threshold, positive: positive) }
        return c
    }

    /// Runs of consecutive labelled rows, as row ranges (drawn like NAB's windows).
    static func runs(_ labels: [Bool]) -> [ClosedRange<Int>] {
        var out: [ClosedRange<Int>] = []
        var start: Int?
        for (i, l) in labels.enumerated() {
            if l, start == nil { start = i }
            if !l, let s = start { out.append(s...(i - 1)); start = nil }
        }
        if let s = start { out.append(s...(labels.count - 1)) }
        return out
    }
}
