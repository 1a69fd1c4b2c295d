import ADCore
import ADPostgres
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The HTTP doors' limits (README, "HTTP API").
public struct APISettings: Sendable, Equatable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    /// The largest request body taken, bytes; larger is 413 before it is read to the end.
    public var maxBodyBytes: Int = 16 * 1024 * 1024
    /// Points requests taken at once; more are answered 503 at once.
    public var maxUploads: Int = 8
    /// The most points one ingest request may carry.
    public var maxPoints: Int = 50_000
    /// The most points a series request returns (the latest of the window).
    public var maxSeriesPoints: Int = 10_000
    /// The longest `POST /v1/models/train?wait=` waits for the training to end, seconds.
    public var maxTrainWait: Double = 120
    /// Seconds an idle keep-alive connection stays open.
    public var idleTimeout: Int64 = 60

    public init() {}

    /// The limits `adworker run`'s settings (AD_HTTP_*) give, listening on `host`:`port`.
    public init(_ worker: WorkerSettings, host: String, port: Int) {
        self.host = host
        self.port = port
        maxBodyBytes = worker.httpMaxBodyMB * 1024 * 1024
        maxPoints = worker.httpMaxPoints
        maxUploads = worker.httpMaxUploads
    }
}

/// Builds the Hummingbird application: the API routes (`APIRoutes`) behind the problem middleware.
public enum APIServer {
    public static func application(
        store: APIStore, settings: APISettings, logger: Logger,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in },
        readiness: (@Sendable () async -> Readiness)? = nil
    ) -> some ApplicationProtocol {
        let router = Router(context: APIContext.self)
        router.add(middleware: ProblemMiddleware<APIContext>(logger: logger))
        APIRoutes(store: store, settings: settings, logger: logger, readiness: readiness).register(on: router)
        ConsoleRoutes(store: store, settings: settings, logger: logger).register(on: router)
        return Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .seconds(settings.idleTimeout))),
            configuration: .init(
                address: .hostname(settings.host, port: settings.port), serverName: "adworker"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? settings.port) },
            logger: logger)
    }
}

/// The request context: Hummingbird's, with this server's upload limit.
public struct APIContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public init(source: Source) { coreContext = .init(source: source) }
    public var maxUploadSize: Int { 16 * 1024 * 1024 }
}
