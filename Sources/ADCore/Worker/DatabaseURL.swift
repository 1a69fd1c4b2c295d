import Foundation

/// A parsed `DATABASE_URL`: `postgres://user:password@host:port/database?sslmode=...&host=/socket/dir`.
///
/// Like libpq, a `host` query parameter (or a host that starts with `/`) names a unix-socket directory;
/// the socket is `<dir>/.s.PGSQL.<port>`. The query parameters have libpq's names and meanings (README,
/// "Connections"); where adworker's default differs from libpq's, the property says so.
public struct DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    /// TLS policy, from `sslmode`, with libpq's meanings: `disable` never encrypts; `allow` and `prefer` encrypt
    /// when the server offers it and do not check its certificate (postgres-nio tries TLS first, then plain, for
    /// both: libpq's `allow` tries plain first, a difference only in which a server offering both gets);
    /// `require` insists on TLS and checks the certificate only when `sslrootcert` is given (libpq: "if a root CA
    /// file exists"), then as `verify-ca`; `verify-ca` checks the chain against `sslrootcert` (or the system's
    /// trusted roots) but not the host name; `verify-full` checks both.
    public enum TLSMode: String, Sendable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    /// `sslmode`. Default (not libpq's `prefer`): `verify-full` for a TCP host other than loopback, `prefer` for
    /// loopback (`localhost`, `127.x.x.x`, `::1`) and unix sockets, where nobody sits between client and server.
    public var tls: TLSMode
    /// `sslrootcert`: a PEM file of the certificate authorities to trust; `system` (or none given) means the
    /// system's trusted roots. libpq's default, `~/.postgresql/root.crt`, is not read.
    public var sslRootCert: String?
    /// `sslcert` and `sslkey`: a PEM client certificate (chain) and its private key, for `clientcert` in
    /// `pg_hba.conf`. Both or neither; libpq's default files in `~/.postgresql/` are not read.
    public var sslCert: String?
    public var sslKey: String?
    /// `keepalives` (default on), `keepalives_idle` (seconds idle before the first probe; default 30, libpq's is
    /// the system's, usually 7200), `keepalives_interval` (seconds between probes; default 10),
    /// `keepalives_count` (unanswered probes before the connection is dead; default 3): a silently dead peer is
    /// noticed within idle + interval × count seconds (70 by default) instead of hours.
    public var keepalives: Bool
    public var keepalivesIdle: Int
    public var keepalivesInterval: Int
    public var keepalivesCount: Int
    /// `tcp_user_timeout`, milliseconds: how long sent data may stay unacknowledged before the kernel drops the
    /// connection (Linux). Default 60000 (libpq's: the system's, up to about 15 minutes); 0 leaves the system's.
    public var tcpUserTimeout: Int
    /// `connect_timeout`, seconds, for the TCP connection and the startup handshake together. Default 10.
    public var connectTimeout: Int
    /// `options`: command-line options sent to the server at connection start (`-c name=value ...`), as libpq does.
    public var options: String?
    /// Unix socket directory, when the URL asks for a socket instead of TCP.
    public var socketDirectory: String?
    /// `application_name`, when given.
    public var applicationName: String?

    /// The unix socket path, when connecting through one.
    public var unixSocketPath: String? { socketDirectory.map { "\($0)/.s.PGSQL.\(port)" } }

    /// Whether the host is this machine (a unix socket or a loopback address or name).
    public var isLocal: Bool {
        socketDirectory != nil || host == "localhost" || host == "::1" || host.hasPrefix("127.")
            || host.lowercased().hasSuffix(".localhost")
    }

    /// The parameters a URL may carry (libpq's names).
    public static let parameters = [
        "host", "port", "user", "password", "dbname", "sslmode", "sslrootcert", "sslcert", "sslkey",
        "application_name", "connect_timeout", "options", "keepalives", "keepalives_idle", "keepalives_interval",
        "keepalives_count", "tcp_user_timeout", "target_session_attrs",
    ]

    /// A problem with a `DATABASE_URL`, worded for the person who wrote it. It never quotes the password (nor any
    /// part of the text that could be one).
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { "invalid DATABASE_URL: \(message)" }
    }

    /// Parses `text`. The password is kept but never printed (see `description`), and no error message quotes it.
    public init(_ text: String) throws(ParseError) {
        do {
            try self.init(parsing: text)
        } catch {
            throw Self.scrubbed(error, text: text)
        }
    }

    private init(parsing text: String) throws(ParseError) {
        let schemes = ["postgres://", "postgresql://"]
        guard let scheme = schemes.first(where: { text.hasPrefix($0) }) else {
            throw ParseError(message: "must start with postgres:// or postgresql://")
        }
        let encodeHint = "a password with '/', '?', '@' or ':' must be percent-encoded (%2F, %3F, %40, %3A)"
        var rest = Substring(text.dropFirst(scheme.count))
        var query = Substring("")
        if let q = rest.firstIndex(of: "?") { query = rest[rest.index(after: q)...]; rest = rest[..<q] }
        var path = Substring("")
        if let slash = rest.firstIndex(of: "/") { path = rest[rest.index(after: slash)...]; rest = rest[..<slash] }
        var user = Substring(""), pass: Substring? = nil
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userinfo.firstIndex(of: ":") {
                user = userinfo[..<colon]; pass = userinfo[userinfo.index(after: colon)...]
            } else {
                user = userinfo
            }
        }
        if path.contains("@") {
            // `user:pa/ss@host`: the slash cut the authority inside the password, so the "path" holds its rest.
            throw ParseError(message: "the database name contains '@'; \(encodeHint)")
        }
        var hostPart = rest, portPart: Substring? = nil
        if hostPart.hasPrefix("[") {
            guard let close = hostPart.firstIndex(of: "]") else { throw ParseError(message: "unclosed [ in host") }
            let inner = hostPart[hostPart.index(after: hostPart.startIndex)..<close]
            let after = hostPart[hostPart.index(after: close)...]
            if after.hasPrefix(":") {
                portPart = after.dropFirst()
            } else if !after.isEmpty {
                throw ParseError(message: "unexpected text after ]")
            }
            hostPart = inner
        } else if let colon = hostPart.lastIndex(of: ":") {
            portPart = hostPart[hostPart.index(after: colon)...]; hostPart = hostPart[..<colon]
        }

        let decodedHost = try Self.decode(hostPart, "the host")
        self.host = decodedHost.isEmpty ? "localhost" : decodedHost
        self.port = 5432
        if let portPart, !portPart.isEmpty {
            // Quoted only when it is digits: text after a colon may be a password whose "@host" is missing.
            guard portPart.allSatisfy(\.isASCII), portPart.allSatisfy(\.isNumber) else {
                throw ParseError(
                    message: "the port after the host is not a number from 1 to 65535 (if that was user:password, "
                        + "add @host; \(encodeHint))")
            }
            guard let p = Int(portPart), (1...65535).contains(p) else {
                throw ParseError(message: "port \"\(portPart)\" is not a number from 1 to 65535")
            }
            self.port = p
        }
        self.username = try Self.decode(user, "the user name")
        self.password = nil
        if let pass { self.password = try Self.decode(pass, "the password", quote: false) }
        self.database = try Self.decode(path, "the database name")
        self.tls = .prefer
        var tlsGiven = false
        self.sslRootCert = nil
        self.sslCert = nil
        self.sslKey = nil
        self.keepalives = true
        self.keepalivesIdle = 30
        self.keepalivesInterval = 10
        self.keepalivesCount = 3
        self.tcpUserTimeout = 60_000
        self.connectTimeout = 10
        self.options = nil
        self.socketDirectory = host.hasPrefix("/") ? host : nil
        self.applicationName = nil

        for pair in query.split(separator: "&") where !pair.isEmpty {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = try Self.decode(kv[0], "a parameter name")
            let value = kv.count > 1 ? try Self.decode(kv[1], "parameter \(key)", quote: key != "password") : ""
            func number(_ range: ClosedRange<Int>) throws(ParseError) -> Int {
                guard let n = Int(value), range.contains(n) else {
                    throw ParseError(
                        message:
                            "\(key) \"\(value)\" is not a whole number from \(range.lowerBound) to \(range.upperBound)")
                }
                return n
            }
            switch key {
            case "sslmode":
                guard let mode = TLSMode(rawValue: value) else {
                    throw ParseError(
                        message: "sslmode \"\(value)\" is not one of "
                            + TLSMode.allCases.map(\.rawValue).joined(separator: ", "))
                }
                self.tls = mode
                tlsGiven = true
            case "sslrootcert": self.sslRootCert = value.isEmpty ? nil : value
            case "sslcert": self.sslCert = value.isEmpty ? nil : value
            case "sslkey": self.sslKey = value.isEmpty ? nil : value
            case "host":
                if value.hasPrefix("/") { self.socketDirectory = value } else if !value.isEmpty { self.host = value }
            case "port": self.port = try number(1...65535)
            case "user": self.username = value
            case "password": self.password = value
            case "dbname": self.database = value
            case "application_name": self.applicationName = value
            case "connect_timeout": self.connectTimeout = try number(1...3600)
            case "options": self.options = value.isEmpty ? nil : value
            case "keepalives": self.keepalives = try number(0...1) == 1
            case "keepalives_idle": self.keepalivesIdle = try number(1...86_400)
            case "keepalives_interval": self.keepalivesInterval = try number(1...3600)
            case "keepalives_count": self.keepalivesCount = try number(1...100)
            case "tcp_user_timeout": self.tcpUserTimeout = try number(0...86_400_000)
            case "target_session_attrs":
                continue  // accepted for libpq compatibility; one host, so there is nothing to choose
            default:
                // Quoted only when it looks like a parameter name: a '?' inside a password puts its rest here.
                let plain = key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
                throw ParseError(
                    message: plain
                        ? "unknown parameter \"\(key)\" (known: \(Self.parameters.joined(separator: ", ")))"
                        : "a parameter name has characters no parameter has; \(encodeHint)")
            }
        }
        if username.isEmpty { throw ParseError(message: "no user name (postgres://USER@host/db)") }
        if database.isEmpty { database = username }
        if (sslCert == nil) != (sslKey == nil) {
            throw ParseError(message: "sslcert and sslkey go together: give both (a client certificate and its key)")
        }
        if !tlsGiven { tls = isLocal ? .prefer : .verifyFull }
        if tls == .disable && (sslRootCert != nil || sslCert != nil) {
            throw ParseError(message: "sslrootcert, sslcert and sslkey need TLS, but sslmode is disable")
        }
    }

    /// `error` with every part of `text` that may be a password masked: the text between `://user:` and the last
    /// `@` and every `password=` value, raw and decoded. The parser never quotes those (above); this makes sure.
    private static func scrubbed(_ error: ParseError, text: String) -> ParseError {
        var secrets: [String] = []
        if let start = text.range(of: "://")?.upperBound {
            let tail = text[start...]
            // With an "@", the password is in what comes before the last one; without, "user:password" may have
            // been read as "host:port".
            let userinfo =
                tail.lastIndex(of: "@").map { tail[..<$0] } ?? tail.prefix { $0 != "/" && $0 != "?" }
            if let colon = userinfo.firstIndex(of: ":") {
                secrets.append(String(userinfo[userinfo.index(after: colon)...]))
            }
            for pair in tail.split(separator: "&") {
                if let r = pair.range(of: "password=") { secrets.append(String(pair[r.upperBound...])) }
            }
        }
        secrets += secrets.compactMap { try? decode(Substring($0), "") }
        var message = error.message
        for secret in secrets.filter({ $0.count >= 3 }).sorted(by: { $0.count > $1.count }) {
            message = message.replacingOccurrences(of: secret, with: "***")
        }
        return ParseError(message: message)
    }

    /// The URL with the password masked, safe to log.
    public var description: String {
        let auth = password == nil ? username : "\(username):***"
        let where_ = socketDirectory.map { "?host=\($0)&port=\(port)" } ?? ""
        let hostText = socketDirectory == nil ? (host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)") : ""
        return "postgres://\(auth)@\(hostText)/\(database)\(where_)"
    }

    /// The URL in full, password included: for handing to a child process, never for logs.
    public var text: String {
        func enc(_ s: String) -> String {
            var out = ""
            for b in s.utf8 {
                let c = Character(Unicode.Scalar(b))
                if c.isASCII && (c.isLetter || c.isNumber || "-._~".contains(c)) {
                    out.append(c)
                } else {
                    out += "%" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true)
                }
            }
            return out
        }
        let auth = enc(username) + (password.map { ":" + enc($0) } ?? "")
        var query = ["sslmode=\(tls.rawValue)"]
        if let app = applicationName { query.append("application_name=\(enc(app))") }
        for (key, value) in [
            ("sslrootcert", sslRootCert), ("sslcert", sslCert), ("sslkey", sslKey), ("options", options),
        ] {
            if let value { query.append("\(key)=\(enc(value))") }
        }
        let defaults = DatabaseURL.defaultNumbers
        for (key, value) in numbers where defaults[key] != value { query.append("\(key)=\(value)") }
        if let dir = socketDirectory {
            return "postgres://\(auth)@/\(enc(database))?host=\(enc(dir))&port=\(port)&" + query.joined(separator: "&")
        }
        let hostText = host.contains(":") ? "[\(host)]" : enc(host)
        return "postgres://\(auth)@\(hostText):\(port)/\(enc(database))?" + query.joined(separator: "&")
    }

    /// The numeric connection settings by their libpq names, in a fixed order.
    private var numbers: [(String, Int)] {
        [
            ("connect_timeout", connectTimeout), ("keepalives", keepalives ? 1 : 0),
            ("keepalives_idle", keepalivesIdle), ("keepalives_interval", keepalivesInterval),
            ("keepalives_count", keepalivesCount), ("tcp_user_timeout", tcpUserTimeout),
        ]
    }

    private static let defaultNumbers: [String: Int] = [
        "connect_timeout": 10, "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
        "keepalives_count": 3, "tcp_user_timeout": 60_000,
    ]

    /// The same server and database as another login (without a password: unix-socket and trust logins in tests).
    public func with(username: String) -> DatabaseURL {
        var copy = self
        copy.username = username
        copy.password = nil
        return copy
    }

    /// The same server with another database.
    public func with(database: String) -> DatabaseURL {
        var copy = self
        copy.database = database
        return copy
    }

    /// Percent-decodes `s`, one part of the URL named `what` ("the host"); quotes it in the error unless `quote`
    /// is false (the password).
    private static func decode(_ s: Substring, _ what: String, quote: Bool = true) throws(ParseError) -> String {
        var bytes: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "%") {
                guard it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else {
                    throw ParseError(
                        message: quote
                            ? "bad percent-encoding in \"\(s)\" (\(what))"
                            : "bad percent-encoding in \(what) (write % as %25)")
                }
                bytes.append(v)
                it = it.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
