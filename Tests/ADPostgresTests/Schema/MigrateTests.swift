import ADCore
import ADDBTestSupport
import ADPostgres
import PostgresNIO
import Testing

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct MigrateInstallsOnceAndRefusesWhatItMustNot {
    @Test func installsThenIsANoOp() async throws {
        try await withScratchDatabase { url in
            #expect(try await migrate(url) == .installed(Migrator.bundledVersion))
            let before = try await strings(
                url,
                "SELECT count(*)::text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE nspname IN ('ad', 'ad_internal')"
            )
            #expect(try await migrate(url) == .alreadyCurrent(Migrator.bundledVersion))
            let after = try await strings(
                url,
                "SELECT count(*)::text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE nspname IN ('ad', 'ad_internal')"
            )
            #expect(before == after)
            #expect(
                try await strings(url, "SELECT version || ' ' || installer FROM ad_internal.schema_migrations") == [
                    "\(Migrator.bundledVersion) migrate"
                ])
        }
    }

    @Test func refusesADatabaseWithTheExtension() async throws {
        try await withScratchDatabase("CREATE EXTENSION anomaly_detection") { url in
            let error = await #expect(throws: Migrator.Failure.self) { try await migrate(url) }
            #expect(error?.code == "extension_installed")
            #expect(error?.message.contains("ALTER EXTENSION anomaly_detection UPDATE") == true)
        }
    }

    @Test func refusesANewerSchemaAndChangesNothing() async throws {
        try await withScratchDatabase { url in
            try await migrate(url)
            try await sql(
                url, "INSERT INTO ad_internal.schema_migrations (version, installer) VALUES ('99.0.0', 'migrate')")
            let error = await #expect(throws: Migrator.Failure.self) { try await migrate(url) }
            #expect(error?.code == "newer_than_bundled")
            #expect(try await strings(url, "SELECT count(*)::text FROM ad_internal.schema_migrations") == ["2"])
        }
    }

    @Test func refusesAForeignAdSchema() async throws {
        try await withScratchDatabase("CREATE SCHEMA ad") { url in
            let error = await #expect(throws: Migrator.Failure.self) { try await migrate(url) }
            #expect(error?.code == "foreign_schema")
        }
    }

    @Test func twoConcurrentRunsInstallOnce() async throws {
        try await withScratchDatabase { url in
            async let a = migrate(url)
            async let b = migrate(url)
            let outcomes = try await [a, b]
            #expect(outcomes.contains(.installed(Migrator.bundledVersion)))
            #expect(outcomes.contains(.alreadyCurrent(Migrator.bundledVersion)))
        }
    }

    @Test func aFailedInstallLeavesNothingBehind() async throws {
        // A table in the way makes the install fail part-way; the transaction must take everything back.
        try await withScratchDatabase("CREATE SCHEMA ad_internal") { url in
            let error = await #expect(throws: Migrator.Failure.self) { try await migrate(url) }
            #expect(error?.code == "sql_error")
            let adSchemas = try await strings(
                url, "SELECT count(*)::text FROM pg_catalog.pg_namespace WHERE nspname = 'ad'")
            #expect(adSchemas == ["0"])
        }
    }
}
