import Foundation
import Testing

@testable import ADMLflow

@Suite struct MLflowSettingsTests {
    @Test func unsetOrEmptyMeansNoExport() throws {
        #expect(try MLflowSettings.fromEnvironment([:]) == nil)
        #expect(try MLflowSettings.fromEnvironment(["MLFLOW_TRACKING_URI": "  "]) == nil)
        #expect(
            try MLflowSettings.fromEnvironment(["MLFLOW_EXPERIMENT_NAME": "x", "MLFLOW_TRACKING_TOKEN": "t"]) == nil)
    }

    @Test func defaults() throws {
        let s = try #require(try MLflowSettings.fromEnvironment(["MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"]))
        #expect(s.trackingURI.absoluteString == "http://127.0.0.1:5000")
        #expect(s.experiment == "anomaly-detection")
        #expect(s.timeout == .seconds(30))
        #expect(s.headers.isEmpty)
    }

    @Test func everyVariable() throws {
        let s = try #require(
            try MLflowSettings.fromEnvironment([
                "MLFLOW_TRACKING_URI": "HTTPS://mlflow.example.org/prefix/",
                "MLFLOW_EXPERIMENT_NAME": " plant sensors ",
                "MLFLOW_TRACKING_TOKEN": "abc.DEF-123=",
                "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
            ]))
        #expect(s.trackingURI.absoluteString == "https://mlflow.example.org/prefix")
        #expect(s.experiment == "plant sensors")
        #expect(s.timeout == .seconds(5))
        #expect(s.headers.map(\.0) == ["Authorization"])
        #expect(s.headers.map(\.1) == ["Bearer abc.DEF-123="])
    }

    @Test func basicAuthentication() throws {
        let s = try #require(
            try MLflowSettings.fromEnvironment([
                "MLFLOW_TRACKING_URI": "http://[::1]:5000",
                "MLFLOW_TRACKING_USERNAME": "ds", "MLFLOW_TRACKING_PASSWORD": "s3cret",
            ]))
        #expect(s.headers.map(\.1) == ["Basic " + Data("ds:s3cret".utf8).base64EncodedString()])
        #expect(s.trackingURI.host == "::1" || s.trackingURI.host == "[::1]")
    }

    /// Every malformed MLFLOW_TRACKING_URI is refused naming the variable (and never echoing a password).
    @Test(arguments: [
        ("file:///tmp/mlruns", "scheme 'file'"),
        ("sqlite:///tmp/mlflow.db", "scheme 'sqlite'"),
        ("databricks", "not a URL"),
        ("mlflow.example.org:5000", "scheme"),
        ("http://", "no host"),
        ("http:///api", "no host"),
        ("http://127.0.0.1:99999", "port"),
        ("http://127.0.0.1:", "empty port"),
        ("http://h/?a=b", "query"),
        ("http://h/#frag", "fragment"),
        ("http://h /x", "space"),
        ("http://h/\u{7}", "control"),
        ("ftp://h", "scheme 'ftp'"),
        ("http://" + String(repeating: "a", count: 3000), "2048"),
    ])
    func malformedTrackingURI(value: String, says: String) {
        #expect {
            _ = try MLflowSettings.fromEnvironment(["MLFLOW_TRACKING_URI": value])
        } throws: { error in
            guard let e = error as? MLflowSettingsError else { return false }
            return e.variable == "MLFLOW_TRACKING_URI" && e.description.contains(says)
        }
    }

    @Test func credentialsInTheURIAreRefusedWithoutEchoingThem() {
        #expect {
            _ = try MLflowSettings.fromEnvironment(["MLFLOW_TRACKING_URI": "http://ds:hunter2@127.0.0.1:5000"])
        } throws: { error in
            let text = "\(error)"
            return text.contains("MLFLOW_TRACKING_TOKEN") && !text.contains("hunter2")
        }
    }

    @Test(arguments: [
        (["MLFLOW_EXPERIMENT_NAME": ""], "MLFLOW_EXPERIMENT_NAME", "empty"),
        (["MLFLOW_EXPERIMENT_NAME": String(repeating: "e", count: 501)], "MLFLOW_EXPERIMENT_NAME", "500"),
        (["MLFLOW_HTTP_REQUEST_TIMEOUT": "soon"], "MLFLOW_HTTP_REQUEST_TIMEOUT", "1 to 3600"),
        (["MLFLOW_HTTP_REQUEST_TIMEOUT": "0"], "MLFLOW_HTTP_REQUEST_TIMEOUT", "1 to 3600"),
        (["MLFLOW_TRACKING_TOKEN": "abc\r\nX-Evil: 1"], "MLFLOW_TRACKING_TOKEN", "header"),
        (["MLFLOW_TRACKING_TOKEN": "t", "MLFLOW_TRACKING_USERNAME": "u"], "MLFLOW_TRACKING_TOKEN", "one or the other"),
        (["MLFLOW_TRACKING_USERNAME": "u"], "MLFLOW_TRACKING_PASSWORD", "both"),
        (["MLFLOW_TRACKING_PASSWORD": "p"], "MLFLOW_TRACKING_USERNAME", "both"),
    ])
    func badCompanionVariables(extra: [String: String], variable: String, says: String) {
        var env = extra
        env["MLFLOW_TRACKING_URI"] = "http://127.0.0.1:5000"
        #expect {
            _ = try MLflowSettings.fromEnvironment(env)
        } throws: { error in
            guard let e = error as? MLflowSettingsError else { return false }
            return e.variable == variable && e.message.contains(says) && !e.description.contains("X-Evil")
        }
    }
}

@Suite struct MLflowLimitsTests {
    @Test(arguments: [
        ("precision", "precision"),
        ("hyperparameters.trees", "hyperparameters.trees"),
        ("split/from", "split/from"),
        ("a b:c-d_e", "a b:c-d_e"),
        ("température", "température"),
        ("what?*", "what__"),
        ("", "_"),
        ("a//b", "a__b"),
        ("/abs", "_abs"),
        ("../up", "_.._up"),
        ("dir/", "dir_"),
        ("./x", "_._x"),
        (".", "_."),
    ])
    func keysMLflowAccepts(key: String, expected: String) {
        #expect(MLflowLimits.key(key) == expected)
    }

    @Test func longKeysAndValuesAreCutInUnicodeScalars() {
        #expect(MLflowLimits.key(String(repeating: "k", count: 400)).unicodeScalars.count == 250)
        // "é" as e + combining accent is one Character but two scalars: Python counts two.
        let value = String(repeating: "e\u{301}", count: 4000)
        let cut = MLflowLimits.truncated(value, to: MLflowLimits.paramValueLength)
        #expect(cut.unicodeScalars.count == 6000)
    }

    @Test func fitKeepsKeysUniqueAndSaysWhatChanged() {
        let fitted = MLflowLimits.fit(
            ["a?": "1", "a_": "2", "ok": String(repeating: "x", count: 6001)], valueLimit: MLflowLimits.paramValueLength
        )
        #expect(fitted.entries.map(\.key) == ["a_", "a__2", "ok"])
        #expect(fitted.renamed == ["a?", "a_"])
        #expect(fitted.truncated == ["ok"])
        #expect(fitted.entries.last?.value.count == 6000)
    }

    @Test func chunks() {
        #expect(MLflowLimits.chunks(Array(0..<250), of: 100).map(\.count) == [100, 100, 50])
        #expect(MLflowLimits.chunks([Int](), of: 100).isEmpty)
    }

    @Test(arguments: [("detector/a:b", "detector_a_b"), ("plain name", "plain name"), ("..", "_.."), ("  ", "_  ")])
    func registeredModelNames(name: String, expected: String) {
        #expect(MLflowLimits.registeredModelName(name) == expected)
    }
}
