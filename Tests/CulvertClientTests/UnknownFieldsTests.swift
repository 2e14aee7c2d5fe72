// Version skew: a newer culvertd may add members to any reply, event or nested object. CulvertClient
// must decode such replies to exactly what it decodes without them (unknown members ignored).

import CulvertCore
import CulvertVarlink
import CulvertWire
import XCTest

@testable import CulvertClient

final class UnknownFieldsTests: XCTestCase {
    /// Adds unknown members of every JSON type to every object except string maps (a profile's
    /// `options`: there a member is data, and a newer daemon adds none).
    static func widened(_ value: JSONValue, key: String? = nil) -> JSONValue {
        switch value {
        case .object(let members):
            var next = members.mapValues { $0 }
            for (name, member) in members { next[name] = widened(member, key: name) }
            guard key != "options" else { return .object(next) }
            next["futureString"] = "from a newer culvertd"
            next["futureNumber"] = 42
            next["futureObject"] = ["nested": ["deeper": true]]
            next["futureList"] = [1, "two", .null]
            next["futureNull"] = .null
            return .object(next)
        case .array(let elements):
            return .array(elements.map { widened($0, key: key) })
        default:
            return value
        }
    }

    private func assertTolerant<T: Codable & Equatable>(_ value: T, file: StaticString = #filePath, line: UInt = #line) throws {
        let plain = try WireCoding.jsonValue(value)
        let wide = Self.widened(plain)
        XCTAssertNotEqual(plain, wide, "the widening added nothing", file: file, line: line)
        XCTAssertEqual(try WireDecoding.decode(T.self, from: wide, what: "\(T.self)"), value, file: file, line: line)
    }

    func testEveryReplyAndEventIgnoresUnknownMembers() throws {
        let daemon = DaemonInfo(version: "0.1.0", pid: 7, epoch: "e1", startedAt: "2025-01-01T00:00:00.000Z")
        let profile = Profile(name: "office", extensionIdentifier: "io.culvert.test", options: ["mtu": "1420"], secretNames: ["key"])
        let info = ExtensionInfo(
            identifier: "io.culvert.test", displayName: "Test", version: "1.0.0", build: 1, publisher: "unsigned", signed: false,
            state: .enabled, reason: "installed", capabilities: [], source: "/src", storePath: "/store", contentDigest: "abc",
            installedAt: "2025-01-01T00:00:00.000Z")
        var session = SessionInfo(
            profile: "office", id: "s1", extensionIdentifier: "io.culvert.test", extensionVersion: "1.0.0", requestedAt: "T0")
        session.state = .connected
        session.routes = ["10.0.0.0/8"]
        session.connectedBy = Actor(uid: 0, pid: 9, command: "culvertctl")
        session.failure = SessionFailure(reason: .providerExited, description: "exited", exitStatus: 3, log: ["a"])
        let status = ManagerStatus(
            daemon: daemon, seq: 4, profiles: [profile], extensions: [info], developerMode: true, sessions: [session],
            problems: [Problem(kind: "corrupt", path: "/p", description: "bad", movedTo: nil)])

        try assertTolerant(PingReply(version: "0.1.0", epoch: "e1", seq: 4))
        try assertTolerant(status)
        try assertTolerant(SavedProfile(profile: profile, created: true, seq: 2))
        try assertTolerant(InstallResult(result: .installed, extensionInfo: info, seq: 3))
        try assertTolerant([info])
        try assertTolerant(SessionChange(session: session, seq: 5))
        for body in [
            EventBody(kind: .profileSaved, actor: Actor(uid: 0, pid: 1, command: "culvertctl"), profile: profile, created: true),
            EventBody(kind: .extensionInstalled, reason: "installed", extensionInfo: info),
            EventBody(kind: .sessionState, session: session, previousState: .connecting, log: ["line"]),
            EventBody(kind: .daemonStarted, daemon: daemon),
        ] {
            try assertTolerant(Event(seq: 6, epoch: "e1", time: "T", body: body))
        }
        try assertTolerant(Event(seq: 7, epoch: "e1", time: "T", body: EventBody(kind: .snapshot, reason: "no_position"), status: status))
    }
}
