import ADCore
import ADEvaluation
import Foundation
import Logging
import PostgresNIO

/// The `db` evaluation engine: the product's real path, in a scratch database. It creates the database, installs
/// the schema with the `Migrator`, registers one source per series, COPYs the points in (`PointCopier`, so the
/// validation triggers run), then drives the worker's own `ScoringCycle` in this process, batch after batch, with the
/// same `SourceCatalog`, `HistoryCache` and `WorkerSettings` as `adworker run`, until no point is unscored; then it
/// reads each point's `anomaly_score` back in time order. The database is dropped afterwards, failure included,
/// unless `keep`.
public struct DatabaseEngine: EvaluationEngine {
    public let name = "db"
    /// A database on the server in which the scratch database can be created (`CREATE DATABASE` privilege).
    public var admin: DatabaseURL
    /// The scratch database's name: lower-case letters, digits and `_`. An old one of this name is dropped first.
    public var database: String
    /// `adworker run`'s settings; `batchSize` is points per scoring transaction.
    public var settings: WorkerSettings
    public var keep: Bool
    /// Points per COPY (each its own transaction).
    public var copyChunk = 50_000
    public var logger: Logger
    /// Where the phases (create, COPY, scoring, read back) are recorded.
    public var phases: EvaluationPhases
    /// Progress lines for a person.
    public var progress: @Sendable (String) -> Void
    /// When set, each series' first rows train a model of its own through the product's path (`ad.train_model`,
    /// the worker's `TrainingRunner`, `ad.promote_model`) before anything is scored; it then scores beside the
    /// streaming scorer, as in production.
    public var training: ModelTraining?

    /// `adworker evaluate --model ALG --train-rows N`.
    public struct ModelTraining: Sendable {
        public var algorithm: String
        /// Each series' first `rows` rows are the model's (fit and calibration); the rest is its held-out split.
        public var rows: Int
        /// A JSON object of hyperparameters (`ad.model_hyperparameters()`).
        public var hyperparameters: String
        public init(algorithm: String, rows: Int, hyperparameters: String = "{}") {
            self.algorithm = algorithm; self.rows = rows; self.hyperparameters = hyperparameters
        }
    }

    public init(
        admin: DatabaseURL, database: String, settings: WorkerSettings, keep: Bool, logger: Logger,
        phases: EvaluationPhases, progress: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.admin = admin
        self.database = database
        self.settings = settings
        self.keep = keep
        self.logger = logger
        self.phases = phases
        self.progress = progress
    }

    /// A failure of the engine, with the server's words where it sent any.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public func score(_ series: [EvaluationSeries], config: SourceConfig) async throws -> [[Double]] {
        guard database.range(of: "^[a-z_][a-z0-9_]{0,62}$", options: .regularExpression) != nil else {
            throw Failure(
                description: "scratch database name \"\(database)\": use 1 to 63 lower-case letters, digits or _")
        }
        if let long = series.first(where: { !(1...200).contains($0.path.count) }) {
            throw Failure(
                description: "\(long.path): a source name (the file's relative path) must be 1 to 200 characters")
        }
        try await phases.measure("create database") {
            try await execAdmin(#"DROP DATABASE IF EXISTS "\#(database)" WITH (FORCE)"#)
            try await execAdmin(#"CREATE DATABASE "\#(database)""#)
        }
        let url = admin.with(database: database)
        do {
            let scores = try await run(url, series, config: config)
            try await dropUnlessKept(url)
            return scores
        } catch {
            if keep {
                progress("kept database \(database) after the failure: \(url)")
            } else {
                // In a task of its own: an interrupted (cancelled) evaluation must still drop its database.
                let drop = Task { try await execAdmin(#"DROP DATABASE IF EXISTS "\#(database)" WITH (FORCE)"#) }
                if case .failure(let e) = await drop.result { progress("could not drop database \(database): \(e)") }
            }
            throw Task.isCancelled ? CancellationError() : error
        }
    }

    private func dropUnlessKept(_ url: DatabaseURL) async throws {
        if keep {
            progress("kept database \(database): \(url)")
        } else {
            try await phases.measure("drop database") {
                try await execAdmin(#"DROP DATABASE "\#(database)" WITH (FORCE)"#)
            }
        }
    }

    private func execAdmin(_ statement: String) async throws {
        try await Database.withConnection(admin, logger: logger, applicationName: "adworker evaluate") { conn in
            do {
                // our statement, a checked name
                try await conn.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            } catch {
                throw Failure(description: "\(statement): \(describe(error))")
            }
        }
    }

    private func run(_ url: DatabaseURL, _ series: [EvaluationSeries], config: SourceConfig) async throws -> [[Double]]
    {
        try await Database.withConnection(url, logger: logger, applicationName: "adworker evaluate") { conn in
            try await phases.measure("migrate") { _ = try await Migrator(logger: logger).migrate(conn) }
            try Task.checkCancellation()
            let ids = try await register(conn, series, config: config)
            try await copy(url, series, ids: ids)
            if let training { try await train(conn, series, ids: ids, training) }
            try await scoreAll(conn, total: series.reduce(0) { $0 + $1.count })
            return try await phases.measure("read scores") { try await readScores(conn, series, ids: ids) }
        }
    }

    private func register(
        _ conn: PostgresConnection, _ series: [EvaluationSeries], config: SourceConfig
    ) async throws -> [UUID] {
        var q = PostgresQuery(unsafeSQL: EvaluationQueries.registerSources)
        q.binds.append(series.map(\.path))
        q.binds.append(config.json.render())
        var byName: [String: UUID] = [:]
        do {
            for try await (id, name) in try await conn.query(q, logger: logger).decode((UUID, String).self) {
                byName[name] = id
            }
        } catch {
            throw Failure(description: "registering \(series.count) sources: \(describe(error))")
        }
        return series.map { byName[$0.path]! }
    }

    private func copy(_ url: DatabaseURL, _ series: [EvaluationSeries], ids: [UUID]) async throws {
        let total = series.reduce(0) { $0 + $1.count }
        try await phases.measure("COPY", detail: "\(total) points in chunks of \(copyChunk)") {
            try await Database.withConnection(url, logger: logger, applicationName: "adworker evaluate copy") { conn in
                let copier = PointCopier(logger: logger)
                var chunk: [PointCopier.Point] = []
                chunk.reserveCapacity(copyChunk)
                func flush() async throws {
                    guard !chunk.isEmpty else { return }
                    try Task.checkCancellation()
                    do {
                        try await copier.copy(PointCopier.encode(chunk[...]), on: conn)
                    } catch {
                        throw Failure(description: "COPY into ad.data_points: \(describe(error))")
                    }
                    chunk.removeAll(keepingCapacity: true)
                }
                for (s, id) in zip(series, ids) {
                    for row in 0..<s.count {
                        chunk.append(.init(source: id, micros: s.storageMicros[row], values: s.valuesJSON(row: row)))
                        if chunk.count >= copyChunk { try await flush() }
                    }
                }
                try await flush()
            }
        }
    }

    /// Asks for one model per series (its first `training.rows` rows to fit, the rest held out), runs the jobs with
    /// the worker's `TrainingRunner`, and promotes each model.
    private func train(
        _ conn: PostgresConnection, _ series: [EvaluationSeries], ids: [UUID], _ training: ModelTraining
    ) async throws {
        // `storageMicros` counts from the Unix epoch (`PointCopier`).
        func date(_ micros: Int64) -> Date { Date(timeIntervalSince1970: Double(micros) / 1_000_000) }
        try await phases.measure(
            "train models", detail: "\(training.algorithm) on each file's first \(training.rows) rows"
        ) {
            var models: [(path: String, id: UUID)] = []
            for (s, source) in zip(series, ids) {
                guard s.count > training.rows else {
                    progress("\(s.path): \(s.count) rows, none after the first \(training.rows): no model")
                    continue
                }
                let from = date(s.storageMicros[0]), testFrom = date(s.storageMicros[training.rows])
                let to = date(s.storageMicros[s.count - 1] + 1)
                do {
                    for try await id in try await conn.query(
                        """
                        SELECT ad.train_model(\(training.algorithm), (SELECT name FROM ad.data_sources WHERE id = \(source)),
                                              \(from), \(to), \(training.hyperparameters)::jsonb, test_from => \(testFrom))
                        """, logger: logger
                    ).decode(UUID.self) {
                        models.append((s.path, id))
                    }
                } catch {
                    throw Failure(description: "\(s.path): ad.train_model: \(describe(error))")
                }
            }
            let runner = TrainingRunner(
                worker: "adworker evaluate", lease: 3600, maxRows: settings.trainingMaxRows, logger: logger)
            var failures: [String] = []
            while let result = try await runner.runOne(conn) {
                try Task.checkCancellation()
                if case .failed(let id, let reason) = result {
                    failures.append("\(models.first { $0.id == id }?.path ?? id.uuidString): \(reason)")
                }
            }
            guard failures.isEmpty else {
                throw Failure(
                    description: "training failed for \(failures.count) file(s): "
                        + failures.prefix(5).joined(separator: "; "))
            }
            for (_, id) in models {
                try await conn.query("SELECT ad.promote_model(\(id))", logger: logger).decode(String.self)
                    .reduce(()) { _, _ in }
            }
            progress("trained and promoted \(models.count) \(training.algorithm) model(s)")
        }
    }

    /// `adworker run`'s scoring loop without the waiting: a batch, then the next, until one claims nothing.
    private func scoreAll(_ conn: PostgresConnection, total: Int) async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let cycle = ScoringCycle(settings: settings, logger: logger)
        var timings = ScoringTimings()
        try await cycle.prepare(conn)
        var catalog = try await SourceCatalog.load(conn, logger: logger)
        var cache = settings.makeHistoryCache
        var done = 0
        var lastReport = start
        while true {
            try Task.checkCancellation()
            cache.depth = catalog.maxWindow
            let scored: Int
            do {
                scored = try await cycle.run(conn, catalog: &catalog, cache: &cache, timings: &timings).scored
            } catch {
                throw Failure(description: "scoring batch \(timings.batches + 1): \(describe(error))")
            }
            if scored == 0 { break }
            done += scored
            if clock.now - lastReport > .seconds(10) {
                lastReport = clock.now
                let rate = Double(done) / seconds(clock.now - start)
                progress("scored \(done) of \(total) points (\(Int(rate)) points/s)")
            }
        }
        var left = 0
        for try await n in try await conn.query(PostgresQuery(unsafeSQL: EvaluationQueries.unscored), logger: logger)
            .decode(Int.self)
        { left = n }
        guard left == 0 else {
            throw Failure(
                description:
                    "the worker stopped with \(left) points unscored (see the log for a source it could not use)")
        }
        let detail =
            "\(timings.batches) batches of up to \(settings.batchSize) points; claim \(fmt(timings.claim)) s, "
            + "features SQL \(fmt(timings.features)) s, Swift scoring \(fmt(timings.scoring)) s, writes \(fmt(timings.writes)) s, "
            + "commit \(fmt(timings.commit)) s"
        phases.record(
            EvaluationPhase(name: "scoring loop (ScoringCycle)", seconds: seconds(clock.now - start), detail: detail))
    }

    private func readScores(
        _ conn: PostgresConnection, _ series: [EvaluationSeries], ids: [UUID]
    ) async throws -> [[Double]] {
        var index: [UUID: Int] = [:]
        for (k, id) in ids.enumerated() { index[id] = k }
        var scores = series.map { [Double](repeating: .nan, count: $0.count) }
        var next = [Int](repeating: 0, count: series.count)
        for try await (source, micros, score) in try await conn.query(
            PostgresQuery(unsafeSQL: EvaluationQueries.scores), logger: logger
        )
        .decode((UUID, Int64, Double?).self) {
            guard let k = index[source] else {
                throw Failure(description: "a point of an unknown source \(source) appeared")
            }
            let row = next[k]
            guard row < series[k].count, series[k].storageMicros[row] == micros else {
                throw Failure(
                    description:
                        "\(series[k].path): the points read back do not match the rows copied in (row \(row + 1))")
            }
            guard let score else {
                throw Failure(description: "\(series[k].path): line \(series[k].lines[row]) was not scored")
            }
            scores[k][row] = score
            next[k] += 1
        }
        for k in series.indices where next[k] != series[k].count {
            throw Failure(description: "\(series[k].path): \(next[k]) points read back for \(series[k].count) rows")
        }
        return scores
    }

    private func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
    private func fmt(_ d: Duration) -> String { String(format: "%.1f", seconds(d)) }
}
