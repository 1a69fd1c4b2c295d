import ADCore
import ADDBTestSupport
import ADPostgres
import ADTestSupport
import Foundation
import PostgresNIO
import Testing

/// Release 0.1.0 as its users have it: the install script `make -C extension` built at tag v0.1.0, frozen in
/// extension/released/ (`make -C extension install` installs it, so `CREATE EXTENSION ... VERSION '0.1.0'` works).
enum Release010 {
    static let version = "0.1.0"
    static let repo = Repository.root()

    static func script() throws -> String {
        try String(
            contentsOf: repo.appendingPathComponent("extension/released/anomaly_detection--0.1.0.sql"),
            encoding: .utf8)
    }

    /// The sql/ files 0.1.0's adworker migrate embedded, recovered from the frozen script. At v0.1.0 the Makefile
    /// wrote every sql/NNN_*.sql verbatim under a "-- ---- NAME ----" line, in name order, then the footer, and
    /// scripts/embed-sql embedded the same files in the same order, trailing newlines trimmed (its test compared
    /// them). So the text between two markers, trimmed the same way, is what that binary ran.
    static func migrateFiles() throws -> [(name: String, sql: String)] {
        let footer = "-- Appended to the extension's install script only (adworker migrate records its version itself)."
        var files: [(name: String, lines: [String])] = []
        for line in try script().split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line == footer { break }
            if let m = line.wholeMatch(of: #/-- ---- ([0-9]{3}_[a-z_]+\.sql) ----/#) {
                files.append((String(m.1), []))
            } else if !files.isEmpty {
                files[files.count - 1].lines.append(line)
            }
        }
        return files.map { file in
            var text = file.lines.joined(separator: "\n")
            while text.hasSuffix("\n") { text.removeLast() }
            return (file.name, text)
        }
    }

    /// Installs 0.1.0 as its `adworker migrate` did: every statement of its files on one connection in one
    /// transaction, then its record in ad_internal.schema_migrations.
    static func migrate(_ url: DatabaseURL) async throws {
        let files = try migrateFiles()
        try await Database.withConnection(url, logger: TestServer.logger) { conn in
            func run(_ statement: String) async throws {
                do {
                    for try await _ in try await conn.query(
                        PostgresQuery(unsafeSQL: statement), logger: TestServer.logger)
                    {}
                } catch {
                    throw SQLFailure(description: describe(error))
                }
            }
            try await run("BEGIN")
            for file in files {
                for statement in try SQLScript.statements(in: file.sql) { try await run(statement) }
            }
            try await run("INSERT INTO ad_internal.schema_migrations (version, installer) VALUES ('0.1.0', 'migrate')")
            try await run("COMMIT")
        }
    }

    static func createExtension(_ url: DatabaseURL) async throws {
        try await sql(url, "CREATE EXTENSION anomaly_detection VERSION '0.1.0'")
    }
}

/// Rows a 0.1.0 database holds after some use: a person, a source with scored and unscored points, an anomaly
/// judged a false positive, a rule, a channel with a secret, an alert acknowledged (so its deliveries, the
/// feedback and the audit trail have rows), and a retention setting. Written through 0.1.0's own triggers.
let usedDatabase = [
    "INSERT INTO ad.users (id, name, email, role, db_role) VALUES ('00000000-0000-0000-0000-0000000000e1', 'Op', 'op@example.com', 'operator', session_user)",
    #"INSERT INTO ad.data_sources (id, name, config) VALUES ('00000000-0000-0000-0000-00000000000a', 'src-a', '{"window": 60}')"#,
    #"""
    INSERT INTO ad.data_points (source_id, "timestamp", values)
    SELECT '00000000-0000-0000-0000-00000000000a', timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute',
           jsonb_build_object('x', g % 10)
      FROM generate_series(0, 199) g
    """#,
    #"UPDATE ad.data_points SET anomaly_score = 0.1, features = '{"x": 1}' WHERE "timestamp" < timestamptz '2026-01-01 01:40:00+00'"#,
    #"""
    INSERT INTO ad.anomalies (id, data_point_id, point_timestamp, source_id, metric, detector, severity, score, explanation)
    SELECT '00000000-0000-0000-0000-0000000000a1', id, "timestamp", source_id, 'x', 'robust_mad', 'high', 0.97,
           '{"actual": 9, "expected": 4.5}'
      FROM ad.data_points WHERE "timestamp" = timestamptz '2026-01-01 00:59:00+00'
    """#,
    "INSERT INTO ad.alert_rules (id, name) VALUES ('00000000-0000-0000-0000-0000000000b1', 'all')",
    "INSERT INTO ad.channels (id, name, type, target) VALUES ('00000000-0000-0000-0000-0000000000c1', 'hook', 'webhook', 'http://127.0.0.1:9/hook')",
    "SELECT ad.add_rule_channel('all', 'hook')",
    "SELECT ad.set_channel_secret('hook', 's3cret')",
    #"""
    INSERT INTO ad.alerts (id, rule_id, anomaly_id, anomaly_timestamp, source_id, metric, severity, title, message)
    VALUES ('00000000-0000-0000-0000-0000000000a2', '00000000-0000-0000-0000-0000000000b1',
            '00000000-0000-0000-0000-0000000000a1', timestamptz '2026-01-01 00:59:00+00',
            '00000000-0000-0000-0000-00000000000a', 'x', 'high', 'x is high', 'x was 9, expected 4.5')
    """#,
    "UPDATE ad.alerts SET status = 'acknowledged', notes = 'looking'",
    "UPDATE ad.anomalies SET status = 'false_positive', notes = 'deploy'",
    "SELECT ad.set_retention('10 years')",
]

/// Every row of every table of the ad and ad_internal schemas but the version records, one text per table
/// (count and an md5 of the sorted rows), so a changed, lost or added row shows.
func allRows(_ url: DatabaseURL) async throws -> [String] {
    let tables = try await strings(
        url,
        """
        SELECT c.oid::regclass::text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN ('ad', 'ad_internal') AND c.relkind IN ('r', 'p')
           AND c.oid <> 'ad_internal.schema_migrations'::regclass ORDER BY 1
        """)
    var out: [String] = []
    for t in tables {
        // What 0.2.0 added on purpose is left out, so every other difference shows: the built-in streaming scorer
        // registered as a model (its row, and it as the model of anomalies that had none), and the columns it added
        // to ad.ml_models (rows compared as JSON without them).
        let streaming = "'\(ModelRef.streamingID.uuidString.lowercased())'"
        var row = "to_jsonb(r)", filter = ""
        if t == "ad.anomalies" {
            row = "to_jsonb(r) || jsonb_build_object('model_id', NULLIF(r.model_id::text, \(streaming)))"
        } else if t == "ad.ml_models" {
            row =
                "to_jsonb(r) - 'progress' - 'started_at' - 'claimed_by' - 'lease_until' - 'attempts' - 'retrain_of' - 'mlflow'"
            filter = " WHERE r.id::text <> \(streaming)"
        }
        out += try await strings(
            url,
            "SELECT '\(t) ' || count(*) || ' ' || coalesce(md5(string_agg((\(row))::text, '|' ORDER BY (\(row))::text)), '') FROM \(t) r\(filter)"
        )
    }
    return out
}

/// `allRows` after an upgrade, without the tables the upgrade added while they are empty (a new table starts
/// empty; one the step filled is kept, so its rows show).
func rowsOfOldTables(_ url: DatabaseURL, before: [String]) async throws -> [String] {
    let old = Set(before.map { $0.split(separator: " ").first.map(String.init) ?? "" })
    return try await allRows(url).filter { line in
        let parts = line.split(separator: " ")
        return old.contains(parts.first.map(String.init) ?? "") || parts.count < 2 || parts[1] != "0"
    }
}

/// The catalog of the installed schema (InstallerIdentityTests' snapshot, TimescaleDB's view of it in that run),
/// without the rows of ad.settings, which a used database has and a fresh one has not, and without the foreign keys
/// TimescaleDB copies onto each chunk of a referenced hypertable (a used database has chunks, a fresh one none).
func schemaCatalog(_ url: DatabaseURL) async throws -> [String] {
    var lines = try await strings(url, catalogSnapshotQuery).filter {
        !$0.hasPrefix("row ") && !$0.contains("REFERENCES _timescaledb_internal._hyper_")
    }
    lines += try await strings(
        url, "SELECT format('storage row %s %s', key, value) FROM ad_internal.storage ORDER BY 1")
    if TestServer.timescale { lines += try await strings(url, timescaleSnapshotQuery) }
    return lines
}

/// The settings the used database's owner chose (retention), applied to a fresh install too: they are data, but on
/// TimescaleDB their effect is a policy job in the catalog.
func applyUsersSettings(_ url: DatabaseURL) async throws {
    for statement in usedDatabase where statement.contains("ad.set_retention") { try await sql(url, statement) }
}

/// What the extension owns, and which tables pg_dump keeps the rows of.
func extensionCatalog(_ url: DatabaseURL) async throws -> [String] {
    try await strings(
        url,
        """
        SELECT line FROM (
          SELECT 'member ' || pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid)
            FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
           WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e' AND e.extname = 'anomaly_detection'
          UNION ALL
          SELECT format('config %s %L', t.rel::regclass, t.cond)
            FROM pg_catalog.pg_extension e,
                 unnest(e.extconfig, e.extcondition) AS t(rel, cond)
           WHERE e.extname = 'anomaly_detection'
          UNION ALL
          SELECT 'version ' || extversion FROM pg_catalog.pg_extension WHERE extname = 'anomaly_detection'
        ) lines(line) ORDER BY line
        """)
}

/// `pg_dump --schema-only` of the two schemas, as text (only for adworker migrate: it omits extension members).
func schemaDump(_ url: DatabaseURL) throws -> String {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("ad-schema-\(UUID().uuidString).sql").path
    defer { try? FileManager.default.removeItem(atPath: file) }
    let dump = try runClientProgram(
        "pg_dump", ["--schema-only", "-n", "ad", "-n", "ad_internal", "-f", file, "-d", url.database],
        url: url)
    #expect(dump.status == 0, "pg_dump: \(dump.stderr)")
    return try String(contentsOfFile: file, encoding: .utf8)
}

/// Lines only in `a`, and only in `b`, for a readable failure.
func difference(_ a: [String], _ b: [String]) -> String {
    let onlyA = a.filter { !b.contains($0) }, onlyB = b.filter { !a.contains($0) }
    return
        "only after the upgrade:\n\(onlyA.joined(separator: "\n"))\nonly in a fresh install:\n\(onlyB.joined(separator: "\n"))"
}

/// The worker scores the upgraded database: the points 0.1.0 left unscored and new ones.
func workerScores(_ url: DatabaseURL) async throws {
    let w = try WorkerProcess(url, name: "upgraded", environment: ["AD_POLL_INTERVAL": "0.2"])
    try await sql(
        url,
        #"""
        INSERT INTO ad.data_points (source_id, "timestamp", values)
        SELECT '00000000-0000-0000-0000-00000000000a', timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute',
               jsonb_build_object('x', g % 10)
          FROM generate_series(200, 219) g
        """#)
    #expect(
        try await eventually(timeout: .seconds(60)) {
            try await integer(url, "SELECT count(*) FROM ad.data_points WHERE anomaly_score IS NULL") == 0
        }, "the worker did not score the upgraded database: \(w.output)")
    #expect(try await integer(url, "SELECT count(*) FROM ad.data_points") == 220)
    await w.stop()
}

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct UpgradeFromTheLastRelease {
    /// The replayed 0.1.0 migrate is 0.1.0: the same catalog as 0.1.0's extension, as 0.1.0's own
    /// InstallerIdentityTests required, and the files 0.1.0 had.
    @Test func theReplayedReleaseIsTheRelease() async throws {
        let files = try Release010.migrateFiles()
        #expect(files.count == 17 && files.first?.name == "000_schemas.sql" && files.last?.name == "130_roles.sql")
        #expect(files.allSatisfy { $0.sql.hasPrefix("SET LOCAL search_path") || $0.sql.hasPrefix("--") })
        try await withScratchDatabase { migrated in
            try await Release010.migrate(migrated)
            try await withScratchDatabase { extended in
                try await Release010.createExtension(extended)
                let a = try await schemaCatalog(migrated), b = try await schemaCatalog(extended)
                #expect(a.count > 300)
                #expect(a == b, "\(difference(a, b))")
            }
        }
    }

    @Test func alterExtensionUpdateEndsAsAFreshInstallWithItsRowsAndScores() async throws {
        try await withScratchDatabase { upgraded in
            try await Release010.createExtension(upgraded)
            for statement in usedDatabase { try await sql(upgraded, statement) }
            let rows = try await allRows(upgraded)
            try await sql(upgraded, "ALTER EXTENSION anomaly_detection UPDATE")

            #expect(
                try await strings(
                    upgraded,
                    "SELECT version || ' ' || installer FROM ad_internal.schema_migrations ORDER BY installed_at")
                    == ["0.1.0 extension", "\(Migrator.bundledVersionText) extension"])
            #expect(try await rowsOfOldTables(upgraded, before: rows) == rows, "the upgrade changed rows")
            #expect(
                try await strings(
                    upgraded,
                    "SELECT count(*) FILTER (WHERE model_id IS DISTINCT FROM '\(ModelRef.streamingID.uuidString.lowercased())')::text || ' of ' || count(*) FROM ad.anomalies"
                ) == ["0 of 1"], "0.1.0's anomalies now name the streaming scorer")
            try await withScratchDatabase { fresh in
                try await sql(fresh, "CREATE EXTENSION anomaly_detection")
                try await applyUsersSettings(fresh)
                let a = try await schemaCatalog(upgraded), b = try await schemaCatalog(fresh)
                #expect(a == b, "\(difference(a, b))")
                let ea = try await extensionCatalog(upgraded), eb = try await extensionCatalog(fresh)
                #expect(ea.count > 70)
                #expect(ea == eb, "\(difference(ea, eb))")
            }
            try await workerScores(upgraded)
        }
    }

    @Test func adworkerMigrateEndsAsAFreshInstallWithItsRowsAndScores() async throws {
        try await withScratchDatabase { upgraded in
            try await Release010.migrate(upgraded)
            for statement in usedDatabase { try await sql(upgraded, statement) }
            let rows = try await allRows(upgraded)
            #expect(
                try await migrate(upgraded) == .upgraded(from: SchemaVersion("0.1.0")!, to: Migrator.bundledVersion))
            #expect(try await migrate(upgraded) == .alreadyCurrent(Migrator.bundledVersion))

            #expect(
                try await strings(
                    upgraded,
                    "SELECT version || ' ' || installer FROM ad_internal.schema_migrations ORDER BY installed_at")
                    == ["0.1.0 migrate", "\(Migrator.bundledVersionText) migrate"])
            #expect(try await rowsOfOldTables(upgraded, before: rows) == rows, "the upgrade changed rows")
            #expect(
                try await strings(
                    upgraded,
                    "SELECT count(*) FILTER (WHERE model_id IS DISTINCT FROM '\(ModelRef.streamingID.uuidString.lowercased())')::text || ' of ' || count(*) FROM ad.anomalies"
                ) == ["0 of 1"], "0.1.0's anomalies now name the streaming scorer")
            try await withScratchDatabase { fresh in
                try await migrate(fresh)
                try await applyUsersSettings(fresh)
                let a = try await schemaCatalog(upgraded), b = try await schemaCatalog(fresh)
                #expect(a == b, "\(difference(a, b))")
                let da = try schemaDump(upgraded), db = try schemaDump(fresh)
                #expect(da.count > 10000)
                // pg_dump (15.14 and later) brackets its output with \restrict and \unrestrict and a random key.
                func lines(_ dump: String) -> [String] {
                    dump.split(separator: "\n").map(String.init).filter {
                        !$0.hasPrefix("\\restrict ") && !$0.hasPrefix("\\unrestrict ")
                    }
                }
                // Compared entry by entry ("-- Name: ..." and what follows), in sorted order: pg_dump orders entries by
                // their dependencies, and on TimescaleDB a used database's chunks move ad.data_points in that order.
                func entries(_ lines: [String]) -> [String] {
                    var out: [String] = [], current: [String] = []
                    for line in lines {
                        if line.hasPrefix("-- Name: "), !current.isEmpty {
                            out.append(current.joined(separator: "\n")); current = []
                        }
                        current.append(line)
                    }
                    if !current.isEmpty { out.append(current.joined(separator: "\n")) }
                    return out.sorted()
                }
                let la = entries(lines(da)), lb = entries(lines(db))
                #expect(la == lb, "pg_dump --schema-only differs: \(difference(la, lb))")
            }
            try await workerScores(upgraded)
        }
    }

    @Test(
        .enabled(
            if: !TestServer.timescale,
            "TimescaleDB run: an extension that creates hypertables cannot be restored (README, design notes)"))
    func anUpgradedExtensionDatabaseDumpsAndRestoresItsRows() async throws {
        try await withScratchDatabase { source in
            try await Release010.createExtension(source)
            // Not scored points, anomalies, alerts or status changes: restoring those fails the same way without an
            // upgrade (a scored point's COPY is refused by reject_point; an alert's COPY fires alert_changed, whose
            // audit_log row then collides with the dumped one). Sources, unscored points, people, a rule, a channel
            // and its secret, and a setting show that the update kept every table registered for pg_dump.
            let restorable = usedDatabase.filter {
                !$0.contains("anomaly_score") && !$0.contains("ad.anomalies") && !$0.contains("ad.alerts")
            }
            for statement in restorable {
                try await sql(source, statement)
            }
            try await sql(source, "ALTER EXTENSION anomaly_detection UPDATE")
            let rows = try await allRows(source)
            try await withDumpRestored(source) { (restored: DatabaseURL) async throws in
                #expect(try await allRows(restored) == rows)
            }
        }
    }

    @Test func theExtensionRefusesADowngradeOrAVersionWithoutAPath() async throws {
        try await withScratchDatabase { url in
            try await Release010.createExtension(url)
            try await sql(url, "ALTER EXTENSION anomaly_detection UPDATE")
            for target in ["0.1.0", "0.0.9", "9.9.9"] {
                let error = await #expect(throws: SQLFailure.self) {
                    try await sql(url, "ALTER EXTENSION anomaly_detection UPDATE TO '\(target)'")
                }
                #expect(
                    error?.description.contains(
                        #"has no update path from version "\#(Migrator.bundledVersionText)" to version "\#(target)""#)
                        == true,
                    "\(error?.description ?? "")")
            }
            #expect(
                try await strings(url, "SELECT extversion FROM pg_extension WHERE extname = 'anomaly_detection'")
                    == [Migrator.bundledVersionText])
        }
    }

    @Test func migrateRefusesAVersionItHasNoStepFromAndChangesNothing() async throws {
        try await withScratchDatabase { url in
            try await Release010.migrate(url)
            // A version this binary has no step from (a release it does not know, between 0.1.0 and its own).
            try await sql(
                url, "INSERT INTO ad_internal.schema_migrations (version, installer) VALUES ('0.1.5', 'migrate')")
            let before = try await schemaCatalog(url)
            let error = await #expect(throws: Migrator.Failure.self) { try await migrate(url) }
            #expect(error?.code == "no_upgrade_path")
            #expect(error?.message.contains("no upgrade path from 0.1.5 to \(Migrator.bundledVersionText)") == true)
            #expect(try await schemaCatalog(url) == before)
            #expect(
                try await strings(url, "SELECT version FROM ad_internal.schema_migrations ORDER BY installed_at") == [
                    "0.1.0", "0.1.5",
                ])
        }
    }

    @Test func migrateRefusesADowngrade() async throws {
        try await withScratchDatabase { url in
            try await migrate(url)
            try await sql(
                url, "INSERT INTO ad_internal.schema_migrations (version, installer) VALUES ('9.0.0', 'migrate')")
            let error = await #expect(throws: Migrator.Failure.self) { try await migrate(url) }
            #expect(error?.code == "newer_than_bundled")
            #expect(error?.message.contains("newer than this adworker's \(Migrator.bundledVersionText)") == true)
        }
    }
}
