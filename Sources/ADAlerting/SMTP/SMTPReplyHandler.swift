import NIOCore
import NIOSSL

/// Failures of the connection itself; `SMTPClient` turns them into `SMTPError`s with the stage and last reply.
enum SMTPTransportError: Error, Equatable {
    /// No reply or handshake within the limit.
    case timeout
    /// The connection ended.
    case connectionClosed
    /// Bytes arrived after the reply to STARTTLS, before the handshake (RFC 3207 §5, response injection).
    case dataBeforeTLSHandshake
    /// The server's bytes are not SMTP replies.
    case malformed(SMTPReplyParser.Failure)
}

/// The last inbound handler: parses replies and hands each to the one command waiting for it. One command at a time
/// (no pipelining). Every method runs on the channel's event loop.
///
/// TLS needs no bookkeeping here: the TLS handler in front buffers writes until its handshake completes, so the first
/// reply after TLS starts proves the handshake, and a handshake failure arrives as an error that fails the waiter.
final class SMTPReplyHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private struct Waiter<Value> {
        let promise: EventLoopPromise<Value>
        let timeout: Scheduled<Void>
    }

    private let eventLoop: any EventLoop
    private var context: ChannelHandlerContext?
    private var parser = SMTPReplyParser()
    /// Replies that arrived with nobody waiting (the greeting before the first wait, or an unsolicited 421).
    private var unclaimed = CircularBuffer<SMTPReply>()
    private var replyWaiter: Waiter<SMTPReply>?
    private var failure: (any Error)?

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        fail(SMTPTransportError.connectionClosed)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard failure == nil else { return }  // the connection is being closed; nothing more counts
        let buffer = unwrapInboundIn(data)
        parser.append(buffer.readableBytesView)
        do {
            while let reply = try parser.nextReply() { deliver(reply) }
        } catch {
            fail(SMTPTransportError.malformed(error))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(SMTPTransportError.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    /// Writes `command` (if any) and waits for the next reply. A reply that came earlier unasked is returned first.
    func exchange(_ command: ByteBuffer?, timeout: TimeAmount) -> EventLoopFuture<SMTPReply> {
        precondition(replyWaiter == nil, "one SMTP command at a time")
        if let command {
            guard failure == nil, let context else { return failedFuture() }
            context.writeAndFlush(wrapOutboundOut(command), promise: nil)
        }
        if let reply = unclaimed.popFirst() { return eventLoop.makeSucceededFuture(reply) }
        if failure != nil || context == nil { return failedFuture() }
        let promise = eventLoop.makePromise(of: SMTPReply.self)
        replyWaiter = Waiter(promise: promise, timeout: scheduleTimeout(timeout))
        return promise.futureResult
    }

    /// Puts a TLS client handler in front of the pipeline (after the server's 220 to STARTTLS); the handshake starts
    /// at once. Fails without starting TLS if the server has sent anything more.
    func startTLS(context sslContext: NIOSSLContext, serverHostname: String?) throws {
        guard failure == nil, let context else { throw failure ?? SMTPTransportError.connectionClosed }
        guard unclaimed.isEmpty, !parser.hasBufferedInput else {
            fail(SMTPTransportError.dataBeforeTLSHandshake)
            context.close(promise: nil)
            throw SMTPTransportError.dataBeforeTLSHandshake
        }
        let tlsHandler = try NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname)
        try context.pipeline.syncOperations.addHandler(tlsHandler, position: .first)
    }

    private func failedFuture<Value>() -> EventLoopFuture<Value> {
        eventLoop.makeFailedFuture(failure ?? SMTPTransportError.connectionClosed)
    }

    private func scheduleTimeout(_ timeout: TimeAmount) -> Scheduled<Void> {
        eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            fail(SMTPTransportError.timeout)
            context?.close(promise: nil)
        }
    }

    private func deliver(_ reply: SMTPReply) {
        if let waiter = replyWaiter {
            replyWaiter = nil
            waiter.timeout.cancel()
            waiter.promise.succeed(reply)
        } else {
            unclaimed.append(reply)
        }
    }

    /// Records the first failure and fails whoever waits; later failures are consequences and ignored.
    private func fail(_ error: any Error) {
        if failure == nil { failure = error }
        let error = failure ?? error
        if let waiter = replyWaiter {
            replyWaiter = nil
            waiter.timeout.cancel()
            waiter.promise.fail(error)
        }
    }
}
