/// The NAB corpus split in two halves, each scored on its own, to show whether a score (and the threshold NAB's
/// optimiser picks) holds on files it was not chosen on: a detector tuned to the corpus scores well on the half
/// whose threshold it uses and worse on the other.
///
/// The split is fixed and independent of any score: within each category, files sorted by name, alternately to
/// half A (1st, 3rd, ...) and half B (2nd, 4th, ...); so both halves hold every category with more than one file.
public struct NABHalves: Sendable, Hashable {
    /// One profile on one half.
    public struct ProfileScore: Sendable, Hashable {
        public var profile: String
        /// The threshold NAB's optimiser picks on this half, and the half's normalised score at it.
        public var threshold: Double
        public var normalizedScore: Double?
        /// The half's normalised score at the threshold picked on the other half.
        public var atOtherThreshold: Double?
    }

    /// One half.
    public struct Half: Sendable, Hashable {
        /// `A` or `B`.
        public var name: String
        public var files: [String]
        public var windowCount: Int
        public var profiles: [ProfileScore]
    }

    public var halves: [Half]

    /// Half A and half B of `files` (see the type's comment).
    public static func split(_ files: [NABFile]) -> (a: [NABFile], b: [NABFile]) {
        var a: [NABFile] = [], b: [NABFile] = []
        let byCategory = Dictionary(grouping: files, by: \.category)
        for category in byCategory.keys.sorted() {
            for (k, f) in byCategory[category]!.sorted(by: { $0.name < $1.name }).enumerated() {
                if k % 2 == 0 { a.append(f) } else { b.append(f) }
            }
        }
        return (a, b)
    }

    /// Scores both halves with `sweeper`'s profiles: each at its own optimised threshold and at the other's. Nil
    /// when either half would be empty (a corpus of one file).
    public init?(files: [NABFile], sweeper: NABSweeper) {
        let (a, b) = Self.split(files)
        guard !a.isEmpty, !b.isEmpty else { return nil }
        let reports = [sweeper.score(files: a), sweeper.score(files: b)]
        let parts = [a, b]
        halves = (0..<2).map { k in
            let other = reports[1 - k]
            return Half(
                name: k == 0 ? "A" : "B", files: parts[k].map(\.name), windowCount: reports[k].windowCount,
                profiles: reports[k].profiles.map { p in
                    let otherThreshold = other[profile: p.profile.name]?.threshold ?? p.threshold
                    return ProfileScore(
                        profile: p.profile.name, threshold: p.threshold, normalizedScore: p.normalizedScore,
                        atOtherThreshold: sweeper.score(files: parts[k], profile: p.profile, threshold: otherThreshold)
                            .normalizedScore)
                })
        }
    }
}
