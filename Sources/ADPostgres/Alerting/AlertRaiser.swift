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
    /// The point's time in µs since 2000: `pointMicros`, or `facts.time` converted.
    public var micros: Int64 {
        pointMicros ?? Int64(((facts.time.timeIntervalSince1970 - 946_684_800) * 1e6).rounded())
    }
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
    /// into an open one. `rules`: the enabled rules when the caller has read them (`rules(_:)`) already.
    public func raise(
        _ connection: PostgresConnection, anomalies: [NewAnomaly], rules known: [AlertRule]? = nil
    ) async throws -> (opened: Int, grouped: Int) {
        guard !anomalies.isEmpty else { return (0, 0) }
        let rules: [AlertRule]
        if let known { rules = known } else { rules = try await self.rules(connection) }
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
                times.append(a.micros)
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

/// A point that is no anomaly but whose value still lies far from normal (`PointScore.off`): a sign that the fault
/// of the series' latest anomaly goes on.
public struct OffPoint: Sendable {
    public var source: UUID
    public var sourceName: String
    public var metric: String
    /// µs since 2000 (`ScoringQueries.micros`), and as a date.
    public var micros: Int64
    public var time: Date
    public var value: Double?
    /// The tier the deviation reaches on its own (`SeverityRule.tier(size:)`).
    public var severity: Severity
    public init(
        source: UUID, sourceName: String, metric: String, micros: Int64, time: Date, value: Double?,
        severity: Severity
    ) {
        self.source = source; self.sourceName = sourceName; self.metric = metric; self.micros = micros
        self.time = time; self.value = value; self.severity = severity
    }
}

/// Consecutive points of one series still far from normal: from `firstMicros` to `lastMicros`, its last point's
/// value, and the worst tier among them.
public struct OffRun: Sendable {
    public var source: UUID
    public var sourceName: String
    public var metric: String
    public var firstMicros: Int64, lastMicros: Int64
    public var lastTime: Date
    public var value: Double?
    public var severity: Severity
    public init(_ p: OffPoint) {
        source = p.source; sourceName = p.sourceName; metric = p.metric
        firstMicros = p.micros; lastMicros = p.micros; lastTime = p.time; value = p.value; severity = p.severity
    }
    /// Takes in a later point of the same series.
    public mutating func extend(with p: OffPoint) {
        lastMicros = p.micros; lastTime = p.time; value = p.value; severity = max(severity, p.severity)
    }
}

extension AlertRaiser {
    /// Each run's series' latest anomaly of its metric at or before the run's start ($1 sources, $2 metrics, $3 µs).
    static let latestAnomalyQuery = """
        SELECT u.n::int4, a.id, \(ScoringQueries.micros("a.point_timestamp")), a.score, a.detector, a.model_id,
               a.explanation::text
          FROM unnest($1::uuid[], $2::text[], $3::int8[]) WITH ORDINALITY AS u(sid, metric, us, n)
          CROSS JOIN LATERAL (
                SELECT x.id, x.point_timestamp, x.score, x.detector, x.model_id, x.explanation
                  FROM ad.anomalies x
                 WHERE x.source_id = u.sid AND x.metric = u.metric AND x.point_timestamp <= \(ScoringQueries.time("u.us"))
                 ORDER BY x.point_timestamp DESC LIMIT 1) a
        """

    static let sustainQuery = """
        SELECT alert_id, opened
          FROM ad_internal.sustain_alerts(
                   $1::uuid[], $2::uuid[], \(times(3)), \(times(4)), \(times(5)),
                   $6::uuid[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bool[])
        """

    /// The times of µs parameter `$n`, in order.
    private static func times(_ n: Int) -> String {
        "ARRAY(SELECT \(ScoringQueries.time("u.us")) FROM unnest($\(n)::int8[]) WITH ORDINALITY AS u(us, n) ORDER BY u.n)"
    }

    /// Keeps the alerts of lasting faults going (`ad_internal.sustain_alerts`): each run of points still far from
    /// normal is a sign of its series' latest anomaly's fault, matched against the rules as that anomaly at the
    /// run's worst tier and at its last point's time. Returns the alerts opened and those kept going. `rules`: as
    /// in `raise`.
    public func sustain(
        _ connection: PostgresConnection, runs: [OffRun], rules known: [AlertRule]? = nil
    ) async throws -> (opened: Int, kept: Int) {
        guard !runs.isEmpty else { return (0, 0) }
        let rules: [AlertRule]
        if let known { rules = known } else { rules = try await self.rules(connection) }
        guard !rules.isEmpty else { return (0, 0) }
        var find = PostgresQuery(unsafeSQL: Self.latestAnomalyQuery)  // our SQL; every value is bound
        find.binds.append(runs.map(\.source)); find.binds.append(runs.map(\.metric))
        find.binds.append(runs.map(\.firstMicros))
        var ruleIDs: [UUID] = [], anomalyIDs: [UUID] = [], anomalyTimes: [Int64] = [], firsts: [Int64] = []
        var lasts: [Int64] = [], sources: [UUID] = [], metrics: [String] = [], severities: [String] = []
        var titles: [String] = [], messages: [String] = [], mayOpen: [Bool] = []
        for try await (n, anomalyID, anomalyMicros, score, detector, modelID, text) in try await connection.query(
            find, logger: logger
        ).decode((Int32, UUID, Int64, Double, String, UUID?, String).self) {
            let run = runs[Int(n) - 1]
            var explanation: Explanation?
            do {
                explanation = try JSONDecoder().decode(Explanation.self, from: Data(text.utf8))
            } catch {
                logger.warning("the explanation of anomaly \(anomalyID) cannot be read: \(error)")
            }
            let facts = AnomalyFacts(
                sourceID: run.source, sourceName: run.sourceName, metric: run.metric, severity: run.severity,
                score: score, detector: detector, modelID: modelID, time: run.lastTime)
            // The title's numbers are the fault's now: the value its last point has, against the anomaly's normal.
            var now = explanation
            now?.actual = run.value.flatMap { JSONValue.roundedValue($0) }
            let since = ScoringCycle.date(micros: anomalyMicros)
            for rule in rules where rule.conditions.matches(facts) {
                ruleIDs.append(rule.id); anomalyIDs.append(anomalyID); anomalyTimes.append(anomalyMicros)
                firsts.append(run.firstMicros); lasts.append(run.lastMicros)
                sources.append(run.source); metrics.append(run.metric); severities.append(run.severity.rawValue)
                titles.append(
                    AlertText.title(
                        rule: rule.name, source: run.sourceName, metric: run.metric, severity: run.severity,
                        explanation: now))
                messages.append(
                    "A lasting fault on \(run.sourceName), metric \(run.metric): since \(AlertText.iso(since)), and at "
                        + "\(AlertText.iso(run.lastTime)) still \(run.severity.rawValue) by its distance from normal.\n"
                        + AlertText.message(
                            rule: rule.name, source: run.sourceName, metric: run.metric, severity: run.severity,
                            score: score, detector: detector, time: since, explanation: explanation))
                mayOpen.append(!rule.conditions.needsHistory)
            }
        }
        guard !ruleIDs.isEmpty else { return (0, 0) }
        var q = PostgresQuery(unsafeSQL: Self.sustainQuery)  // our SQL; every value is bound
        q.binds.append(ruleIDs); q.binds.append(anomalyIDs); q.binds.append(anomalyTimes); q.binds.append(firsts)
        q.binds.append(lasts); q.binds.append(sources); q.binds.append(metrics); q.binds.append(severities)
        q.binds.append(titles); q.binds.append(messages); q.binds.append(mayOpen)
        var opened = 0, kept = 0
        for try await (_, isNew) in try await connection.query(q, logger: logger).decode((UUID, Bool).self) {
            if isNew { opened += 1 } else { kept += 1 }
        }
        return (opened, kept)
    }
}
