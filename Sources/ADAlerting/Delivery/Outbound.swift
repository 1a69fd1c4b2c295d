import ADCore
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Resolves a host name once, for the outbound policy to check the addresses and the send to connect to the one
/// it checked. Written by hand over getaddrinfo(3): neither NIO nor AsyncHTTPClient exposes the addresses a name
/// resolves to before connecting (NIO's resolver is internal), and the check must see them.
enum OutboundResolver {
    /// The addresses `host` resolves to, in the resolver's order; an IP literal is itself. The lookup blocks a
    /// thread of NIO's pool, never the caller's; the caller's deadline bounds the wait.
    static func resolve(_ host: String) async throws -> [IPAddress] {
        if let literal = IPAddress(host) { return [literal] }
        let name = host
        return try await NIOThreadPool.singleton.runIfActive(eventLoop: MultiThreadedEventLoopGroup.singleton.any()) {
            try blockingResolve(name)
        }.get()
    }

    struct LookupFailed: Error, CustomStringConvertible {
        let description: String
    }

    static func blockingResolve(_ host: String) throws -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
            hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, nil, &hints, &list)
        guard rc == 0, let first = list else {
            throw LookupFailed(description: "cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(first) }
        var out: [IPAddress] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let n = node {
            if let sa = n.pointee.ai_addr {
                switch Int32(sa.pointee.sa_family) {
                case AF_INET:
                    let a = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
                    out.append(.v4(UInt32(bigEndian: a)))
                case AF_INET6:
                    let bytes = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                        withUnsafeBytes(of: p.pointee.sin6_addr) { Array($0) }
                    }
                    out.append(.v6(bytes))
                default: break
                }
            }
            node = n.pointee.ai_next
        }
        var seen = Set<IPAddress>()
        return out.filter { seen.insert($0).inserted }
    }

    /// Resolves `host` and picks the first address `policy` allows.
    static func pick(_ host: String, policy: OutboundPolicy) async -> Result<IPAddress, SendFailure> {
        let addresses: [IPAddress]
        do { addresses = try await resolve(host) } catch {
            return .failure(SendFailure(reason: "\(error)", final: false))
        }
        switch policy.choose(host: host, addresses: addresses) {
        case .success(let a): return .success(a)
        case .failure(let refused): return .failure(SendFailure(reason: refused.reason, final: true))
        }
    }
}

/// Why a send could not start; `final` when retrying cannot help (the outbound policy refused the destination).
struct SendFailure: Error {
    let reason: String
    let final: Bool
}

/// Runs `operation` for at most `seconds`: past that, returns `onTimeout()` at once and cancels the operation,
/// which winds down on its own (the caller never waits for it, even if it ignores cancellation). This is what
/// makes a deadline total: resolving, connecting, the request, the answer, an SMTP conversation, all of it.
func withDeadline<T: Sendable>(
    seconds: Double, _ operation: @escaping @Sendable () async -> T, onTimeout: @escaping @Sendable () -> T
) async -> T {
    let slot = Locked<CheckedContinuation<T, Never>?>(nil)
    let timer = Locked<Task<Void, Never>?>(nil)
    return await withCheckedContinuation { (c: CheckedContinuation<T, Never>) in
        slot.withLock { $0 = c }
        let work = Task {
            let result = await operation()
            timer.withLock { $0?.cancel() }
            slot.withLock { s in
                let c = s
                s = nil
                return c
            }?.resume(returning: result)
        }
        let t = Task {
            try? await Task.sleep(for: .milliseconds(Int64((seconds * 1000).rounded(.up))))
            guard !Task.isCancelled else { return }
            if let c = slot.withLock({ s -> CheckedContinuation<T, Never>? in
                let c = s
                s = nil
                return c
            }) {
                work.cancel()
                c.resume(returning: onTimeout())
            }
        }
        timer.withLock { $0 = t }
    }
}

/// HTTP clients pinned to one checked address each: a client for (host, address) resolves `host` to exactly
/// `address` (AsyncHTTPClient's `dnsOverride`, which keeps the host name for TLS SNI and certificate checks), and
/// never follows a redirect. Kept (bounded, least recently used out) so sends to a receiver reuse connections.
public actor PinnedHTTPClients {
    private var clients: [String: (client: HTTPClient, used: UInt64)] = [:]
    private var tick: UInt64 = 0
    private let capacity: Int
    private let connectTimeout: TimeAmount

    public init(capacity: Int = 64, connectTimeout: Double = DeliveryLimits.maxChannelTimeout) {
        self.capacity = capacity
        self.connectTimeout = .milliseconds(Int64(connectTimeout * 1000))
    }

    func client(host: String, address: IPAddress) -> HTTPClient {
        tick += 1
        let key = "\(host)|\(address)"
        if let c = clients[key] {
            clients[key] = (c.client, tick)
            return c.client
        }
        var config = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: connectTimeout, read: connectTimeout))
        if IPAddress(host) == nil { config.dnsOverride = [host: address.description] }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        clients[key] = (client, tick)
        if clients.count > capacity, let oldest = clients.min(by: { $0.value.used < $1.value.used }) {
            clients[oldest.key] = nil
            Task { try? await oldest.value.client.shutdown() }
        }
        return client
    }

    /// Shuts every client down (the delivery loop's end).
    public func shutdown() async {
        let all = clients.values.map(\.client)
        clients = [:]
        for c in all { try? await c.shutdown() }
    }
}

/// A value behind a lock, shareable between tasks (a `Mutex` cannot be captured by escaping closures).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
