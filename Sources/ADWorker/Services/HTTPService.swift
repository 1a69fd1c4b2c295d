import ADCore
import ADHTTP
import ADPostgres
import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle

/// The HTTP API and console (AD_HTTP_LISTEN): a connection pool as the API's login (AD_HTTP_DATABASE_URL, else
/// DATABASE_URL; a member of ad_api) and the Hummingbird server. Both run in the worker's service group, so SIGTERM
/// ends them with the rest.
enum HTTPService {
    static func services(
        url: DatabaseURL, listen: (host: String, port: Int), settings: WorkerSettings, readiness: ReadinessCheck,
        logger: Logger
    ) throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        var apiURL = url
        if let text = ProcessInfo.processInfo.environment["AD_HTTP_DATABASE_URL"], !text.isEmpty {
            do {
                apiURL = try DatabaseURL(text)
            } catch {
                throw ValidationError("AD_HTTP_DATABASE_URL: \(error.description)")
            }
        }
        let store = try APIStore(
            url: apiURL, connections: settings.httpConnections, limits: settings.sessionLimits, logger: logger)
        let api = APISettings(settings, host: listen.host, port: listen.port)
        let app = APIServer.application(
            store: store, settings: api, logger: logger,
            onRunning: { port in logger.info("HTTP API listening on http://\(listen.host):\(port)") },
            readiness: { await readiness.current() })
        return [
            .init(service: store.client, failureTerminationBehavior: .gracefullyShutdownGroup),
            .init(service: app, failureTerminationBehavior: .gracefullyShutdownGroup),
        ]
    }
}
