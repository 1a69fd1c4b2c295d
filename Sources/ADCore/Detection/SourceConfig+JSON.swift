extension SourceConfig {
    /// Every field spelled out, in the form `parse` reads (`parse(c.json) == c`): what an evaluation stores in
    /// `ad.data_sources.config` and reports as the configuration it used.
    public var json: JSONValue {
        .object([
            ("window", .number(Double(window))),
            ("min_history", .number(Double(minHistory))),
            ("likelihood_window", .number(Double(likelihoodWindow))),
            ("warmup", .number(Double(warmup))),
            ("rest_period", .number(Double(restPeriod))),
            ("detectors", .array(Detector.allCases.filter(detectors.contains).map { .string($0.rawValue) })),
            ("seasonality", .array(Seasonality.allCases.filter(seasonality.contains).map { .string($0.rawValue) })),
            (
                "thresholds",
                .object([
                    ("low", .number(thresholds.low)), ("medium", .number(thresholds.medium)),
                    ("high", .number(thresholds.high)), ("critical", .number(thresholds.critical)),
                ])
            ),
        ])
    }
}
