import ADCore

/// Input that `adworker evaluate` refuses, naming the file and, where there is one, the line (the header is line 1).
/// Raised while reading, before anything is scored or written.
public struct EvaluationInputError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable codes, for tests and scripts.
    public enum Code: String, Sendable {
        /// No CSV files under the directory, or a file or folder the layout needs is absent.
        case missingInput = "missing_input"
        /// A file cannot be read, or is not UTF-8 text.
        case unreadable
        /// The file has no header, or no data rows.
        case emptyFile = "empty_file"
        /// The header is unusable: one column (wrong separator?), empty or repeated names, no metric column.
        case badHeader = "bad_header"
        /// The time column (or the label column or a column to ignore) is not in the header.
        case missingColumn = "missing_column"
        /// A row has more or fewer fields than the header, or a broken quoted field.
        case badRow = "bad_row"
        /// A time that is not one of the accepted formats.
        case badTime = "bad_time"
        /// A time equal to or earlier than the previous row's.
        case repeatedTime = "repeated_time"
        /// A metric cell that is not a finite number, or a row without any metric value.
        case badValue = "bad_value"
        /// A label cell other than 0 or 1 (also written 0.0/1.0 or false/true, in any case).
        case badLabel = "bad_label"
        /// NAB labels (`combined_windows.json`, `profiles.json`) that are malformed or do not match the data.
        case badLabels = "bad_labels"
        /// A file with no row after its train part (`--train-rows`), or a negative number of train rows.
        case tooFewRows = "too_few_rows"
        /// The output directory cannot be used.
        case badOutput = "bad_output"
    }

    public var code: Code
    /// The file as the user would open it.
    public var file: String
    /// 1-based line number, when the problem is on one line.
    public var line: Int?
    public var message: String

    public init(_ code: Code, file: String, line: Int? = nil, _ message: String) {
        self.code = code
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}
