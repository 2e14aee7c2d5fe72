// culvert-tui over a live tunnel (issue 6 acceptance): culvertd in a private namespace with the
// test provider (TunnelLab), the TUI in an 80×24 tmux pane against its socket. A profile connected
// with `c` carries a ping and the pane shows its rates; changes made with culvertctl appear without
// a key press; a re-exec and a kill -9 + restart show their transient state and end live, with the
// same data as `culvertctl status --json`. Every wait is bounded.

import CulvertTesting
import Foundation
import Glibc
import XCTest

final class TUITunnelTests: XCTestCase {
    /// A background ping's count and interval: 30 s at most, stopped as soon as it served.
    static let pingArguments = ["ping", "-c", "150", "-i", "0.2", "-W", "1", TunnelLab.tunnelAddressB]

    var tui: String { Products.path(of: "culvert-tui") }

    func pane(_ name: String) -> TmuxPane {
        let pane = TmuxPane(name)
        addTeardownBlock { pane.kill() }
        return pane
    }

    func ctl(_ h: TunnelLab, _ arguments: [String]) throws -> String {
        let result = try runProgram(Products.path(of: "culvertctl"), ["--socket", h.daemon.socketPath] + arguments)
        XCTAssertEqual(result.status, 0, "culvertctl \(arguments): \(result.output)")
        return result.output
    }

    /// The rows of a pane: those between its header and the next pane's.
    static func rows(of title: String, _ screen: [String]) -> [String] {
        let order = ["Profiles (", "Extensions (", "Sessions (", "Events ("]
        guard let position = order.firstIndex(of: title + " ("),
            let start = screen.firstIndex(where: { $0.contains(order[position]) })
        else { return [] }
        let rest = screen[(start + 1)...]
        let end = position + 1 < order.count ? rest.firstIndex { $0.contains(order[position + 1]) } ?? screen.count : screen.count - 2
        return Array(screen[(start + 1)..<end])
    }

    /// The Sessions row of `profile`.
    static func sessionRow(_ profile: String, _ screen: [String]) -> String? {
        rows(of: "Sessions", screen).first { $0.dropFirst(2).hasPrefix(profile + " ") }
    }

    /// The received rate a session row shows ("↓1.2K/s"), in bytes per second; nil without one.
    static func receivedRate(_ row: String) -> Double? {
        guard let arrow = row.firstIndex(of: "↓") else { return nil }
        let text = row[row.index(after: arrow)...].prefix { !$0.isWhitespace }
        guard text.hasSuffix("/s"), let unit = text.dropLast(2).last, let number = Double(text.dropLast(unit.isNumber ? 2 : 3)) else {
            return nil
        }
        let scale: [Character: Double] = ["B": 1, "K": 1024, "M": 1024 * 1024, "G": 1024 * 1024 * 1024]
        return number * (scale[unit] ?? 1)
    }

    /// N of a `live · seq N` status line.
    static func liveSeq(_ screen: [String]) -> Int? {
        let line = TUITests.statusLine(screen)
        guard line.hasPrefix("live · seq ") else { return nil }
        return Int(line.dropFirst("live · seq ".count).prefix { $0.isNumber })
    }

    /// Profile names and each session's state, as `culvertctl status --json` has them.
    func daemonView(_ h: TunnelLab) throws -> (profiles: [String], sessions: [String: String], seq: Int) {
        let json = try ctl(h, ["status", "--json"])
        let status = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], json)
        let profiles = (status["profiles"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }.sorted()
        var sessions: [String: String] = [:]
        for session in status["sessions"] as? [[String: Any]] ?? [] {
            if let profile = session["profile"] as? String { sessions[profile] = session["state"] as? String }
        }
        return (profiles, sessions, try XCTUnwrap(status["seq"] as? Int, json))
    }

    /// Fails unless the screen shows what culvertd has: the profiles, each session's state, the seq.
    func assertScreenMatchesDaemon(_ h: TunnelLab, _ pane: TmuxPane, file: StaticString = #filePath, line: UInt = #line) throws {
        let view = try daemonView(h)
        let screen = try pane.waitFor("the daemon's data: \(view)", file: file, line: line) { screen in
            // At the daemon's seq or later: session_stats may have come since.
            guard let seq = Self.liveSeq(screen), seq >= view.seq, TUITests.profileNames(screen) == view.profiles else { return false }
            return view.sessions.allSatisfy { profile, state in
                Self.sessionRow(profile, screen)?.contains(" \(state) (") == true
            }
        }
        XCTAssertFalse(screen.contains { $0.contains("[stale]") }, screen.joined(separator: "\n"), file: file, line: line)
    }

    // Connect with `c`; the pane shows connected and the traffic of a ping through the tunnel;
    // culvertctl disconnects, saves a profile and upgrades the extension: each shows without a key.
    func testConnectWithTheKeyShowsTrafficAndChangesFromAnotherShell() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("backup", options: ["peer": "192.0.2.1:9"])
        try h.saveProfile("lab")
        let pane = pane("tunnel")
        try pane.start("env LANG=C.UTF-8 \(tui) --socket \(h.daemon.socketPath)")
        try pane.waitFor("both profiles, live") {
            TUITests.profileNames($0) == ["backup", "lab"] && TUITests.statusLine($0).hasPrefix("live")
        }

        // Select lab (the second profile) and connect it.
        try pane.send("j")
        try pane.waitFor("lab selected") { $0.contains { $0.hasPrefix("› lab ") } }
        try pane.send("c")
        var screen = try pane.waitFor("connected") { screen in
            Self.sessionRow("lab", screen)?.contains("● connected (") == true && screen.contains { $0.hasPrefix("lab is connected on ") }
        }
        let connected = try XCTUnwrap(Self.sessionRow("lab", screen))
        XCTAssertTrue(connected.contains("● connected (provider_started)"), "the state and its reason, uncut: \(connected)")

        // A ping through the tunnel: the rates go above zero and the sparkline rises.
        let ping = try h.namespaces.spawn(in: h.namespaces.a, Self.pingArguments, output: h.directory.path + "/ping.log")
        defer { if ping.isRunning { ping.terminate() } }
        screen = try pane.waitFor("traffic") { screen in
            guard let row = Self.sessionRow("lab", screen), let rate = Self.receivedRate(row) else { return false }
            return rate > 0 && row.contains { "▂▃▄▅▆▇█".contains($0) }
        }
        let moving = try XCTUnwrap(Self.sessionRow("lab", screen))
        XCTAssertTrue(try pane.capture(joined: true).allSatisfy { $0.count <= 80 }, screen.joined(separator: "\n"))
        XCTAssertTrue(moving.contains(" cvt"), "the TUN's name: \(moving)")
        // The counters themselves, in the execution context (i).
        try pane.send("i")
        screen = try pane.waitFor("counters") { screen in
            screen.contains { row in
                row.contains("received") && !row.contains("(0 bytes") && row.contains("bytes,")
            }
        }
        XCTAssertTrue(screen.contains { $0.contains("connected by") && $0.contains("uid 0") }, screen.joined(separator: "\n"))
        try pane.send("Escape")
        try pane.waitFor("Sessions (1)")
        ping.terminate()
        ping.waitUntilExit()

        // From another shell, with no key pressed from here on.
        _ = try ctl(h, ["disconnect", "lab"])
        screen = try pane.waitFor("disconnected") { Self.sessionRow("lab", $0)?.contains("○ disconnected (") == true }
        XCTAssertFalse(screen.contains { $0.hasPrefix("lab is connected") }, "an outdated result is taken down: \(screen)")
        _ = try ctl(h, ["profile", "add", "night", "--extension", TunnelLab.extensionIdentifier])
        try pane.waitFor("night listed") { TUITests.profileNames($0) == ["backup", "lab", "night"] }
        let upgrade = try h.providerBundle(version: "1.1.0", build: 2)
        _ = try ctl(h, ["extension", "install", upgrade])
        screen = try pane.waitFor("version 1.1.0") { screen in
            Self.rows(of: "Extensions", screen).contains { $0.contains(TunnelLab.extensionIdentifier) && $0.contains("1.1.0 (2)") }
        }
        XCTAssertTrue(
            screen.contains { $0.contains("extension_replaced") || $0.contains("extension_installed") }, screen.joined(separator: "\n"))
        try assertScreenMatchesDaemon(h, pane)
    }

    // Re-exec, then kill -9 and restart, with a tunnel up: the pane shows each transient state,
    // comes back live, and shows what culvertd has.
    func testReexecAndCrashWhileWatchingATunnel() throws {
        let h = try TunnelLab(test: self)
        try h.saveProfile("lab")
        try h.connect("lab")
        let pane = pane("restarts")
        try pane.start("env LANG=C.UTF-8 \(tui) --socket \(h.daemon.socketPath)")
        try pane.waitFor("connected, live") { screen in
            Self.sessionRow("lab", screen)?.contains("● connected (") == true && TUITests.statusLine(screen).hasPrefix("live")
        }
        try assertScreenMatchesDaemon(h, pane)

        // Re-exec: the channel stays open; going away, back, live, nothing stale. The screen is
        // watched while culvertctl waits for the new image.
        let reexec = Process()
        reexec.executableURL = URL(fileURLWithPath: Products.path(of: "culvertctl"))
        reexec.arguments = ["--socket", h.daemon.socketPath, "daemon", "reexec"]
        reexec.standardOutput = FileHandle.nullDevice
        try reexec.run()
        var transient: [String] = []
        let reexecDeadline = Date().addingTimeInterval(TmuxPane.waitSeconds)
        while reexec.isRunning, Date() < reexecDeadline {
            transient.append(TUITests.statusLine(try pane.capture()))
        }
        reexec.waitUntilExit()
        XCTAssertEqual(reexec.terminationStatus, 0)
        // The going-away line lasts about as long as one capture, so it is seen only sometimes (the
        // unit tests pin its text); what must never show is a reconnect: a re-exec keeps the channel.
        XCTAssertFalse(transient.contains { $0.hasPrefix("reconnecting") || $0.hasPrefix("resynced") }, "\(transient)")
        var screen = try pane.waitFor("back after the re-exec") { screen in
            screen.contains { $0.hasPrefix("culvertd re-executed: ") } && TUITests.statusLine(screen).hasPrefix("live · seq")
        }
        let events = Self.rows(of: "Events", screen)
        XCTAssertTrue(events.contains { $0.contains("daemon_going_away") }, screen.joined(separator: "\n"))
        XCTAssertTrue(events.contains { $0.contains("daemon_back culvertd") }, screen.joined(separator: "\n"))
        XCTAssertTrue(Self.sessionRow("lab", screen)?.contains("● connected (") == true, screen.joined(separator: "\n"))
        try assertScreenMatchesDaemon(h, pane)

        // kill -9: reconnecting and stale; restarted, the provider is re-adopted: resynced, then live.
        h.daemon.crash()
        screen = try pane.waitFor("reconnecting") { TUITests.statusLine($0).hasPrefix("reconnecting…") }
        XCTAssertTrue(screen.contains { $0.contains("Sessions (1) [stale]") }, screen.joined(separator: "\n"))
        try h.daemon.start()
        try pane.waitFor("resynced") { TUITests.statusLine($0).hasPrefix("resynced after crash") }
        screen = try pane.waitFor("live again") { TUITests.statusLine($0).hasPrefix("live · seq") }
        XCTAssertTrue(Self.sessionRow("lab", screen)?.contains("● connected (") == true, screen.joined(separator: "\n"))
        try assertScreenMatchesDaemon(h, pane)
    }

    // A connect that waits shows its seconds, then the typed failure; the row turns to the reason.
    func testLongConnectShowsProgressThenTheTypedError() throws {
        let h = try TunnelLab(test: self, startPeer: false)
        try h.saveProfile("slow", options: ["behaviour": "hang-on-start"])
        let pane = pane("slow")
        try pane.start("env LANG=C.UTF-8 \(tui) --socket \(h.daemon.socketPath)")
        try pane.waitFor("slow listed") { TUITests.profileNames($0) == ["slow"] && TUITests.statusLine($0).hasPrefix("live") }
        try pane.send("c")
        // culvertd gives StartTunnel 3 s here (TunnelLab's --start-timeout).
        try pane.waitFor("seconds counted") { $0.contains { $0.hasPrefix("connecting slow… 1s") || $0.hasPrefix("connecting slow… 2s") } }
        let screen = try pane.waitFor("the typed failure") { screen in
            screen.contains { $0.hasPrefix("connect slow failed (l shows the log): start_timeout: ") }
        }
        XCTAssertTrue(Self.sessionRow("slow", screen)?.contains("start_timeout") == true, screen.joined(separator: "\n"))
        try pane.send("l")
        try pane.waitFor("Log of slow")
    }
}
