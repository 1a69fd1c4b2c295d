import Foundation

/// The repository's top folder, found from a test source's path by walking up to `Package.swift`, so a test file can
/// move between folders without counting `..`s.
public enum Repository {
    public static func root(_ file: String = #filePath) -> URL {
        var dir = URL(fileURLWithPath: file).deletingLastPathComponent()
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { return dir }
            dir = dir.deletingLastPathComponent()
        }
        preconditionFailure("no Package.swift above \(file)")
    }
}
