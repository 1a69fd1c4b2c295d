import ADCore
import ADEvaluation
import ADPostgres
import ArgumentParser
import Foundation
import Logging

struct EvaluateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract:
            "Replay a labelled corpus through the real scoring path; write per-file results, a summary, a report and plots.",
        discussion: """
            Layouts: --nab DIR (NAB: DIR/data/<category>/<file>.csv with timestamp,value; \
            DIR/labels/combined_windows.json; DIR/config/profiles.json if present) or --csv-dir DIR --time-column NAME \
            (every *.csv under DIR is one source; every column but the time, label and --ignore-column columns is a \
            metric; an empty cell means the metric is absent; labels are 0/1, 0.0/1.0 or false/true). Times: YYYY-MM-DD[ T]HH:MM:SS[.frac][Z|±HH:MM] (no zone = UTC) or \
            epoch seconds. The whole corpus is read and checked before anything is written.

            Engine db: a scratch database ad_eval_<pid> (dropped afterwards unless --keep), the schema installed by \
            the migrator, one ad.data_sources row per file (name = relative path, config = --config), COPY into \
            ad.data_points, then the worker's own batch scorer in this process until nothing is unscored. Settings \
            come from the environment as for adworker run (AD_*). Without DATABASE_URL it starts the embedded \
            PostgreSQL (scripts/pgcluster).

            --train-rows N: each file's first N rows are its train part (the protocol of multivariate benchmarks \
            such as SKAB, N = 400): scored, but left out of every figure (counts, precision, recall, F1, FAR, MAR, \
            ROC AUC, rows flagged); every file needs more than N rows.

            Output under --out, mirroring the input tree: per-file CSVs with anomaly_score (and label), \
            summary.json, report.md, plots/*.svg.
            """
    )

    enum Engine: String, ExpressibleByArgument, CaseIterable {
        case db
    }

    @OptionGroup var connection: ConnectionOptions
    @Option(
        help: ArgumentHelp(
            "A NAB corpus directory (data/, labels/combined_windows.json, config/profiles.json).", valueName: "dir"))
    var nab: String?
    @Option(help: ArgumentHelp("A directory tree of CSV files, one series (source) per file.", valueName: "dir"))
    var csvDir: String?
    @Option(help: "With --csv-dir: the time column.") var timeColumn: String?
    @Option(
        help:
            "With --csv-dir: a label column (1, 1.0 or true = anomalous; 0, 0.0 or false = normal), for precision, recall, F1, FAR, MAR and ROC AUC."
    )
    var labelColumn: String?
    @Option(
        name: .customLong("ignore-column"),
        help: ArgumentHelp(
            "With --csv-dir: a column that is neither a metric nor the label (repeatable; SKAB: changepoint).",
            valueName: "name"))
    var ignoreColumns: [String] = []
    @Option(
        help: ArgumentHelp(
            "With --csv-dir: each file's first N rows are its train part, left out of every figure.", valueName: "n"))
    var trainRows: Int?
    @Option(
        help: ArgumentHelp(
            "With --train-rows: train a model of this algorithm (isolation_forest, autoencoder, pca) per file on its first N rows, through ad.train_model and the worker's training, promote it, then score every row with it beside the streaming scorer.",
            valueName: "algorithm"))
    var model: String?
    @Option(
        help: ArgumentHelp(
            "With --model: its hyperparameters as a JSON object (see ad.model_hyperparameters()).", valueName: "json"))
    var hyperparameters = "{}"
    @Option(help: "With --csv-dir: the field separator, one character (\\t or tab for a tab).") var separator = ","
    @Option(help: ArgumentHelp("Where results, summary.json, report.md and plots/ go.", valueName: "dir")) var out:
        String
    @Option(help: "A data_sources.config object applied to every source ({} = the product's defaults).") var config =
        "{}"
    @Option(help: "Points per scoring transaction (default: AD_BATCH_SIZE, or \(WorkerSettings().batchSize)).")
    var batchSize: Int?
    @Option(
        help:
            "A row whose time does not advance past the previous row's: reject the file, or shift it 1 µs past its predecessor (default: shift for --nab, whose data has such rows; reject for --csv-dir)."
    )
    var repeatedTimestamps: RepeatedTimestamps?
    @Option(help: "The scoring engine.") var engine: Engine = .db
    @Flag(help: "Keep the scratch database afterwards (its URL is printed).") var keep = false

    func validate() throws {
        guard (nab == nil) != (csvDir == nil) else { throw ValidationError("give one of --nab DIR or --csv-dir DIR") }
        if csvDir != nil {
            guard let t = timeColumn, !t.isEmpty else { throw ValidationError("--csv-dir needs --time-column NAME") }
            guard EvaluationCSVOptions.separator(separator) != nil else {
                throw ValidationError(
                    "--separator: one ASCII character other than a quote or line break (\\t or tab for a tab), got \"\(separator)\""
                )
            }
        } else if timeColumn != nil || labelColumn != nil || separator != "," || !ignoreColumns.isEmpty
            || trainRows != nil
        {
            throw ValidationError(
                "--time-column, --label-column, --ignore-column, --train-rows and --separator apply to --csv-dir; "
                    + "a NAB corpus is timestamp,value")
        }
        if let m = model {
            guard trainRows != nil else {
                throw ValidationError("--model needs --train-rows N (the rows it trains on)")
            }
            guard ModelAlgorithm(rawValue: m) != nil else {
                throw ValidationError(
                    "--model: one of \(ModelAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(m)\"")
            }
        } else if hyperparameters != "{}" {
            throw ValidationError("--hyperparameters applies to --model")
        }
        if let n = trainRows, !(1...Self.maxTrainRows).contains(n) {
            throw ValidationError("--train-rows: 1 to \(Self.maxTrainRows), got \(n)")
        }
        if let empty = ignoreColumns.first(where: { $0.isEmpty }) {
            throw ValidationError("--ignore-column: a column name, got \"\(empty)\"")
        }
        if let b = batchSize, !(1...100_000).contains(b) {
            throw ValidationError("--batch-size: 1 to 100000, got \(b)")
        }
        _ = try parsedConfig()
    }

    /// The most train rows `--train-rows` takes (a million rows per file is far beyond any benchmark's train part).
    static let maxTrainRows = 1_000_000

    func parsedConfig() throws -> (json: JSONValue, config: SourceConfig) {
        let json: JSONValue
        do {
            json = try JSONDecoder().decode(JSONValue.self, from: Data(config.utf8))
        } catch {
            throw ValidationError("--config is not valid JSON: \(config)")
        }
        do {
            return (json, try SourceConfig.parse(json))
        } catch {
            throw ValidationError("--config: \(error.description)")
        }
    }

    func run() async throws {
        var settings: WorkerSettings
        do {
            settings = try WorkerSettings.parse(environment: ProcessInfo.processInfo.environment)
        } catch {
            throw ValidationError(error.description)
        }
        if let batchSize { settings.batchSize = batchSize }
        let (json, sourceConfig) = try parsedConfig()
        try await failingClearly {
            var logger = try connection.logger("adworker.evaluate")
            if connection.logLevel == nil && ProcessInfo.processInfo.environment["AD_LOG_LEVEL"] == nil {
                logger.logLevel = .warning
            }
            let started = ContinuousClock.now
            let phases = EvaluationPhases()

            // All input is read and checked before the database is touched.
            let corpus = try await phases.measure("read input") { try load() }
            let database = "ad_eval_\(getpid())"
            let evaluation = Evaluation(
                corpus: corpus, output: URL(fileURLWithPath: out), configGiven: json, config: sourceConfig,
                engineSettings: [
                    ("batch_size", .number(Double(settings.batchSize))), ("database", .string(database)),
                    ("kept", .bool(keep)),
                ],
                // Each file's first `trainRows` rows are its train part: the figures leave them out, and with --model
                // the engine trains that file's model on them (`DatabaseEngine.training`).
                trainRows: trainRows)
            try evaluation.checkTrainRows()
            try evaluation.checkOutput()
            let shifted = corpus.series.filter { $0.shiftedRows > 0 }
            if !shifted.isEmpty {
                note(
                    "\(shifted.reduce(0) { $0 + $1.shiftedRows }) rows in \(shifted.count) files have a time that does not advance "
                        + "past the previous row's (\(shifted.map(\.path).joined(separator: ", "))); they stay in file order, stored "
                        + "1 µs after their predecessor (--repeated-timestamps reject refuses them)")
            }
            note(
                "read \(corpus.series.count) files, \(corpus.rowCount) rows; scoring with engine \(engine.rawValue), batch \(settings.batchSize)"
            )

            let admin =
                try connection.databaseURL != nil || ProcessInfo.processInfo.environment["DATABASE_URL"] != nil
                ? connection.url() : Embedded.start()
            var scorer = DatabaseEngine(
                admin: admin, database: database, settings: settings, keep: keep, logger: logger,
                phases: phases
            ) { note($0) }
            if let model, let trainRows {
                scorer.training = .init(algorithm: model, rows: trainRows, hyperparameters: hyperparameters)
            }
            let engine = scorer
            let summary = try await untilInterrupted(keep: keep) {
                try await evaluation.run(engine: engine, phases: phases, started: started)
            }
            print(summary.terminal, terminator: "")
        }
    }

    private func load() throws -> EvaluationCorpus {
        if let nab {
            return try EvaluationInput.loadNAB(
                directory: URL(fileURLWithPath: nab), repeatedTimestamps: repeatedTimestamps ?? .shift)
        }
        let options = EvaluationCSVOptions(
            timeColumn: timeColumn!, labelColumn: labelColumn, ignoredColumns: ignoreColumns,
            separator: EvaluationCSVOptions.separator(separator)!,
            repeatedTimestamps: repeatedTimestamps ?? .reject)
        return try EvaluationInput.loadCSV(directory: URL(fileURLWithPath: csvDir!), options: options)
    }

    /// Runs `body` in a task that SIGINT or SIGTERM cancels, so the engine drops its scratch database on the way out
    /// rather than leaving it behind; a second signal exits at once.
    private func untilInterrupted<T: Sendable>(
        keep: Bool, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let task = Task { try await body() }
        let sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if task.isCancelled { _exit(128 + number) }
                FileHandle.standardError.write(
                    Data("adworker evaluate: interrupted; cleaning up (again to exit at once)\n".utf8))
                task.cancel()
            }
            source.resume()
            return source
        }
        defer { sources.forEach { $0.cancel() } }
        do {
            return try await task.value
        } catch  where task.isCancelled {
            throw Fatal(
                description:
                    "interrupted; the scratch database was \(keep ? "kept" : "dropped") and no results were written")
        }
    }

    private func note(_ line: String) {
        FileHandle.standardError.write(Data("adworker evaluate: \(line)\n".utf8))
    }
}

extension RepeatedTimestamps: ExpressibleByArgument {}
