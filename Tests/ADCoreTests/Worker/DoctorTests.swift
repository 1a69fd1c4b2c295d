import Testing

@testable import ADCore

@Suite struct DoctorDiagnoses {
    func facts(_ edit: (inout DoctorFacts) -> Void = { _ in }) -> DoctorFacts {
        var f = DoctorFacts(
            serverVersion: "15.20", serverVersionNumber: 150020,
            schema: InstalledSchema(recordedVersions: ["0.1.0"], adSchemaExists: true),
            availableExtensionVersion: nil, bundled: SchemaVersion("0.1.0")!,
            timescale: .init(), storage: [:],
            roles: Dictionary(uniqueKeysWithValues: groupRoles.map { ($0, true) }), currentUser: "postgres")
        edit(&f)
        return f
    }

    func finding(_ topic: String, in f: DoctorFacts) -> Finding? { diagnose(f).first { $0.topic == topic } }

    @Test func aHealthyDatabaseHasNoFailuresOrWarnings() {
        #expect(diagnose(facts()).allSatisfy { $0.level <= .info })
    }

    @Test func quarantinedPointsWarnWithHowToRequeueThem() {
        let f = finding("quarantine", in: facts { $0.quarantined = 3 })
        #expect(f?.level == .warn)
        #expect(f?.detail.hasPrefix("3 point(s) quarantined") == true)
        #expect(f?.action?.contains("ad.requeue_quarantined()") == true)
        #expect(finding("quarantine", in: facts { $0.quarantined = 0 })?.level == .ok)
        #expect(finding("quarantine", in: facts()) == nil, "no table (an older schema): nothing said")
    }

    @Test func anOldServerFails() {
        #expect(
            finding(
                "server",
                in: facts {
                    $0.serverVersionNumber = 140011; $0.serverVersion = "14.11"
                })?.level == .fail)
    }

    @Test func aMissingSchemaFailsAndSaysHowToInstall() {
        let f = finding("schema", in: facts { $0.schema = InstalledSchema() })
        #expect(f?.level == .fail)
        #expect(f?.action?.contains("adworker migrate") == true)
    }

    @Test func anOlderExtensionWarnsWithTheUpdateCommand() {
        let f = finding(
            "schema",
            in: facts {
                $0.schema = InstalledSchema(
                    extensionVersion: "0.0.9", recordedVersions: ["0.0.9"], adSchemaExists: true)
            })
        #expect(f?.level == .warn)
        #expect(f?.action?.contains("ALTER EXTENSION anomaly_detection UPDATE") == true)
    }

    @Test func anOlderMigratedSchemaWarnsToMigrate() {
        let f = finding(
            "schema",
            in: facts {
                $0.schema = InstalledSchema(recordedVersions: ["0.0.9"], adSchemaExists: true)
                $0.bundledSteps = [UpgradeStep(from: SchemaVersion("0.0.9")!, to: SchemaVersion("0.1.0")!)]
            })
        #expect(f?.level == .warn)
        #expect(f?.action == "adworker migrate")
    }

    @Test func aPartialViewSaysSo() {
        let f = finding(
            "privileges",
            in: facts {
                $0.unreadable = ["ad_internal.storage"]; $0.currentUser = "grafana"
            })
        #expect(f?.level == .warn)
        #expect(f?.detail.contains("grafana cannot read ad_internal.storage") == true)
    }

    @Test func missingRolesWarnWithTheCall() {
        let f = finding("roles", in: facts { $0.roles["ad_worker"] = false })
        #expect(f?.level == .warn)
        #expect(f?.detail == "missing: ad_worker")
        #expect(f?.action?.contains("SELECT ad.create_roles();") == true)
    }

    @Test func timescaleAddedAfterTheSchemaWarns() {
        let f = finding(
            "storage",
            in: facts { $0.timescale = .init(installedVersion: "2.28.3", preloaded: true, license: "timescale") })
        #expect(f?.level == .warn)
    }

    @Test func anApacheOnlyTimescaleWarnsAboutTheLicense() {
        let f = finding(
            "timescaledb",
            in: facts {
                $0.timescale = .init(installedVersion: "2.28.3", preloaded: true, license: "apache")
                $0.storage = ["hypertable:ad.data_points": "1 day"]
            })
        #expect(f?.level == .warn)
        #expect(f?.action?.contains("timescaledb.license") == true)
    }

    @Test func reportsHypertableCompressionAndAggregate() {
        let f = finding(
            "storage",
            in: facts {
                $0.timescale = .init(installedVersion: "2.28.3", preloaded: true, license: "timescale")
                $0.storage = [
                    "hypertable:ad.data_points": "1 day", "compression": "7 days",
                    "continuous_aggregate": "ad.anomaly_summary_hourly",
                ]
            })
        #expect(f?.level == .ok)
        #expect(
            f?.detail
                == "ad.data_points is a hypertable (chunks of 1 day), compression after 7 days, continuous aggregate ad.anomaly_summary_hourly"
        )
    }
}
