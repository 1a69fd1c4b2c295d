import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// One TCP (or TLS) connection to an SMTP server, used from async code: send a line, await the reply.
struct SMTPConnection: Sendable {
    let channel: any Channel
    private let handler: NIOLoopBound<SMTPReplyHandler>

    /// Connects; with `implicitTLS` the TLS handler is in the pipeline from the start (the handshake runs as soon as
    /// the connection is up; the greeting arrives after it).
    static func connect(
        host: String, port: Int, implicitTLS: NIOSSLContext?, serverHostname: String?,
        connectTimeout: TimeAmount, group: any EventLoopGroup
    ) async throws -> SMTPConnection {
        // Each handler is kept as made, not looked up in the pipeline afterwards: a connection that fails at once
        // (bad certificate, garbage greeting) has already lost its handlers, but the handler keeps the error.
        // Keyed by channel, since connecting to a name may try several addresses, each with its own channel.
        let handlers = Mutex<[ObjectIdentifier: NIOLoopBound<SMTPReplyHandler>]>([:])
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let implicitTLS {
                        try pipeline.addHandler(
                            NIOSSLClientHandler(context: implicitTLS, serverHostname: serverHostname))
                    }
                    let handler = SMTPReplyHandler(eventLoop: channel.eventLoop)
                    try pipeline.addHandler(handler)
                    let bound = NIOLoopBound(handler, eventLoop: channel.eventLoop)
                    handlers.withLock { $0[ObjectIdentifier(channel)] = bound }
                }
            }
            .connect(host: host, port: port)
            .get()
        guard let handler = handlers.withLock({ $0[ObjectIdentifier(channel)] }) else {
            try? await channel.close()
            throw SMTPTransportError.connectionClosed
        }
        return SMTPConnection(channel: channel, handler: handler)
    }

    /// Sends `line` + CRLF (nothing when nil) and waits for the reply.
    func exchange(_ line: String?, timeout: TimeAmount) async throws -> SMTPReply {
        try await exchange(bytes: line.map { Array(($0 + "\r\n").utf8) }, timeout: timeout)
    }

    /// Sends raw bytes (nothing when nil) and waits for the reply.
    func exchange(bytes: [UInt8]?, timeout: TimeAmount) async throws -> SMTPReply {
        let buffer = bytes.map { ByteBuffer(bytes: $0) }
        let handler = self.handler, channel = self.channel
        // Cancelling the task closes the connection, which ends the wait at once.
        return try await withTaskCancellationHandler {
            try await channel.eventLoop.flatSubmit { handler.value.exchange(buffer, timeout: timeout) }.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    /// STARTTLS's second half: start TLS on this connection. The next reply arrives after the handshake.
    func startTLS(_ context: NIOSSLContext, serverHostname: String?) async throws {
        let handler = self.handler
        try await channel.eventLoop.submit {
            try handler.value.startTLS(context: context, serverHostname: serverHostname)
        }.get()
    }

    /// Closes the connection; errors (already closed) are ignored.
    func close() async {
        try? await channel.close()
    }
}
