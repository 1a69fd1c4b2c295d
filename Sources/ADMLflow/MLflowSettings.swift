import Foundation

/// Where and how to reach MLflow's tracking server, from the environment the way MLflow's own clients read it.
///
/// | variable | meaning |
/// | --- | --- |
/// | `MLFLOW_TRACKING_URI` | the tracking server, `http://host:port` or `https://…` (a path prefix is kept); unset: no export |
/// | `MLFLOW_EXPERIMENT_NAME` | the experiment the runs go to; default `anomaly-detection` |
/// | `MLFLOW_TRACKING_TOKEN` | sent as `Authorization: Bearer <token>` |
/// | `MLFLOW_TRACKING_USERNAME`, `MLFLOW_TRACKING_PASSWORD` | sent as HTTP basic authentication (MLflow's `basic-auth` app) |
/// | `MLFLOW_HTTP_REQUEST_TIMEOUT` | seconds each request may take in all (connect, send, answer); default 30, 1 to 3600 |
///
/// The tracking server is one the owner configured (like the database), so it is not subject to the webhook
/// destination policy: loopback and private addresses are allowed. Only HTTP(S) servers are supported: MLflow's
/// other tracking URIs (`file:`, `sqlite:`, `databricks`, …) are refused with a clear error.
public struct MLflowSettings: Sendable {
    public var trackingURI: URL
    public var experiment: String
    /// Each request's total deadline: connecting, sending, the answer and reading its body.
    public var timeout: Duration
    /// Extra request headers (authentication).
    public var headers: [(String, String)]

    public static let defaultExperiment = "anomaly-detection"
    public static let defaultTimeout: Duration = .seconds(30)

    public init(
        trackingURI: URL, experiment: String = MLflowSettings.defaultExperiment,
        timeout: Duration = MLflowSettings.defaultTimeout, headers: [(String, String)] = []
    ) {
        self.trackingURI = trackingURI
        self.experiment = experiment
        self.timeout = timeout
        self.headers = headers
    }

    /// The settings `env` asks for; nil when `MLFLOW_TRACKING_URI` is unset or empty (no export). Throws
    /// `MLflowSettingsError` naming the variable when a value cannot be used. Secrets are never echoed.
    public static func fromEnvironment(_ env: [String: String]) throws(MLflowSettingsError) -> MLflowSettings? {
        guard let raw = env["MLFLOW_TRACKING_URI"]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else {
            return nil
        }
        let uri = try parseTrackingURI(raw)

        var experiment = defaultExperiment
        if let name = env["MLFLOW_EXPERIMENT_NAME"] {
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else {
                throw MLflowSettingsError("MLFLOW_EXPERIMENT_NAME", "is empty: unset it to use '\(defaultExperiment)'")
            }
            guard trimmed.unicodeScalars.count <= MLflowLimits.experimentNameLength else {
                throw MLflowSettingsError(
                    "MLFLOW_EXPERIMENT_NAME",
                    "is \(trimmed.unicodeScalars.count) characters long; MLflow allows at most "
                        + "\(MLflowLimits.experimentNameLength)")
            }
            guard !trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw MLflowSettingsError("MLFLOW_EXPERIMENT_NAME", "contains a control character")
            }
            experiment = trimmed
        }

        var timeout = defaultTimeout
        if let text = env["MLFLOW_HTTP_REQUEST_TIMEOUT"]?.trimmingCharacters(in: .whitespaces), !text.isEmpty {
            guard let seconds = Int(text), (1...3600).contains(seconds) else {
                throw MLflowSettingsError(
                    "MLFLOW_HTTP_REQUEST_TIMEOUT",
                    "'\(String(text.prefix(40)))' is not a whole number of seconds from 1 to 3600")
            }
            timeout = .seconds(seconds)
        }

        var headers: [(String, String)] = []
        let token = env["MLFLOW_TRACKING_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        let user = env["MLFLOW_TRACKING_USERNAME"].flatMap { $0.isEmpty ? nil : $0 }
        let password = env["MLFLOW_TRACKING_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
        if let token {
            guard user == nil, password == nil else {
                throw MLflowSettingsError(
                    "MLFLOW_TRACKING_TOKEN",
                    "is set together with MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD: set one or the other")
            }
            guard isHeaderSafe(token) else {
                throw MLflowSettingsError(
                    "MLFLOW_TRACKING_TOKEN", "contains a space, line break or other character a header cannot carry")
            }
            headers.append(("Authorization", "Bearer \(token)"))
        } else if user != nil || password != nil {
            guard let user, let password else {
                throw MLflowSettingsError(
                    user == nil ? "MLFLOW_TRACKING_USERNAME" : "MLFLOW_TRACKING_PASSWORD",
                    "is not set, but \(user == nil ? "MLFLOW_TRACKING_PASSWORD" : "MLFLOW_TRACKING_USERNAME") is: "
                        + "basic authentication needs both")
            }
            guard !user.contains(":"), !(user + password).unicodeScalars.contains(where: { $0.value < 0x20 }) else {
                throw MLflowSettingsError(
                    "MLFLOW_TRACKING_USERNAME", "cannot contain ':' and neither may contain a control character")
            }
            let credentials = Data("\(user):\(password)".utf8).base64EncodedString()
            headers.append(("Authorization", "Basic \(credentials)"))
        }
        return MLflowSettings(trackingURI: uri, experiment: experiment, timeout: timeout, headers: headers)
    }

    /// An `http(s)://host[:port][/prefix]` URL with nothing else: no credentials (they would end up in logs; use
    /// the variables above), no query or fragment.
    static func parseTrackingURI(_ raw: String) throws(MLflowSettingsError) -> URL {
        let name = "MLFLOW_TRACKING_URI"
        // Echo the value only when it cannot hold a password (user:password@host).
        let shown = raw.contains("@") ? "the value" : "'\(String(raw.prefix(200)))'"
        guard raw.unicodeScalars.count <= 2048 else {
            throw MLflowSettingsError(name, "is \(raw.unicodeScalars.count) characters long; at most 2048 are allowed")
        }
        guard !raw.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) else {
            throw MLflowSettingsError(name, "\(shown) contains a space or a control character")
        }
        guard let components = URLComponents(string: raw), let scheme = components.scheme?.lowercased() else {
            throw MLflowSettingsError(
                name, "\(shown) is not a URL: expected http://host:port or https://host of an MLflow tracking server")
        }
        guard scheme == "http" || scheme == "https" else {
            throw MLflowSettingsError(
                name,
                "\(shown) uses the scheme '\(String(scheme.prefix(40)))': only an MLflow tracking server over http or "
                    + "https is supported (run `mlflow server` and point MLFLOW_TRACKING_URI at it)")
        }
        guard components.user == nil, components.password == nil else {
            throw MLflowSettingsError(
                name,
                "carries credentials: put a token in MLFLOW_TRACKING_TOKEN, or a user name and password in "
                    + "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD")
        }
        guard let host = components.host, !host.isEmpty else {
            throw MLflowSettingsError(name, "\(shown) has no host: expected http://host:port")
        }
        if let port = components.port, !(1...65535).contains(port) {
            throw MLflowSettingsError(name, "\(shown) has the port \(port): a port is 1 to 65535")
        }
        if raw.range(of: #"^[A-Za-z]+://[^/]*:(/|$)"#, options: .regularExpression) != nil {
            throw MLflowSettingsError(name, "\(shown) has an empty port")
        }
        guard components.query == nil, components.fragment == nil else {
            throw MLflowSettingsError(name, "\(shown) has a query or fragment: give the server's base URL only")
        }
        var base = components
        while base.path.hasSuffix("/") { base.path.removeLast() }
        base.scheme = scheme
        guard let url = base.url else { throw MLflowSettingsError(name, "\(shown) is not a usable URL") }
        return url
    }

    static func isHeaderSafe(_ value: String) -> Bool {
        value.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7F }
    }
}

/// A setting that cannot be used: `variable` names it, `message` says what is wrong (never the secret itself).
public struct MLflowSettingsError: Error, Sendable, Equatable, CustomStringConvertible {
    public var variable: String
    public var message: String
    public init(_ variable: String, _ message: String) {
        self.variable = variable
        self.message = message
    }
    public var description: String { "\(variable) \(message)" }
}
