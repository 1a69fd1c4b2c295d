import Crypto
import Foundation
import Hummingbird

/// The console's login session and its defences against cross-site requests.
///
/// The session cookie carries the API token itself, not a server-side session id. Why: the database already is
/// the session store. Every console request authenticates the token in its own transaction
/// (`APIStore.asCaller`), so revoking or expiring the token ends the session at the next click, several workers
/// behind one address need nothing shared, a restart logs nobody out, and there is no second table of secrets to
/// bound, expire and clean. What keeps the token from scripts and other sites is the cookie's attributes:
/// HttpOnly (no JavaScript reads it), SameSite=Strict (no other site's page sends it), Path=/console (the API's
/// paths never get it; they take Authorization: Bearer only). Over plain HTTP it is as exposed as a bearer header;
/// put TLS in front as for the API.
///
/// Every POST after login carries a CSRF token: HMAC-SHA256 of the session cookie under a key drawn at process
/// start (so it needs no storage and dies with the cookie or the process), compared in constant time. Every POST,
/// login included, must also come from this origin (Origin, else Referer, naming the Host the request was sent to).
struct ConsoleSession: Sendable {
    static let cookieName = "ad_console"
    static let path = "/console"

    /// The per-process key of the CSRF tokens (its bytes: SymmetricKey is not Sendable).
    private let keyBytes: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    init(key: SymmetricKey = SymmetricKey(size: .bits256)) {
        keyBytes = key.withUnsafeBytes { Array($0) }
    }

    /// The session's token, from its cookie; nil when there is none or it is not one the console could have set.
    static func token(_ request: Request) -> String? {
        guard let value = request.cookies[cookieName]?.value, isPlausibleToken(value) else { return nil }
        return value
    }

    /// Letters, digits and underscores, 1 to 200 of them: what ad.issue_api_token gives out (adt_ and 64 hex
    /// digits) and what a cookie value can carry unquoted. The database decides whether it is valid.
    static func isPlausibleToken(_ text: String) -> Bool {
        (1...200).contains(text.utf8.count)
            && text.utf8.allSatisfy {
                ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F
            }
    }

    /// The Set-Cookie that logs in with `token`: a session cookie (gone when the browser closes; the token's own
    /// expiry, in the database, bounds it otherwise).
    static func loginCookie(_ token: String, secure: Bool) -> Cookie {
        Cookie(name: cookieName, value: token, path: path, secure: secure, httpOnly: true, sameSite: .strict)
    }

    /// The Set-Cookie that logs out: empty, expired.
    static func logoutCookie(secure: Bool) -> Cookie {
        Cookie(
            name: cookieName, value: "", expires: Date(timeIntervalSince1970: 0), maxAge: 0, path: path,
            secure: secure, httpOnly: true, sameSite: .strict)
    }

    /// The CSRF token of a session: hex HMAC-SHA256 of its cookie value.
    func csrfToken(for session: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(session.utf8), using: key)
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    /// Whether `given` is the CSRF token of `session` (constant-time comparison of the MACs).
    func verify(csrf given: String?, session: String) -> Bool {
        guard let given, given.utf8.count == 64, let bytes = Self.hexBytes(given) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(bytes, authenticating: Data(session.utf8), using: key)
    }

    static func hexBytes(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count / 2)
        var iterator = text.utf8.makeIterator()
        while let hi = iterator.next() {
            guard let lo = iterator.next(), let h = nibble(hi), let l = nibble(lo) else { return nil }
            out.append(h << 4 | l)
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x61...0x66: return c - 0x61 + 10
        case 0x41...0x46: return c - 0x41 + 10
        default: return nil
        }
    }

    /// Why a POST is refused as cross-origin, or nil when it came from this origin: its Origin header (or, when a
    /// browser sent none, its Referer) must name the host and port the request was sent to (its Host header).
    static func crossOriginRefusal(origin: String?, referer: String?, host: String?) -> String? {
        guard let host, !host.isEmpty else { return "the request has no Host header" }
        let claimed: String
        if let origin, origin != "null" {
            claimed = origin
        } else if let referer {
            claimed = referer
        } else {
            return "the request names no Origin or Referer, so it cannot be told from a cross-site one"
        }
        guard let url = URLComponents(string: claimed), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let claimedHost = url.host
        else { return "its origin \(claimed) is not an http(s) address" }
        let port = url.port.map { ":\($0)" } ?? ""
        // An IPv6 literal is bracketed in Host but not in URLComponents.host.
        let bracketed = claimedHost.contains(":") && !claimedHost.hasPrefix("[") ? "[\(claimedHost)]" : claimedHost
        let authority = bracketed.lowercased() + port
        guard authority == host.lowercased() else {
            return "it came from \(scheme)://\(authority), not from this console (\(host))"
        }
        return nil
    }
}
