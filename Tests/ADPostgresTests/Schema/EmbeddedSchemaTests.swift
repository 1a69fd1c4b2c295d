import ADCore
import ADTestSupport
import Foundation
import Testing

@testable import ADPostgres

@Suite struct EmbeddedSchemaMatchesSQLDirectory {
    static let repo = Repository.root()
    static let sql = repo.appendingPathComponent("sql")

    /// Every .sql file under sql/ (pre_install/, the re-run files, updates/), by its path there.
    static func filesOnDisk() throws -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: sql.path)
        var names: [String] = []
        while let name = enumerator?.nextObject() as? String {
            if name.hasSuffix(".sql") { names.append(name) }
        }
        return names.sorted()
    }

    /// What scripts/schema-files prints: the order extension/Makefile builds the extension's scripts in.
    static func schemaFiles(_ arguments: String...) throws -> [String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments =
            ["python3", repo.appendingPathComponent("scripts/schema-files").path, "--relative-to", sql.path]
            + arguments
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "scripts/schema-files \(arguments.joined(separator: " "))")
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    @Test func everyFileInSqlIsEmbeddedAsItIs() throws {
        #expect(EmbeddedSchema.files.map(\.name) == (try Self.filesOnDisk()), "run scripts/embed-sql")
        for file in EmbeddedSchema.files {
            let onDisk = try String(contentsOf: Self.sql.appendingPathComponent(file.name), encoding: .utf8)
            #expect(file.sql == onDisk.trimmingTrailingNewlines(), "sql/\(file.name) changed: run scripts/embed-sql")
        }
    }

    @Test func aFreshInstallRunsTheFilesTheExtensionPackages() throws {
        #expect(EmbeddedSchema.install == (try Self.schemaFiles("install")), "run scripts/embed-sql")
        #expect(EmbeddedSchema.install.contains("pre_install/000_schemas.sql"))
    }

    @Test func everyStepScriptIsEmbeddedWithTheFilesItsUpdateRuns() throws {
        let steps = try Self.filesOnDisk().filter { $0.hasPrefix("updates/") }
        #expect(EmbeddedSchema.updates.map { "updates/\($0.from)--\($0.to).sql" } == steps, "run scripts/embed-sql")
        for update in EmbeddedSchema.updates {
            #expect(update.files == (try Self.schemaFiles("update", update.from, update.to)), "run scripts/embed-sql")
            #expect(update.files.first == "updates/\(update.from)--\(update.to).sql")
        }
    }

    @Test func everyReleasedVersionHasAStepToTheNext() throws {
        // The versions with a frozen install script (extension/released/) and the version being built form one
        // chain of steps, so every release upgrades to this one.
        let released = try FileManager.default.contentsOfDirectory(
            atPath: Self.repo.appendingPathComponent("extension/released").path
        )
        .compactMap { $0.wholeMatch(of: /anomaly_detection--([0-9.]+)\.sql/)?.1 }.map(String.init)
        let versions = (released + [EmbeddedSchema.version]).sorted { SchemaVersion($0)! < SchemaVersion($1)! }
        #expect(versions.count >= 2, "release 0.1.0 is frozen in extension/released/")
        let steps = EmbeddedSchema.updates.map { "\($0.from)--\($0.to)" }
        for (a, b) in zip(versions, versions.dropFirst()) {
            #expect(steps.contains("\(a)--\(b)"), "no step sql/updates/\(a)--\(b).sql")
        }
    }

    @Test func versionIsTheControlFileVersion() throws {
        let control = try String(
            contentsOf: Self.repo.appendingPathComponent("extension/anomaly_detection.control"),
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
