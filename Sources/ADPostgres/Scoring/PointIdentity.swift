import Crypto
import Foundation

/// The server's id of a point, computed by the worker: the same version-3 UUID `ad_internal.point_id(source, time)`
/// gives (sql/016_point_identity.sql), from the md5 of the source id's 16 bytes and the time as PostgreSQL sends a
/// timestamptz (`timestamptz_send`: µs since 2000-01-01 UTC, big-endian int8, which is how the scoring cycle carries
/// a time). The claim and the scoring `UPDATE` each computed it in SQL, at about as much per row as the rest of the
/// claim (docs/performance.md, History, issue 22); a database test checks both agree over the whole range of times.
public enum PointIdentity {
    public static func id(source: UUID, micros: Int64) -> UUID {
        var md5 = Insecure.MD5()
        withUnsafeBytes(of: source.uuid) { md5.update(bufferPointer: $0) }
        withUnsafeBytes(of: micros.bigEndian) { md5.update(bufferPointer: $0) }
        var h: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &h) { out in
            for (i, b) in md5.finalize().enumerated() { out[i] = b }
        }
        h.6 = (h.6 & 0x0f) | 0x30  // version 3
        h.8 = (h.8 & 0x3f) | 0x80  // RFC 4122 variant
        return UUID(uuid: h)
    }
}
