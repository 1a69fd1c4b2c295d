/// What `adworker migrate` finds in a database before it changes anything.
public struct InstalledSchema: Sendable, Equatable {
    /// `pg_extension.extversion` of anomaly_detection, when installed as an extension.
    public var extensionVersion: String?
    /// Versions recorded in `ad_internal.schema_migrations`, or nil when that table does not exist.
    public var recordedVersions: [String]?
    /// Whether a schema named `ad` exists.
    public var adSchemaExists: Bool

    public init(extensionVersion: String? = nil, recordedVersions: [String]? = nil, adSchemaExists: Bool = false) {
        self.extensionVersion = extensionVersion
        self.recordedVersions = recordedVersions
        self.adSchemaExists = adSchemaExists
    }
}

/// An upgrade step script from one version to the next.
public struct UpgradeStep: Sendable, Equatable {
    public let from: SchemaVersion
    public let to: SchemaVersion
    public init(from: SchemaVersion, to: SchemaVersion) { self.from = from; self.to = to }
}

/// The decision `adworker migrate` takes: pure, so every case is unit-tested without a database.
public enum MigrationPlan: Sendable, Equatable {
    /// Install the bundled version from scratch.
    case install(SchemaVersion)
    /// Run these step scripts in order.
    case upgrade([UpgradeStep])
    /// Already at the bundled version: nothing to do.
    case upToDate(SchemaVersion)
    /// Refuse, with a message that says what to do.
    case refuse(MigrationRefusal)

    /// Decides what to do with `installed` for an adworker that bundles `bundled` and these step scripts.
    public static func decide(installed: InstalledSchema, bundled: SchemaVersion, steps: [UpgradeStep]) -> MigrationPlan
    {
        if let ext = installed.extensionVersion {
            return .refuse(.extensionInstalled(version: ext))
        }
        guard let recorded = installed.recordedVersions, !recorded.isEmpty else {
            return installed.adSchemaExists ? .refuse(.foreignSchema) : .install(bundled)
        }
        var versions: [SchemaVersion] = []
        for text in recorded {
            guard let v = SchemaVersion(text) else { return .refuse(.unreadableVersion(text)) }
            versions.append(v)
        }
        let current = versions.max()!
        if current == bundled { return .upToDate(current) }
        if current > bundled { return .refuse(.newerThanBundled(installed: current, bundled: bundled)) }
        var chain: [UpgradeStep] = []
        var at = current
        while at < bundled {
            guard
                let next = steps.filter({ $0.from == at && $0.to > at && $0.to <= bundled }).max(by: { $0.to < $1.to })
            else { return .refuse(.noUpgradePath(from: current, to: bundled)) }
            chain.append(next)
            at = next.to
        }
        return .upgrade(chain)
    }
}

/// Why `adworker migrate` refuses to touch a database.
public enum MigrationRefusal: Sendable, Equatable, CustomStringConvertible {
    case extensionInstalled(version: String)
    case foreignSchema
    case unreadableVersion(String)
    case newerThanBundled(installed: SchemaVersion, bundled: SchemaVersion)
    case noUpgradePath(from: SchemaVersion, to: SchemaVersion)

    /// A stable code for scripts and tests.
    public var code: String {
        switch self {
        case .extensionInstalled: "extension_installed"
        case .foreignSchema: "foreign_schema"
        case .unreadableVersion: "unreadable_version"
        case .newerThanBundled: "newer_than_bundled"
        case .noUpgradePath: "no_upgrade_path"
        }
    }

    public var description: String {
        switch self {
        case .extensionInstalled(let v):
            "the anomaly_detection extension (version \(v)) is installed in this database; "
                + "upgrade it with ALTER EXTENSION anomaly_detection UPDATE, not adworker migrate"
        case .foreignSchema:
            "a schema named ad exists but was not installed by anomaly_detection (no ad_internal.schema_migrations); "
                + "use another database, or drop or rename that schema"
        case .unreadableVersion(let v):
            "ad_internal.schema_migrations holds an unreadable version \"\(v)\"; fix or delete that row"
        case .newerThanBundled(let installed, let bundled):
            "the database schema is at version \(installed), newer than this adworker's \(bundled); "
                + "use an adworker of version \(installed) or newer"
        case .noUpgradePath(let from, let to):
            "no upgrade path from \(from) to \(to) in this adworker: it lacks a step script "
                + "(sql/updates/A--B.sql) on the way, so it changes nothing; upgrade with an adworker that carries every step "
                + "from \(from), or with the releases in between, in order"
        }
    }
}
