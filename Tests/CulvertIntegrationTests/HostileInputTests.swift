// Hostile input: crafted messages get a typed error or a clean disconnect, the daemon keeps
// serving a well-behaved client throughout, and its memory returns near where it started.

import CulvertSystem
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class HostileInputTests: XCTestCase {
    /// One crafted input and what it is meant to exercise.
    struct Attack {
        var name: String
        var bytes: [UInt8]
        /// Close our sending side after writing (for inputs without a terminating NUL).
        var halfClose = false
    }

    static func attacks() -> [Attack] {
        var attacks: [Attack] = []
        func add(_ name: String, _ text: String, nul: Bool = true) {
            attacks.append(Attack(name: name, bytes: Array(text.utf8) + (nul ? [0] : []), halfClose: !nul))
        }
        let valid =
            #"{"method":"io.culvert.Manager.SaveProfile","parameters":{"profile":{"name":"x","extension":"io.culvert.test","options":{"k":"v"}}}}"#
        // Every truncation of a valid call: malformed JSON of many shapes.
        for cut in 1..<valid.utf8.count { add("truncated-\(cut)", String(valid.utf8.prefix(cut))!) }  // ASCII: any prefix is valid UTF-8
        // The same bytes without the NUL terminator, peer then closes.
        for cut in stride(from: 5, to: valid.utf8.count, by: 9) {
            add("unterminated-\(cut)", String(valid.utf8.prefix(cut))!, nul: false)  // ASCII, as above
        }
        // Single-byte corruptions of a valid call.
        let validBytes = Array(valid.utf8)
        for i in 0..<validBytes.count {
            for replacement: UInt8 in [0x22, 0x7B, 0x5D, 0xFF, 0x01, 0x00, 0x5C, 0x3A] {
                var bytes = validBytes
                bytes[i] = replacement
                attacks.append(Attack(name: "corrupt-\(i)-\(replacement)", bytes: bytes + [0]))
            }
        }
        // Invalid UTF-8 in strings and keys.
        for bad: [UInt8] in [[0xC3], [0xFF], [0xED, 0xA0, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xC0, 0xAF], [0xE2, 0x82]] {
            attacks.append(
                Attack(
                    name: "utf8-value-\(bad)",
                    bytes: Array(#"{"method":"io.culvert.Manager.RemoveProfile","parameters":{"name":""#.utf8) + bad + Array(#""}}"#.utf8)
                        + [0]))
            attacks.append(
                Attack(
                    name: "utf8-key-\(bad)",
                    bytes: Array(#"{"method":"io.culvert.Manager.Ping","#.utf8) + [0x22] + bad + Array(#"":1}"#.utf8) + [0]))
        }
        // Deep nesting, in parameters and at the top.
        for depth in [65, 100, 1000, 100_000] {
            add(
                "deep-array-\(depth)",
                #"{"method":"io.culvert.Manager.Ping","parameters":{"x":"# + String(repeating: "[", count: depth)
                    + String(repeating: "]", count: depth) + "}}")
            add("deep-object-\(depth)", String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth))
        }
        // Unknown interfaces and methods, odd method strings.
        for method in [
            "io.culvert.Nope.Ping", "io.culvert.Manager.Nope", "org.varlink.service.Nope", "Ping", "", ".", "io.culvert.Manager.",
            "a.b.c.d.e.f", String(repeating: "a.", count: 5000),
        ] {
            add("method-\(method.prefix(20))", JSONValue.object(["method": .string(method)]).jsonString)
        }
        // Wrong parameter types for every method.
        let wrongValues: [JSONValue] = [1, 1.5, true, "s", [1, 2], ["k": 1], .null]
        for value in wrongValues {
            add(
                "save-profile-\(value.typeName)",
                JSONValue.object(["method": "io.culvert.Manager.SaveProfile", "parameters": ["profile": value]]).jsonString)
            add(
                "remove-name-\(value.typeName)",
                JSONValue.object(["method": "io.culvert.Manager.RemoveProfile", "parameters": ["name": value]]).jsonString)
            add(
                "watch-since-\(value.typeName)",
                JSONValue.object(["method": "io.culvert.Manager.Watch", "more": true, "parameters": ["since": value]]).jsonString)
            add(
                "options-\(value.typeName)",
                JSONValue.object([
                    "method": "io.culvert.Manager.SaveProfile",
                    "parameters": ["profile": ["name": "n", "extension": "a.b", "options": ["k": value]]],
                ]).jsonString)
            add("parameters-\(value.typeName)", JSONValue.object(["method": "io.culvert.Manager.Ping", "parameters": value]).jsonString)
            add("method-type-\(value.typeName)", JSONValue.object(["method": value]).jsonString)
            add("more-type-\(value.typeName)", JSONValue.object(["method": "io.culvert.Manager.Ping", "more": value]).jsonString)
            add(
                "interface-type-\(value.typeName)",
                JSONValue.object(["method": "org.varlink.service.GetInterfaceDescription", "parameters": ["interface": value]]).jsonString)
        }
        add("unknown-parameter", #"{"method":"io.culvert.Manager.Ping","parameters":{"surprise":1}}"#)
        add("missing-required", #"{"method":"io.culvert.Manager.RemoveProfile","parameters":{}}"#)
        add("duplicate-key", #"{"method":"io.culvert.Manager.Ping","method":"io.culvert.Manager.GetStatus"}"#)
        add("not-an-object", "[1,2,3]")
        add("bare-string", #""io.culvert.Manager.Ping""#)
        add("empty", "")
        add("whitespace", "   \n\t ")
        add("huge-int", #"{"method":"io.culvert.Manager.Watch","more":true,"parameters":{"since":123456789012345678901234567890}}"#)
        add("huge-exponent", #"{"method":"io.culvert.Manager.Watch","more":true,"parameters":{"since":1e999999}}"#)
        add("control-char", "{\"method\":\"io.culvert.Manager.Ping\u{01}\"}")
        add("bad-escape", #"{"method":"io.culvert.Manager.P\qing"}"#)
        add("lone-surrogate", #"{"method":"io.culvert.Manager.RemoveProfile","parameters":{"name":"\udc00"}}"#)
        add("upgrade", #"{"method":"io.culvert.Manager.Ping","upgrade":true}"#)
        // Huge arrays and maps inside the limit.
        let manyOptions = (0..<100_000).map { "\"k\($0)\":\"v\"" }.joined(separator: ",")
        add(
            "huge-map",
            #"{"method":"io.culvert.Manager.SaveProfile","parameters":{"profile":{"name":"big","extension":"a.b","options":{"# + manyOptions
                + "}}}}")
        add(
            "huge-array",
            #"{"method":"io.culvert.Manager.Ping","parameters":{"x":["# + Array(repeating: "1", count: 1_000_000).joined(separator: ",")
                + "]}}")
        add(
            "huge-string",
            #"{"method":"io.culvert.Manager.RemoveProfile","parameters":{"name":""# + String(repeating: "a", count: 8 << 20) + #""}}"#)
        // Exactly over the 16 MiB message limit (NUL included).
        let filler = VarlinkLimits.defaultMaximumMessageSize - #"{"method":"io.culvert.Manager.Ping","parameters":{"x":""}}"#.utf8.count
        add("over-limit", #"{"method":"io.culvert.Manager.Ping","parameters":{"x":""# + String(repeating: "z", count: filler) + #""}}"#)
        // Several calls pipelined, one bad one in the middle.
        attacks.append(
            Attack(
                name: "pipelined",
                bytes: Array(#"{"method":"io.culvert.Manager.Ping"}"#.utf8) + [0] + Array("{bad".utf8) + [0]
                    + Array(#"{"method":"io.culvert.Manager.Ping"}"#.utf8) + [0]))
        return attacks
    }

    /// Reads until a reply with an error arrives (typed) or the daemon closes. Fails the test on anything else.
    func outcome(of attack: Attack, on connection: VarlinkClientConnection) -> String {
        do {
            try connection.sendRaw(attack.bytes)
            if attack.halfClose { connection.descriptor.shutdownWrite() }
        } catch VarlinkClientError.disconnected {
            return "disconnected"
        } catch {
            XCTFail("\(attack.name): sending failed: \(error)")
            return "send-failed"
        }
        // A corruption can still be a valid call (e.g. `{` replaced by `{`): then a final reply is
        // the right answer. A pipelined attack gets replies before its error.
        var accepted = false
        for _ in 0..<4 {
            do {
                let reply = try connection.receive(timeoutMilliseconds: accepted ? 300 : replyTimeoutMilliseconds)
                if let error = reply.error { return error }
                accepted = true
            } catch VarlinkClientError.timedOut where accepted {
                return "accepted"
            } catch VarlinkClientError.disconnected {
                return "disconnected"
            } catch VarlinkClientError.timedOut {
                XCTFail("\(attack.name): no reply and no disconnect within \(replyTimeoutMilliseconds) ms")
                return "hang"
            } catch {
                XCTFail("\(attack.name): \(error)")
                return "invalid"
            }
        }
        return "accepted"
    }

    func testCraftedMessagesGetTypedErrorsOrCleanDisconnects() throws {
        let daemon = try startDaemon(self)
        let attacks = Self.attacks()
        XCTAssertGreaterThanOrEqual(attacks.count, 1000)

        let wellBehaved = try daemon.connect()
        try wellBehaved.saveProfile("keeper")
        let watcher = try daemon.connect()
        try watcher.startWatch()
        let watchStart = try XCTUnwrap(try watcher.nextEvent()["seq"]?.intValue)
        // Warm up so the baseline includes the daemon's steady-state allocations.
        for _ in 0..<50 { _ = try wellBehaved.call("io.culvert.Manager.GetStatus") }
        let baseline = daemon.residentKilobytes

        var outcomes: [String: Int] = [:]
        for (index, attack) in attacks.enumerated() {
            let connection = try daemon.connect()
            let result = outcome(of: attack, on: connection)
            connection.close()
            outcomes[result, default: 0] += 1
            XCTAssertTrue(
                result == "disconnected" || result == "accepted" || result.hasPrefix("org.varlink.service.")
                    || result.hasPrefix("io.culvert."),
                "\(attack.name): \(result)")
            if index % 25 == 0 {
                let status = try wellBehaved.call("io.culvert.Manager.GetStatus", timeoutMilliseconds: replyTimeoutMilliseconds)
                XCTAssertEqual(status["status"]?["profiles"]?.arrayValue?.first?["name"], "keeper", "after \(attack.name)")
            }
        }
        print("hostile input: \(attacks.count) messages, outcomes: \(outcomes.sorted { $0.key < $1.key })")

        // The watcher kept receiving every event in order (corruptions that were still valid
        // saves produce real events), and nothing refused left a trace.
        try wellBehaved.saveProfile("after")
        var expected = watchStart + 1
        while true {
            let event = try watcher.nextEvent()
            XCTAssertEqual(event["seq"]?.intValue, expected)
            expected += 1
            if event["profile"]?["name"] == "after" { break }
        }
        let status = try wellBehaved.call("io.culvert.Manager.GetStatus")
        let names = Set(status["status"]?["profiles"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
        XCTAssertTrue(names.isSubset(of: ["keeper", "after", "x", "n"]), "unexpected profiles: \(names)")

        // Memory returns near its baseline once the big buffers are released.
        var resident = daemon.residentKilobytes
        for _ in 0..<20 where resident > baseline + Self.residentSlackKilobytes {
            usleep(100_000)
            resident = daemon.residentKilobytes
        }
        print("hostile input: daemon RSS baseline \(baseline) KiB, after \(resident) KiB")
        XCTAssertLessThanOrEqual(resident, baseline + Self.residentSlackKilobytes)
    }

    /// How far above its baseline the daemon's RSS may stay after the attacks: allocator caching,
    /// far below the 16 MiB a single retained message buffer would cost.
    static let residentSlackKilobytes = 12 * 1024
}
