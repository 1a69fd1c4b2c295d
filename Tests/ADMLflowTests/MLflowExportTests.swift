import ADDBTestSupport
import AsyncHTTPClient
import Foundation
import Logging
import Testing

@testable import ADMLflow

/// The export against a real `mlflow server` (PyPI, the version scripts/lib/mlflow-venv.sh pins) on loopback, read
/// back through MLflow's own REST API. One server per test; serialized (each server holds a few hundred MB).
@Suite(
    .enabled(
        if: MLflowServer.available,
        "needs MLflow: AD_TEST_MLFLOW unset and no .venv-mlflow (scripts/test installs it: scripts/lib/mlflow-venv.sh)"),
    .serialized)
struct MLflowExportTests {
    static let logger = Logger(label: "test.mlflow")

    /// A training as the TrainingService hands it over: 150 params (two log-batch requests), one too long for MLflow,
    /// one whose name MLflow refuses; classification metrics and counts; a 300 kB artifact.
    static func run(
        name: String = "pump-7 isolation forest", version: Int = 1, id: UUID = UUID(), failed: Bool = false
    ) -> MLflowRun {
        var params: [String: String] = [:]
        for i in 0..<148 { params[String(format: "hyperparameters.p%03d", i)] = String(i) }
        params["train_window"] = String(repeating: "w", count: 7000)
        params["what?"] = "renamed"
        var generator = SystemRandomNumberGenerator()
        let artifact = (0..<300_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return MLflowRun(
            modelName: name, version: version, modelID: id, algorithm: "isolation_forest", source: "pump-7",
            parameters: params,
            metrics: ["precision": 0.75, "recall": 0.5, "f1": 0.6, "roc_auc": 0.9125, "true_positives": 30],
            tags: ["requested_by": "ds_alice", "ad.model_id": "spoofed"],
            artifact: artifact, artifactName: "model.adm",
            startedAt: Date(timeIntervalSince1970: 1_780_000_000.25),
            finishedAt: Date(timeIntervalSince1970: 1_780_000_042.5), failed: failed)
    }

    static func settings(_ server: MLflowServer, experiment: String = "anomaly-detection") -> MLflowSettings {
        MLflowSettings(trackingURI: server.baseURL, experiment: experiment, timeout: .seconds(60))
    }

    static func withServer(
        adminPassword: String? = nil, _ body: (MLflowServer, HTTPClient) async throws -> Void
    ) async throws {
        let server = MLflowServer()
        try await server.start(adminPassword: adminPassword)
        let http = MLflowClient.makeHTTPClient()
        do {
            try await body(server, http)
        } catch {
            try? await http.shutdown()
            let output = server.output
            server.stop()
            Issue.record("mlflow server output (end): \(output.suffix(3000))")
            throw error
        }
        try await http.shutdown()
        server.stop()
    }

    static func tags(_ list: Any?) -> [String: String] {
        var out: [String: String] = [:]
        for case let t as [String: Any] in (list as? [Any]) ?? [] {
            if let k = t["key"] as? String, let v = t["value"] as? String { out[k] = v }
        }
        return out
    }

    @Test func exportLogsTheRunItsArtifactAndAModelVersionAndASecondExportAddsNothing() async throws {
        try await Self.withServer { server, http in
            let client = MLflowClient(settings: Self.settings(server), httpClient: http, logger: Self.logger)
            let training = Self.run()
            let export = try await client.export(training)
            #expect(export.modelVersion == "1")
            #expect(export.registeredModel == "pump-7 isolation forest")
            #expect(!export.reused)

            // The experiment, by name.
            let experiment = try await server.api(
                "experiments/get-by-name", query: ["experiment_name": "anomaly-detection"])
            #expect((experiment["experiment"] as? [String: Any])?["experiment_id"] as? String == export.experimentID)

            // The run: status, times, name, params, metrics, tags.
            let got = try await server.api("runs/get", query: ["run_id": export.runID])
            let run = try #require(got["run"] as? [String: Any])
            let info = try #require(run["info"] as? [String: Any])
            let data = try #require(run["data"] as? [String: Any])
            #expect(info["status"] as? String == "FINISHED")
            #expect(info["run_name"] as? String == "pump-7 isolation forest v1")
            #expect((info["start_time"] as? NSNumber)?.int64Value == 1_780_000_000_250)
            #expect((info["end_time"] as? NSNumber)?.int64Value == 1_780_000_042_500)
            let params = Self.tags(data["params"])
            #expect(params.count == 150)
            #expect(params["hyperparameters.p147"] == "147")
            #expect(params["train_window"] == String(repeating: "w", count: 6000))
            #expect(params["what_"] == "renamed")
            var metrics: [String: Double] = [:]
            for case let m as [String: Any] in (data["metrics"] as? [Any]) ?? [] {
                if let k = m["key"] as? String, let v = (m["value"] as? NSNumber)?.doubleValue { metrics[k] = v }
            }
            #expect(metrics == ["precision": 0.75, "recall": 0.5, "f1": 0.6, "roc_auc": 0.9125, "true_positives": 30])
            let tags = Self.tags(data["tags"])
            #expect(tags["ad.model_id"] == training.modelID.uuidString.lowercased())
            #expect(tags["ad.model_name"] == "pump-7 isolation forest")
            #expect(tags["ad.model_version"] == "1")
            #expect(tags["ad.algorithm"] == "isolation_forest")
            #expect(tags["ad.source"] == "pump-7")
            #expect(tags["requested_by"] == "ds_alice")
            #expect(tags["ad.truncated_params"] == "train_window")

            // The artifact, downloaded through the server's artifact proxy: byte for byte.
            let path = "\(export.experimentID)/\(export.runID)/artifacts/model.adm"
            let download = try await TestHTTP.send(
                "GET", server.url("/api/2.0/mlflow-artifacts/artifacts/\(path)"), timeout: 30)
            #expect(download.status == 200)
            #expect(Array(download.body) == training.artifact)
            let listed = try await server.api(
                "artifacts/list", query: ["run_id": export.runID])
            let files = ((listed["files"] as? [Any]) ?? []).compactMap { ($0 as? [String: Any])?["path"] as? String }
            #expect(files == ["model.adm"])

            // The registered model version points at the run.
            let mv = try await server.api(
                "model-versions/get", query: ["name": "pump-7 isolation forest", "version": "1"])
            let version = try #require(mv["model_version"] as? [String: Any])
            #expect(version["run_id"] as? String == export.runID)
            #expect(version["source"] as? String == "runs:/\(export.runID)/model.adm")
            #expect(version["status"] as? String == "READY")
            #expect(Self.tags(version["tags"])["ad.model_id"] == training.modelID.uuidString.lowercased())
            #expect(Self.tags(version["tags"])["ad.model_version"] == "1")

            // At least once: the same model exported again finds the first export and adds nothing.
            let again = try await client.export(training)
            #expect(again.runID == export.runID)
            #expect(again.modelVersion == "1")
            #expect(again.reused)
            let versions = try await server.api(
                "model-versions/search", query: ["filter": "name = 'pump-7 isolation forest'"])
            #expect((versions["model_versions"] as? [Any])?.count == 1)
            let runs = try await server.api(
                "runs/search", method: "POST", body: ["experiment_ids": [export.experimentID], "max_results": 100])
            #expect((runs["runs"] as? [Any])?.count == 1)

            // The next training of the same model: a second version of the same registered model, in the same
            // experiment.
            let next = try await client.export(Self.run(version: 2))
            #expect(next.modelVersion == "2")
            #expect(next.experimentID == export.experimentID)
            #expect(next.runID != export.runID)
        }
    }

    /// A worker that died after creating the run (before its artifact or version) left a RUNNING run tagged with the
    /// model id: the retried export completes that run instead of creating a second one.
    @Test func anInterruptedExportIsCompletedNotDoubled() async throws {
        try await Self.withServer { server, http in
            let client = MLflowClient(
                settings: Self.settings(server, experiment: "retries"), httpClient: http, logger: Self.logger)
            let training = Self.run(name: "detector/a:b")
            let experimentID = try await client.experiment()
            let created = try await server.api(
                "runs/create", method: "POST",
                body: [
                    "experiment_id": experimentID, "start_time": 1_780_000_000_250,
                    "tags": [["key": "ad.model_id", "value": training.modelID.uuidString.lowercased()]],
                ])
            let leftover = try #require(
                ((created["run"] as? [String: Any])?["info"] as? [String: Any])?["run_id"] as? String)

            let export = try await client.export(training)
            #expect(export.runID == leftover)
            #expect(export.reused)
            #expect(export.registeredModel == "detector_a_b")
            #expect(export.modelVersion == "1")
            let got = try await server.api("runs/get", query: ["run_id": leftover])
            #expect(((got["run"] as? [String: Any])?["info"] as? [String: Any])?["status"] as? String == "FINISHED")
            let runs = try await server.api("runs/search", method: "POST", body: ["experiment_ids": [experimentID]])
            #expect((runs["runs"] as? [Any])?.count == 1)
        }
    }

    /// Two exports of the same model at once (a worker whose lease expired mid-export, and the one that took the job
    /// over): whichever way they interleave, one version and one live run remain, and both callers report them.
    @Test func concurrentExportsOfTheSameModelLeaveOneVersion() async throws {
        try await Self.withServer { server, http in
            let client = MLflowClient(settings: Self.settings(server), httpClient: http, logger: Self.logger)
            let training = Self.run(name: "raced")
            async let a = client.export(training)
            async let b = client.export(training)
            let (first, second) = try await (a, b)
            #expect(first.modelVersion == second.modelVersion)
            #expect(first.runID == second.runID)
            let versions = try await server.api("model-versions/search", query: ["filter": "name = 'raced'"])
            let listed = (versions["model_versions"] as? [Any]) ?? []
            #expect(listed.count == 1)
            #expect((listed.first as? [String: Any])?["run_id"] as? String == first.runID)
            let runs = try await server.api(
                "runs/search", method: "POST",
                body: ["experiment_ids": [first.experimentID], "run_view_type": "ACTIVE_ONLY"])
            let live = ((runs["runs"] as? [Any]) ?? []).compactMap {
                (($0 as? [String: Any])?["info"] as? [String: Any])?["run_id"] as? String
            }
            #expect(live == [first.runID])
        }
    }

    /// A failed training: its run ends FAILED with its params and metrics, and nothing is registered.
    @Test func aFailedTrainingEndsItsRunFailedAndRegistersNothing() async throws {
        try await Self.withServer { server, http in
            let client = MLflowClient(settings: Self.settings(server), httpClient: http, logger: Self.logger)
            var training = Self.run(name: "never registered", failed: true)
            training.artifact = []
            training.metrics = ["f1": .nan]
            let export = try await client.export(training)
            #expect(export.modelVersion == nil)
            let got = try await server.api("runs/get", query: ["run_id": export.runID])
            let run = try #require(got["run"] as? [String: Any])
            #expect((run["info"] as? [String: Any])?["status"] as? String == "FAILED")
            let metrics = ((run["data"] as? [String: Any])?["metrics"] as? [Any]) ?? []
            #expect(metrics.count == 1)
            let missing = try await TestHTTP.send(
                "GET", server.url("/api/2.0/mlflow/registered-models/get?name=never%20registered"), timeout: 30)
            #expect(missing.status == 404)
        }
    }
}

extension MLflowExportTests {
    /// MLflow's basic-auth app in front of the server: MLFLOW_TRACKING_USERNAME/PASSWORD get through; a wrong
    /// password is a clear 401 that trying again cannot fix, and the password appears nowhere in it.
    @Test func basicAuthenticationFromTheEnvironment() async throws {
        let password = "Adm1n-\(UUID().uuidString.prefix(8))"
        try await Self.withServer(adminPassword: password) { server, http in
            var env = [
                "MLFLOW_TRACKING_URI": server.baseURL.absoluteString,
                "MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": password,
            ]
            let settings = try #require(try MLflowSettings.fromEnvironment(env))
            let export = try await MLflowClient(settings: settings, httpClient: http, logger: Self.logger)
                .export(Self.run())
            #expect(export.modelVersion == "1")

            env["MLFLOW_TRACKING_PASSWORD"] = "wrong-\(password)"
            let wrong = try #require(try MLflowSettings.fromEnvironment(env))
            do throws(MLflowError) {
                _ = try await MLflowClient(settings: wrong, httpClient: http, logger: Self.logger).export(Self.run())
                Issue.record("a wrong password was accepted")
            } catch {
                #expect(error.httpStatus == 401)
                #expect(!error.retryable)
                #expect(error.description.contains("MLFLOW_TRACKING_USERNAME"))
                #expect(!error.description.contains(password))
            }
        }
    }
}

/// What the client does when the tracking server is not a good one: down, silent, stalling, redirecting, failing.
/// No MLflow needed: a closed port and scripts/receivers/hostile_receiver.py.
@Suite(.serialized)
struct MLflowUnreachableTests {
    static func client(_ uri: String, _ http: HTTPClient, timeout: Duration = .seconds(1)) -> MLflowClient {
        MLflowClient(
            settings: MLflowSettings(
                trackingURI: URL(string: uri)!, timeout: timeout, headers: [("Authorization", "Bearer s3cret")]),
            httpClient: http, logger: Logger(label: "test.mlflow"))
    }

    static func exportError(_ client: MLflowClient) async -> MLflowError? {
        do {
            _ = try await client.export(MLflowExportTests.run())
            return nil
        } catch {
            return error
        }
    }

    @Test func aServerThatIsDownGivesAClearRetryableError() async throws {
        let http = MLflowClient.makeHTTPClient()
        let port = try freeLoopbackPort()  // nothing listens there
        // A generous deadline: the refused connection, not the deadline, must end it, however busy the machine.
        let error = try #require(
            await Self.exportError(Self.client("http://127.0.0.1:\(port)", http, timeout: .seconds(60))))
        try await http.shutdown()
        #expect(error.retryable)
        #expect(error.operation.contains("find the experiment"))
        #expect(error.description.contains("cannot reach the server"))
        #expect(error.description.contains("http://127.0.0.1:\(port)"))
        #expect(!error.description.contains("s3cret"))
    }

    /// Silent before its answer's head (/hang/) or after one byte of its body (/stall/): the request's total deadline
    /// ends it, with an error that names the timeout.
    @Test(arguments: ["/hang", "/stall"])
    func aServerThatNeverAnswersTimesOut(path: String) async throws {
        let receiver = HostileReceiver()
        try receiver.start()
        let http = MLflowClient.makeHTTPClient()
        let error = try #require(await Self.exportError(Self.client(receiver.url(path), http)))
        try? await receiver.release()
        try await http.shutdown()
        receiver.stop()
        #expect(error.retryable)
        // The deadline, not the stalled server, ended the request: the reason names it.
        #expect(error.reason.contains("no complete answer within 1 s"))
    }

    @Test func aRedirectIsNotFollowed() async throws {
        let receiver = HostileReceiver()
        try receiver.start()
        let http = MLflowClient.makeHTTPClient()
        let error = try #require(
            await Self.exportError(Self.client(receiver.url("/redirect"), http, timeout: .seconds(30))))
        let hits = try await receiver.hits()
        try await http.shutdown()
        receiver.stop()
        #expect(error.httpStatus == 307)
        #expect(error.reason.contains("a redirect, not followed"))
        #expect(!error.retryable)
        #expect(hits.count == 1)
        // MLFLOW_TRACKING_TOKEN's header went with the request (and nowhere else: the redirect was not followed).
        #expect(hits.first?.headers["authorization"] == "Bearer s3cret")
    }

    /// An error answer's body and reason phrase are the server's words: neither reaches the error.
    @Test func anErrorAnswerIsNotEchoed() async throws {
        let receiver = HostileReceiver()
        try receiver.start()
        let http = MLflowClient.makeHTTPClient()
        let error = try #require(
            await Self.exportError(Self.client(receiver.url("/leak"), http, timeout: .seconds(30))))
        try await http.shutdown()
        receiver.stop()
        #expect(error.httpStatus == 500)
        #expect(error.retryable)
        #expect(error.reason == "HTTP 500 Internal Server Error")
        #expect(!error.description.contains(HostileReceiver.leakMarker))
    }
}
