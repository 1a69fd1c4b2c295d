import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a test-owned bash script (`set -euo pipefail` first) and returns its output; throws with the output when it
/// fails. `system`, not `Process`: Foundation left the exited bash a zombie here, a server it started holding on,
/// and `Process.isRunning` stayed true.
public func runShell(_ script: String) throws -> String {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("adsh-\(UUID().uuidString)")
    let file = base.path + ".sh", log = base.path + ".log"
    try ("set -euo pipefail\n" + script).write(toFile: file, atomically: true, encoding: .utf8)
    defer {
        try? FileManager.default.removeItem(atPath: file)
        try? FileManager.default.removeItem(atPath: log)
    }
    let status = system("/bin/bash \(file) >\(log) 2>&1 </dev/null")
    let out = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    guard status == 0 else { throw SQLFailure(description: "shell failed (\(status)): \(out)") }
    return out
}
