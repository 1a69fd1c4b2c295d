import Testing

@testable import ADCore

@Suite struct SchemaVersionOrdersNumerically {
    @Test func comparesPartByPart() {
        #expect(SchemaVersion("0.10.0")! > SchemaVersion("0.9.9")!)
        #expect(SchemaVersion("1.0")! == SchemaVersion("1.0.0")!)
        #expect(SchemaVersion("0.1.0")! < SchemaVersion("0.1.1")!)
    }

    @Test(arguments: ["", "1.", ".1", "a.b", "1.-2", "1..2", "１.0"])
    func rejectsMalformed(text: String) {
        #expect(SchemaVersion(text) == nil)
    }
}

@Suite struct MigrationPlanDecides {
    let v010 = SchemaVersion("0.1.0")!
    let v020 = SchemaVersion("0.2.0")!
    let v030 = SchemaVersion("0.3.0")!

    @Test func installsIntoAnEmptyDatabase() {
        #expect(MigrationPlan.decide(installed: .init(), bundled: v010, steps: []) == .install(v010))
    }

    @Test func isANoOpAtTheSameVersion() {
        let installed = InstalledSchema(recordedVersions: ["0.1.0"], adSchemaExists: true)
        #expect(MigrationPlan.decide(installed: installed, bundled: v010, steps: []) == .upToDate(v010))
    }

    @Test func refusesWhenTheExtensionIsInstalled() {
        let installed = InstalledSchema(extensionVersion: "0.1.0", recordedVersions: ["0.1.0"], adSchemaExists: true)
        #expect(
            MigrationPlan.decide(installed: installed, bundled: v010, steps: [])
                == .refuse(.extensionInstalled(version: "0.1.0")))
    }

    @Test func refusesANewerDatabase() {
        let installed = InstalledSchema(recordedVersions: ["0.1.0", "0.2.0"], adSchemaExists: true)
        #expect(
            MigrationPlan.decide(installed: installed, bundled: v010, steps: [])
                == .refuse(.newerThanBundled(installed: v020, bundled: v010)))
    }

    @Test func refusesAnAdSchemaItDidNotInstall() {
        #expect(
            MigrationPlan.decide(installed: .init(adSchemaExists: true), bundled: v010, steps: [])
                == .refuse(.foreignSchema))
        #expect(
            MigrationPlan.decide(installed: .init(recordedVersions: [], adSchemaExists: true), bundled: v010, steps: [])
                == .refuse(.foreignSchema))
    }

    @Test func chainsStepScripts() {
        let steps = [UpgradeStep(from: v020, to: v030), UpgradeStep(from: v010, to: v020)]
        let installed = InstalledSchema(recordedVersions: ["0.1.0"], adSchemaExists: true)
        #expect(MigrationPlan.decide(installed: installed, bundled: v030, steps: steps) == .upgrade(steps.reversed()))
    }

    @Test func refusesAGapInTheChain() {
        let installed = InstalledSchema(recordedVersions: ["0.1.0"], adSchemaExists: true)
        #expect(
            MigrationPlan.decide(installed: installed, bundled: v030, steps: [UpgradeStep(from: v020, to: v030)])
                == .refuse(.noUpgradePath(from: v010, to: v030)))
    }

    @Test func refusesAnUnreadableRecord() {
        let installed = InstalledSchema(recordedVersions: ["banana"], adSchemaExists: true)
        #expect(
            MigrationPlan.decide(installed: installed, bundled: v010, steps: [])
                == .refuse(.unreadableVersion("banana")))
    }
}
