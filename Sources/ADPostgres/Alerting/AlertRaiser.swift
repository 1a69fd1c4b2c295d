import ADCore
import Foundation
import Logging
import PostgresNIO

/// An anomaly the scoring transaction just wrote, for rule matching.
public struct NewAnomaly: Sendable {
    public init(anomalyID: UUID, facts: AnomalyFacts, explanation: Explanation, pointMicros: Int64? = nil) {
        self.anomalyID = anomalyID; self.facts = facts; self.explanation = explanation
        self.pointMicros = pointMicros
    }
    public var anomalyID: UUID
    public var facts: AnomalyFacts
    public var explanation: Explanation
    /// The point's time exactly, as the scoring cycle carries it (µs since 2000, `ScoringQueries.micros`); without
    /// it, `facts.time`, a double, which is exact to the microsecond only within a few centuries of 2000.
    public var pointMicros: Int64?
}

/// Matches a batch's anomalies against the enabled rules (in Swift) and opens or groups alerts (in SQL, keyed by
/// the open-group unique index), inside the scoring transaction: an anomaly and its alert commit together.
public struct AlertRaiser: Sendable {
    public var logger: Logger

    public init(logger: Logger) { self.logger = logger }

    static let rulesQuery = "SELECT id, name, conditions::text FROM ad.alert_rules WHERE enabled ORDER BY name"

    static let historyQuery = """
        SELECT point_timestamp, severity, score, detector, model_id
          FROM ad.anomalies
         WHERE source_id = $1 AND metric = $2 AND point_timestamp > $3 AND point_timestamp <= $4
        """

    static let raiseQuery = """
        SELECT alert_id, opened
          FROM ad_internal.raise_alerts(
                   $1::uuid[], $2::uuid[],
                   ARRAY(SELECT \(ScoringQueries.time("u.us")) FROM unnest($3::int8[]) WITH ORDINALITY AS u(us, n)
                          ORDER BY u.n),
                   $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[])
        """

    /// The enabled rules. A rule the database accepted always parses; one that does not is logged and skipped.
    public func rules(_ connection: PostgresConnection) async throws -> [AlertRule] {
        var out: [AlertRule] = []
        for try await (id, name, text) in try await connection.query(
            PostgresQuery(unsafeSQL: Self.rulesQuery), logger: logger
        )
        .decode((UUID, String, String).self) {
            do {
                let json = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
                out.append(AlertRule(id: id, name: name, conditions: try RuleConditions.parse(json)))
            } catch {
                logger.error("alert rule \"\(name)\" is skipped: \(error)")
            }
        }
        return out
    }

    /// Raises alerts for `anomalies`; returns how many alerts were opened and how many anomalies were grouped
    /// into an open one.
    public func raise(
        _ connection: PostgresConnection, anomalies: [NewAnomaly]
    ) async throws -> (opened: Int, grouped: Int) {
        guard !anomalies.isEmpty else { return (0, 0) }
        let rules = try await rules(connection)
        guard !rules.isEmpty else { return (0, 0) }
        var ruleIDs: [UUID] = [], anomalyIDs: [UUID] = [], times: [Int64] = [], sources: [UUID] = []
        var metrics: [String] = [], severities: [String] = [], titles: [String] = [], messages: [String] = []
        for rule in rules {
            let matched = anomalies.filter { rule.conditions.matches($0.facts) }
            var firing = matched
            if rule.conditions.needsHistory {
                firing = try await withEnoughOccurrences(connection, rule: rule, matched: matched)
            }
            for a in firing {
                let f = a.facts
                ruleIDs.append(rule.id); anomalyIDs.append(a.anomalyID)
                times.append(a.pointMicros ?? Int64(((f.time.timeIntervalSince1970 - 946_684_800) * 1e6).rounded()))
                sources.append(f.sourceID)
                metrics.append(f.metric); severities.append(f.severity.rawValue)
                titles.append(
                    AlertText.title(
                        rule: rule.name, source: f.sourceName, metric: f.metric, severity: f.severity,
                        explanation: a.explanation))
                messages.append(
                    AlertText.message(
                        rule: rule.name, source: f.sourceName, metric: f.metric,
                        severity: f.severity, score: f.score, detector: f.detector,
                        time: f.time, explanation: a.explanation))
            }
        }
        guard !ruleIDs.isEmpty else { return (0, 0) }
        var q = PostgresQuery(unsafeSQL: Self.raiseQuery)  // our SQL; every value is bound
        q.binds.append(ruleIDs); q.binds.append(anomalyIDs); q.binds.append(times); q.binds.append(sources)
        q.binds.append(metrics); q.binds.append(severities); q.binds.append(titles); q.binds.append(messages)
        var opened = 0, grouped = 0
        for try await (_, isNew) in try await connection.query(q, logger: logger).decode((UUID, Bool).self) {
            if isNew { opened += 1 } else { grouped += 1 }
        }
        return (opened, grouped)
    }

    /// The matched anomalies for which min_occurrences matching anomalies (on the same source and metric, this one
    /// included, committed or in this batch) fall within the rule's period.
    private func withEnoughOccurrences(
        _ connection: PostgresConnection, rule: AlertRule, matched: [NewAnomaly]
    )
        async throws -> [NewAnomaly]
    {
        guard let within = rule.conditions.within else { return matched }
        struct Series: Hashable { var source: UUID; var metric: String }
        var out: [NewAnomaly] = []
        for (series, group) in Dictionary(
            grouping: matched, by: { Series(source: $0.facts.sourceID, metric: $0.facts.metric) })
        {
            let first = group.map(\.facts.time).min()!, last = group.map(\.facts.time).max()!
            var q = PostgresQuery(unsafeSQL: Self.historyQuery)
            q.binds.append(series.source); q.binds.append(series.metric)
            q.binds.append(first.addingTimeInterval(-within)); q.binds.append(last)
            var times: [Date] = []
            let template = group[0].facts
            for try await (t, sev, score, detector, model) in try await connection.query(q, logger: logger)
                .decode((Date, String, Double, String, UUID?).self)
            {
                guard let severity = Severity(rawValue: sev) else { continue }
                var f = template
                f.time = t; f.severity = severity; f.score = score; f.detector = detector; f.modelID = model
                if rule.conditions.matches(f) { times.append(t) }
            }
            out += group.filter { rule.conditions.enoughOccurrences(at: $0.facts.time, matching: times) }
        }
        return out
    }
}
