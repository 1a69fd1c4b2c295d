import ADCore
import Foundation

extension EvaluationSummary {
    /// `report.md`: the same facts as `summary.json`, for people.
    public var markdown: String {
        var out = "# adworker evaluate: \(layout == "nab" ? "NAB" : "CSV corpus")\n\n"
        out += "- input: `\(input)`\n"
        out +=
            "- engine: `\(engine)`"
            + (engineSettings.isEmpty
                ? "" : " (" + engineSettings.map { "\($0.0) \($0.1.render())" }.joined(separator: ", ") + ")") + "\n"
        out += "- config given: `\(configGiven.render())`; used: `\(config.json.render())`\n"
        out += "- \(files.count) files, \(rowCount) rows, wall time \(Self.fixed(wallSeconds, 1)) s\n"
        if shiftedRows > 0 {
            out +=
                "- \(shiftedRows) rows in \(files.filter { $0.shiftedRows > 0 }.count) files have a time that does not advance past the "
                + "previous row's; they were kept in file order and stored 1 µs after it (results print their original time)\n"
        }
        if let nab { out += nabSection(nab) }
        if let overall, let labelColumn { out += labelledSection(overall, labelColumn: labelColumn) }
        if nab == nil && overall == nil {
            out +=
                "\n## Files\n\nNo labels, so no accuracy figures; rows flagged at the `low` threshold (\(config.thresholds.low)):\n\n"
            out += "| file | rows | flagged |\n| --- | ---: | ---: |\n"
            for f in files { out += "| \(Self.cell(f.path)) | \(f.rows) | \(f.flagged) |\n" }
            if let trainRows, trainRows > 0 {
                out += "\nFlagged rows are counted after each file's first \(trainRows) rows (`--train-rows`).\n"
            }
        }
        out += "\n## Where the time went\n\n| phase | seconds | detail |\n| --- | ---: | --- |\n"
        for p in phases {
            out += "| \(Self.cell(p.name)) | \(Self.fixed(p.seconds, 2)) | \(Self.cell(p.detail ?? "")) |\n"
        }
        if !plots.isEmpty {
            out += "\n## Plots\n\n"
            for p in plots {
                out += "- [\(Self.cell(p))](\(Self.link(p)))\n"
            }
            out +=
                "\nValues on top (each metric scaled to its own range), anomaly score below; red bands are labelled windows, "
                + "grey the \(nab != nil ? "probationary period NAB does not score" : trainRows != nil ? "train rows (not evaluated)" : "warm-up (min_history rows)"), "
                + "the dashed line the \(nab == nil ? "`low` threshold" : "standard profile's threshold"), red dots rows at or over it.\n"
        }
        return out
    }

    private func nabSection(_ r: NABReport) -> String {
        var out =
            "\n## NAB score\n\n\(r.fileCount) files, \(r.rowCount) rows (\(r.scoredRowCount) scored after the probationary periods), "
            + "\(r.windowCount) windows. Point-wise counts are rows at or over each profile's optimised threshold, "
            + "positives being rows inside windows.\n\n"
        out += "| profile | normalised score | threshold | TP | FP | FN | TN | precision | recall | F1 |\n"
        out += "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        for p in r.profiles {
            let c = p.counts
            out +=
                "| \(p.profile.name) | \(Self.fixed(p.normalizedScore, 2)) | \(p.threshold) | \(c.tp) | \(c.fp) | \(c.fn) | \(c.tn) "
                + "| \(Self.fixed(c.precision, 4)) | \(Self.fixed(c.recall, 4)) | \(Self.fixed(c.f1, 4)) |\n"
        }
        out += "\nROC AUC (scores against window membership, scored rows): \(Self.fixed(r.rocAUC, 4))\n"

        out +=
            "\n## Beside the published scoreboard\n\n| detector | standard | reward_low_FP_rate | reward_low_FN_rate |\n| --- | ---: | ---: | ---: |\n"
        for line in scoreboard(r) {
            let name = line.ours ? "**\(line.name)**" : line.name
            out += "| \(name) | " + line.scores.map { Self.fixed($0, 2) }.joined(separator: " | ") + " |\n"
        }

        if let halves = r.halves {
            out +=
                "\n## Two halves of the corpus\n\nWithin each category, files sorted by name go alternately to half A and half B; "
                + "each half is scored on its own (NAB's optimiser picks its threshold), then at the threshold picked on the "
                + "other half. A detector fitted to the corpus would score well at its own half's threshold and worse at the "
                + "other's.\n\n| half | files | windows | profile | normalised score | threshold | at the other half's threshold |\n"
                + "| --- | ---: | ---: | --- | ---: | ---: | ---: |\n"
            for h in halves.halves {
                for p in h.profiles {
                    out +=
                        "| \(h.name) | \(h.files.count) | \(h.windowCount) | \(p.profile) | \(Self.fixed(p.normalizedScore, 2)) "
                        + "| \(String(format: "%.6g", p.threshold)) | \(Self.fixed(p.atOtherThreshold, 2)) |\n"
                }
            }
            out +=
                "\n"
                + halves.halves.map { "Half \($0.name): " + $0.files.map { "`\($0)`" }.joined(separator: ", ") }
                .joined(separator: ".\n\n") + ".\n"
        }

        out +=
            "\n## Per category (normalised score)\n\n| category | files | windows | "
            + r.profiles.map(\.profile.name).joined(separator: " | ") + " |\n"
        out += "| --- | ---: | ---: |" + String(repeating: " ---: |", count: r.profiles.count) + "\n"
        for (k, c) in (r.profiles.first?.categories ?? []).enumerated() {
            out +=
                "| \(Self.cell(c.name)) | \(c.fileCount) | \(c.windowCount) | "
                + r.profiles.map { Self.fixed($0.categories[k].normalizedScore, 2) }.joined(separator: " | ") + " |\n"
        }
        return out
    }

    /// The published detectors and ours, best standard score first.
    func scoreboard(_ r: NABReport) -> [(name: String, ours: Bool, scores: [Double?])] {
        let names = [NABProfile.standard.name, NABProfile.rewardLowFPRate.name, NABProfile.rewardLowFNRate.name]
        var lines = NABScoreboard.published.map { e in
            (name: e.detector, ours: false, scores: names.map { e.score(profile: $0) })
        }
        lines.append((name: "adworker (\(engine))", ours: true, scores: names.map { r[profile: $0]?.normalizedScore }))
        return lines.sorted { ($0.scores[0] ?? -.infinity) > ($1.scores[0] ?? -.infinity) }
    }

    private func labelledSection(_ overall: FileResult, labelColumn: String) -> String {
        var out = "\n## Point-wise, against the label column `\(labelColumn)`\n\n"
        out +=
            "A row is a detection when its score is at or over the `low` threshold (\(config.thresholds.low)); ROC AUC ranks all "
            + "evaluated rows. The last line counts every file's evaluated rows together (one confusion matrix). "
            + "FAR (false alarm rate) = FP / (FP + TN), MAR (missed alarm rate) = FN / (FN + TP), in percent.\n"
        if let trainRows, trainRows > 0 {
            out +=
                "The first \(trainRows) rows of each file (`--train-rows`) are its train part, left out of these figures.\n"
        }
        out += "\n| file | rows | evaluated | TP | FP | FN | TN | precision | recall | F1 | FAR % | MAR % | ROC AUC |\n"
        out += "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        for f in files + [overall] {
            guard let c = f.counts else { continue }
            let name = f.path == overall.path ? "**\(f.path)**" : Self.cell(f.path)
            out +=
                "| \(name) | \(f.rows) | \(f.evaluatedRows) | \(c.tp) | \(c.fp) | \(c.fn) | \(c.tn) "
                + "| \(Self.fixed(c.precision, 4)) | \(Self.fixed(c.recall, 4)) | \(Self.fixed(c.f1, 4)) "
                + "| \(Self.percent(c.falseAlarmRate)) | \(Self.percent(c.missedAlarmRate)) | \(Self.fixed(f.rocAUC, 4)) |\n"
        }
        return out
    }

    /// The short table printed at the end of a run.
    public var terminal: String {
        var out =
            "adworker evaluate (\(layout), engine \(engine)): \(files.count) files, \(rowCount) rows, \(Self.fixed(wallSeconds, 1)) s\n"
        if let nab {
            out += "  profile               score  threshold        TP      FP      FN  precision  recall     F1\n"
            for p in nab.profiles {
                let c = p.counts
                out +=
                    "  " + Self.pad(p.profile.name, 20) + Self.left(Self.fixed(p.normalizedScore, 2), 7)
                    + Self.left(String(format: "%.6g", p.threshold), 11) + Self.left("\(c.tp)", 10)
                    + Self.left("\(c.fp)", 8)
                    + Self.left("\(c.fn)", 8) + Self.left(Self.fixed(c.precision, 4), 11)
                    + Self.left(Self.fixed(c.recall, 4), 8)
                    + Self.left(Self.fixed(c.f1, 4), 7) + "\n"
            }
            out += "  ROC AUC \(Self.fixed(nab.rocAUC, 4))\n"
            out +=
                "  scoreboard (standard): "
                + scoreboard(nab).map { "\($0.name) \(Self.fixed($0.scores[0], 2))" }.joined(separator: ", ") + "\n"
            for h in nab.halves?.halves ?? [] {
                out +=
                    "  half \(h.name) (\(h.files.count) files): "
                    + h.profiles.map {
                        "\($0.profile) \(Self.fixed($0.normalizedScore, 2)) (at half \(h.name == "A" ? "B" : "A")'s threshold \(Self.fixed($0.atOtherThreshold, 2)))"
                    }.joined(separator: ", ") + "\n"
            }
        }
        if let overall, let c = overall.counts {
            out +=
                "  at low \(config.thresholds.low)"
                + (trainRows.map { $0 > 0 ? " (after each file's first \($0) rows)" : "" } ?? "")
                + ": TP \(c.tp), FP \(c.fp), FN \(c.fn), TN \(c.tn); precision \(Self.fixed(c.precision, 4)), "
                + "recall \(Self.fixed(c.recall, 4)), F1 \(Self.fixed(c.f1, 4)), FAR \(Self.percent(c.falseAlarmRate)) %, "
                + "MAR \(Self.percent(c.missedAlarmRate)) %; ROC AUC \(Self.fixed(overall.rocAUC, 4))\n"
        } else if nab == nil {
            out += "  flagged at low \(config.thresholds.low): \(files.reduce(0) { $0 + $1.flagged }) rows\n"
        }
        out += "  time: " + phases.map { "\($0.name) \(Self.fixed($0.seconds, 1)) s" }.joined(separator: ", ") + "\n"
        out += "  results, summary.json, report.md\(plots.isEmpty ? "" : " and plots/") in \(output)\n"
        return out
    }

    /// A rate as a percentage with two decimals (SKAB's leaderboard prints FAR and MAR so).
    static func percent(_ x: Double?) -> String { fixed(x.map { $0 * 100 }, 2) }

    static func fixed(_ x: Double?, _ digits: Int) -> String {
        guard let x, x.isFinite else { return "n/a" }
        return String(format: "%.\(digits)f", x)
    }

    private static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }
    private static func left(_ s: String, _ width: Int) -> String {
        s.count >= width ? " " + s : String(repeating: " ", count: width - s.count) + s
    }

    /// A Markdown table cell: pipes escaped.
    static func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }

    /// A relative link target, percent-encoded.
    static func link(_ path: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-_.~/")
        return path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path
    }
}
