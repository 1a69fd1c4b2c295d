import Foundation

/// Tiny corpora for `adworker evaluate`, written to disk: unit tests read them, integration tests score them.
public enum EvaluationTrees {
    /// In the NAB tree, `catA/spike.csv` has 400 rows 5 minutes apart from 2020-01-01 00:00:00: a daily-free sine
    /// with noise, +20 at this row, inside the one window (rows 290...310). `catB/flat.csv` has 300 rows, no window.
    public static let spikeRow = 300
    public static let spikeWindow = 290...310

    /// `YYYY-MM-DD HH:MM:SS` of row `i` of the NAB tree.
    public static func nabTime(_ i: Int) -> String {
        let minutes = 5 * i
        return String(format: "2020-01-%02d %02d:%02d:00", 1 + minutes / 1440, minutes % 1440 / 60, minutes % 60)
    }

    /// Writes the NAB tree under `root` (`data/`, `labels/combined_windows.json`; no `config/`: NAB's profiles).
    public static func writeNAB(at root: URL) throws {
        var noise = Noise()
        var spike = "timestamp,value\n"
        for i in 0..<400 {
            let v = 10 + sin(Double(i) / 10) + noise.next() * 0.1 + (i == spikeRow ? 20 : 0)
            spike += "\(nabTime(i)),\(String(format: "%.4f", v))\n"
        }
        var flat = "timestamp,value\n"
        for i in 0..<300 { flat += "\(nabTime(i)),\(String(format: "%.3f", 5 + noise.next() * 0.2))\n" }
        try write(spike, root.appendingPathComponent("data/catA/spike.csv"))
        try write(flat, root.appendingPathComponent("data/catB/flat.csv"))
        try write(
            #"{"catA/spike.csv": [["\#(nabTime(spikeWindow.lowerBound)).000000", "\#(nabTime(spikeWindow.upperBound)).000000"]], "catB/flat.csv": []}"#,
            root.appendingPathComponent("labels/combined_windows.json"))
    }

    /// In the CSV tree, `hosts/web-1.csv` (`;`-separated, epoch seconds a minute apart from 2020-01-01) has metrics
    /// `cpu` and `lat "ms"` (empty every 17th row) and label `is_anomaly`: 1 on these rows, where cpu jumps to 95.
    /// `db.csv` has 200 rows of `conns`, ISO times with `Z`, no anomaly.
    public static let csvAnomalies = 250...252

    /// Writes the CSV tree under `root`, with a hidden file that must be ignored.
    public static func writeCSV(at root: URL) throws {
        var noise = Noise()
        var web = "time;cpu;lat \"ms\";is_anomaly\n"
        for i in 0..<300 {
            let anomalous = csvAnomalies.contains(i)
            let cpu = anomalous ? "95" : String(format: "%.2f", 50 + 2 * noise.next())
            let lat = i % 17 == 0 ? "" : String(format: "%.1f", 100 + 5 * noise.next())
            web += "\(1_577_836_800 + 60 * i);\(cpu);\(lat);\(anomalous ? 1 : 0)\n"
        }
        var db = "time;conns;is_anomaly\n"
        for i in 0..<200 {
            db += String(format: "2020-01-01T%02d:%02d:00Z;%.2f;0\n", i / 60, i % 60, 20 + noise.next())
        }
        try write(web, root.appendingPathComponent("hosts/web-1.csv"))
        try write(db, root.appendingPathComponent("db.csv"))
        try write("not;a;series\n", root.appendingPathComponent(".hidden/ignored.csv"))
    }

    /// A SKAB-shaped tree (the layout of the Skoltech Anomaly Benchmark, synthetic values): `valve1/0.csv`,
    /// `;`-separated, `datetime` a second apart, metrics `Current` and `Pressure`, label `anomaly` written `0.0`/`1.0`
    /// (1.0 on these rows, where the pressure rises) and a `changepoint` column (1.0 where the anomaly starts) that
    /// is neither a metric nor the label.
    public static let skabAnomalies = 80...99
    public static let skabRows = 120

    public static func writeSKABShaped(at root: URL) throws {
        var noise = Noise()
        var text = "datetime;Current;Pressure;anomaly;changepoint\n"
        for i in 0..<skabRows {
            let anomalous = skabAnomalies.contains(i)
            let values = String(
                format: "2020-03-09 10:%02d:%02d;%.4f;%.4f", 10 + i / 60, i % 60, 1.3 + 0.05 * noise.next(),
                (anomalous ? 2.5 : 0.25) + 0.02 * noise.next())
            text += "\(values);\(anomalous ? "1.0" : "0.0");\(i == skabAnomalies.lowerBound ? "1.0" : "0.0")\n"
        }
        try write(text, root.appendingPathComponent("valve1/0.csv"))
    }

    /// A fresh directory under the system's temporary directory.
    public static func temporaryDirectory(_ label: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("ad-\(label)-\(UUID().uuidString.prefix(8))")
    }

    public static func write(_ text: String, _ url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    /// Deterministic noise, roughly normal (sum of three uniforms, centred), so the trees are the same every run.
    struct Noise {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        mutating func unit() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53)
        }
        mutating func next() -> Double { (unit() + unit() + unit() - 1.5) * 2 }
    }
}
