import Foundation
import NIOCore
import NIOSSL

/// The TLS side of `SMTPSettings`: client context and SNI name.
enum SMTPTLS {
    /// A client context: TLS 1.2 or newer, the configured trust roots and verification.
    static func context(for settings: SMTPSettings) throws(SMTPError) -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        switch settings.certificateVerification {
        case .full: configuration.certificateVerification = .fullVerification
        case .noHostnameVerification: configuration.certificateVerification = .noHostnameVerification
        case .none: configuration.certificateVerification = .none
        }
        if case .pemFile(let path) = settings.trustRoots {
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw SMTPError(
                    .invalidConfiguration, stage: .setup, message: "CA file \(path) does not exist or is not readable")
            }
            let certificates: [NIOSSLCertificate]
            do { certificates = try NIOSSLCertificate.fromPEMFile(path) } catch {
                throw SMTPError(
                    .invalidConfiguration, stage: .setup, message: "CA file \(path) is not PEM certificates: \(error)")
            }
            guard !certificates.isEmpty else {
                throw SMTPError(.invalidConfiguration, stage: .setup, message: "no PEM certificate in CA file \(path)")
            }
            configuration.trustRoots = .certificates(certificates)
        }
        do { return try NIOSSLContext(configuration: configuration) } catch {
            throw SMTPError(.invalidConfiguration, stage: .setup, message: "cannot set up TLS: \(error)")
        }
    }

    /// The name sent as SNI and checked against the certificate; nil for an IP address, which NIOSSL then checks
    /// against the certificate's IP address entries.
    static func serverHostname(_ host: String) -> String? {
        var bare = Substring(host)
        if bare.hasPrefix("["), bare.hasSuffix("]") { bare = bare.dropFirst().dropLast() }
        if (try? SocketAddress(ipAddress: String(bare), port: 0)) != nil { return nil }
        return host.hasSuffix(".") ? String(host.dropLast()) : host
    }
}
