// Shared by ADCoreTests (the Swift parser) and ADPostgresTests (the SQL check): one table, two implementations.

/// Bad per-source configs and the message for each; ADPostgresTests feeds the same table to the SQL check.
public let badSourceConfigs: [(json: String, message: String)] = [
    (#"[1]"#, "config: must be a JSON object"),
    (
        #"{"windw": 10}"#,
        "config.windw: unknown setting (known: window, min_history, likelihood_window, warmup, rest_period, detectors, seasonality, thresholds)"
    ),
    (#"{"window": 0}"#, "config.window: must be an integer from 10 to 1000, got 0"),
    (#"{"window": 10.5}"#, "config.window: must be an integer from 10 to 1000, got 10.5"),
    (#"{"window": "60"}"#, #"config.window: must be an integer from 10 to 1000, got "60""#),
    (#"{"min_history": 2}"#, "config.min_history: must be an integer from 3 to 1000, got 2"),
    (#"{"window": 20, "min_history": 30}"#, "config.min_history: must not exceed window (20), got 30"),
    (#"{"detectors": "robust"}"#, #"config.detectors: must be an array of strings, got "robust""#),
    (
        #"{"detectors": ["robust", "magic"]}"#,
        #"config.detectors: unknown detector "magic" (known: robust, seasonal, multivariate)"#
    ),
    (
        #"{"detectors": ["multivariate"]}"#,
        "config.detectors: needs robust or seasonal (multivariate combines their evidence)"
    ),
    (#"{"seasonality": ["hourly"]}"#, #"config.seasonality: unknown seasonality "hourly" (known: daily, weekly)"#),
    (#"{"thresholds": 0.9}"#, "config.thresholds: must be an object"),
    (
        #"{"thresholds": {"severe": 0.9}}"#,
        "config.thresholds.severe: unknown tier (known: low, medium, high, critical)"
    ),
    (
        #"{"thresholds": {"high": 1.5}}"#,
        "config.thresholds.high: must be a number between 0 and 1 (exclusive), got 1.5"
    ),
    (
        #"{"thresholds": {"low": 0.6}}"#,
        "config.thresholds: must increase: low < medium < high < critical, got 0.6, 0.55, 0.65, 0.8"
    ),
    (#"{"likelihood_window": 50}"#, "config.likelihood_window: must be an integer from 100 to 100000, got 50"),
    (#"{"warmup": -1}"#, "config.warmup: must be an integer from 0 to 100000, got -1"),
    (#"{"rest_period": 1.5}"#, "config.rest_period: must be an integer from 0 to 100000, got 1.5"),
]
