/// MLflow's limits (mlflow/utils/validation.py of the pinned version, 3.17.2), and how our names and values are
/// made to fit them. Lengths are counted in Unicode scalars, as Python counts a `str`.
public enum MLflowLimits {
    public static let paramValueLength = 6000
    public static let tagValueLength = 8000
    public static let keyLength = 250
    public static let experimentNameLength = 500
    public static let paramsPerBatch = 100
    public static let tagsPerBatch = 100
    public static let metricsPerBatch = 1000

    /// `key` as MLflow accepts a param, metric or tag name: letters, digits, `_ - . / :` and spaces (anything else
    /// becomes `_`), at most 250 characters, and not a name a file path would change (`a//b`, `./a`, `../a`,
    /// `/a`, `a/`: such a name loses its slashes). Never empty.
    public static func key(_ key: String) -> String {
        var scalars = String.UnicodeScalarView()
        for s in key.unicodeScalars {
            // Python's `\w` on a str: letters (general category L*), numbers (any numeric type) and `_`.
            let letter: Bool
            switch s.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: letter = true
            default: letter = false
            }
            let ok =
                letter || s.properties.numericType != nil || s == "_" || s == "-" || s == "." || s == "/"
                || s == " " || s == ":"
            scalars.append(ok ? s : "_")
        }
        var name = truncated(String(scalars), to: keyLength)
        if !isPathStable(name) {
            name = name.replacingOccurrences(of: "/", with: "_")
            if name.hasPrefix(".") { name = truncated("_" + name, to: keyLength) }
        }
        return name.isEmpty ? "_" : name
    }

    /// A registered model's name as MLflow accepts it: no `/` or `:` (each becomes `_`), not a name a file path
    /// would change, not blank.
    public static func registeredModelName(_ name: String) -> String {
        var n = String(String.UnicodeScalarView(name.unicodeScalars.map { $0 == "/" || $0 == ":" ? "_" : $0 }))
        if n.trimmingCharacters(in: .whitespaces).isEmpty || n == "." || n.hasPrefix("..") { n = "_" + n }
        return n
    }

    /// `value` cut to `limit` Unicode scalars (MLflow refuses a longer one).
    public static func truncated(_ value: String, to limit: Int) -> String {
        guard value.unicodeScalars.count > limit else { return value }
        return String(String.UnicodeScalarView(value.unicodeScalars.prefix(limit)))
    }

    /// posixpath.normpath(name) == name, and name is not "." and starts with neither ".." nor "/".
    static func isPathStable(_ name: String) -> Bool {
        if name == "." || name.hasPrefix("..") || name.hasPrefix("/") { return false }
        if name.isEmpty { return true }
        if name.hasSuffix("/") || name.contains("//") { return false }
        return !name.split(separator: "/", omittingEmptySubsequences: false).contains { $0 == "." || $0 == ".." }
    }

    /// `entries` with their keys made acceptable (`key(_:)`) and unique (a second `a` becomes `a_2`), values cut
    /// to `valueLimit`, sorted by key. Also says which keys were renamed and which values were cut.
    static func fit(
        _ entries: [String: String], valueLimit: Int
    ) -> (
        entries: [(key: String, value: String)], renamed: [String], truncated: [String]
    ) {
        var out: [(key: String, value: String)] = []
        var used = Set<String>()
        var renamed: [String] = [], cut: [String] = []
        for (original, value) in entries.sorted(by: { $0.key < $1.key }) {
            let base = key(original)
            var name = base, n = 2
            while used.contains(name) {
                let suffix = "_\(n)"
                name = truncated(base, to: keyLength - suffix.unicodeScalars.count) + suffix
                n += 1
            }
            used.insert(name)
            if name != original { renamed.append(original) }
            let fitted = truncated(value, to: valueLimit)
            if fitted != value { cut.append(original) }
            out.append((name, fitted))
        }
        return (out, renamed, cut)
    }

    /// `items` in consecutive chunks of at most `size` (none when `items` is empty).
    static func chunks<T>(_ items: [T], of size: Int) -> [[T]] {
        stride(from: 0, to: items.count, by: size).map { Array(items[$0..<min($0 + size, items.count)]) }
    }
}
