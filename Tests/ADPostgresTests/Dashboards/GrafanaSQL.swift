import Foundation

// What Grafana does to a PostgreSQL panel's rawSql before the server sees it, in Grafana's order, so a test can run the
// very statement Grafana would. Written by hand because no package does it (Grafana's code is Go and TypeScript):
//
// 1. the browser's template service (public/app/features/templating/template_srv.ts) replaces dashboard variables
//    ($var, ${var}, ${var:format}, [[var]]) and $__interval / $__interval_ms, formatting values with the SQL data
//    source's interpolateVariable (public/app/features/plugins/sql/datasource/SqlDatasource.ts: a single value has
//    its quotes doubled; a multi-value or include-All variable quotes each value and joins them with commas; a custom
//    All value is inserted as it is);
// 2. the backend's global substitutions (pkg/tsdb/grafana-postgresql-datasource/sqleng/sql_engine.go, Interpolate):
//    $__interval_ms, $__interval, $__unixEpochFrom(), $__unixEpochTo();
// 3. the PostgreSQL macro engine (pkg/tsdb/grafana-postgresql-datasource/macros.go): every `$name(args)` is a macro
//    and an unknown one is an error; $__timeFilter(col) is `col BETWEEN 'from' AND 'to'` in RFC 3339 (UTC, fraction
//    trimmed); $__timeGroup(col, interval) is `floor(extract(epoch from col)/S)*S` (time_bucket('S.000s', col) when
//    the data source says timescaledb); $__timeGroupAlias adds ` AS "time"`; $__timeGroup followed by a comma is the
//    pre-5.3 form and gets the alias too.
//
// Checked against the expected strings of Grafana's own tests (macros_test.go) in GrafanaSQLTests.

/// A dashboard variable as the panel sees it: its options (from its query, or its custom list) and what is selected.
struct GrafanaVariable: Sendable {
    var name: String
    var options: [String]
    var multi: Bool
    var includeAll: Bool
    /// Grafana's "custom all value": inserted as written (no quoting) when All is selected.
    var allValue: String?
    /// nil: All.
    var selected: [String]?
}

struct GrafanaQueryContext: Sendable {
    var from: Date
    var to: Date
    /// The panel's interval ($__interval), seconds.
    var intervalSeconds: Double
    var variables: [String: GrafanaVariable]
    /// The data source's jsonData.timescaledb.
    var timescaledb = false
}

struct GrafanaSQLError: Error, CustomStringConvertible {
    let description: String
}

enum GrafanaSQL {
    /// The statement Grafana would send for `rawSql`.
    static func expand(_ rawSql: String, _ context: GrafanaQueryContext) throws -> String {
        let templated = try replaceVariables(rawSql, context)
        let global = replaceGlobals(templated, context)
        return try replaceMacros(global, context)
    }

    // MARK: 1. template service

    /// template_srv.ts's variable regex: $var, [[var:fmt]], ${var.field:fmt}.
    private static let variablePattern = try! NSRegularExpression(
        pattern: #"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}"#)

    static func replaceVariables(_ sql: String, _ context: GrafanaQueryContext) throws -> String {
        var failure: GrafanaSQLError?
        let out = replace(variablePattern, in: sql) { groups in
            let name = groups[1] ?? groups[2] ?? groups[4] ?? ""
            let format = groups[3] ?? groups[6]
            switch name {
            // Built-ins the browser passes as scoped variables; $__interval_ms first (\w+ takes the whole name).
            case "__interval": return formatInterval(context.intervalSeconds)
            case "__interval_ms": return String(Int((context.intervalSeconds * 1000).rounded()))
            case "__from": return String(Int((context.from.timeIntervalSince1970 * 1000).rounded(.down)))
            case "__to": return String(Int((context.to.timeIntervalSince1970 * 1000).rounded(.down)))
            default: break
            }
            // An unknown name (a macro such as $__timeFilter, or a typo) stays as it is, as Grafana leaves it.
            guard let variable = context.variables[name] else { return groups[0]! }
            do {
                return try value(variable, format: format, context)
            } catch {
                failure = error as? GrafanaSQLError ?? GrafanaSQLError(description: "\(error)")
                return groups[0]!
            }
        }
        if let failure { throw failure }
        return out
    }

    private static func value(_ v: GrafanaVariable, format: String?, _ context: GrafanaQueryContext) throws -> String {
        let values: [String]
        if let selected = v.selected {
            values = selected
        } else {
            // All: a custom all value goes in unformatted (and is itself interpolated), whatever the format but text
            // and percentencode (which this expander refuses below).
            if let all = v.allValue, format != "text", format != "percentencode" {
                return try replaceVariables(all, context)
            }
            values = v.options
        }
        let isArray = v.multi || v.includeAll || values.count != 1
        switch format {
        case nil:
            // SqlDatasource.interpolateVariable.
            if !isArray, let only = values.first {
                return only.replacingOccurrences(of: "'", with: "''")
            }
            return values.map(quoteLiteral).joined(separator: ",")
        case "csv", "raw": return values.joined(separator: ",")
        case "sqlstring": return values.map(quoteLiteral).joined(separator: ",")
        case "singlequote":
            return values.map { "'" + $0.replacingOccurrences(of: "'", with: "\\'") + "'" }.joined(separator: ",")
        case "doublequote":
            return values.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\\\"") + "\"" }.joined(separator: ",")
        case "pipe": return values.joined(separator: "|")
        default:
            throw GrafanaSQLError(description: "variable \(v.name): format \(format!) is not one this test expands")
        }
    }

    /// The PostgreSQL query model's quoteLiteral.
    static func quoteLiteral(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }

    // MARK: 2. backend globals

    static func replaceGlobals(_ sql: String, _ context: GrafanaQueryContext) -> String {
        sql.replacingOccurrences(of: "$__interval_ms", with: String(Int((context.intervalSeconds * 1000).rounded())))
            .replacingOccurrences(of: "$__interval", with: formatInterval(context.intervalSeconds))
            .replacingOccurrences(of: "$__unixEpochFrom()", with: String(Int(context.from.timeIntervalSince1970)))
            .replacingOccurrences(of: "$__unixEpochTo()", with: String(Int(context.to.timeIntervalSince1970)))
    }

    // MARK: 3. macro engine

    private static let macroPattern = try! NSRegularExpression(pattern: #"\$([_a-zA-Z0-9]+)\(([^\)]*)\)"#)

    static func replaceMacros(_ sql: String, _ context: GrafanaQueryContext) throws -> String {
        var failure: GrafanaSQLError?
        let out = replace(macroPattern, in: sql) { groups in
            var name = groups[1]!
            if name == "__timeGroup", let range = sql.range(of: groups[0]!), sql[range.upperBound...].first == "," {
                name = "__timeGroupAlias"
            }
            let args = groups[2]!.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .init(charactersIn: " ")) }
            do {
                return try macro(name, args, context)
            } catch {
                if failure == nil { failure = error as? GrafanaSQLError }
                return "macro_error()"
            }
        }
        if let failure { throw failure }
        return out
    }

    private static func macro(_ name: String, _ args: [String], _ c: GrafanaQueryContext) throws -> String {
        func column() throws -> String {
            guard let first = args.first, !first.isEmpty else {
                throw GrafanaSQLError(description: "missing time column argument for macro \(name)")
            }
            return first
        }
        func interval() throws -> Double {
            guard args.count >= 2, let s = parseInterval(args[1].trimmingCharacters(in: .init(charactersIn: "'")))
            else {
                throw GrafanaSQLError(
                    description: "macro \(name) needs time column and interval and optional fill value")
            }
            return s
        }
        switch name {
        case "__time": return "\(try column()) AS \"time\""
        case "__timeEpoch": return "extract(epoch from \(try column())) as \"time\""
        case "__timeFilter": return "\(try column()) BETWEEN '\(rfc3339(c.from))' AND '\(rfc3339(c.to))'"
        case "__timeFrom": return "'\(rfc3339(c.from))'"
        case "__timeTo": return "'\(rfc3339(c.to))'"
        case "__timeGroup":
            let s = try interval()
            if c.timescaledb { return "time_bucket('\(String(format: "%.3f", s))s',\(try column()))" }
            return "floor(extract(epoch from \(try column()))/\(goFloat(s)))*\(goFloat(s))"
        case "__timeGroupAlias": return try macro("__timeGroup", args, c) + " AS \"time\""
        case "__unixEpochFilter":
            let col = try column()
            return "\(col) >= \(Int(c.from.timeIntervalSince1970)) AND \(col) <= \(Int(c.to.timeIntervalSince1970))"
        case "__unixEpochGroup":
            let s = try interval()
            return "floor((\(try column()))/\(goFloat(s)))*\(goFloat(s))"
        case "__unixEpochGroupAlias": return try macro("__unixEpochGroup", args, c) + " AS \"time\""
        default: throw GrafanaSQLError(description: "unknown macro \"\(name)\"")
        }
    }

    // MARK: Go's formats

    /// time.RFC3339Nano in UTC: fraction without trailing zeros, "Z".
    static func rfc3339(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        let nanos = Int(((date.timeIntervalSince1970 - seconds) * 1e9).rounded())
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let d = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: seconds))
        var text = String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d", d.year!, d.month!, d.day!, d.hour!, d.minute!, d.second!)
        if nanos > 0 {
            var fraction = String(format: "%09d", nanos)
            while fraction.hasSuffix("0") { fraction.removeLast() }
            text += "." + fraction
        }
        return text + "Z"
    }

    /// Go's %v of a float64 (shortest representation; whole numbers without a point).
    static func goFloat(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e21 ? String(Int64(x)) : "\(x)"
    }

    /// gtime.FormatInterval.
    static func formatInterval(_ seconds: Double) -> String {
        let ms = Int64((seconds * 1000).rounded())
        let units: [(Int64, String)] = [
            (365 * 86_400_000, "y"), (86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s"), (1, "ms"),
        ]
        for (size, unit) in units where ms >= size { return "\(ms / size)\(unit)" }
        return "1ms"
    }

    /// gtime.ParseInterval for the forms a dashboard uses: a number and one of ms, s, m, h, d, w, y.
    static func parseInterval(_ text: String) -> Double? {
        let units: [(String, Double)] = [
            ("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 604_800), ("y", 31_536_000),
        ]
        for (unit, size) in units where text.hasSuffix(unit) {
            if let n = Double(text.dropLast(unit.count)), n > 0 { return n * size }
        }
        return nil
    }

    // MARK: helpers

    /// Replaces every match of `pattern` in `text` by `body`'s answer for its groups (nil: a group that did not take
    /// part), scanning once like Go's ReplaceAllStringSubmatchFunc and JavaScript's String.replace.
    private static func replace(
        _ pattern: NSRegularExpression, in text: String, _ body: ([String?]) -> String
    ) -> String {
        let ns = text as NSString
        var out = ""
        var last = 0
        for m in pattern.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
            out += ns.substring(with: NSRange(location: last, length: m.range.location - last))
            let groups = (0..<m.numberOfRanges).map { i -> String? in
                let r = m.range(at: i)
                return r.location == NSNotFound ? nil : ns.substring(with: r)
            }
            out += body(groups)
            last = m.range.location + m.range.length
        }
        return out + ns.substring(from: last)
    }
}
