import ADCore
import ADDBTestSupport
import ADTestSupport
import Foundation
import PostgresNIO
import Testing

@testable import ADPostgres

/// A bash script (`runShell`).
private func shell(_ script: String) async throws -> String { try runShell(script) }

/// A PostgreSQL of its own with `ssl = on`, listening on localhost, its certificates made by a test CA that the test
/// makes with openssl: the server's names only `DNS:localhost`; a second, unrelated CA; a client certificate for the
/// role `certuser`, which pg_hba.conf admits only by certificate (`cert`, i.e. clientcert=verify-full). Plain TCP
/// is refused (only `hostssl` lines).
private struct TLSServer {
    let dir: String
    let port: Int

    static func start() async throws -> TLSServer {
        let repo = Repository.root().path
        let dir = "/tmp/adtls-\(UUID().uuidString.prefix(8).lowercased())"
        let out = try await shell(
            """
            D=\(dir); T=$D-certs; mkdir -p $T; cd $T
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=ad test CA" 2>/dev/null
            openssl req -x509 -newkey rsa:2048 -nodes -keyout wrong.key -out wrong.crt -days 2 -subj "/CN=ad other CA" 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
            printf 'subjectAltName=DNS:localhost\\nextendedKeyUsage=serverAuth\\n' > server.ext
            openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 \\
                -extfile server.ext 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj "/CN=certuser" 2>/dev/null
            printf 'extendedKeyUsage=clientAuth\\n' > client.ext
            openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2 \\
                -extfile client.ext 2>/dev/null
            cd \(repo)
            AD_TIMESCALEDB=off scripts/pgcluster start $D >/dev/null
            PORT=$(cat $D/port)
            OWNER=$(stat -c %U $D/data)
            cp $T/server.crt $T/server.key $T/ca.crt $D/data/
            chown $OWNER $D/data/server.crt $D/data/server.key $D/data/ca.crt; chmod 600 $D/data/server.key
            P="psql -X -q -v ON_ERROR_STOP=1 -h $D -p $PORT -U postgres -d postgres"
            $P -c "ALTER SYSTEM SET ssl = on" -c "ALTER SYSTEM SET ssl_cert_file = 'server.crt'" \\
               -c "ALTER SYSTEM SET ssl_key_file = 'server.key'" -c "ALTER SYSTEM SET ssl_ca_file = 'ca.crt'" \\
               -c "ALTER SYSTEM SET listen_addresses = 'localhost'" -c "CREATE ROLE certuser LOGIN"
            { printf 'hostssl all certuser 127.0.0.1/32 cert\\nhostssl all certuser ::1/128 cert\\n'
              printf 'hostssl all postgres 127.0.0.1/32 trust\\nhostssl all postgres ::1/128 trust\\n'
              printf 'hostnossl all all 127.0.0.1/32 reject\\nhostnossl all all ::1/128 reject\\n'
              cat $D/data/pg_hba.conf; } > $D/hba.new
            cat $D/hba.new > $D/data/pg_hba.conf; rm $D/hba.new
            scripts/pgcluster stop $D; AD_TIMESCALEDB=off scripts/pgcluster start $D >/dev/null
            echo $PORT
            """)
        let port = Int(out.split(separator: "\n").last.map(String.init) ?? "") ?? 0
        return TLSServer(dir: dir, port: port)
    }

    func stop() async {
        _ = try? await shell(
            "cd \(Repository.root().path); scripts/pgcluster destroy \(dir) >/dev/null; rm -rf \(dir)-certs")
    }

    func url(host: String = "localhost", user: String = "postgres", _ query: String) throws -> DatabaseURL {
        let h = host.contains(":") ? "[\(host)]" : host
        return try DatabaseURL("postgres://\(user)@\(h):\(port)/postgres?\(query)")
    }

    func cert(_ name: String) -> String { "\(dir)-certs/\(name)" }

    /// Whether a session on `url` is encrypted (pg_stat_ssl), or the error that kept it from connecting.
    func encrypted(_ url: DatabaseURL) async -> Result<Bool, any Error> {
        do {
            let ssl = try await Database.withConnection(url, logger: TestServer.logger) { conn in
                var out = false
                for try await b in try await conn.query(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", logger: TestServer.logger
                ).decode(Bool.self) { out = b }
                return out
            }
            return .success(ssl)
        } catch {
            return .failure(error)
        }
    }
}

/// `sslmode`, `sslrootcert`, `sslcert` and `sslkey` against a real PostgreSQL with `ssl = on` (issue 18: these
/// were refused as unknown, and the default was prefer without checks).
@Suite(.tags(.database), .enabled(if: TestServer.available, "needs the PostgreSQL binaries scripts/test uses"))
struct TLSConnectionsCheckWhatLibpqChecks {
    @Test func verifyModesAcceptTheRightCAAndHostAndRefuseTheWrongOnes() async throws {
        let server = try await TLSServer.start()
        let ca = server.cert("ca.crt"), wrong = server.cert("wrong.crt")

        func connects(_ url: DatabaseURL, _ what: Comment) async {
            switch await server.encrypted(url) {
            case .success(let ssl): #expect(ssl, what)
            case .failure(let error): Issue.record("\(what): \(String(describing: error))")
            }
        }
        func refused(_ url: DatabaseURL, _ what: Comment, saying: String? = nil) async {
            switch await server.encrypted(url) {
            case .success: Issue.record("\(what): connected")
            case .failure(let error):
                if let saying { #expect(String(describing: error).contains(saying), "\(what): \(error)") }
            }
        }

        await connects(try server.url("sslmode=verify-full&sslrootcert=\(ca)"), "verify-full, right CA and host")
        await refused(
            try server.url("sslmode=verify-full&sslrootcert=\(wrong)"), "verify-full, wrong CA",
            saying: "sslrootcert holds the CA")
        await refused(
            try server.url(host: "127.0.0.1", "sslmode=verify-full&sslrootcert=\(ca)"),
            "verify-full, a host name the certificate does not carry")
        await connects(
            try server.url(host: "127.0.0.1", "sslmode=verify-ca&sslrootcert=\(ca)"), "verify-ca ignores the name")
        await refused(try server.url("sslmode=verify-ca&sslrootcert=\(wrong)"), "verify-ca, wrong CA")
        await refused(
            try server.url("sslmode=verify-full"), "verify-full against the system's roots (our CA is not one)",
            saying: "sslrootcert=")
        // libpq's require: encrypt without checks, unless a root certificate is given.
        await connects(try server.url(host: "127.0.0.1", "sslmode=require"), "require without a root certificate")
        await refused(try server.url("sslmode=require&sslrootcert=\(wrong)"), "require with a root cert checks it")
        await connects(try server.url("sslmode=prefer"), "prefer takes TLS when offered")
        await connects(try server.url(""), "the default on localhost is prefer")
        await refused(try server.url("sslmode=disable"), "the server takes only TLS (a control for the above)")

        // A client certificate: certuser may log in only with one its CA signed (pg_hba.conf: cert).
        let client = "sslcert=\(server.cert("client.crt"))&sslkey=\(server.cert("client.key"))"
        await connects(
            try server.url(user: "certuser", "sslmode=verify-full&sslrootcert=\(ca)&\(client)"),
            "a client certificate logs certuser in")
        await refused(
            try server.url(user: "certuser", "sslmode=verify-full&sslrootcert=\(ca)"),
            "certuser without a certificate")
        await refused(
            try server.url(user: "certuser", "sslmode=verify-full&sslrootcert=\(ca)&sslcert=\(ca)&sslkey=/nonexistent"),
            "an unreadable key is an error naming it", saying: "sslkey /nonexistent")
        await server.stop()
    }
}
