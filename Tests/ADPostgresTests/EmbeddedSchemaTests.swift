import Foundation
import Testing
@testable import ADPostgres

@Suite struct EmbeddedSchemaMatchesSQLDirectory {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func embeddedFilesAreTheFilesInSql() throws {
        let dir = Self.repo.appendingPathComponent("sql")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { $0.hasSuffix(".sql") && $0.first?.isNumber == true }.sorted()
        #expect(EmbeddedSchema.installFiles.map(\.name) == names, "run scripts/embed-sql")
        for file in EmbeddedSchema.installFiles {
            let onDisk = try String(contentsOf: dir.appendingPathComponent(file.name), encoding: .utf8)
            #expect(file.sql == onDisk.trimmingTrailingNewlines(), "sql/\(file.name) changed: run scripts/embed-sql")
        }
    }

    @Test func versionIsTheControlFileVersion() throws {
        let control = try String(contentsOf: Self.repo.appendingPathComponent("extension/anomaly_detection.control"),
                                 encoding: .utf8)
        #expect(control.contains("default_version = '\(EmbeddedSchema.version)'"))
    }
}

extension String {
    fileprivate func trimmingTrailingNewlines() -> String {
        var s = self
        while s.hasSuffix("\n") { s.removeLast() }
        return s
    }
}
