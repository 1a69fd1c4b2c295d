/// A parsed `DATABASE_URL`: `postgres://user:password@host:port/database?sslmode=...&host=/socket/dir`.
///
/// Like libpq, a `host` query parameter (or a host that starts with `/`) names a unix-socket directory;
/// the socket is `<dir>/.s.PGSQL.<port>`.
public struct DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    /// TLS policy, from `sslmode`, with libpq's meanings: `prefer` and `require` encrypt without checking the
    /// server's certificate; `verify-ca` checks it against trusted roots; `verify-full` also checks the host name.
    public enum TLSMode: String, Sendable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// Unix socket directory, when the URL asks for a socket instead of TCP.
    public var socketDirectory: String?
    /// `application_name`, when given.
    public var applicationName: String?

    /// The unix socket path, when connecting through one.
    public var unixSocketPath: String? { socketDirectory.map { "\($0)/.s.PGSQL.\(port)" } }

    /// A problem with a `DATABASE_URL`, worded for the person who wrote it.
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { "invalid DATABASE_URL: \(message)" }
    }

    /// Parses `text`. The password is kept but never printed (see `description`).
    public init(_ text: String) throws(ParseError) {
        let schemes = ["postgres://", "postgresql://"]
        guard let scheme = schemes.first(where: { text.hasPrefix($0) }) else {
            throw ParseError(message: "must start with postgres:// or postgresql://")
        }
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

        let decodedHost = try Self.decode(hostPart)
        self.host = decodedHost.isEmpty ? "localhost" : decodedHost
        self.port = 5432
        if let portPart, !portPart.isEmpty {
            guard let p = Int(portPart), (1...65535).contains(p) else {
                throw ParseError(message: "port \"\(portPart)\" is not a number from 1 to 65535")
            }
            self.port = p
        }
        self.username = try Self.decode(user)
        self.password = nil
        if let pass { self.password = try Self.decode(pass) }
        self.database = try Self.decode(path)
        self.tls = .prefer
        self.socketDirectory = host.hasPrefix("/") ? host : nil
        self.applicationName = nil

        for pair in query.split(separator: "&") where !pair.isEmpty {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = try Self.decode(kv[0])
            let value = kv.count > 1 ? try Self.decode(kv[1]) : ""
            switch key {
            case "sslmode":
                switch value {
                case "disable", "allow": self.tls = .disable
                case "prefer": self.tls = .prefer
                case "require": self.tls = .require
                case "verify-ca": self.tls = .verifyCA
                case "verify-full": self.tls = .verifyFull
                default:
                    throw ParseError(
                        message: "sslmode \"\(value)\" is not one of disable, prefer, require, verify-ca, verify-full")
                }
            case "host":
                if value.hasPrefix("/") { self.socketDirectory = value } else if !value.isEmpty { self.host = value }
            case "port":
                guard let p = Int(value), (1...65535).contains(p) else {
                    throw ParseError(message: "port \"\(value)\" is not a number from 1 to 65535")
                }
                self.port = p
            case "user": self.username = value
            case "password": self.password = value
            case "dbname": self.database = value
            case "application_name": self.applicationName = value
            case "connect_timeout", "options", "target_session_attrs":
                continue  // accepted for libpq compatibility; adworker sets its own
            default:
                throw ParseError(message: "unknown parameter \"\(key)\"")
            }
        }
        if username.isEmpty { throw ParseError(message: "no user name (postgres://USER@host/db)") }
        if database.isEmpty { database = username }
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
        if let dir = socketDirectory {
            return "postgres://\(auth)@/\(enc(database))?host=\(enc(dir))&port=\(port)&" + query.joined(separator: "&")
        }
        let hostText = host.contains(":") ? "[\(host)]" : enc(host)
        return "postgres://\(auth)@\(hostText):\(port)/\(enc(database))?" + query.joined(separator: "&")
    }

    /// The same server with another database.
    public func with(database: String) -> DatabaseURL {
        var copy = self
        copy.database = database
        return copy
    }

    private static func decode(_ s: Substring) throws(ParseError) -> String {
        var bytes: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "%") {
                guard it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else {
                    throw ParseError(message: "bad percent-encoding in \"\(s)\"")
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
