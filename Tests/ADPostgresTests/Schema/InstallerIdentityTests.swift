import ADCore
import ADDBTestSupport
import ADPostgres
import Testing

/// Every object either installer creates, as sorted text lines: definitions, defaults, constraints, indexes,
/// triggers, function bodies, views, comments and privileges of the ad and ad_internal schemas, plus
/// TimescaleDB's view of them when it is installed. pg_dump cannot compare these: it omits extension members.
let catalogSnapshotQuery = """
    WITH ns AS (SELECT oid, nspname FROM pg_catalog.pg_namespace WHERE nspname IN ('ad', 'ad_internal')),
    rel AS (SELECT c.*, n.nspname FROM pg_catalog.pg_class c JOIN ns n ON n.oid = c.relnamespace)
    SELECT line FROM (
      SELECT format('schema %s acl=%s comment=%s', nspname, n.nspacl, obj_description(n.oid, 'pg_namespace'))
        FROM pg_catalog.pg_namespace n WHERE nspname IN ('ad', 'ad_internal')
      UNION ALL
      SELECT format('relation %s.%s kind=%s options=%s acl=%s comment=%s', nspname, relname, relkind, reloptions, relacl,
                    obj_description(oid, 'pg_class')) FROM rel
      UNION ALL
      SELECT format('column %s.%s.%s %s notnull=%s default=%s identity=%s acl=%s comment=%s', r.nspname, r.relname, a.attname,
                    format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity,
                    a.attacl, col_description(r.oid, a.attnum))
        FROM rel r JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid
        LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       WHERE a.attnum > 0 AND NOT a.attisdropped
      UNION ALL
      SELECT format('constraint %s.%s %s %s', r.nspname, r.relname, co.conname, pg_get_constraintdef(co.oid))
        FROM rel r JOIN pg_catalog.pg_constraint co ON co.conrelid = r.oid
      UNION ALL
      SELECT format('index %s comment=%s', pg_get_indexdef(i.indexrelid), obj_description(i.indexrelid, 'pg_class'))
        FROM rel r JOIN pg_catalog.pg_index i ON i.indrelid = r.oid
      UNION ALL
      SELECT format('trigger %s enabled=%s comment=%s', pg_get_triggerdef(t.oid), t.tgenabled, obj_description(t.oid, 'pg_trigger'))
        FROM rel r JOIN pg_catalog.pg_trigger t ON t.tgrelid = r.oid WHERE NOT t.tgisinternal
      UNION ALL
      SELECT format('view %s.%s %s', nspname, relname, pg_get_viewdef(oid)) FROM rel WHERE relkind IN ('v', 'm')
      UNION ALL
      SELECT format('function %s acl=%s comment=%s', pg_get_functiondef(p.oid), p.proacl, obj_description(p.oid, 'pg_proc'))
        FROM pg_catalog.pg_proc p JOIN ns n ON n.oid = p.pronamespace
      UNION ALL
      SELECT format('row %s %s', key, value) FROM ad_internal.storage
      UNION ALL
      SELECT format('row %s %s', key, value) FROM ad.settings
    ) lines(line) ORDER BY line
    """

let timescaleSnapshotQuery = """
    SELECT line FROM (
      SELECT format('hypertable %s.%s dims=%s compression=%s', hypertable_schema, hypertable_name, num_dimensions, compression_enabled)
        FROM timescaledb_information.hypertables
      UNION ALL
      SELECT format('dimension %s.%s %s %s', hypertable_schema, hypertable_name, column_name, time_interval)
        FROM timescaledb_information.dimensions
      UNION ALL
      SELECT format('compression %s.%s %s segmentby=%s orderby=%s desc=%s', hypertable_schema, hypertable_name, attname,
                    segmentby_column_index, orderby_column_index, NOT orderby_asc)
        FROM timescaledb_information.compression_settings
      UNION ALL
      SELECT format('job %s %s.%s every %s config=%s', proc_name, hypertable_schema, hypertable_name, schedule_interval,
                    config - 'hypertable_id' - 'mat_hypertable_id')
        FROM timescaledb_information.jobs WHERE hypertable_schema IS NOT NULL
      UNION ALL
      SELECT format('cagg %s.%s materialized_only=%s %s', view_schema, view_name, materialized_only, view_definition)
        FROM timescaledb_information.continuous_aggregates
    ) lines(line) ORDER BY line
    """

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct TwoInstallersOneResult {
    func snapshot(_ url: DatabaseURL, timescale: Bool) async throws -> [String] {
        var lines = try await strings(url, catalogSnapshotQuery)
        if timescale { lines += try await strings(url, timescaleSnapshotQuery) }
        return lines
    }

    func compare(timescale: Bool) async throws {
        try await withScratchDatabase(timescale: timescale) { migrated in
            try await migrate(migrated)
            try await withScratchDatabase(timescale: timescale) { extended in
                try await sql(extended, "CREATE EXTENSION anomaly_detection")
                let a = try await snapshot(migrated, timescale: timescale)
                let b = try await snapshot(extended, timescale: timescale)
                #expect(a.count > 300, "the snapshot should see the whole schema")
                let onlyMigrate = a.filter { !b.contains($0) }
                let onlyExtension = b.filter { !a.contains($0) }
                #expect(onlyMigrate.isEmpty, "only after adworker migrate:\n\(onlyMigrate.joined(separator: "\n"))")
                #expect(onlyExtension.isEmpty, "only after CREATE EXTENSION:\n\(onlyExtension.joined(separator: "\n"))")
            }
        }
    }

    @Test func plainPostgreSQL() async throws {
        try await compare(timescale: false)
    }

    @Test(
        .enabled(
            if: TestServer.timescale, "not the TimescaleDB run (scripts/test runs it when TimescaleDB is installed)"))
    func withTimescaleDB() async throws {
        try await compare(timescale: true)
    }
}
