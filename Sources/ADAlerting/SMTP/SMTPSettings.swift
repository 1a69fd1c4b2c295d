import Foundation

/// How to reach and talk to one SMTP server. Certificates and host names are verified unless told otherwise.
public struct SMTPSettings: Sendable, Equatable, CustomStringConvertible {
    /// How the connection is encrypted.
    public enum TLSMode: String, Sendable, CaseIterable {
        /// Plain text throughout (port 25 style); credentials, if any, travel unencrypted.
        case none
        /// Plain connect, then STARTTLS (RFC 3207, port 587); fails if the server does not offer it.
        case startTLS = "starttls"
        /// TLS from the first byte (SMTPS, RFC 8314, port 465).
        case implicitTLS = "implicit"

        /// 25, 587 or 465.
        public var defaultPort: Int {
            switch self {
            case .none: 25
            case .startTLS: 587
            case .implicitTLS: 465
            }
        }
    }

    /// Which certificate authorities are trusted.
    public enum TrustRoots: Sendable, Equatable {
        /// The system's trust store.
        case system
        /// Only the CA certificates in this PEM file (e.g. a private CA); the system store is not used.
        case pemFile(String)
    }

    /// How far the server's certificate is checked.
    public enum CertificateVerification: Sendable, Equatable {
        /// Chain to a trusted root and a name (or IP address) matching `host`. The default.
        case full
        /// Chain to a trusted root, any name.
        case noHostnameVerification
        /// Nothing: encryption without authentication; only for testing.
        case none
    }

    /// Server host name or IP address.
    public var host: String
    /// The address to connect to instead of resolving `host` (the delivery loop's checked address); TLS still
    /// verifies the certificate against `host`.
    public var connectAddress: String?
    /// Server port.
    public var port: Int
    /// Encryption.
    public var tls: TLSMode
    /// AUTH user name; nil sends no AUTH.
    public var username: String?
    /// AUTH password (a secret, never printed by `description`).
    public var password: String?
    /// The envelope sender (MAIL FROM) and the default From of messages built for this server.
    public var from: EmailAddress
    /// The name this client gives in EHLO/HELO.
    public var heloName: String
    /// Limit on establishing the TCP connection.
    public var connectTimeout: Duration
    /// Limit on each wait for the server: a reply, the TLS handshake.
    public var commandTimeout: Duration
    /// Trusted certificate authorities.
    public var trustRoots: TrustRoots
    /// Certificate checks.
    public var certificateVerification: CertificateVerification

    /// Settings with the usual defaults: STARTTLS on port 587, full certificate verification, 10 s to connect,
    /// 60 s per reply.
    public init(
        host: String,
        port: Int? = nil,
        tls: TLSMode = .startTLS,
        username: String? = nil,
        password: String? = nil,
        from: EmailAddress,
        heloName: String? = nil,
        connectTimeout: Duration = .seconds(10),
        commandTimeout: Duration = .seconds(60),
        trustRoots: TrustRoots = .system,
        certificateVerification: CertificateVerification = .full
    ) {
        self.host = host
        self.port = port ?? tls.defaultPort
        self.tls = tls
        self.username = username
        self.password = password
        self.from = from
        self.heloName = heloName ?? Self.defaultHeloName
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.trustRoots = trustRoots
        self.certificateVerification = certificateVerification
    }

    /// The settings without the password.
    public var description: String {
        var parts = ["host=\(host)", "port=\(port)", "tls=\(tls.rawValue)", "from=\(from.address)", "helo=\(heloName)"]
        if let username { parts.append("username=\(username)") }
        if password != nil { parts.append("password=<redacted>") }
        if case .pemFile(let path) = trustRoots { parts.append("ca_file=\(path)") }
        if certificateVerification != .full { parts.append("verification=\(certificateVerification)") }
        return "SMTPSettings(\(parts.joined(separator: ", ")))"
    }

    /// This machine's host name when it is a valid domain, else `localhost`.
    public static let defaultHeloName: String = {
        let name = ProcessInfo.processInfo.hostName
        return isValidHeloName(name) ? name : "localhost"
    }()

    /// A domain (`mail.example.com`) or an address literal (`[192.0.2.1]`), as EHLO accepts.
    public static func isValidHeloName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255 && EmailAddress.isDomain(Substring(name))
    }
}
