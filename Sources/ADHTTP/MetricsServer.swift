import ADCore
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The worker's own listener (AD_METRICS_LISTEN): `GET /metrics` in Prometheus's text format, `GET /healthz` (the
/// process answers: 200 `ok`) and `GET /readyz` (200 and what was checked, or 503 and why, both as JSON). No
/// tokens: put it on an address only the scraper reaches. Everything else is 404.
public enum MetricsServer {
    public static func application(
        host: String, port: Int, logger: Logger, metrics: @escaping @Sendable () -> [UInt8],
        readiness: @escaping @Sendable () async -> Readiness,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        router.get("/metrics") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics())))
        }
        router.get("/healthz") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
        }
        router.get("/readyz") { _, _ in
            let r = await readiness()
            return Response(
                status: r.ready ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: r.json + "\n")))
        }
        return Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .seconds(60))),
            configuration: .init(address: .hostname(host, port: port), serverName: "adworker-metrics"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }
}
