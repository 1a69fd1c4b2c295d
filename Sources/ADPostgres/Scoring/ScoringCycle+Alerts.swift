import ADCore
import Foundation
import PostgresNIO

/// The end of phase 4: the batch's anomalies open or group alerts (`AlertRaiser.raise`), and its points still far
/// from normal keep the alerts of lasting faults going (`AlertRaiser.sustain`), in the cycle's transaction.
extension ScoringCycle {
    /// Raises and sustains in the order things happened on each series, so a batch that holds hours of one series
    /// (a catch-up) leaves its alerts as point-by-point scoring would: round 0 sustains what was open before the
    /// batch's first anomaly of each series, round k raises each series' k-th anomaly and then sustains the points
    /// after it (up to the next). Usually one round: no anomaly, or one. Returns the alerts opened.
    func alert(_ connection: PostgresConnection, anomalies: [NewAnomaly], off: [OffPoint]) async throws -> Int {
        guard !anomalies.isEmpty || !off.isEmpty else { return 0 }
        let plan = AlertRounds(anomalies: anomalies, off: off, gap: off.isEmpty ? nil : try await runGap(connection))
        let raiser = AlertRaiser(logger: logger)
        try await lockAlertGroups(
            connection,
            series: anomalies.map { ($0.facts.sourceID, $0.facts.metric) } + off.map { ($0.source, $0.metric) })
        // Read once for every round: rounds are one per anomaly of a series, and each call would read them again.
        let rules = try await raiser.rules(connection)
        guard !rules.isEmpty else { return 0 }
        var opened = 0, grouped = 0
        for round in plan.rounds {
            if !round.anomalies.isEmpty {
                let r = try await raiser.raise(connection, anomalies: round.anomalies, rules: rules)
                opened += r.opened; grouped += r.grouped
            }
            if !round.runs.isEmpty {
                opened += try await raiser.sustain(connection, runs: round.runs, rules: rules).opened
            }
        }
        if opened > 0 { logger.info("opened \(opened) alert(s), grouped \(grouped) anomalies into open ones") }
        return opened
    }
}

extension ScoringCycle {
    /// Every series' alert-group lock (a transaction-level advisory lock on source and metric), taken in one
    /// statement in sorted order before any round. Each call of raise_alerts and sustain_alerts takes its row locks
    /// in a fixed order, but the rounds are several calls and their orders differ across calls: two workers with
    /// overlapping series could each hold one group and wait for the other's. With every group held first, in one
    /// order, they queue instead.
    static let lockGroupsQuery = """
        SELECT pg_catalog.pg_advisory_xact_lock(g.k)
          FROM (SELECT DISTINCT pg_catalog.hashtextextended('ad.alert_group:' || u.sid::text || '/' || u.metric, 0) AS k
                  FROM unnest($1::uuid[], $2::text[]) AS u(sid, metric)
                 ORDER BY k OFFSET 0) g
        """

    /// The gap that splits a run of off points (µs): `AlertRounds.runGap`, or the smallest grouping window of the
    /// enabled rules when that is shorter, so a rule with a one-minute window sees the breaks it asks for.
    func runGap(_ connection: PostgresConnection) async throws -> Int64 {
        let q: PostgresQuery = """
            SELECT (extract(epoch FROM min(group_window)) * 1000000)::float8 FROM ad.alert_rules WHERE enabled
            """
        var smallest: Double?
        for try await v in try await connection.query(q, logger: logger).decode(Double?.self) { smallest = v }
        return AlertRounds.gap(smallestGroupWindow: smallest)
    }

    func lockAlertGroups(_ connection: PostgresConnection, series: [(UUID, String)]) async throws {
        var q = PostgresQuery(unsafeSQL: Self.lockGroupsQuery)  // our SQL; every value is bound
        q.binds.append(series.map(\.0)); q.binds.append(series.map(\.1))
        for try await _ in try await connection.query(q, logger: logger) {}
    }
}

/// A batch's anomalies and off points in rounds (see `ScoringCycle.alert`), each series' off points folded into
/// runs: consecutive off points no more than the gap apart (`AlertRounds.runGap`, or the enabled rules' smallest
/// group_window when shorter), with the worst tier among them.
struct AlertRounds {
    struct Round {
        var anomalies: [NewAnomaly] = []
        var runs: [OffRun] = []
    }
    /// Off points further apart than this start a new run (µs): five minutes, or the smallest grouping window of the
    /// enabled rules when shorter, so a run never joins points further apart than a rule's window allows.
    static let runGap: Int64 = 300_000_000
    var rounds: [Round] = []

    /// `runGap`, or `smallestGroupWindow` (µs) when that is shorter (never below 0).
    static func gap(smallestGroupWindow: Double?) -> Int64 {
        guard let w = smallestGroupWindow, w.isFinite, w < Double(runGap) else { return runGap }
        return Int64(max(0, w.rounded(.down)))
    }

    /// `gap`: off points further apart start a new run (default `runGap`).
    init(anomalies: [NewAnomaly], off: [OffPoint], gap: Int64? = nil) {
        let gap = gap ?? Self.runGap
        struct Series: Hashable { var source: UUID; var metric: String }
        var times: [Series: [Int64]] = [:]
        for a in anomalies {
            times[Series(source: a.facts.sourceID, metric: a.facts.metric), default: []].append(a.micros)
        }
        for k in times.keys { times[k]!.sort() }
        func round(_ r: Int) { while rounds.count <= r { rounds.append(Round()) } }
        round(0)
        for a in anomalies {
            let r = times[Series(source: a.facts.sourceID, metric: a.facts.metric)]!.firstIndex(of: a.micros)! + 1
            round(r); rounds[r].anomalies.append(a)
        }
        // Each series' off points in time order, into the round after the anomalies at or before them, as runs.
        let bySeries = Dictionary(grouping: off) { Series(source: $0.source, metric: $0.metric) }
        for (series, points) in bySeries {
            let anomalyTimes = times[series] ?? []
            var run: OffRun?, runRound = 0
            func flush() { if let r = run { round(runRound); rounds[runRound].runs.append(r) }; run = nil }
            for p in points.sorted(by: { $0.micros < $1.micros }) {
                let r = anomalyTimes.count { $0 <= p.micros }
                if var current = run, r == runRound, p.micros - current.lastMicros <= gap {
                    current.extend(with: p); run = current
                } else {
                    flush(); run = OffRun(p); runRound = r
                }
            }
            flush()
        }
    }
}
