import ADCore

/// Published NAB results (NAB v1.1 scoreboard, normalised scores), to print beside ours.
public enum NABScoreboard {
    /// One detector's published scores.
    public struct Entry: Sendable, Equatable {
        public var detector: String
        public var standard: Double
        public var rewardLowFPRate: Double
        public var rewardLowFNRate: Double

        /// The score under the profile of this name (NAB's profile names), nil for another profile.
        public func score(profile: String) -> Double? {
            switch profile {
            case NABProfile.standard.name: standard
            case NABProfile.rewardLowFPRate.name: rewardLowFPRate
            case NABProfile.rewardLowFNRate.name: rewardLowFNRate
            default: nil
            }
        }
    }

    /// Highest standard score first.
    public static let published: [Entry] = [
        Entry(detector: "ARTime", standard: 74.9, rewardLowFPRate: 65.1, rewardLowFNRate: 80.4),
        Entry(detector: "Numenta HTM", standard: 70.5, rewardLowFPRate: 62.6, rewardLowFNRate: 75.2),
        Entry(detector: "CAD OSE", standard: 69.9, rewardLowFPRate: 67.0, rewardLowFNRate: 73.2),
        Entry(detector: "Random Cut Forest", standard: 51.7, rewardLowFPRate: 38.4, rewardLowFNRate: 59.7),
        Entry(detector: "Twitter ADVec", standard: 47.1, rewardLowFPRate: 33.6, rewardLowFNRate: 53.5),
        Entry(detector: "windowedGaussian", standard: 39.65, rewardLowFPRate: 20.87, rewardLowFNRate: 47.41),
    ]
}
