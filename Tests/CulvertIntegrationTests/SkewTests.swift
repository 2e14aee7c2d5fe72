// Version skew (issue 12): culvertctl and culvert-tui of an older commit against this culvertd,
// and this culvertctl against the older culvertd. The older products are built from git by
// scripts/skew-build (pinned commit and why: see the script), once, under .build-skew/; without
// the git history this test fails, loudly, rather than skipping.

import CulvertBundle
import CulvertSystem
import CulvertTesting
import CulvertVarlink
import Foundation
import XCTest

final class SkewTests: XCTestCase {
    /// The older products, built on first use (a no-op once built).
    static let oldProducts: Result<String, SkewBuildError> = {
        do {
            let result = try runProgram(Repository.root + "/scripts/skew-build", [])
            let directory = Repository.root + "/.build-skew/build/debug"
            guard result.status == 0, FileManager.default.fileExists(atPath: directory + "/culvertd") else {
                return .failure(SkewBuildError(output: "exit status \(result.status)\n" + result.output))
            }
            return .success(directory)
        } catch {
            return .failure(SkewBuildError(output: "\(error)"))
        }
    }()

    struct SkewBuildError: Error, CustomStringConvertible {
        var output: String
        var description: String { "scripts/skew-build failed (the skew matrix needs the git history):\n\(output)" }
    }

    private func old() throws -> String { try Self.oldProducts.get() }

    /// A daemon of `executable` on private directories, with a developer-mode policy so unsigned bundles install.
    private func daemon(_ executable: String) throws -> (DaemonProcess, TemporaryDirectory) {
        let directory = try TemporaryDirectory(prefix: "culvert-skew")
        let daemon = DaemonProcess(root: directory.path, executable: executable)
        try BundleFixture.policy(configDirectory: daemon.configDirectory, developerMode: true)
        addTeardownBlock {
            daemon.crash()
            directory.remove()
        }
        try daemon.start()
        return (daemon, directory)
    }

    /// Runs `ctl` (a culvertctl binary) against `daemon`; fails the test on a non-zero exit.
    @discardableResult
    private func run(_ ctl: String, _ daemon: DaemonProcess, _ arguments: [String], line: UInt = #line) throws -> String {
        let result = try runProgram(ctl, ["--socket", daemon.socketPath] + arguments)
        XCTAssertEqual(result.status, 0, "\(ctl) \(arguments.joined(separator: " ")): \(result.output)", line: line)
        return result.output
    }

    /// The commands an administrator types, each checked for exit 0 and its telling output.
    private func matrix(ctl: String, daemon: DaemonProcess, bundleDirectory: String) throws {
        XCTAssertTrue(try run(ctl, daemon, ["status"]).contains("culvertd"))
        try run(ctl, daemon, ["profile", "add", "office", "--extension", "io.culvert.test", "--option", "mtu=1420"])
        XCTAssertTrue(try run(ctl, daemon, ["profile", "list"]).contains("office"))
        XCTAssertTrue(try run(ctl, daemon, ["profile", "show", "office"]).contains("1420"))
        XCTAssertTrue(try run(ctl, daemon, ["--json", "profile", "show", "office"]).contains("io.culvert.test"))
        let bundle = try BundleFixture.make(in: bundleDirectory, key: nil)
        XCTAssertTrue(try run(ctl, daemon, ["extension", "install", bundle]).contains("io.culvert.test"))
        XCTAssertTrue(try run(ctl, daemon, ["extension", "list"]).contains("io.culvert.test"))
        // Watch replays from a position: the daemon's start, the profile saved, the install.
        let status = try JSONSerialization.jsonObject(with: Data(try run(ctl, daemon, ["--json", "status"]).utf8)) as? [String: Any]
        let epoch = try XCTUnwrap((status?["daemon"] as? [String: Any])?["epoch"] as? String, "status names no epoch")
        let watch = try runProgram(
            "/usr/bin/timeout", ["30", ctl, "--socket", daemon.socketPath, "watch", "--since", "0", "--epoch", epoch, "--count", "3"])
        XCTAssertEqual(watch.status, 0, watch.output)
        for kind in ["daemon_started", "profile_saved", "extension_installed"] where !watch.output.contains(kind) {
            XCTFail("watch lacks \(kind):\n\(watch.output)")
        }
        try run(ctl, daemon, ["profile", "remove", "office"])
        XCTAssertTrue(try run(ctl, daemon, ["--json", "status"]).contains("\"extensions\""))
    }

    func testOldCulvertctlAgainstThisDaemon() throws {
        let old = try old()
        let (daemon, directory) = try daemon(Products.path(of: "culvertd"))
        try matrix(ctl: old + "/culvertctl", daemon: daemon, bundleDirectory: directory.path)
    }

    func testThisCulvertctlAgainstTheOldDaemon() throws {
        let old = try old()
        let (daemon, directory) = try daemon(old + "/culvertd")
        try matrix(ctl: Products.path(of: "culvertctl"), daemon: daemon, bundleDirectory: directory.path)
    }

    /// A method the daemon does not have (a newer client's) is a typed MethodNotFound that names
    /// the daemon's version; the standard `method` member is unchanged.
    func testUnknownMethodNamesTheDaemonsVersion() throws {
        let (daemon, _) = try daemon(Products.path(of: "culvertd"))
        let connection = try daemon.connect()
        do {
            _ = try connection.call("io.culvert.Manager.FromTheFuture", timeoutMilliseconds: replyTimeoutMilliseconds)
            XCTFail("an unknown method was answered")
        } catch VarlinkClientError.remote(let error) {
            XCTAssertEqual(error.name, "org.varlink.service.MethodNotFound")
            XCTAssertEqual(error.parameters["method"]?.stringValue, "io.culvert.Manager.FromTheFuture")
            let ping = try connection.call("io.culvert.Manager.Ping", timeoutMilliseconds: replyTimeoutMilliseconds)
            let version = try XCTUnwrap(ping["version"]?.stringValue)
            XCTAssertTrue(error.parameters["hint"]?.stringValue?.contains("culvertd \(version)") == true, error.description)
        }
    }

    func testOldTUIShowsLiveAgainstThisDaemon() throws {
        let old = try old()
        let (daemon, _) = try daemon(Products.path(of: "culvertd"))
        let pane = TmuxPane("skew")
        addTeardownBlock { pane.kill() }
        try pane.start("env -u NO_COLOR LANG=C.UTF-8 \(old)/culvert-tui --socket \(daemon.socketPath)")
        try pane.waitFor("live status") { TUITests.statusLine($0).hasPrefix("live · seq 1") }
        try run(Products.path(of: "culvertctl"), daemon, ["profile", "add", "office", "--extension", "io.culvert.test"])
        try pane.waitFor("live · seq 2") { TUITests.statusLine($0).hasPrefix("live · seq 2") }
    }
}
