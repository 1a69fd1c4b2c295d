import Testing

extension Tag {
    /// Every suite that uses the server `scripts/test` starts carries this tag: the TimescaleDB run selects its suites
    /// by it (`swift test --filter tag:database`), so a new integration suite runs on hypertables too. A test without
    /// it that asks for a scratch database fails and says so (`withScratchDatabase`), rather than go quietly missing
    /// from that run.
    @Tag public static var database: Self
}
