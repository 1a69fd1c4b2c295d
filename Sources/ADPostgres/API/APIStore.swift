import ADCore
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// Who an HTTP request acts as: its bearer token, the database role the request runs as, and the person actions are
/// attributed to (sql/057_api_identity.sql).
public struct APICaller: Sendable, Equatable {
    public let tokenID: UUID
    public let tokenName: String
    public let role: String
    public let userID: UUID?
    public let person: String?
}

/// Why a request failed, in the words the database (or the door) used, and what kind of failure it is; the HTTP
/// layer turns the kind into a status.
public struct APIFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case unauthenticated, forbidden, notFound, invalid, conflict, tooLarge, unavailable, internalError
    }
    public var kind: Kind
    public var message: String
    public var hint: String?
    public var sqlState: String?
    /// The position of the point (0-based) a batch failed at, when the door found it.
    public var index: Int?

    public init(_ kind: Kind, _ message: String, hint: String? = nil, sqlState: String? = nil, index: Int? = nil) {
        self.kind = kind
        self.message = message
        self.hint = hint
        self.sqlState = sqlState
        self.index = index
    }

    public var description: String { message }

    /// The failure a database error means. The message is the server's (our triggers and functions write them
    /// for people); a client-side failure (a lost connection) is `unavailable` and says so without internals.
    public static func from(_ error: any Error) -> APIFailure {
        if let failure = error as? APIFailure { return failure }
        if let tx = error as? PostgresTransactionError {
            if let inner = tx.closureError { return from(inner) }
            if let inner = tx.commitError { return from(inner) }
            if let inner = tx.beginError { return from(inner) }
        }
        guard let psql = error as? PSQLError else {
            return APIFailure(.internalError, "the request failed inside the server")
        }
        guard let info = psql.serverInfo, let state = info[.sqlState] else {
            return APIFailure(.unavailable, "the database is unreachable; try again")
        }
        var message = info[.message] ?? "the database refused the request"
        if let detail = info[.detail] { message += " (\(detail))" }
        return APIFailure(kind(of: state), message, hint: info[.hint], sqlState: state)
    }

    /// SQLSTATE classes to kinds: privileges (42501) and a login not mapped to a person (28000) are forbidden; bad
    /// values (22xxx, 23502, 23514 from a CHECK, P0001 raised by our functions) invalid; a state machine's refusal
    /// (23514 raised by the status trigger) and unique violations are conflicts; missing rows (P0002, 42704)
    /// not found; timeouts, lock waits, serialization failures and a server shutting down are unavailable.
    static func kind(of state: String) -> Kind {
        switch state {
        case "42501", "28000": return .forbidden
        case "P0002", "42704": return .notFound
        case "23505", "23514", "40P01": return state == "23514" ? .conflict : .conflict
        case "57014", "55P03", "40001", "57P01", "57P02", "57P03", "53300", "08000", "08003", "08006":
            return .unavailable
        case "54000", "54001": return .tooLarge
        default:
            if state.hasPrefix("22") || state.hasPrefix("23") || state == "P0001" || state.hasPrefix("42") {
                return .invalid
            }
            return .internalError
        }
    }
}

/// The HTTP doors' way into the database: a pool of connections as the API's login (a member of ad_api), and one
/// transaction per request that authenticates the bearer token and sets role to the token's role, so every
/// statement of the request runs with that role's privileges, triggers and attribution (sql/057_api_identity.sql).
public final class APIStore: Sendable {
    public let client: PostgresClient
    let logger: Logger
    /// How long a request waits for a session of the pool.
    let leaseTimeout: Duration

    /// A pool for `url`, at most `connections` sessions with `limits` (statement and lock timeouts).
    public init(url: DatabaseURL, connections: Int, limits: SessionLimits, logger: Logger) throws {
        var config: PostgresClient.Configuration
        if let socket = url.unixSocketPath {
            config = .init(
                unixSocketPath: socket, username: url.username, password: url.password, database: url.database)
        } else {
            // The same modes as Database.tlsMode, in the pool's type (it takes the configuration, not a context).
            let tls: PostgresClient.Configuration.TLS
            switch url.tls {
            case .disable: tls = .disable
            case .allow, .prefer: tls = .prefer(try Database.tlsConfiguration(for: url))
            case .require, .verifyCA, .verifyFull: tls = .require(try Database.tlsConfiguration(for: url))
            }
            config = .init(
                host: url.host, port: url.port, username: url.username, password: url.password,
                database: url.database, tls: tls)
            if !url.host.isIPAddressLiteral { config.options.tlsServerName = url.host }
        }
        config.options.connectTimeout = .seconds(Int64(url.connectTimeout))
        config.options.maximumConnections = connections
        config.options.minimumConnections = 0
        config.options.additionalStartupParameters = Database.startupParameters(
            for: url, applicationName: "adworker-api", limits: limits)
        client = PostgresClient(configuration: config, backgroundLogger: logger)
        self.logger = logger
        leaseTimeout = .seconds(max(2, url.connectTimeout))
    }

    /// Runs the pool until the task is cancelled (a ServiceLifecycle service does it).
    public func run() async { await client.run() }

    /// Runs `body` in one transaction as the caller `token` names; a token that is unknown, revoked or expired is
    /// `unauthenticated` (nothing else is said about it). Every failure comes back as an `APIFailure`. A session
    /// that cannot be had within `leaseTimeout` (the database is down, or every session is busy) is `unavailable`:
    /// the pool would otherwise keep the request waiting for as long as the database stays away.
    public func asCaller<T: Sendable>(
        token: String, _ body: @escaping @Sendable (PostgresConnection, APICaller) async throws -> T
    ) async throws(APIFailure) -> T {
        let leased = Flag()
        let client = self.client
        let logger = self.logger
        let timeout = leaseTimeout
        do {
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await client.withTransaction(logger: logger) { connection in
                        leased.value.store(true, ordering: .relaxed)
                        let caller = try await Self.authenticate(token: token, on: connection, logger: logger)
                        return try await body(connection, caller)
                    }
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    if !leased.value.load(ordering: .relaxed) {
                        throw APIFailure(
                            .unavailable,
                            "no database session within \(timeout): the database is unreachable or every session is busy"
                        )
                    }
                    return nil
                }
                while let next = try await group.next() {
                    if let result = next {
                        group.cancelAll()
                        return result
                    }
                }
                throw APIFailure(.internalError, "the request ended without a result")
            }
        } catch {
            throw APIFailure.from(error)
        }
    }

    /// Authenticates `token` and, in the transaction open on `connection`, sets role and ad.api_token (both local
    /// to the transaction). Times without an offset are read as UTC.
    static func authenticate(
        token: String, on connection: PostgresConnection, logger: Logger
    ) async throws
        -> APICaller
    {
        let rows = try await connection.query(
            """
            SELECT a.token_id, a.token_name, a.db_role::text, a.user_id, a.person,
                   set_config('ad.api_token', a.token_id::text, true), set_config('TimeZone', 'UTC', true),
                   set_config('role', a.db_role, true)
              FROM ad_internal.api_authenticate(\(token)) a
            """, logger: logger)
        for try await (id, name, role, user, person, _, _, _) in rows.decode(
            (UUID, String, String, UUID?, String?, String, String, String).self)
        {
            return APICaller(tokenID: id, tokenName: name, role: role, userID: user, person: person)
        }
        throw APIFailure(.unauthenticated, "the bearer token is missing, unknown, revoked or expired")
    }
}

/// A flag one task sets and another reads.
private final class Flag: Sendable {
    let value = Atomic<Bool>(false)
}
