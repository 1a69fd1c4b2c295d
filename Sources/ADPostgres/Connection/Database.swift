import ADCore
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

#if canImport(Glibc)
    import Glibc
#endif

/// Server-side limits a session starts with (sent in the startup packet, so they hold from the first statement),
/// and the client-side deadline derived from them. `nil` leaves the server's setting.
public struct SessionLimits: Sendable, Equatable {
    /// `statement_timeout`, seconds.
    public var statementTimeout: Double?
    /// `lock_timeout`, seconds: how long any statement may wait for a lock (a table or row someone else holds).
    public var lockTimeout: Double?
    /// `idle_in_transaction_session_timeout`, seconds: a session that stalls inside a transaction (its client
    /// hung) is ended, so the locks it holds do not stop others.
    public var idleInTransactionTimeout: Double?

    public init(statementTimeout: Double? = nil, lockTimeout: Double? = nil, idleInTransactionTimeout: Double? = nil) {
        self.statementTimeout = statementTimeout
        self.lockTimeout = lockTimeout
        self.idleInTransactionTimeout = idleInTransactionTimeout
    }

    /// None: the server's settings (migrate, doctor, evaluate, bench: run by a person, who can interrupt them).
    public static let none = SessionLimits()

    /// The client-side deadline: a reply the server owes that has not begun this long after the connection last
    /// moved is given up, and the connection closed. The server ends any statement at `statementTimeout`, so only
    /// a silent network (a peer or middlebox that stopped forwarding) reaches it. nil without a statement timeout.
    public var replyDeadline: Double? { statementTimeout.map { $0 + 15 } }

    var startupParameters: [(String, String)] {
        func ms(_ s: Double) -> String { String(Int((s * 1000).rounded())) }
        var out: [(String, String)] = []
        if let s = statementTimeout { out.append(("statement_timeout", ms(s))) }
        if let s = lockTimeout { out.append(("lock_timeout", ms(s))) }
        if let s = idleInTransactionTimeout { out.append(("idle_in_transaction_session_timeout", ms(s))) }
        return out
    }
}

/// Opens connections described by a `DATABASE_URL`.
public enum Database {
    /// The TLS configuration `url` asks for (README, "Connections"): trusted roots from `sslrootcert` (else the
    /// system's), a client certificate from `sslcert`/`sslkey`, and how much of the server's certificate is checked.
    public static func tlsConfiguration(for url: DatabaseURL) throws -> TLSConfiguration {
        var client = TLSConfiguration.makeClientConfiguration()
        switch url.tls {
        case .disable, .allow, .prefer: client.certificateVerification = .none  // libpq: encrypt, do not verify
        case .require:
            // libpq: require verifies the chain only when a root certificate is given.
            client.certificateVerification = url.sslRootCert == nil ? .none : .noHostnameVerification
        case .verifyCA: client.certificateVerification = .noHostnameVerification
        case .verifyFull: client.certificateVerification = .fullVerification
        }
        if let root = url.sslRootCert, root != "system" {
            do {
                client.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(root))
            } catch {
                throw DatabaseError.tlsFile(parameter: "sslrootcert", path: root, underlying: error)
            }
        }
        if let cert = url.sslCert, let key = url.sslKey {
            do {
                client.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
            } catch {
                throw DatabaseError.tlsFile(parameter: "sslcert", path: cert, underlying: error)
            }
            do {
                client.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            } catch {
                throw DatabaseError.tlsFile(parameter: "sslkey", path: key, underlying: error)
            }
        }
        return client
    }

    /// The postgres-nio TLS mode for `url`.
    static func tlsMode(for url: DatabaseURL) throws -> PostgresConnection.Configuration.TLS {
        guard url.tls != .disable, url.unixSocketPath == nil else { return .disable }
        let context = try NIOSSLContext(configuration: tlsConfiguration(for: url))
        switch url.tls {
        case .disable: return .disable
        // postgres-nio has no plain-first mode: allow behaves as prefer (TLS when offered, else plain).
        case .allow, .prefer: return .prefer(context)
        case .require, .verifyCA, .verifyFull: return .require(context)
        }
    }

    static func startupParameters(
        for url: DatabaseURL, applicationName: String, limits: SessionLimits
    ) -> [(String, String)] {
        var out = [("application_name", url.applicationName ?? applicationName)]
        if let options = url.options { out.append(("options", options)) }
        return out + limits.startupParameters
    }

    /// The postgres-nio configuration for `url` (postgres-nio opens the socket itself: no keepalives; `connect`
    /// below is what the product uses).
    public static func configuration(
        for url: DatabaseURL, applicationName: String = "adworker", limits: SessionLimits = .none
    ) throws
        -> PostgresConnection.Configuration
    {
        var config: PostgresConnection.Configuration
        if let socket = url.unixSocketPath {
            config = .init(
                unixSocketPath: socket, username: url.username, password: url.password, database: url.database)
        } else {
            config = .init(
                host: url.host, port: url.port, username: url.username, password: url.password,
                database: url.database, tls: try tlsMode(for: url))
        }
        config.options.connectTimeout = .seconds(Int64(url.connectTimeout))
        config.options.additionalStartupParameters = startupParameters(
            for: url, applicationName: applicationName, limits: limits)
        return config
    }

    /// Opens a connection to `url`: over TCP with the URL's keepalives and `tcp_user_timeout` set on the socket,
    /// and the client-side reply deadline of `limits` in the pipeline.
    ///
    /// postgres-nio 1.33 exposes no socket options, so this opens the socket with NIO's `ClientBootstrap` and hands
    /// the connected channel to postgres-nio (`Configuration(establishedChannel:)`), which then speaks TLS and the
    /// protocol on it as it would on its own socket.
    public static func connect(
        _ url: DatabaseURL, logger: Logger, applicationName: String = "adworker", limits: SessionLimits = .none,
        id: Int = 1
    ) async throws -> PostgresConnection {
        // One event loop for the socket and postgres-nio's handlers (which it adds from that loop).
        let loop = PostgresConnection.defaultEventLoopGroup.any()
        var bootstrap = ClientBootstrap(group: loop).connectTimeout(.seconds(Int64(url.connectTimeout)))
        if url.unixSocketPath == nil {
            bootstrap = bootstrap.channelOption(.tcpOption(.tcp_nodelay), value: 1)
            if url.keepalives {
                bootstrap = bootstrap.channelOption(.socketOption(.so_keepalive), value: 1)
                #if os(Linux)
                    bootstrap =
                        bootstrap
                        .channelOption(tcp(TCP_KEEPIDLE), value: SocketOptionValue(url.keepalivesIdle))
                        .channelOption(tcp(TCP_KEEPINTVL), value: SocketOptionValue(url.keepalivesInterval))
                        .channelOption(tcp(TCP_KEEPCNT), value: SocketOptionValue(url.keepalivesCount))
                #endif
            }
            #if os(Linux)
                if url.tcpUserTimeout > 0 {
                    bootstrap = bootstrap.channelOption(
                        tcp(CInt(TCP_USER_TIMEOUT)), value: SocketOptionValue(url.tcpUserTimeout))
                }
            #endif
        }
        if let deadline = limits.replyDeadline {
            bootstrap = bootstrap.channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ReplyDeadlineHandler(deadline: .milliseconds(Int64(deadline * 1000))))
                }
            }
        }
        let tls: PostgresConnection.Configuration.TLS
        do {
            tls = try tlsMode(for: url)
        } catch {
            throw DatabaseError.connect(url: url, underlying: error)
        }
        let channel: any Channel
        do {
            if let socket = url.unixSocketPath {
                channel = try await bootstrap.connect(unixDomainSocketPath: socket).get()
            } else {
                channel = try await bootstrap.connect(host: url.host, port: url.port).get()
            }
        } catch {
            throw DatabaseError.connect(url: url, underlying: error)
        }
        var config = PostgresConnection.Configuration(
            establishedChannel: channel, tls: tls, username: url.username, password: url.password,
            database: url.database)
        config.options.connectTimeout = .seconds(Int64(url.connectTimeout))
        // An established channel has no host name for SNI and verify-full: give it the URL's (an IP address is
        // checked against the certificate's IP entries by NIOSSL instead).
        if url.unixSocketPath == nil, !url.host.isIPAddressLiteral { config.options.tlsServerName = url.host }
        config.options.additionalStartupParameters = startupParameters(
            for: url, applicationName: applicationName, limits: limits)
        do {
            return try await PostgresConnection.connect(on: loop, configuration: config, id: id, logger: logger)
        } catch {
            try? await channel.close()
            throw DatabaseError.connect(url: url, underlying: error)
        }
    }

    #if os(Linux)
        private static func tcp(_ name: CInt) -> ChannelOptions.Types.SocketOption {
            ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: name))
        }
    #endif

    /// Connects to `url`, runs `body`, and closes the connection whatever happens.
    public static func withConnection<T: Sendable>(
        _ url: DatabaseURL, logger: Logger, applicationName: String = "adworker", limits: SessionLimits = .none,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection = try await connect(url, logger: logger, applicationName: applicationName, limits: limits)
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

extension String {
    /// Whether this is an IPv4 or IPv6 address (not a name).
    var isIPAddressLiteral: Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, self, &v4) == 1 || inet_pton(AF_INET6, self, &v6) == 1
    }
}

/// The client-side deadline (`SessionLimits.replyDeadline`): when the client has written since it last read (a
/// reply is owed) and nothing has moved in either direction for `deadline`, the connection is closed, so the
/// query waiting on it fails instead of waiting for the kernel. It sees only bytes (TLS or not), never messages:
/// a reply that stops halfway is left to the keepalives. Written by hand because NIO's `IdleStateHandler` cannot
/// tell an idle connection (fine, for hours) from one that owes a reply.
final class ReplyDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny

    let deadline: TimeAmount
    private var owed = false
    private var lastMoved = NIODeadline.now()
    private var check: RepeatedTask?

    init(deadline: TimeAmount) { self.deadline = deadline }

    func handlerAdded(context: ChannelHandlerContext) {
        let period = TimeAmount.nanoseconds(max(deadline.nanoseconds / 4, 1_000_000))
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            let (handler, context) = loopBound.value
            if handler.owed && NIODeadline.now() - handler.lastMoved > handler.deadline {
                context.fireErrorCaught(ReplyDeadlineExceeded(seconds: Double(handler.deadline.nanoseconds) / 1e9))
                context.close(promise: nil)
            }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) { check?.cancel() }

    func channelInactive(context: ChannelHandlerContext) {
        check?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        owed = false
        lastMoved = .now()
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        owed = true
        lastMoved = .now()
        context.write(data, promise: promise)
    }
}

/// The server owed a reply and nothing moved on the connection for this long: the connection was closed.
public struct ReplyDeadlineExceeded: Error, CustomStringConvertible {
    public let seconds: Double
    public var description: String {
        "no reply from the server for \(Int(seconds)) s (statement_timeout + 15 s): the connection was closed"
    }
}

/// Errors from talking to PostgreSQL, with the server's own words when it sent any.
public enum DatabaseError: Error, CustomStringConvertible {
    case connect(url: DatabaseURL, underlying: any Error)
    case tlsFile(parameter: String, path: String, underlying: any Error)

    public var description: String {
        switch self {
        case .connect(let url, let underlying):
            "cannot connect to \(url): \(describe(underlying))\(hint(url, underlying))"
        case .tlsFile(let parameter, let path, let underlying):
            "\(parameter) \(path) cannot be read as PEM: \(underlying)"
        }
    }

    /// The error without the server's address, user, database or file paths: for readers who may not see the URL
    /// (a db_poll source's DSN is a secret; its errors are shown in `ad.poll_status`).
    public var withoutAddress: String {
        switch self {
        case .connect(_, let underlying): "cannot connect to the server: \(describe(underlying))"
        case .tlsFile(let parameter, _, _): "the file that \(parameter) names cannot be read as PEM"
        }
    }

    private func hint(_ url: DatabaseURL, _ error: any Error) -> String {
        let text = (String(describing: error) + String(reflecting: error)).lowercased()
        if text.contains("sslunsupported") {
            return " (the server does not offer TLS, and sslmode=\(url.tls.rawValue) requires it"
                + (url.tls == .verifyFull ? ", the default for a TCP host" : "")
                + ": set up TLS on the server, or sslmode=prefer or disable to connect without it)"
        }
        guard text.contains("certificate") || text.contains("hostname") else { return "" }
        return url.sslRootCert == nil
            ? " (the server's certificate is not signed by a root this machine trusts: give the CA with "
                + "sslrootcert=/path/ca.pem, or sslmode=require to encrypt without checking)"
            : " (check that sslrootcert holds the CA that signed the server's certificate"
                + (url.tls == .verifyFull ? ", and that the certificate names the host \(url.host))" : ")")
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
