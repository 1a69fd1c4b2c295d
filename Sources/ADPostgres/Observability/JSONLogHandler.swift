import ADCore
import Foundation
import Logging
import Synchronization

/// AD_LOG_FORMAT=json: one JSON object a line on standard error, with one vocabulary of fields (docs/logging.md):
/// `time` (RFC 3339, UTC, milliseconds), `level`, `worker` (AD_WORKER_NAME), `logger` (the logger's label),
/// `message`, then each metadata key as a field of its own, then `module`, `file` and `line` (where it was logged).
/// A metadata key that would overwrite one of those fields is written as `meta_<key>`.
///
/// Written here rather than taken from a package: none of the packages this project may use has a JSON LogHandler
/// for swift-log (swift-log itself has only the stream handler, and swift-otel exports over OTLP, not to a
/// stream), and the handler is this one small struct over ADCore's JSON writer.
public struct JSONLogHandler: LogHandler {
    /// The fields every line has, in the order they are written.
    public static let fields = ["time", "level", "worker", "logger", "message", "module", "file", "line"]

    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info
    let label: String
    let worker: String
    let write: @Sendable (String) -> Void

    /// `write` takes each line, newline included (standard error by default).
    public init(
        label: String, worker: String, metadataProvider: Logger.MetadataProvider? = nil,
        write: @escaping @Sendable (String) -> Void = JSONLogHandler.standardError
    ) {
        self.label = label; self.worker = worker; self.metadataProvider = metadataProvider; self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// swift-log's current entry point (the flat-parameter `log(level:...)` is deprecated); an event's `error`, when
    /// there is one, becomes the `error` field unless the metadata has one.
    public func log(event: LogEvent) {
        var merged = self.metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        if let error = event.error, merged["error"] == nil { merged["error"] = "\(error)" }
        write(
            Self.line(
                time: Date(), level: event.level, worker: worker, label: label, message: event.message.description,
                metadata: merged, module: event.source, file: event.file, line: event.line) + "\n")
    }

    /// One line, without its newline.
    public static func line(
        time: Date, level: Logger.Level, worker: String, label: String, message: String, metadata: Logger.Metadata,
        module: String, file: String, line: UInt
    ) -> String {
        var pairs: [(String, JSONValue)] = [
            ("time", .string(timestamp(time))), ("level", .string(level.rawValue)), ("worker", .string(worker)),
            ("logger", .string(label)), ("message", .string(message)),
        ]
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            pairs.append((fields.contains(key) ? "meta_" + key : key, json(value)))
        }
        pairs += [("module", .string(module)), ("file", .string(file)), ("line", .number(Double(line)))]
        return JSONValue.object(pairs).render()
    }

    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let s): return .string(s)
        case .stringConvertible(let c): return .string(c.description)
        case .array(let items): return .array(items.map(json))
        case .dictionary(let d): return .object(d.sorted { $0.key < $1.key }.map { ($0.key, json($0.value)) })
        }
    }

    /// RFC 3339 in UTC with milliseconds: 2026-01-01T00:00:00.000Z.
    static func timestamp(_ date: Date) -> String {
        date.formatted(
            Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(identifier: "UTC")!))
    }

    private static let lock = Mutex(())
    /// Writes a line to standard error whole: lines logged at once from several threads never interleave.
    public static let standardError: @Sendable (String) -> Void = { text in
        lock.withLock { _ in FileHandle.standardError.write(Data(text.utf8)) }
    }
}
