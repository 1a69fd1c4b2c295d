import ADCore
import ADDBTestSupport
import ADEvaluation
import ADPostgres
import ADTestSupport
import Foundation
import PostgresNIO
import Testing

/// A scratch-database name of our own, so parallel tests do not meet.
private func scratchName() -> String {
    "ad_eval_t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
}

private func databaseExists(_ name: String) async throws -> Bool {
    try await integer(TestServer.url!, "SELECT count(*) FROM pg_database WHERE datname = '\(name)'") == 1
}

private func lines(_ url: URL) throws -> [String] {
    try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        .map(String.init)
}

private func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

/// Runs `adworker evaluate ARGS` against the test server; returns its exit status, standard output and error.
private func evaluate(_ arguments: [String]) async throws -> (status: Int32, out: String, err: String, pid: Int32) {
    let dir = EvaluationTrees.temporaryDirectory("evaluate-run")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("stdout"), err = dir.appendingPathComponent("stderr")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: WorkerProcess.binary)
    p.arguments = ["evaluate"] + arguments
    var env = ProcessInfo.processInfo.environment
    env["DATABASE_URL"] = TestServer.url!.text
    p.environment = env
    p.standardOutput = try FileHandle(forWritingTo: out)
    p.standardError = try FileHandle(forWritingTo: err)
    try p.run()
    let deadline = ContinuousClock.now + .seconds(120)
    while p.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
    if p.isRunning { p.terminate() }
    p.waitUntilExit()
    return (
        p.terminationStatus, try String(contentsOf: out, encoding: .utf8), try String(contentsOf: err, encoding: .utf8),
        p.processIdentifier
    )
}

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct EvaluateReplaysCorporaThroughTheDatabase {
    @Test func aNABTreeIsScoredByTheWorkerAndWrittenInNABsLayout() async throws {
        let root = EvaluationTrees.temporaryDirectory("eval-nab")
        defer { try? FileManager.default.removeItem(at: root) }
        try EvaluationTrees.writeNAB(at: root)
        let out = root.appendingPathComponent("results")
        let name = scratchName()
        let phases = EvaluationPhases()
        let corpus = try EvaluationInput.loadNAB(directory: root)
        let engine = DatabaseEngine(
            admin: TestServer.url!, database: name, settings: WorkerSettings(), keep: false,
            logger: TestServer.logger, phases: phases)
        let summary = try await Evaluation(corpus: corpus, output: out, configGiven: .object([]), config: .defaults)
            .run(engine: engine, phases: phases, started: .now)

        for (path, rows) in [("catA/spike.csv", 400), ("catB/flat.csv", 300)] {
            let input = try lines(root.appendingPathComponent("data").appendingPathComponent(path))
            let output = try lines(out.appendingPathComponent(path))
            #expect(output.count == rows + 1, "\(path)")
            #expect(output.first == "timestamp,value,anomaly_score,label")
            let fields = output.dropFirst().map {
                $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            }
            // Every input row once, in order, timestamp and value exactly as given.
            #expect(fields.map { "\($0[0]),\($0[1])" } == Array(input.dropFirst()), "\(path)")
            let scores = fields.map { Double($0[2]) ?? .nan }
            #expect(scores.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(path): a score outside [0, 1] or missing")
            let labelled = fields.indices.filter { fields[$0][3] == "1" }
            if path == "catA/spike.csv" {
                #expect(labelled == Array(EvaluationTrees.spikeWindow))
                #expect(
                    scores[EvaluationTrees.spikeRow] > median(scores),
                    "the spike scored \(scores[EvaluationTrees.spikeRow])")
            } else {
                #expect(labelled.isEmpty)
            }
        }
        let report = try #require(summary.nab)
        #expect(report.rowCount == 700)
        #expect(report.windowCount == 1)
        #expect(report.profiles.map(\.profile.name) == NABProfile.nabProfiles.map(\.name))
        let json = try JSONDecoder().decode(
            JSONValue.self, from: Data(contentsOf: out.appendingPathComponent("summary.json")))
        #expect(json["rows"] == .number(700))
        #expect(json["engine"] == .string("db"))
        #expect(
            try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8).contains(
                "| **adworker (db)** |"))
        #expect(summary.plots == ["plots/catA__spike.svg", "plots/catB__flat.svg"])
        for p in summary.plots { #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(p).path)) }
        #expect(phases.all.map(\.name).contains("COPY"))
        #expect(phases.all.map(\.name).contains("scoring loop (ScoringCycle)"))
        #expect(try await !databaseExists(name), "the scratch database was left behind")
    }

    @Test func aMultivariateCSVTreeThroughTheCommand() async throws {
        let root = EvaluationTrees.temporaryDirectory("eval-csv")
        defer { try? FileManager.default.removeItem(at: root) }
        try EvaluationTrees.writeCSV(at: root.appendingPathComponent("in"))
        let out = root.appendingPathComponent("out")
        let run = try await evaluate([
            "--csv-dir", root.appendingPathComponent("in").path, "--time-column", "time",
            "--label-column", "is_anomaly", "--separator", ";", "--out", out.path,
        ])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out.contains("ROC AUC"))

        let web = try lines(out.appendingPathComponent("hosts/web-1.csv"))
        #expect(web.count == 301)
        #expect(web.first == #"time,cpu,"lat ""ms""",anomaly_score,label"#)
        let input = try lines(root.appendingPathComponent("in/hosts/web-1.csv")).dropFirst()
            .map { $0.split(separator: ";", omittingEmptySubsequences: false).map(String.init) }
        let fields = web.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        #expect(fields.map { [$0[0], $0[1], $0[2], $0[4]] } == input, "time, metrics (gaps too) and label as given")
        let scores = fields.map { Double($0[3]) ?? .nan }
        #expect(scores.allSatisfy { $0 >= 0 && $0 <= 1 })
        // The incident's first row is an anomaly and outscores every normal row; the two after it rest (one incident,
        // one anomaly: the rest period).
        let first = EvaluationTrees.csvAnomalies.lowerBound
        #expect(scores[first] >= 0.5, "row \(first) scored \(scores[first])")
        for row in scores.indices where !EvaluationTrees.csvAnomalies.contains(row) {
            #expect(scores[row] < scores[first], "row \(row) scored \(scores[row])")
        }
        for row in EvaluationTrees.csvAnomalies.dropFirst() { #expect(scores[row] == 0, "row \(row) should rest") }
        #expect(try lines(out.appendingPathComponent("db.csv")).count == 201)
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent(".hidden").path))

        let json = try JSONDecoder().decode(
            JSONValue.self, from: Data(contentsOf: out.appendingPathComponent("summary.json")))
        #expect(json["layout"] == .string("csv"))
        #expect(json["rows"] == .number(500))
        #expect(json["pointwise"]?["overall"]?["rows"] == .number(500))
        #expect(json["pointwise"]?["threshold"] == .number(SourceConfig.defaults.thresholds.low))
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("plots/hosts__web-1.svg").path))
        #expect(try await !databaseExists("ad_eval_\(run.pid)"), "the scratch database was left behind")
    }

    /// SKAB's protocol: labels 0.0/1.0, a changepoint column to ignore, figures after each file's train rows.
    @Test func aSKABShapedTreeWithTrainRowsAndAnIgnoredColumnThroughTheCommand() async throws {
        let root = EvaluationTrees.temporaryDirectory("eval-skab")
        defer { try? FileManager.default.removeItem(at: root) }
        let input = root.appendingPathComponent("in")
        try EvaluationTrees.writeSKABShaped(at: input)
        let common = [
            "--csv-dir", input.path, "--time-column", "datetime", "--label-column", "anomaly", "--separator", ";",
            "--ignore-column", "changepoint",
        ]
        let out = root.appendingPathComponent("out")
        let run = try await evaluate(common + ["--train-rows", "50", "--out", out.path])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out.contains("(after each file's first 50 rows)"), "\(run.out)")
        #expect(run.out.contains("FAR"), "\(run.out)")
        let results = try lines(out.appendingPathComponent("valve1/0.csv"))
        #expect(results.first == "datetime,Current,Pressure,anomaly_score,label")
        #expect(results.count == EvaluationTrees.skabRows + 1)
        let json = try JSONDecoder().decode(
            JSONValue.self, from: Data(contentsOf: out.appendingPathComponent("summary.json")))
        #expect(json["train_rows"] == .number(50))
        let overall = try #require(json["pointwise"]?["overall"])
        #expect(overall["rows"] == .number(Double(EvaluationTrees.skabRows)))
        #expect(overall["evaluated_rows"] == .number(Double(EvaluationTrees.skabRows - 50)))
        let counted = ["tp", "fp", "fn", "tn"].compactMap { key -> Double? in
            if case .number(let x)? = overall[key] { return x }
            return nil
        }
        #expect(counted.reduce(0, +) == Double(EvaluationTrees.skabRows - 50), "only the evaluated rows are counted")
        if case .number(let positives)? = overall["tp"], case .number(let missed)? = overall["fn"] {
            #expect(positives + missed == Double(EvaluationTrees.skabAnomalies.count))
        }
        #expect(overall["far"] != nil && overall["far"] != .null)
        #expect(overall["mar"] != nil && overall["mar"] != .null)
        #expect(try await !databaseExists("ad_eval_\(run.pid)"), "the scratch database was left behind")

        // A train part as long as the file leaves nothing to evaluate: refused before a database exists.
        let tooLong = try await evaluate(
            common + [
                "--train-rows", "\(EvaluationTrees.skabRows)", "--keep", "--out",
                root.appendingPathComponent("o2").path,
            ])
        #expect(tooLong.status == 1)
        #expect(
            tooLong.err.contains(
                "\(input.appendingPathComponent("valve1/0.csv").path): has \(EvaluationTrees.skabRows) rows: "
                    + "--train-rows \(EvaluationTrees.skabRows) leaves none to evaluate"), "\(tooLong.err)")
        #expect(try await !databaseExists("ad_eval_\(tooLong.pid)"), "a database was created for bad input")
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("o2").path))
        // Options are checked before the input is read.
        let zero = try await evaluate(common + ["--train-rows", "0", "--out", root.appendingPathComponent("o3").path])
        #expect(zero.status != 0)
        #expect(zero.err.contains("--train-rows: 1 to 1000000, got 0"), "\(zero.err)")
        let nab = try await evaluate([
            "--nab", input.path, "--ignore-column", "changepoint", "--out", root.appendingPathComponent("o4").path,
        ])
        #expect(nab.status != 0)
        #expect(nab.err.contains("--ignore-column, --train-rows and --separator apply to --csv-dir"), "\(nab.err)")
        // Without --ignore-column the changepoint column is a metric, and the labels still read as 0.0/1.0.
        let asMetric = try await evaluate(
            Array(common.dropLast(2)) + ["--train-rows", "50", "--out", root.appendingPathComponent("o5").path])
        #expect(asMetric.status == 0, "\(asMetric.err)")
        #expect(
            try lines(root.appendingPathComponent("o5/valve1/0.csv")).first
                == "datetime,Current,Pressure,changepoint,anomaly_score,label")
    }

    @Test func badInputFailsNamingFileAndLineBeforeAnythingIsWritten() async throws {
        let root = EvaluationTrees.temporaryDirectory("eval-bad")
        defer { try? FileManager.default.removeItem(at: root) }
        let input = root.appendingPathComponent("in")
        try EvaluationTrees.writeCSV(at: input)
        let bad = input.appendingPathComponent("hosts/web-1.csv")
        var text = try lines(bad)
        text[6] = "1577837100;abc;100;0"
        try EvaluationTrees.write(text.joined(separator: "\n") + "\n", bad)
        let out = root.appendingPathComponent("out")
        // With --keep, a database created before the input was refused would still be there afterwards.
        let run = try await evaluate([
            "--csv-dir", input.path, "--time-column", "time", "--separator", ";", "--out", out.path, "--keep",
        ])
        #expect(run.status == 1)
        #expect(run.err.contains("\(bad.path):7: column \"cpu\": \"abc\" is not a finite number"), "\(run.err)")
        #expect(!FileManager.default.fileExists(atPath: out.path), "output written for bad input")
        #expect(try await !databaseExists("ad_eval_\(run.pid)"), "a database was created for bad input")
        // The input is untouched.
        #expect(try lines(bad)[6] == "1577837100;abc;100;0")
    }

    @Test func anEngineFailureDropsItsDatabaseAndLeavesNoOutput() async throws {
        let root = EvaluationTrees.temporaryDirectory("eval-fail")
        defer { try? FileManager.default.removeItem(at: root) }
        try EvaluationTrees.writeCSV(at: root.appendingPathComponent("in"))
        var corpus = try EvaluationInput.loadCSV(
            directory: root.appendingPathComponent("in"),
            options: .init(timeColumn: "time", separator: 59))
        corpus.series[1].metrics[0] = ""  // which the reader refuses; the database refuses it too, mid-COPY
        let name = scratchName()
        let phases = EvaluationPhases()
        let engine = DatabaseEngine(
            admin: TestServer.url!, database: name, settings: WorkerSettings(), keep: false,
            logger: TestServer.logger, phases: phases)
        let out = root.appendingPathComponent("out")
        let error = await #expect(throws: DatabaseEngine.Failure.self) {
            _ = try await Evaluation(corpus: corpus, output: out, configGiven: .object([]), config: .defaults)
                .run(engine: engine, phases: phases, started: .now)
        }
        #expect(error?.description.hasPrefix("COPY into ad.data_points: ") == true, "\(String(describing: error))")
        #expect(error?.description.contains("empty metric name") == true, "\(String(describing: error))")
        #expect(phases.all.map(\.name).contains("create database"), "the failure came after the database existed")
        #expect(try await !databaseExists(name), "the scratch database was left behind")
        #expect(!FileManager.default.fileExists(atPath: out.path), "an empty output directory was left behind")
    }
}
