import ADCore
import Foundation

/// A corpus read and checked, ready to score: nothing about it can fail once scoring starts.
public struct EvaluationCorpus: Sendable {
    /// The layout, with what only that layout has.
    public enum Layout: Sendable {
        /// NAB: labelled windows per file and the application profiles to score under.
        case nab(windows: [String: [NABWindow]], profiles: [NABProfile])
        /// A tree of CSVs, with a label column or without.
        case csv(EvaluationCSVOptions)
    }

    /// The directory given.
    public var directory: URL
    public var layout: Layout
    /// One series per file, sorted by path.
    public var series: [EvaluationSeries]

    /// Total rows.
    public var rowCount: Int { series.reduce(0) { $0 + $1.count } }
    /// Whether the corpus has labels (NAB windows or a label column).
    public var isLabelled: Bool {
        if case .csv(let o) = layout { return o.labelColumn != nil }
        return true
    }
}

/// Reads a corpus from disk: the only file reading `adworker evaluate` does before it scores.
public enum EvaluationInput {
    /// A NAB layout: `data/<category>/<file>.csv` (`timestamp,value`), `labels/combined_windows.json`, and optionally
    /// `config/profiles.json` (NAB's three profiles otherwise). Every window is checked against its file.
    public static func loadNAB(
        directory: URL, repeatedTimestamps: RepeatedTimestamps = .shift
    ) throws -> EvaluationCorpus {
        let dataDirectory = directory.appendingPathComponent("data")
        let windowsURL = directory.appendingPathComponent("labels/combined_windows.json")
        let windows: [String: [NABWindow]]
        do {
            windows = try NABCorpus.decodeWindows(from: try read(windowsURL), path: windowsURL.path)
        } catch let e as NABError {
            throw EvaluationInputError(.badLabels, file: windowsURL.path, "\(e)")
        }
        var profiles = NABProfile.nabProfiles
        let profilesURL = directory.appendingPathComponent("config/profiles.json")
        if FileManager.default.fileExists(atPath: profilesURL.path) {
            do {
                profiles = try NABProfile.decodeProfiles(from: try read(profilesURL), path: profilesURL.path)
            } catch let e as NABError {
                throw EvaluationInputError(.badLabels, file: profilesURL.path, "\(e)")
            }
            guard !profiles.isEmpty else {
                throw EvaluationInputError(.badLabels, file: profilesURL.path, "names no profile")
            }
        }
        var options = EvaluationCSVOptions.nab
        options.repeatedTimestamps = repeatedTimestamps
        let series = try loadTree(dataDirectory, options: options)
        let names = Set(series.map(\.path))
        for s in series where windows[s.path] == nil {
            throw EvaluationInputError(
                .badLabels, file: windowsURL.path,
                "has no entry for \(s.path) (NAB lists every data file, with [] for none)")
        }
        if let stray = windows.keys.sorted().first(where: { !names.contains($0) }) {
            throw EvaluationInputError(
                .badLabels, file: windowsURL.path,
                "has windows for \(stray), but \(dataDirectory.appendingPathComponent(stray).path) does not exist")
        }
        for s in series {
            do {
                _ = try nabFile(s, scores: [Double](repeating: 0, count: s.count), windows: windows[s.path] ?? [])
            } catch let e as NABError {
                throw EvaluationInputError(.badLabels, file: dataDirectory.appendingPathComponent(s.path).path, "\(e)")
            }
        }
        return EvaluationCorpus(
            directory: directory, layout: .nab(windows: windows, profiles: profiles), series: series)
    }

    /// A directory tree of CSVs, each one series.
    public static func loadCSV(directory: URL, options: EvaluationCSVOptions) throws -> EvaluationCorpus {
        EvaluationCorpus(directory: directory, layout: .csv(options), series: try loadTree(directory, options: options))
    }

    /// NAB's view of a scored series: its rows (at their own times, as in the file) and windows.
    public static func nabFile(_ s: EvaluationSeries, scores: [Double], windows: [NABWindow]) throws -> NABFile {
        let rows = s.micros.indices.map {
            NABRow(timestamp: NABTimestamp(microseconds: s.micros[$0]), score: scores[$0])
        }
        return try NABFile(name: s.path, rows: rows, windows: windows)
    }

    /// Every `*.csv` under `root` (hidden files and folders skipped), sorted by relative path.
    public static func csvFiles(under root: URL) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw EvaluationInputError(.missingInput, file: root.path, "is not a directory")
        }
        guard let walker = FileManager.default.enumerator(atPath: root.path) else {
            throw EvaluationInputError(.unreadable, file: root.path, "cannot be listed")
        }
        var out: [String] = []
        while let relative = walker.nextObject() as? String {
            guard !relative.split(separator: "/").contains(where: { $0.hasPrefix(".") }),
                relative.lowercased().hasSuffix(".csv")
            else { continue }
            var dir: ObjCBool = false
            if FileManager.default.fileExists(atPath: root.appendingPathComponent(relative).path, isDirectory: &dir),
                !dir.boolValue
            {
                out.append(relative)
            }
        }
        guard !out.isEmpty else { throw EvaluationInputError(.missingInput, file: root.path, "holds no .csv file") }
        return out.sorted()
    }

    private static func loadTree(_ root: URL, options: EvaluationCSVOptions) throws -> [EvaluationSeries] {
        try csvFiles(under: root).map { relative in
            let url = root.appendingPathComponent(relative)
            return try EvaluationCSV.parse(try read(url), path: relative, file: url.path, options: options)
        }
    }

    static func read(_ url: URL) throws -> Data {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw EvaluationInputError(.missingInput, file: url.path, "does not exist")
        }
        do {
            return try Data(contentsOf: url)
        } catch {
            throw EvaluationInputError(.unreadable, file: url.path, "cannot be read: \(error.localizedDescription)")
        }
    }
}
