import ADCore
import Foundation

/// The embedded PostgreSQL, through the repository's scripts/pgcluster: where `adworker bench` and
/// `adworker evaluate` run when no DATABASE_URL is given.
enum Embedded {
    static func start() throws -> DatabaseURL {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var candidates = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<4 { candidates.append(dir); dir = dir.deletingLastPathComponent() }
        guard
            let repo = candidates.first(where: {
                FileManager.default.isExecutableFile(atPath: $0.appendingPathComponent("scripts/pgcluster").path)
            })
        else {
            throw Fatal(
                description:
                    "no DATABASE_URL, and scripts/pgcluster not found from here: set DATABASE_URL or run from the repository"
            )
        }
        let p = Process()
        p.executableURL = repo.appendingPathComponent("scripts/pgcluster")
        p.arguments = ["start"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0, let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last
        else {
            throw Fatal(description: "scripts/pgcluster start failed")
        }
        return try DatabaseURL(String(line))
    }
}
