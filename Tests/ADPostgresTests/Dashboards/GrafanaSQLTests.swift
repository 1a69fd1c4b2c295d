import Foundation
import Testing

/// The expansion the panel test relies on, against the expected strings of Grafana's own tests
/// (pkg/tsdb/grafana-postgresql-datasource/macros_test.go) and its SQL data source's variable formatting.
@Suite struct GrafanaSQLExpansion {
    // macros_test.go: 2018-04-12 18:00 to 18:05 UTC.
    let from = Date(timeIntervalSince1970: 1_523_556_000)
    var context: GrafanaQueryContext {
        GrafanaQueryContext(
            from: from, to: from.addingTimeInterval(300), intervalSeconds: 600,
            variables: [
                "source": GrafanaVariable(
                    name: "source", options: ["web-1", "o'brien"], multi: true, includeAll: true, allValue: nil,
                    selected: nil),
                "one": GrafanaVariable(
                    name: "one", options: ["a", "it's"], multi: false, includeAll: false, allValue: nil,
                    selected: ["it's"]),
                "picked": GrafanaVariable(
                    name: "picked", options: ["a", "b"], multi: true, includeAll: true, allValue: "source_name",
                    selected: ["b"]),
                "everything": GrafanaVariable(
                    name: "everything", options: [], multi: true, includeAll: true, allValue: "source_name",
                    selected: nil),
            ])
    }

    @Test func macrosExpandAsGrafanasTestsExpect() throws {
        let c = context
        #expect(try GrafanaSQL.expand("select $__time(time_column)", c) == #"select time_column AS "time""#)
        #expect(
            try GrafanaSQL.expand("WHERE $__timeFilter(time_column)", c)
                == "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'")
        #expect(try GrafanaSQL.expand("select $__timeFrom()", c) == "select '2018-04-12T18:00:00Z'")
        #expect(try GrafanaSQL.expand("select $__timeTo()", c) == "select '2018-04-12T18:05:00Z'")
        #expect(
            try GrafanaSQL.expand("SELECT $__timeGroup(time_column,'5m'), value", c)
                == #"SELECT floor(extract(epoch from time_column)/300)*300 AS "time", value"#)
        #expect(
            try GrafanaSQL.expand("SELECT $__timeGroup(time_column,'5m') as time, value", c)
                == "SELECT floor(extract(epoch from time_column)/300)*300 as time, value")
        #expect(
            try GrafanaSQL.expand("$__timeGroupAlias(time_column , '5m')", c)
                == #"floor(extract(epoch from time_column)/300)*300 AS "time""#)
        var ts = c
        ts.timescaledb = true
        #expect(
            try GrafanaSQL.expand("GROUP BY $__timeGroup(time_column , '12d')", ts)
                == "GROUP BY time_bucket('1036800.000s',time_column)")
        #expect(
            try GrafanaSQL.expand("GROUP BY $__timeGroup(time_column , '20ms')", ts)
                == "GROUP BY time_bucket('0.020s',time_column)")
        #expect(
            try GrafanaSQL.expand("select $__unixEpochFilter(time)", c)
                == "select time >= 1523556000 AND time <= 1523556300")
        #expect(
            try GrafanaSQL.expand("SELECT $__unixEpochGroupAlias(time_column+time_adjustment,'5m')", c)
                == #"SELECT floor((time_column+time_adjustment)/300)*300 AS "time""#)
        // sql_engine.go's globals, and the interval as the browser formats it.
        #expect(try GrafanaSQL.expand("SELECT $__interval, $__interval_ms", c) == "SELECT 10m, 600000")
        #expect(
            try GrafanaSQL.expand("$__timeGroupAlias(t, $__interval)", c).hasPrefix("floor(extract(epoch from t)/600)"))
        #expect(GrafanaSQL.rfc3339(Date(timeIntervalSince1970: -312_915_599.5)) == "1960-02-01T07:00:00.5Z")
    }

    @Test func anUnknownMacroIsAnErrorAsInGrafana() {
        #expect(throws: GrafanaSQLError.self) { try GrafanaSQL.expand("SELECT $__nope(x)", context) }
        #expect(throws: GrafanaSQLError.self) { try GrafanaSQL.expand("SELECT $__timeFilter()", context) }
    }

    @Test func variablesAreQuotedAsTheSQLDataSourceQuotesThem() throws {
        let c = context
        // Multi-value / include-All: each value quoted, quotes doubled, joined by commas; All is every option.
        #expect(try GrafanaSQL.expand("x IN ($source)", c) == "x IN ('web-1','o''brien')")
        #expect(try GrafanaSQL.expand("x IN (${source})", c) == "x IN ('web-1','o''brien')")
        #expect(try GrafanaSQL.expand("x IN ([[source]])", c) == "x IN ('web-1','o''brien')")
        // A single-value variable: quotes doubled, no quotes added.
        #expect(try GrafanaSQL.expand("x = '$one'", c) == "x = 'it''s'")
        // Explicit formats.
        #expect(try GrafanaSQL.expand("${source:csv}", c) == "web-1,o'brien")
        #expect(try GrafanaSQL.expand("${source:sqlstring}", c) == "'web-1','o''brien'")
        #expect(try GrafanaSQL.expand("${source:singlequote}", c) == #"'web-1','o\'brien'"#)
        // A custom All value goes in as written; a selection is quoted.
        #expect(try GrafanaSQL.expand("source_name IN ($everything)", c) == "source_name IN (source_name)")
        #expect(try GrafanaSQL.expand("${everything:csv}", c) == "source_name")
        #expect(try GrafanaSQL.expand("source_name IN ($picked)", c) == "source_name IN ('b')")
        // Names that are not variables stay (Grafana leaves them for the macro engine or the server).
        #expect(try GrafanaSQL.replaceVariables("$__timeFilter(t) AND $nothing", c) == "$__timeFilter(t) AND $nothing")
    }
}
