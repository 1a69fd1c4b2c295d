import ADCore
import Logging
import NIOSSL
import PostgresNIO

/// Opens connections described by a `DATABASE_URL`.
public enum Database {
    /// The postgres-nio configuration for `url`.
    public static func configuration(
        for url: DatabaseURL, applicationName: String = "adworker"
    ) throws
        -> PostgresConnection.Configuration
    {
        var config: PostgresConnection.Configuration
        if let socket = url.unixSocketPath {
            config = .init(
                unixSocketPath: socket, username: url.username, password: url.password, database: url.database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            var client = TLSConfiguration.makeClientConfiguration()
            switch url.tls {
            case .disable: break
            case .prefer, .require: client.certificateVerification = .none  // libpq: encrypt, do not verify
            case .verifyCA: client.certificateVerification = .noHostnameVerification
            case .verifyFull: client.certificateVerification = .fullVerification
            }
            switch url.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: client))
            case .require, .verifyCA, .verifyFull: tls = .require(try NIOSSLContext(configuration: client))
            }
            config = .init(
                host: url.host, port: url.port, username: url.username, password: url.password,
                database: url.database, tls: tls)
        }
        config.options.additionalStartupParameters = [("application_name", url.applicationName ?? applicationName)]
        return config
    }

    /// Connects to `url`, runs `body`, and closes the connection whatever happens.
    public static func withConnection<T: Sendable>(
        _ url: DatabaseURL, logger: Logger, applicationName: String = "adworker",
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let config = try configuration(for: url, applicationName: applicationName)
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: config, id: 1, logger: logger)
        } catch {
            throw DatabaseError.connect(url: url, underlying: error)
        }
        do {
            let result = try await body(connection)
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }
}

/// Errors from talking to PostgreSQL, with the server's own words when it sent any.
public enum DatabaseError: Error, CustomStringConvertible {
    case connect(url: DatabaseURL, underlying: any Error)

    public var description: String {
        switch self {
        case .connect(let url, let underlying):
            "cannot connect to \(url): \(describe(underlying))"
        }
    }
}

/// The server's message, detail and hint for a `PSQLError`; `String(reflecting:)` for anything else.
/// (postgres-nio keeps the server's words out of `description`.)
public func describe(_ error: any Error) -> String {
    if let e = error as? PSQLError {
        if let info = e.serverInfo, let message = info[.message] {
            var text = message
            if let state = info[.sqlState] { text += " [SQLSTATE \(state)]" }
            if let detail = info[.detail] { text += "\n  detail: \(detail)" }
            if let hint = info[.hint] { text += "\n  hint: \(hint)" }
            return text
        }
        if let underlying = e.underlying { return String(describing: underlying) }
        return String(reflecting: e)
    }
    return String(describing: error)
}
