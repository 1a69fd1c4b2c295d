import ADCore
import ADDBTestSupport
import ADPostgres
import ADTestSupport
import Foundation
import Testing

/// The python of the virtualenv with jsonschema and PyYAML (scripts/test sets it from scripts/lib/api-venv.sh).
private let toolsPython = ProcessInfo.processInfo.environment["AD_TEST_API_PYTHON"].flatMap { $0.isEmpty ? nil : $0 }

/// Runs a program to its end; its exit status and everything it printed.
func runProgram(_ path: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = arguments
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return (p.terminationStatus, text)
}

/// docker/ without a docker engine (none runs here): Tests/docker/check_compose.py validates docker/compose.yaml
/// against the Compose Specification's JSON schema and checks it against the code, the Dockerfile, Grafana's
/// provisioning and the Prometheus and Alertmanager configs.
@Suite(
    .enabled(
        if: toolsPython != nil,
        "needs jsonschema and PyYAML: AD_TEST_API_PYTHON unset (scripts/test sets it from scripts/lib/api-venv.sh)"))
struct ComposeFile {
    @Test func matchesTheComposeSpecificationAndTheCode() throws {
        let script = Repository.root().appendingPathComponent("Tests/docker/check_compose.py").path
        let (status, output) = try runProgram(try #require(toolsPython), [script])
        #expect(status == 0, "check_compose.py:\n\(output)")
        #expect(output.contains("ok: docker/compose.yaml is valid against the Compose Specification's schema"))
    }
}

/// The stack's own scripts against a real database: docker/db/roles.sh (as the compose job "roles" runs it, psql and
/// secret files) after the schema is installed, then the logins it made: Grafana's reads the views and nothing else;
/// the worker's, through the image's entry point with its password from a file, runs adworker.
@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"), .serialized)
struct ComposeScripts {
    @Test func theRolesJobMakesTheLoginsAndTheEntryPointGivesTheWorkerItsPassword() async throws {
        try await withScratchDatabase { url in
            try await migrate(url)
            let secrets = FileManager.default.temporaryDirectory.appendingPathComponent("ad-secrets-\(UUID())")
            try FileManager.default.createDirectory(at: secrets, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: secrets) }
            for name in ["postgres_password", "worker_db_password", "api_db_password", "grafana_db_password"] {
                try "\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))\n".write(
                    to: secrets.appendingPathComponent(name), atomically: true, encoding: .utf8)
            }
            let repo = Repository.root()
            let libpq = [
                "PGHOST": url.socketDirectory ?? url.host, "PGPORT": String(url.port), "PGUSER": url.username,
                "PGDATABASE": url.database, "SECRETS": secrets.path,
            ]
            for run in 1...2 {
                let (status, output) = try runProgram(
                    "/bin/sh", [repo.appendingPathComponent("docker/db/roles.sh").path], environment: libpq)
                #expect(status == 0, "roles.sh (run \(run)):\n\(output)")
            }
            #expect(
                try await strings(
                    url,
                    """
                    SELECT r.rolname || ' ' || g.rolname FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid
                      JOIN pg_roles g ON g.oid = m.roleid
                     WHERE r.rolname IN ('adworker', 'adworker_api', 'grafana') AND g.rolname LIKE 'ad\\_%' ORDER BY 1
                    """) == ["adworker ad_worker", "adworker_api ad_api", "grafana ad_reader"])
            #expect(
                try await strings(url, "SELECT host FROM ad_internal.outbound_allowlist ORDER BY 1")
                    == ["alertmanager", "mailpit"])

            // Grafana's login: the dashboards' views, not the tables.
            let grafana = url.with(username: "grafana")
            #expect(try await integer(grafana, "SELECT count(*) FROM ad.source_health") == 0)
            await #expect(throws: (any Error).self) { try await sql(grafana, "SELECT 1 FROM ad.data_points LIMIT 1") }

            // The worker's login through the entry point, its password from a file, as compose passes it.
            let bin = URL(fileURLWithPath: WorkerProcess.binary).deletingLastPathComponent().path
            let worker = url.with(username: "adworker").text
            #expect(!worker.contains("adworker:"), "the URL carries no password before the entry point")
            let (status, output) = try runProgram(
                "/bin/sh", [repo.appendingPathComponent("docker/entrypoint.sh").path, "migrate", "--dry-run"],
                environment: [
                    "PATH": "\(bin):/usr/bin:/bin", "DATABASE_URL": worker,
                    "DATABASE_PASSWORD_FILE": secrets.appendingPathComponent("worker_db_password").path,
                ])
            #expect(status == 0, "adworker-entrypoint migrate --dry-run as adworker:\n\(output)")
        }
    }
}
