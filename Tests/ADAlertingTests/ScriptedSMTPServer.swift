import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// A fake SMTP server on loopback that answers from a script, for behaviour a real server will not show: silence,
/// garbage, data injected after STARTTLS, HELO-only servers, 4xx at odd moments, dropped connections.
final class ScriptedSMTPServer: Sendable {
    /// What the server does with one line from the client.
    enum Action: Sendable {
        /// Send this text (CRLF is added to each line).
        case reply(String)
        /// Say nothing.
        case silence
        /// Close the connection.
        case close
    }

    let channel: any Channel
    let port: Int
    private let log = Log()

    /// Everything the client sent: command lines as sent, message lines prefixed with `D:`.
    var transcript: [String] { log.lines.withLock { $0 } }

    /// Starts the server. `respond` gets each command line, and "." for the end of the message data.
    init(greeting: Action, respond: @escaping @Sendable (String) -> Action) async throws {
        let log = self.log
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(
                        Handler(
                            greeting: greeting, respond: respond,
                            record: { line in log.lines.withLock { $0.append(line) } }))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress?.port ?? 0
    }

    func stop() async { try? await channel.close() }

    private final class Log: Sendable {
        let lines = Mutex<[String]>([])
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let greeting: Action
        let respond: @Sendable (String) -> Action
        let record: @Sendable (String) -> Void
        var buffer = ""
        var inData = false

        init(
            greeting: Action, respond: @escaping @Sendable (String) -> Action,
            record: @escaping @Sendable (String) -> Void
        ) {
            self.greeting = greeting
            self.respond = respond
            self.record = record
        }

        func channelActive(context: ChannelHandlerContext) {
            perform(greeting, context: context)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            buffer += bytes.readString(length: bytes.readableBytes) ?? ""
            while let end = buffer.range(of: "\r\n") {
                let line = String(buffer[..<end.lowerBound])
                buffer = String(buffer[end.upperBound...])
                if inData {
                    if line == "." {
                        inData = false
                        perform(respond("."), context: context)
                    } else {
                        record("D:" + line)
                    }
                    continue
                }
                record(line)
                let action = respond(line)
                if line.uppercased() == "DATA", case .reply(let text) = action, text.hasPrefix("354") { inData = true }
                perform(action, context: context)
            }
        }

        private func perform(_ action: Action, context: ChannelHandlerContext) {
            switch action {
            case .reply(let text):
                let wire = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0 + "\r\n" }.joined()
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: wire)), promise: nil)
            case .silence:
                break
            case .close:
                context.close(promise: nil)
            }
        }
    }
}
