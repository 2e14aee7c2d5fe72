import CulvertCore
import Foundation
import XCTest

/// The reader's view (docs/DESIGN.md, "Who may see what"), field by field for every type the
/// observing methods return.
final class ReaderViewTests: XCTestCase {
    typealias F = ReaderViewFixtures

    /// Checks `reader` against `admin` under `decision`: the admin encoding has exactly the decided
    /// keys (so a new field fails until it is decided), kept fields are equal, nested ones equal
    /// `nested[key]`, withheld ones absent or empty.
    func check(
        _ type: String, admin: some Encodable, reader: some Encodable, _ decision: F.Decision, nested: [String: String] = [:],
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let full = try F.json(admin)
        let view = try F.json(reader)
        XCTAssertEqual(decision.kept.intersection(decision.nested).union(decision.kept.intersection(decision.withheld)), [], type)
        XCTAssertEqual(
            Set(full.keys), decision.all, "\(type): a field without a reader decision, or a fixture that leaves one unset", file: file,
            line: line)
        XCTAssertEqual(Set(nested.keys), decision.nested, "\(type): nested expectations", file: file, line: line)
        XCTAssertTrue(Set(view.keys).isSubset(of: decision.kept.union(decision.nested).union(decision.withheld)), type)
        for key in decision.kept {
            XCTAssertEqual(F.canonical(view[key]), F.canonical(full[key]), "\(type).\(key) is kept", file: file, line: line)
        }
        for (key, expected) in nested {
            XCTAssertEqual(F.canonical(view[key]), expected, "\(type).\(key) is the nested reader view", file: file, line: line)
        }
        for key in decision.withheld {
            guard let value = view[key] else { continue }
            let empty = (value as? String)?.isEmpty ?? (value as? [Any])?.isEmpty ?? (value as? [String: Any])?.isEmpty ?? false
            XCTAssertTrue(empty, "\(type).\(key) is withheld but carries \(value)", file: file, line: line)
        }
    }

    func testFixturesSetEveryField() {
        F.assertEveryFieldSet(F.daemon, "DaemonInfo")
        F.assertEveryFieldSet(F.actor, "Actor")
        F.assertEveryFieldSet(F.profile, "Profile")
        F.assertEveryFieldSet(F.extensionInfo, "ExtensionInfo")
        F.assertEveryFieldSet(F.staged, "StagedUpgrade")
        F.assertEveryFieldSet(F.problem, "Problem")
        F.assertEveryFieldSet(F.removal, "Removal")
        F.assertEveryFieldSet(F.counters, "SessionCounters")
        F.assertEveryFieldSet(F.failure, "SessionFailure")
        F.assertEveryFieldSet(F.sessionContainment, "SessionContainment")
        F.assertEveryFieldSet(F.containment, "ContainmentInfo")
        F.assertEveryFieldSet(F.session, "SessionInfo")
        F.assertEveryFieldSet(F.status, "ManagerStatus")
        F.assertEveryFieldSet(F.event, "Event")
    }

    func testDaemon() throws {
        try check("DaemonInfo", admin: F.daemon, reader: ReaderView.redacted(F.daemon), F.daemonFields)
    }

    func testProfileWithholdsOptionValuesAndSecretNames() throws {
        try check("Profile", admin: F.profile, reader: ReaderView.redacted(F.profile), F.profileFields)
    }

    func testExtensionWithholdsPaths() throws {
        try check(
            "ExtensionInfo", admin: F.extensionInfo, reader: ReaderView.redacted(F.extensionInfo), F.extensionFields,
            nested: ["staged": try F.jsonValue(ReaderView.redacted(F.staged))])
        try check("StagedUpgrade", admin: F.staged, reader: ReaderView.redacted(F.staged), F.stagedFields)
    }

    func testProblemKeepsOnlyItsKind() throws {
        try check("Problem", admin: F.problem, reader: ReaderView.redacted(F.problem), F.problemFields)
    }

    func testRemovalWithholdsItsPath() throws {
        try check("Removal", admin: F.removal, reader: ReaderView.redacted(F.removal), F.removalFields)
    }

    func testCounters() throws {
        try check("SessionCounters", admin: F.counters, reader: ReaderView.redacted(F.counters), F.countersFields)
    }

    func testFailureWithholdsProviderOutputAndDescription() throws {
        try check("SessionFailure", admin: F.failure, reader: ReaderView.redacted(F.failure), F.failureFields)
    }

    func testContainmentWithholdsPaths() throws {
        try check(
            "SessionContainment", admin: F.sessionContainment, reader: ReaderView.redacted(F.sessionContainment),
            F.sessionContainmentFields)
        try check("ContainmentInfo", admin: F.containment, reader: ReaderView.redacted(F.containment), F.containmentFields)
    }

    func testSessionWithholdsProcessesAndCallers() throws {
        let nested: [String: String] = [
            "counters": try F.jsonValue(ReaderView.redacted(F.counters)), "failure": try F.jsonValue(ReaderView.redacted(F.failure)),
            "containment": try F.jsonValue(ReaderView.redacted(F.sessionContainment)),
        ]
        try check("SessionInfo", admin: F.session, reader: ReaderView.redacted(F.session), F.sessionFields, nested: nested)
    }

    func testStatusIsMadeOfReaderViews() throws {
        let nested: [String: String] = [
            "daemon": try F.jsonValue(ReaderView.redacted(F.daemon)),
            "profiles": try F.jsonValue([ReaderView.redacted(F.profile)]),
            "extensions": try F.jsonValue([ReaderView.redacted(F.extensionInfo)]),
            "sessions": try F.jsonValue([ReaderView.redacted(F.session)]),
            "problems": try F.jsonValue([ReaderView.redacted(F.problem)]),
            "containment": try F.jsonValue(ReaderView.redacted(F.containment)),
        ]
        try check("ManagerStatus", admin: F.status, reader: ReaderView.redacted(F.status), F.statusFields, nested: nested)
    }

    func testEventWithholdsActorErrorAndLog() throws {
        let nested: [String: String] = [
            "profile": try F.jsonValue(ReaderView.redacted(F.profile)),
            "daemon": try F.jsonValue(ReaderView.redacted(F.daemon)),
            "extension": try F.jsonValue(ReaderView.redacted(F.extensionInfo)),
            "removals": try F.jsonValue([ReaderView.redacted(F.removal)]),
            "session": try F.jsonValue(ReaderView.redacted(F.session)),
            "status": try F.jsonValue(ReaderView.redacted(F.status)),
        ]
        try check("Event", admin: F.event, reader: ReaderView.redacted(F.event), F.eventFields, nested: nested)
    }

    /// Every kind of event, not only the fixture's: nothing marked reaches a reader.
    func testNoMarkedTextInAnyReaderEvent() throws {
        for kind in [
            EventKind.daemonStarted, .profileSaved, .profileRemoved, .extensionInstalled, .extensionReplaced, .extensionApproved,
            .extensionUninstalled, .extensionInstallFailed, .garbageCollected, .daemonGoingAway, .daemonBack, .sessionState,
            .sessionNetworkChanged, .sessionStats, .handoverStarted, .handoverCompleted, .upgradeFailed, .upgradePending,
            .upgradeCancelled, .upgradePolicyChanged, .snapshot,
        ] {
            var event = F.event
            event.kind = kind
            let admin = String(decoding: try JSONEncoder().encode(event), as: UTF8.self)
            let reader = String(decoding: try JSONEncoder().encode(ReaderView.redacted(event)), as: UTF8.self)
            XCTAssertTrue(admin.contains(F.marker), kind.rawValue)
            XCTAssertFalse(reader.contains(F.marker), "\(kind.rawValue): \(reader)")
            XCTAssertFalse(reader.contains("4321"), "\(kind.rawValue): the actor's pid")
        }
        let list = String(decoding: try JSONEncoder().encode(ReaderView.view([F.extensionInfo], for: .reader)), as: UTF8.self)
        XCTAssertFalse(list.contains(F.marker), list)
    }

    /// The admin view is the value itself, so its encoding is unchanged byte for byte.
    func testAdminViewIsUnchanged() throws {
        XCTAssertEqual(ReaderView.view(F.status, for: .admin), F.status)
        XCTAssertEqual(ReaderView.view(F.event, for: .admin), F.event)
        XCTAssertEqual(ReaderView.view([F.extensionInfo], for: .admin), [F.extensionInfo])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]  // as the wire encodes: byte for byte comparable
        XCTAssertEqual(try encoder.encode(ReaderView.view(F.event, for: .admin)), try encoder.encode(F.event))
        XCTAssertNotEqual(ReaderView.view(F.event, for: .reader), F.event)
    }

    func testAudienceOfEachClass() {
        XCTAssertEqual(AccessLevel.admin.audience, .admin)
        XCTAssertEqual(AccessLevel.reader.audience, .reader)
        XCTAssertEqual(AccessLevel.none.audience, .reader)
    }
}
