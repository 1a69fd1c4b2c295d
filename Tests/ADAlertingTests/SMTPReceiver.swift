import ADTestSupport
import Foundation

/// A throwaway CA and a server certificate for 127.0.0.1 and localhost, made with the openssl command line once per
/// test run.
struct TestPKI: Sendable {
    let directory: URL
    var caCertificate: String { directory.appendingPathComponent("ca.pem").path }
    var serverCertificate: String { directory.appendingPathComponent("server.pem").path }
    var serverKey: String { directory.appendingPathComponent("server.key").path }
    /// Signed by the same CA, but for `elsewhere.test` only: fails host name verification.
    var wrongNameCertificate: String { directory.appendingPathComponent("wrong-name.pem").path }

    /// Made on first use; later calls get the same files (or the same failure).
    static func shared() throws -> TestPKI { try sharedResult.get() }

    private static let sharedResult: Result<TestPKI, any Error> = Result { try make() }

    private static func make() throws -> TestPKI {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ad-smtp-pki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let ext = dir.appendingPathComponent("server.ext")
        try """
        subjectAltName=DNS:localhost,IP:127.0.0.1
        basicConstraints=CA:FALSE
        keyUsage=critical,digitalSignature,keyEncipherment
        extendedKeyUsage=serverAuth

        """.write(to: ext, atomically: true, encoding: .utf8)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try openssl(
            ["req", "-x509"] + ec + [
                "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=AD SMTP Test CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ], in: dir)
        try openssl(["req"] + ec + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"], in: dir)
        try openssl(
            [
                "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
            ], in: dir)
        try "subjectAltName=DNS:elsewhere.test\nextendedKeyUsage=serverAuth\n"
            .write(to: dir.appendingPathComponent("wrong.ext"), atomically: true, encoding: .utf8)
        try openssl(["req", "-new", "-key", "server.key", "-out", "wrong.csr", "-subj", "/CN=elsewhere.test"], in: dir)
        try openssl(
            [
                "x509", "-req", "-in", "wrong.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "wrong-name.pem", "-days", "2", "-extfile", "wrong.ext",
            ], in: dir)
        return TestPKI(directory: dir)
    }

    private static func openssl(_ arguments: [String], in dir: URL) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = arguments
        p.currentDirectoryURL = dir
        let errors = Pipe()
        p.standardError = errors
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw SMTPReceiverError(
                "openssl \(arguments.joined(separator: " ")) failed: \(String(decoding: output, as: UTF8.self))")
        }
    }
}

struct SMTPReceiverError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One message the receiver accepted, as scripts/receivers/smtp_receiver.py recorded it.
struct ReceivedMessage: Decodable, Sendable {
    struct Parsed: Decodable, Sendable {
        struct Part: Decodable, Sendable {
            let content_type: String
            let charset: String?
            let transfer_encoding: String?
            let content: String
        }
        let subject: String
        let from: String
        let to: String
        let message_id: String
        let content_type: String
        let defects: [String]
        let parts: [Part]
    }
    let mail_from: String
    let rcpt_tos: [String]
    /// The raw message text as received (dot-unstuffed).
    let data: String
    let tls: Bool
    let auth_user: String?
    /// What Python's email package makes of `data`.
    let parsed: Parsed
}

/// scripts/receivers/smtp_receiver.py (aiosmtpd) on an ephemeral loopback port, for one test.
final class SMTPReceiverProcess: Sendable {
    let process: Process
    let port: Int
    /// The CA that signed the server certificate (PEM); trust it to verify the receiver.
    let caFile: String
    private let outFile: URL
    private let errFile: URL

    /// Debian's Python, which has python3-aiosmtpd (not whatever `python3` is first on PATH); AD_TEST_PYTHON overrides.
    static let python = ProcessInfo.processInfo.environment["AD_TEST_PYTHON"] ?? "/usr/bin/python3"
    static var script: String {
        Repository.root()
            .appendingPathComponent("scripts/receivers/smtp_receiver.py").path
    }

    /// Fails with instructions when Debian's aiosmtpd is missing (it never skips).
    static func requireAiosmtpd() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", "import aiosmtpd"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch {
            throw SMTPReceiverError("cannot run \(python): \(error); install python3 and python3-aiosmtpd")
        }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw SMTPReceiverError(
                "\(python) cannot import aiosmtpd: install python3-aiosmtpd (apt-get install python3-aiosmtpd; scripts/test installs it)"
            )
        }
    }

    /// Starts the receiver and waits for its `listening on <port>` line.
    /// - Parameters:
    ///   - tls: `starttls`, `implicit` or `none`; the first two use the shared test certificate.
    ///   - extraArguments: e.g. `["--auth-user", "u", "--auth-password", "p", "--reject-rcpt", "x@y"]`.
    ///   - wrongName: serve the certificate for `elsewhere.test` instead of 127.0.0.1/localhost.
    init(tls: String, extraArguments: [String] = [], wrongName: Bool = false) async throws {
        try Self.requireAiosmtpd()
        let pki = try TestPKI.shared()
        caFile = pki.caCertificate
        let tmp = FileManager.default.temporaryDirectory
        let id = UUID().uuidString
        outFile = tmp.appendingPathComponent("smtp-receiver-\(id).jsonl")
        errFile = tmp.appendingPathComponent("smtp-receiver-\(id).err")
        _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)

        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.python)
        var arguments = [Self.script, "--port", "0", "--tls", tls, "--out", outFile.path]
        if tls != "none" {
            arguments += [
                "--cert", wrongName ? pki.wrongNameCertificate : pki.serverCertificate, "--key", pki.serverKey,
            ]
        }
        p.arguments = arguments + extraArguments
        let stdout = Pipe()
        p.standardOutput = stdout
        p.standardError = try FileHandle(forWritingTo: errFile)
        try p.run()
        process = p

        let line = await Self.firstLine(of: stdout.fileHandleForReading, timeout: .seconds(20))
        guard let line, line.hasPrefix("listening on "), let port = Int(line.dropFirst("listening on ".count)) else {
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
            let errors = (try? String(contentsOf: errFile, encoding: .utf8)) ?? ""
            throw SMTPReceiverError(
                "smtp_receiver.py did not start (first line \(String(reflecting: line))): \(errors)")
        }
        self.port = port
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// The messages accepted so far, oldest first.
    func messages() throws -> [ReceivedMessage] {
        guard let text = try? String(contentsOf: outFile, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map {
            try JSONDecoder().decode(ReceivedMessage.self, from: Data($0.utf8))
        }
    }

    /// What the receiver wrote to stderr.
    var errors: String { (try? String(contentsOf: errFile, encoding: .utf8)) ?? "" }

    /// Stops the receiver (SIGTERM, then SIGKILL) and removes its files.
    func stop() async {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            let deadline = ContinuousClock.now + .seconds(5)
            while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        try? FileManager.default.removeItem(at: outFile)
        try? FileManager.default.removeItem(at: errFile)
    }

    /// The first line a child writes, read on a thread of its own so no concurrency thread blocks; nil on EOF or
    /// timeout.
    private static func firstLine(of handle: FileHandle, timeout: Duration) async -> String? {
        let stream = AsyncStream<String?> { continuation in
            let thread = Thread {
                var bytes: [UInt8] = []
                while true {
                    let chunk = handle.availableData  // blocks until data or EOF
                    if chunk.isEmpty { break }
                    bytes += chunk
                    if let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) {
                        continuation.yield(String(decoding: bytes[..<newline], as: UTF8.self))
                        continuation.finish()
                        return
                    }
                }
                continuation.yield(nil)
                continuation.finish()
            }
            thread.start()
        }
        return await withTaskGroup(of: String?.self) { group in
            group.addTask {
                for await line in stream { return line }; return nil
            }
            group.addTask {
                try? await Task.sleep(for: timeout); return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
