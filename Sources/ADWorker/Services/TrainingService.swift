import ADCore
import ADPostgres
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// Training jobs and the drift monitor: runs waiting jobs one after another (`TrainingRunner`), then the drift
/// checks that are due (`DriftMonitor`), then waits for an `ad_training` notification or the jittered poll. Its
/// session has a longer statement timeout than scoring's: reading a training window may take minutes.
struct TrainingService: Service {
    let url: DatabaseURL
    let settings: WorkerSettings
    let wake: WakeSignal
    let logger: Logger
    /// The MLflow export, when MLFLOW_TRACKING_URI is set.
    var mlflow: MLflowExporter?
    let backoff = Backoff(base: 0.5, cap: 30)

    /// This machine's name from gethostname(2): never a DNS lookup (Foundation's `ProcessInfo.hostName` resolves it,
    /// which can block for a long time on a host without a resolver).
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown-host" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Statement timeout of the training session, seconds: reading a large window is one long statement.
    static let statementTimeout = 900.0

    func run() async throws {
        // Who holds a job: unique per process, so two workers with the same AD_WORKER_NAME never renew, finish or
        // fail each other's jobs.
        let holder = "\(settings.name)@\(Self.hostName()):\(getpid())"
        let runner = TrainingRunner(
            worker: holder, lease: settings.trainingLease, readLease: Self.statementTimeout + 60,
            maxRows: settings.trainingMaxRows, logger: logger,
            registered: { [mlflow] in await mlflow?.registered($0, $1, $2) },
            failed: { [mlflow] in await mlflow?.failed($0, $1, $2) })
        let drift = DriftMonitor(maxRows: settings.trainingMaxRows, logger: logger)
        var limits = settings.sessionLimits
        limits.statementTimeout = max(Self.statementTimeout, settings.statementTimeout)
        limits.idleInTransactionTimeout = max(limits.idleInTransactionTimeout ?? 0, Self.statementTimeout * 2)
        await runReconnecting(
            url, application: "\(settings.name) training", what: "training", backoff: backoff, limits: limits,
            logger: logger
        ) { conn, connected in
            connected()
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                if let result = try await runner.runOne(conn) {
                    switch result {
                    case .registered: WorkerMetrics.trainingRun(succeeded: true)
                    case .failed: WorkerMetrics.trainingRun(succeeded: false)
                    case .lost: break  // another worker took the job over and counts its end
                    }
                    continue
                }
                _ = try await drift.pass(conn)
                let poll = jittered(settings.trainingPoll, random: Double.random(in: 0...1))
                _ = await cancelWhenGracefulShutdown { await wake.wait(timeout: .seconds(poll)) }
            }
        }
        logger.info("training stopped")
    }
}

/// Makes the scoring loops load the catalog afresh when a model is promoted or retired (`ad_models`), so they
/// switch models at once; without notifications they switch within `AD_CONFIG_REFRESH`.
struct ModelSwitchService: Service {
    let wake: WakeSignal
    let catalogs: SharedCatalog

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let woken = await cancelWhenGracefulShutdown { await wake.wait(timeout: .seconds(3600)) }
            if woken == true { await catalogs.invalidate() }
        }
    }
}
