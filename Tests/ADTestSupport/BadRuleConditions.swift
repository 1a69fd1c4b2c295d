// Shared by ADCoreTests (RuleConditions.parse) and ADAlertingTests (ad.rule_problem): both must name the same field.

import Foundation

/// Malformed alert rule conditions and the field each error must name.
public let badRuleConditions: [(json: String, field: String)] = [
    (#"[1]"#, "conditions"),
    (#"{"min_severity": "huge"}"#, "conditions.min_severity"),
    (#"{"min_severity": 3}"#, "conditions.min_severity"),
    (#"{"min_score": 1.5}"#, "conditions.min_score"),
    (#"{"min_score": "0.5"}"#, "conditions.min_score"),
    (#"{"sources": []}"#, "conditions.sources"),
    (#"{"sources": "web-1"}"#, "conditions.sources"),
    (#"{"metrics": ["cpu", 7]}"#, "conditions.metrics[1]"),
    (#"{"detectors": [""]}"#, "conditions.detectors[0]"),
    (#"{"models": ["not-a-uuid"]}"#, "conditions.models[0]"),
    (#"{"hours": "9-17"}"#, "conditions.hours"),
    (#"{"hours": {"from": "09:00"}}"#, "conditions.hours.to"),
    (#"{"hours": {"from": "24:00", "to": "08:00"}}"#, "conditions.hours.from"),
    (#"{"hours": {"from": "09:00", "to": "09:00"}}"#, "conditions.hours"),
    (#"{"hours": {"from": "09:00", "to": "17:00", "tz": "UTC"}}"#, "conditions.hours.tz"),
    (#"{"weekdays": ["monday"]}"#, "conditions.weekdays[0]"),
    (#"{"weekdays": []}"#, "conditions.weekdays"),
    (#"{"timezone": "Mars/Olympus"}"#, "conditions.timezone"),
    (#"{"silences": {"start": "2026-01-01T00:00:00Z"}}"#, "conditions.silences"),
    (#"{"silences": [{"start": "2026-01-01T00:00:00Z"}]}"#, "conditions.silences[0].end"),
    (#"{"silences": [{"start": "2026-01-01", "end": "2026-01-02T00:00:00Z"}]}"#, "conditions.silences[0].start"),
    (#"{"silences": [{"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}]}"#, "conditions.silences[0]"),
    (
        #"{"silences": [{"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z", "why": "x"}]}"#,
        "conditions.silences[0].why"
    ),
    (#"{"min_occurrences": 0}"#, "conditions.min_occurrences"),
    (#"{"min_occurrences": 2.5, "within_seconds": 60}"#, "conditions.min_occurrences"),
    (#"{"min_occurrences": 3}"#, "conditions.within_seconds"),
    (#"{"within_seconds": -5}"#, "conditions.within_seconds"),
    (#"{"severity": "high"}"#, "conditions.severity"),
]

/// The field an error message names: the text before the first ": ".
public func fieldOf(_ message: String) -> String {
    guard let r = message.range(of: ": ") else { return message }
    return String(message[..<r.lowerBound])
}
