import ADTestSupport
import Foundation
import Testing

@testable import ADCore

func parseConfig(_ text: String) throws -> SourceConfig {
    try SourceConfig.parse(try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)))
}

@Suite struct SourceConfigValidates {
    @Test func emptyIsTheDefaults() throws {
        #expect(try parseConfig("{}") == .defaults)
    }

    @Test func readsEveryField() throws {
        let c = try parseConfig(
            #"{"window": 120, "min_history": 30, "detectors": ["robust"], "seasonality": ["weekly"], "thresholds": {"low": 0.99, "medium": 0.995, "high": 0.999, "critical": 0.9999}}"#
        )
        #expect(c.window == 120)
        #expect(c.minHistory == 30)
        #expect(c.detectors == [.robust])
        #expect(c.seasonality == [.weekly])
        #expect(c.thresholds == .init(low: 0.99, medium: 0.995, high: 0.999, critical: 0.9999))
    }

    @Test(arguments: badSourceConfigs)
    func rejectsNamingTheField(json: String, message: String) {
        do {
            _ = try parseConfig(json)
            Issue.record("accepted \(json)")
        } catch let problem as SourceConfig.Problem {
            #expect(problem.description == message)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}

@Suite struct SourceConfigRendersAsJSON {
    @Test func parseOfJSONIsIdentity() throws {
        #expect(try SourceConfig.parse(SourceConfig.defaults.json) == .defaults)
        let custom = try parseConfig(
            #"{"window": 30, "min_history": 5, "detectors": ["seasonal"], "seasonality": [], "thresholds": {"low": 0.5}}"#
        )
        #expect(try SourceConfig.parse(custom.json) == custom)
        #expect(
            custom.json.render()
                == #"{"window":30,"min_history":5,"likelihood_window":3000,"warmup":100,"rest_period":100,"detectors":["seasonal"],"seasonality":[],"thresholds":{"low":0.5,"medium":0.55,"high":0.65,"critical":0.8}}"#
        )
    }
}
