import ADCore

/// A channel config value that cannot be used; `field` is the config key.
public struct SMTPSettingsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The config key at fault, e.g. `smtp_port`.
    public let field: String
    /// What is wrong with it.
    public let message: String

    /// An error for `field`.
    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "email channel config: \(field): \(message)" }
}

extension SMTPSettings {
    /// The config keys `parse` reads; other keys are left to the caller.
    public static let configKeys = [
        "smtp_host", "smtp_port", "tls", "username", "from", "helo", "timeout_seconds", "ca_file",
    ]

    /// Settings from an email channel's `config` object.
    ///
    /// Keys: `smtp_host` (required), `smtp_port` (default 587 for starttls, 465 for implicit, 25 for none),
    /// `tls` (`"starttls"` (default), `"implicit"` or `"none"`), `username`, `from` (required;
    /// `addr@example.com` or `Name <addr@example.com>`), `helo`, `timeout_seconds` (connect and per-reply limit),
    /// `ca_file` (a PEM file of trusted CAs replacing the system store). Certificates are always verified.
    /// - Parameter password: the AUTH password, kept as a secret outside the config; required when `username` is set.
    /// - Throws: `SMTPSettingsError` naming the first bad key. Does no I/O (`ca_file` is read when sending).
    public static func parse(_ config: [String: JSONValue], password: String?) throws(SMTPSettingsError) -> SMTPSettings
    {
        let host = try requiredString(config, "smtp_host")
        guard host.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F && $0 != "/" && $0 != "@" }) else {
            throw SMTPSettingsError(
                field: "smtp_host", message: "must be a host name or IP address, got \(String(reflecting: host))")
        }

        let tls: TLSMode
        if let raw = try optionalString(config, "tls") {
            guard let mode = TLSMode(rawValue: raw.lowercased()) else {
                throw SMTPSettingsError(
                    field: "tls",
                    message: "must be \"starttls\", \"implicit\" or \"none\", got \(String(reflecting: raw))")
            }
            tls = mode
        } else {
            tls = .startTLS
        }

        var port = tls.defaultPort
        if let value = config["smtp_port"], value != .null {
            guard let p = integer(value), (1...65535).contains(p) else {
                throw SMTPSettingsError(
                    field: "smtp_port", message: "must be an integer from 1 to 65535, got \(value.render())")
            }
            port = p
        }

        let fromText = try requiredString(config, "from")
        let from: EmailAddress
        do { from = try EmailAddress.parse(fromText) } catch {
            throw SMTPSettingsError(field: "from", message: "\(error)")
        }

        let username = try optionalString(config, "username")
        if username != nil, (password ?? "").isEmpty {
            throw SMTPSettingsError(field: "password", message: "username is set but no password secret was given")
        }

        if username != nil, tls == .none {
            throw SMTPSettingsError(
                field: "tls",
                message:
                    "is \"none\" but username is set: SMTP AUTH without TLS would send the password in clear; use \"starttls\" or \"implicit\""
            )
        }

        var heloName = defaultHeloName
        if let helo = try optionalString(config, "helo") {
            guard isValidHeloName(helo) else {
                throw SMTPSettingsError(
                    field: "helo",
                    message: "must be a domain name or [address literal], got \(String(reflecting: helo))")
            }
            heloName = helo
        }

        var timeout: Duration?
        if let value = config["timeout_seconds"], value != .null {
            guard case .number(let seconds) = value, seconds.isFinite, seconds > 0, seconds <= 3600 else {
                throw SMTPSettingsError(
                    field: "timeout_seconds",
                    message: "must be a number of seconds above 0 and at most 3600, got \(value.render())")
            }
            timeout = .milliseconds(Int64((seconds * 1000).rounded()))
        }

        var trustRoots = TrustRoots.system
        if let path = try optionalString(config, "ca_file") { trustRoots = .pemFile(path) }

        var settings = SMTPSettings(
            host: host, port: port, tls: tls, username: username, password: username == nil ? nil : password,
            from: from, heloName: heloName, trustRoots: trustRoots)
        if let timeout {
            settings.connectTimeout = timeout
            settings.commandTimeout = timeout
        }
        return settings
    }

    /// `parse` for a config held as one JSON object.
    public static func parse(_ config: JSONValue, password: String?) throws(SMTPSettingsError) -> SMTPSettings {
        guard case .object(let pairs) = config else {
            throw SMTPSettingsError(field: "config", message: "must be a JSON object, got \(config.render())")
        }
        var dictionary: [String: JSONValue] = [:]
        for (key, value) in pairs { dictionary[key] = value }
        return try parse(dictionary, password: password)
    }

    private static func requiredString(_ config: [String: JSONValue], _ key: String) throws(SMTPSettingsError) -> String
    {
        guard let value = try optionalString(config, key) else {
            throw SMTPSettingsError(field: key, message: "is required")
        }
        return value
    }

    /// The trimmed string under `key`; nil when absent, null or empty.
    private static func optionalString(
        _ config: [String: JSONValue], _ key: String
    ) throws(SMTPSettingsError) -> String? {
        switch config[key] {
        case nil, .null?: return nil
        case .string(let s)?:
            if s.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) {
                throw SMTPSettingsError(field: key, message: "must not contain line breaks or NUL")
            }
            let trimmed = s.trimmingASCIIWhitespace()
            return trimmed.isEmpty ? nil : trimmed
        case let other?:
            throw SMTPSettingsError(field: key, message: "must be a string, got \(other.render())")
        }
    }

    /// A whole number, or a string of digits (configs written by hand sometimes quote ports).
    private static func integer(_ value: JSONValue) -> Int? {
        switch value {
        case .number(let x) where x.isFinite && x == x.rounded() && abs(x) < 1e9: Int(x)
        case .string(let s) where !s.isEmpty && s.allSatisfy({ $0.isASCII && $0.isNumber }) && s.count < 10: Int(s)
        default: nil
        }
    }
}
