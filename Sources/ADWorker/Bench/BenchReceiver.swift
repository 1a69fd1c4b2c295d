import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A local webhook receiver for the delivery figure of `adworker bench`: answers every request with 200 and
/// counts them. It does not check signatures (the bench measures the sender; the tests check signatures).
final class BenchReceiver: Sendable {
    private let channel: any Channel
    private let counter: Counter

    private final class Handler: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let counter: Counter
        init(counter: Counter) { self.counter = counter }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            counter.add()
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "2")
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil
            )
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "ok")))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    private init(channel: any Channel, counter: Counter) {
        self.channel = channel
        self.counter = counter
    }

    static func start() async throws -> BenchReceiver {
        let counter = Counter()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(Handler(counter: counter))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return BenchReceiver(channel: channel, counter: counter)
    }

    var port: Int { channel.localAddress?.port ?? 0 }
    var received: Int { counter.value }

    func stop() async { try? await channel.close() }
}

/// A thread-safe count.
final class Counter: Sendable {
    private let n = Atomic<Int>(0)
    func add() { n.add(1, ordering: .relaxed) }
    var value: Int { n.load(ordering: .relaxed) }
}
