import ADPostgres
import Foundation

/// Escaping for the text `ConsoleChart` writes into its SVG (the templates escape their own).
enum ConsoleHTML {
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}

/// How the console writes times, numbers and paths.
enum ConsoleFormat {
    /// "2026-01-01 00:40:00" (UTC), or without seconds.
    static func time(_ date: Date, seconds: Bool = true) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let day = String(format: "%04d-%02d-%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0)
        let clock =
            seconds
            ? String(format: "%02d:%02d:%02d", c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
            : String(format: "%02d:%02d", c.hour ?? 0, c.minute ?? 0)
        return day + " " + clock
    }

    /// A database time (RFC 3339 text) as `time(_:)` writes it; other text as it is.
    static func time(_ text: String?) -> String {
        guard let text else { return "" }
        guard let date = APIRoutes.parseTime(text) else { return text }
        return time(date)
    }

    /// RFC 3339 with fractional seconds, UTC: what the feed's cursor and the window field carry.
    static func rfc3339(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: date)
    }

    static func number(_ v: Double?) -> String {
        guard let v else { return "" }
        return ConsoleChart.number(v)
    }

    static func score(_ v: Double?) -> String {
        guard let v else { return "" }
        return String(format: "%.3f", v)
    }

    /// A path segment, percent-encoded (a source name may hold any character).
    static func segment(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    static func sourceHref(_ name: String) -> String { "/console/sources/" + segment(name) }

    /// A status as the button that moves to it says it.
    static func verb(_ status: String) -> String {
        switch status {
        case "acknowledged": return "Acknowledge"
        case "resolved": return "Resolve"
        case "confirmed": return "Confirm"
        case "false_positive": return "False positive"
        default: return status.replacingOccurrences(of: "_", with: " ").capitalized
        }
    }
}

/// Rows of the database's JSON as the templates want them. The keys are the views' columns; nothing here decides
/// anything, it only formats.
enum ConsoleViews {
    struct AnomalyRow: Decodable {
        struct Why: Decodable { var reason: String? }
        var anomaly_id: UUID
        var point_timestamp: String
        var detected_at: String
        var source_name: String
        var metric: String
        var severity: String
        var score: Double
        var status: String
        var actual: Double?
        var expected: Double?
        var explanation: Why?
        var notes: String?
    }

    struct AlertRow: Decodable {
        struct Alert: Decodable {
            var alert_id: UUID
            var status: String
            var severity: String
            var title: String
            var rule_name: String
            var source_name: String
            var metric: String?
            var occurrences: Int
            var created_at: String
            var acknowledged_by: String?
            var resolved_by: String?
            var notes: String?
            var anomaly_id: UUID?
        }
        var alert: Alert
        var anomaly_status: String?
        var anomaly_score: Double?
        var alert_next: [String]
        var anomaly_next: [String]
    }

    struct SourceRow: Decodable {
        var source_id: UUID
        var source_name: String
        var type: String?
        var status: String?
        var last_point_at: String?
        var anomalies_24h: Int
        var open_alerts: Int
    }

    struct PatternRow: Decodable {
        var source_name: String
        var metric: String
        var measure: String
        var direction: String
        var tolerated_up_to: Double?
        var kept_under: Double?
        var effective_tolerance: Double?
        var always_alert_from: Double?
        var adjustments: Int
        var last_adjusted_at: String?
    }

    struct AdjustmentRow: Decodable {
        var id: Int64
        var created_at: String
        var source_name: String
        var metric: String
        var kind: String
        var measure: String
        var direction: String
        var deviation: Double
        var reason: String
        var undone_at: String?
        var undone_by_name: String?
        var undo_reason: String?
        var expires_at: String?
        var standing: Bool
    }

    static func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(json.utf8))
    }

    static func anomaly(_ json: String) throws -> [String: Any] {
        let a = try decode(AnomalyRow.self, json)
        return [
            "id": a.anomaly_id.uuidString.lowercased(), "detected": ConsoleFormat.time(a.detected_at),
            "time": ConsoleFormat.time(a.point_timestamp), "source": a.source_name,
            "sourceHref": ConsoleFormat.sourceHref(a.source_name), "metric": a.metric, "severity": a.severity,
            "score": ConsoleFormat.score(a.score), "status": a.status, "actual": ConsoleFormat.number(a.actual),
            "expected": ConsoleFormat.number(a.expected), "reason": a.explanation?.reason ?? "",
        ]
    }

    static func alert(_ json: String, returnTo: String) throws -> [String: Any] {
        let row = try decode(AlertRow.self, json)
        let a = row.alert
        var out: [String: Any] = [
            "id": a.alert_id.uuidString.lowercased(), "status": a.status, "severity": a.severity, "title": a.title,
            "rule": a.rule_name, "source": a.source_name, "sourceHref": ConsoleFormat.sourceHref(a.source_name),
            "metric": a.metric ?? "", "occurrences": a.occurrences, "created": ConsoleFormat.time(a.created_at),
            "notes": a.notes ?? "", "returnTo": returnTo,
            "alertNext": row.alert_next.map { ["value": $0, "label": ConsoleFormat.verb($0)] },
            "anomalyNext": row.anomaly_next.map { ["value": $0, "label": ConsoleFormat.verb($0)] },
        ]
        if let by = a.acknowledged_by { out["acknowledgedBy"] = by }
        if let by = a.resolved_by { out["resolvedBy"] = by }
        if let id = a.anomaly_id {
            out["anomalyID"] = id.uuidString.lowercased()
            out["anomalyStatus"] = row.anomaly_status ?? "gone"
            if let s = row.anomaly_score { out["anomalyScore"] = ConsoleFormat.score(s) }
        }
        return out
    }

    static func source(_ json: String) throws -> [String: Any] {
        let s = try decode(SourceRow.self, json)
        return [
            "name": s.source_name, "href": ConsoleFormat.sourceHref(s.source_name), "type": s.type ?? "",
            "status": s.status ?? "", "last": ConsoleFormat.time(s.last_point_at), "anomalies": s.anomalies_24h,
            "alerts": s.open_alerts,
        ]
    }

    static func pattern(_ json: String) throws -> [String: Any] {
        let p = try decode(PatternRow.self, json)
        return [
            "source": p.source_name, "metric": p.metric, "measure": p.measure, "direction": p.direction,
            "tolerated": ConsoleFormat.number(p.tolerated_up_to), "kept": ConsoleFormat.number(p.kept_under),
            "effective": ConsoleFormat.number(p.effective_tolerance),
            "alwaysFrom": ConsoleFormat.number(p.always_alert_from), "adjustments": p.adjustments,
            "last": ConsoleFormat.time(p.last_adjusted_at),
        ]
    }

    static func adjustment(_ json: String) throws -> [String: Any] {
        let a = try decode(AdjustmentRow.self, json)
        let state: String
        if let at = a.undone_at {
            state =
                "undone \(ConsoleFormat.time(at))" + (a.undone_by_name.map { " by \($0)" } ?? "")
                + (a.undo_reason.map { ": \($0)" } ?? "")
        } else if a.standing {
            state = "in force" + (a.expires_at.map { " until \(ConsoleFormat.time($0))" } ?? "")
        } else {
            state = "expired"
        }
        return [
            "id": a.id, "made": ConsoleFormat.time(a.created_at), "source": a.source_name, "metric": a.metric,
            "kind": a.kind, "measure": a.measure, "direction": a.direction,
            "deviation": ConsoleFormat.number(a.deviation), "reason": a.reason, "state": state, "standing": a.standing,
        ]
    }

    /// An audit row (APIStore.alertAudit's JSON); its old and new values as compact JSON text.
    static func audit(_ json: String) throws -> [String: Any] {
        guard let a = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return [:] }
        func text(_ key: String) -> String {
            guard let v = a[key], !(v is NSNull),
                let data = try? JSONSerialization.data(
                    withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes])
            else { return "" }
            return String(decoding: data, as: UTF8.self)
        }
        return [
            "id": text("id"), "when": ConsoleFormat.time(a["occurred_at"] as? String),
            "person": a["person"] as? String ?? "", "role": a["db_role"] as? String ?? "",
            "action": a["action"] as? String ?? "", "old": text("old_value"), "new": text("new_value"),
        ]
    }
}
