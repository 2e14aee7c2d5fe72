import CulvertCore
import Foundation
import XCTest

/// Values with every field set, every string a reader must not see marked "SECRET", and the
/// decision for each wire field: kept (equal to the admin's), nested (the nested type's reader
/// view) or withheld (absent or empty). A field added later and not listed here fails the tests.
enum ReaderViewFixtures {
    static let marker = "SECRET"

    struct Decision {
        var kept: Set<String>
        var nested: Set<String> = []
        var withheld: Set<String> = []
        var all: Set<String> { kept.union(nested).union(withheld) }
    }

    static let daemonFields = Decision(kept: ["version", "pid", "epoch", "startedAt"])
    static let profileFields = Decision(
        kept: ["name", "extension", "alwaysOn", "killSwitch"], withheld: ["options", "secretNames", "killSwitchAllow"])
    static let extensionFields = Decision(
        kept: [
            "identifier", "displayName", "version", "build", "publisher", "signed", "state", "reason", "capabilities",
            "contentDigest", "installedAt", "upgradePolicy", "effectiveUpgradePolicy",
        ],
        nested: ["staged"], withheld: ["source", "storePath"])
    static let stagedFields = Decision(
        kept: ["displayName", "version", "build", "capabilities", "contentDigest", "stagedAt"], withheld: ["source", "storePath"])
    static let problemFields = Decision(kept: ["kind"], withheld: ["path", "description", "movedTo"])
    static let removalFields = Decision(kept: ["kind", "identifier", "reason"], withheld: ["path"])
    static let countersFields = Decision(kept: ["rxBytes", "rxPackets", "txBytes", "txPackets"])
    static let failureFields = Decision(kept: ["reason", "exitStatus", "signal"], withheld: ["description", "log"])
    static let sessionFields = Decision(
        kept: [
            "profile", "id", "state", "reason", "extension", "extensionVersion", "requestedAt", "connectedAt", "interface",
            "tunnelRemoteAddress", "mtu", "addresses", "routes", "fullTunnel", "dnsServers", "dnsBackend", "restarts",
            "nextRestartAt", "killSwitch",
        ],
        nested: ["counters", "failure", "containment"], withheld: ["pid", "uid", "connectedBy"])
    static let sessionContainmentFields = Decision(
        kept: ["tasksMax", "memoryMax", "tasks", "memoryBytes", "deniedCalls", "deniedCallNames"], withheld: ["cgroup"])
    static let containmentFields = Decision(
        kept: ["identities", "cgroups", "limits", "tasksMax", "memoryMax", "seccomp"], withheld: ["description"])
    static let statusFields = Decision(
        kept: ["seq", "developerMode"], nested: ["daemon", "profiles", "extensions", "sessions", "problems", "containment"])
    static let eventFields = Decision(
        kept: ["seq", "epoch", "time", "kind", "name", "created", "reason", "previousVersion", "previousState"],
        nested: ["profile", "daemon", "extension", "removals", "session", "status"], withheld: ["actor", "error", "log"])

    static let daemon = DaemonInfo(version: "0.1.0", pid: 77, epoch: "epoch-1", startedAt: "2025-01-01T00:00:00Z")
    static let actor = Actor(uid: 0, pid: 4321, command: "\(marker)-command")
    static let profile = Profile(
        name: "lab", extensionIdentifier: "org.example.tunnel", options: ["endpoint": "\(marker)-option-value"], alwaysOn: true,
        secretNames: ["\(marker)-secret-name"], killSwitch: true, killSwitchAllow: ["192.168.1.0/24"])
    static let staged = StagedUpgrade(
        displayName: "Example", version: "1.3.0", build: 5, capabilities: ["handover"], source: "/home/\(marker)/bundle-2",
        storePath: "/var/lib/culvert/extensions/store/\(marker)-2", contentDigest: String(repeating: "c", count: 64),
        stagedAt: "2025-01-01T00:00:02Z")
    static var extensionInfo: ExtensionInfo {
        var info = ExtensionInfo(
            identifier: "org.example.tunnel", displayName: "Example", version: "1.2.3", build: 4,
            publisher: String(repeating: "a", count: 64), signed: true, state: .replacing, reason: "upgrade_pending",
            capabilities: ["packet-tunnel"], source: "/home/\(marker)/bundle", storePath: "/var/lib/culvert/extensions/store/\(marker)",
            contentDigest: String(repeating: "b", count: 64), installedAt: "2025-01-01T00:00:01Z")
        info.upgradePolicy = .ask
        info.effectiveUpgradePolicy = .ask
        info.staged = staged
        return info
    }
    static let problem = Problem(
        kind: "corrupt_profile", path: "/var/lib/culvert/profiles/\(marker).json", description: "\(marker) does not parse",
        movedTo: "/var/lib/culvert/damaged/\(marker).json")
    static let removal = Removal(kind: .storeCopy, identifier: "org.example.tunnel", path: "/var/lib/\(marker)", reason: "unreferenced")
    static let counters = SessionCounters(rxBytes: 1, rxPackets: 2, txBytes: 3, txPackets: 4)
    static let failure = SessionFailure(
        reason: .providerCrashed, description: "StartTunnel failed: \(marker)-provider-text", exitStatus: 3, signal: "SIGSEGV",
        log: ["\(marker)-KEY-0123"])

    static let sessionContainment = SessionContainment(
        cgroup: "/culvert-sessions/\(marker)-cgroup", tasksMax: 256, memoryMax: 1 << 28, tasks: 9, memoryBytes: 1 << 22,
        deniedCalls: 3, deniedCallNames: ["ptrace", "unshare"])
    static let containment = ContainmentInfo(
        identities: "90000-99999", cgroups: "hybrid", limits: ["tasks", "memory"], tasksMax: 256, memoryMax: 1 << 28,
        seccomp: "notify", description: "hybrid under /\(marker)-sessions")

    static var session: SessionInfo {
        var session = SessionInfo(
            profile: "lab", id: "session-1", extensionIdentifier: "org.example.tunnel", extensionVersion: "1.2.3 (4)",
            requestedAt: "2025-01-01T00:00:02Z")
        session.state = .connected
        session.reason = "provider_started"
        session.pid = 999
        session.uid = 61000
        session.connectedBy = actor
        session.connectedAt = "2025-01-01T00:00:03Z"
        session.interface = "cvt0"
        session.tunnelRemoteAddress = "192.0.2.1"
        session.mtu = 1400
        session.addresses = ["10.9.0.2/24"]
        session.routes = ["10.9.0.0/16"]
        session.fullTunnel = true
        session.dnsServers = ["10.9.0.1"]
        session.dnsBackend = "resolved"
        session.counters = counters
        session.restarts = 2
        session.nextRestartAt = "2025-01-01T00:00:04Z"
        session.failure = failure
        session.containment = sessionContainment
        session.killSwitch = true
        return session
    }

    static var status: ManagerStatus {
        ManagerStatus(
            daemon: daemon, seq: 12, profiles: [profile], extensions: [extensionInfo], developerMode: true, sessions: [session],
            problems: [problem], containment: containment)
    }

    static var event: Event {
        let body = EventBody(
            kind: .upgradeFailed, actor: actor, profile: profile, name: "lab", created: true, daemon: daemon, reason: "import_failed",
            extensionInfo: extensionInfo, previousVersion: "1.2.2 (3)", error: "\(marker): import failed at /var/lib/x",
            removals: [removal], session: session, previousState: .connecting, log: ["\(marker)-KEY-4567"])
        return Event(seq: 12, epoch: "epoch-1", time: "2025-01-01T00:00:05.000Z", body: body, status: status)
    }

    /// Every stored property of `value` holds something: no nil, no empty string or collection.
    /// Makes a fixture fail when its type gains a field the fixture does not set.
    static func assertEveryFieldSet(_ value: Any, _ type: String, file: StaticString = #filePath, line: UInt = #line) {
        for child in Mirror(reflecting: value).children {
            let label = "\(type).\(child.label ?? "?")"
            let inner = Mirror(reflecting: child.value)
            if inner.displayStyle == .optional {
                XCTAssertFalse(inner.children.isEmpty, "\(label) is nil in the fixture", file: file, line: line)
            }
            if let text = child.value as? String { XCTAssertFalse(text.isEmpty, "\(label) is empty", file: file, line: line) }
            if inner.displayStyle == .collection || inner.displayStyle == .dictionary {
                XCTAssertFalse(inner.children.isEmpty, "\(label) is empty", file: file, line: line)
            }
        }
    }

    /// `value` encoded as the wire would carry it, as a JSON object.
    static func json(_ value: some Encodable) throws -> [String: Any] {
        let data = try JSONEncoder().encode(value)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Any encodable value (also arrays) as canonical JSON text (sorted keys), for comparison.
    static func jsonValue(_ value: some Encodable) throws -> String {
        canonical(try JSONSerialization.jsonObject(with: try JSONEncoder().encode(value), options: [.fragmentsAllowed]))
    }

    /// A parsed JSON value as canonical text; "absent" for nil.
    static func canonical(_ value: Any?) -> String {
        guard let value else { return "absent" }
        // try?: re-serialising what JSONSerialization parsed cannot fail; a failure reads as a mismatch.
        let data = (try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
