import ADDBTestSupport
import ADPostgres
import Foundation
import Testing

@Suite(.tags(.database), .enabled(if: TestServer.available, "needs DATABASE_URL (scripts/test sets it)"))
struct TheWorkerGivesEachPointTheServersID {
    @Test func pointIdentityAgreesWithTheSQLFunctionOverTheWholeRangeOfTimes() async throws {
        try await withWorkerDatabase { url in
            // The ends of what the door accepts, the epochs, a time with microseconds, and random ones.
            let rows = try await strings(
                url,
                """
                WITH t(ts) AS (
                    VALUES (timestamptz '4714-11-24 00:00:00+00 BC'), (timestamptz '1970-01-01 00:00:00+00'),
                           (timestamptz '2000-01-01 00:00:00+00'), (timestamptz '1999-12-31 23:59:59.999999+00'),
                           (timestamptz '2026-12-06 10:00:00.123456+00'), (timestamptz '294276-12-31 23:59:59.999999+00')
                    UNION ALL
                    SELECT timestamptz '2000-01-01 00:00:00+00' + (random() * 290000 - 6000) * interval '1 year'
                           + random() * interval '1 second'
                      FROM generate_series(1, 200)
                )
                SELECT concat_ws(' ', s, (extract(epoch FROM (ts - timestamptz '2000-01-01 00:00:00+00')) * 1000000)::int8,
                                 ad_internal.point_id(s, ts))
                  FROM t CROSS JOIN (VALUES (gen_random_uuid()), ('00000000-0000-0000-0000-000000000000'::uuid)) u(s)
                """)
            #expect(rows.count == 412)
            for row in rows {
                let parts = row.split(separator: " ").map(String.init)
                let source = try #require(UUID(uuidString: parts[0])), micros = try #require(Int64(parts[1]))
                let server = try #require(UUID(uuidString: parts[2]))
                #expect(PointIdentity.id(source: source, micros: micros) == server, "\(row)")
            }
        }
    }
}
