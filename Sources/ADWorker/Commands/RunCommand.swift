import ADCore
import ADHTTP
import ADMLflow
import ADPostgres
import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Score new points as they arrive: LISTEN for wake-ups, poll as a backstop, claim, score, write.",
        discussion: "Settings come from the environment:\n"
            + WorkerSettings.documentation.map { "  \($0.0): \($0.1)" }.joined(separator: "\n")
            + "\nSIGTERM or SIGINT finishes the batch in flight, then exits 0."
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Print each anomaly as it is found (time, source, metric, severity, score, explanation).")
    var showAnomalies = false

    func run() async throws {
        let url = try connection.url()
        let settings: WorkerSettings
        do {
            settings = try WorkerSettings.parse(environment: ProcessInfo.processInfo.environment)
        } catch {
            throw ValidationError(error.description)
        }
        let logger = try connection.logger("adworker")
        let loopWakes = (0..<settings.scoringLoops).map { _ in WakeSignal() }
        let wake = WakeSignal(forwardingTo: loopWakes)
        let show = showAnomalies
        // The first channel of each LISTEN connection opened below: /readyz and ad_listener_connected watch them.
        let health = WorkerHealth(
            listen: settings.listen,
            channels: ["ad_points", "ad_feedback"] + (settings.delivery ? ["ad_deliveries"] : []),
            scoringLoops: settings.scoringLoops)
        let readiness = ReadinessCheck(url: url, workerName: settings.name, health: health, logger: logger)
        var scoring = ScoringService(url: url, settings: settings, wakes: loopWakes, logger: logger) { a in
            guard show else { return }
            FileHandle.standardOutput.write(Data((AnomalyLine.format(a) + "\n").utf8))
        }
        let catalogs = SharedCatalog()
        scoring.catalogs = catalogs
        scoring.health = health
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(
                service: scoring, successTerminationBehavior: .gracefullyShutdownGroup,
                failureTerminationBehavior: .gracefullyShutdownGroup)
        ]
        services.append(.init(service: RetentionService(url: url, settings: settings, logger: logger)))
        if settings.pollLanes > 0 {
            services.append(.init(service: PollService(url: url, settings: settings, logger: logger)))
        }
        if settings.listen {
            services.append(
                .init(
                    service: ListenerService(
                        url: url, name: settings.name, wake: wake, logger: logger,
                        heartbeat: settings.listenHeartbeat, limits: settings.sessionLimits, health: health)))
        }
        let feedbackWake = WakeSignal()
        services.append(
            .init(
                service: FeedbackService(url: url, settings: settings, wake: feedbackWake, logger: logger),
                failureTerminationBehavior: .gracefullyShutdownGroup))
        // A promoted or retired model (ad_models): the scoring loops load their catalog afresh at once.
        let modelsWake = WakeSignal()
        services.append(.init(service: ModelSwitchService(wake: modelsWake, catalogs: catalogs)))
        var quiet: [(channel: String, wake: WakeSignal)] = [("ad_models", modelsWake)]
        // MLflow (MLFLOW_TRACKING_URI): each training run is logged there too. Its HTTP client is shut down last.
        var mlflowHTTP: HTTPClient?
        if settings.training {
            let trainingWake = WakeSignal()
            var training = TrainingService(url: url, settings: settings, wake: trainingWake, logger: logger)
            if let mlflow = try MLflowSettings.fromEnvironment(ProcessInfo.processInfo.environment) {
                let http = MLflowClient.makeHTTPClient()
                mlflowHTTP = http
                training.mlflow = MLflowExporter(
                    client: MLflowClient(settings: mlflow, httpClient: http, logger: logger), logger: logger)
                logger.info("training runs are logged to MLflow at \(mlflow.trackingURI)")
            }
            services.append(.init(service: training, failureTerminationBehavior: .gracefullyShutdownGroup))
            quiet.append(("ad_training", trainingWake))
        }
        if settings.listen {
            // The quiet channels share one connection.
            services.append(
                .init(
                    service: ListenerService(
                        url: url, name: settings.name, channel: "ad_feedback",
                        wake: feedbackWake, also: quiet, logger: logger, heartbeat: settings.listenHeartbeat,
                        limits: settings.sessionLimits, health: health)))
        }
        if settings.delivery {
            let deliveryWake = WakeSignal()
            services.append(
                .init(
                    service: DeliveryService(url: url, settings: settings, wake: deliveryWake, logger: logger),
                    failureTerminationBehavior: .gracefullyShutdownGroup))
            if settings.listen {
                services.append(
                    .init(
                        service: ListenerService(
                            url: url, name: settings.name, channel: "ad_deliveries",
                            wake: deliveryWake, logger: logger, heartbeat: settings.listenHeartbeat,
                            limits: settings.sessionLimits, health: health)))
            }
        }
        if let listen = settings.metricsListen {
            services += MetricsService.services(
                url: url, listen: listen, settings: settings, readiness: readiness, logger: logger)
        }
        if let listen = settings.httpListen {
            services += try HTTPService.services(
                url: url, listen: listen, settings: settings, readiness: readiness, logger: logger)
        }
        var config = ServiceGroupConfiguration(services: services, logger: logger)
        config.gracefulShutdownSignals = [.sigterm, .sigint]
        logger.info("adworker \(settings.name) starting on \(url)")
        let http = mlflowHTTP
        do {
            try await ServiceGroup(configuration: config).run()
        } catch {
            try? await http?.shutdown()
            throw error
        }
        try? await http?.shutdown()
    }
}

/// One terminal line per anomaly.
enum AnomalyLine {
    static let time: DateFormatter = {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss'Z'"
        return f
    }()

    /// Time, source, metric, severity, score, actual, expected and range, detector, then why (the reason).
    static func format(_ a: FoundAnomaly) -> String {
        let e = a.explanation
        func num(_ x: Double?) -> String { x.map(Explanation.format) ?? "?" }
        var range = ""
        if let r = e.expectedRange { range = " in [\(num(r.low)), \(num(r.high))]" }
        return "\(time.string(from: a.time))  \(a.source)  \(a.metric)  \(a.severity.rawValue.uppercased())  "
            + "score \(String(format: "%.6f", a.score))  actual \(num(e.actual)) expected \(num(e.expected))\(range)"
            + "  (\(a.detector))" + (e.reason.map { "  why: " + $0 } ?? "")
    }
}
