// culvertctl's bundle and extension commands against real files and a real culvertd: keys,
// signing, offline verification, install/list/show/uninstall, the spool, approval and gc.

import CulvertBundle
import CulvertCore
import CulvertSystem
import CulvertTesting
import Foundation
import XCTest

final class CulvertctlExtensionTests: XCTestCase {
    /// Set in setUp, before any test runs.
    var work: TemporaryDirectory!

    override func setUpWithError() throws {
        work = try TemporaryDirectory(prefix: "culvertctl-ext")
    }

    override func tearDown() { work.remove() }

    // MARK: help

    func testHelpDocumentsEveryExtensionAndBundleCommand() throws {
        let root = try culvertctl(["--help"])
        XCTAssertEqual(root.status, 0)
        for line in ["  extension  ", "  bundle  ", "culvertctl extension install", "ExtensionNotFound", "BundleRejected"] {
            XCTAssertTrue(root.stdout.contains(line), "root --help lacks \(line):\n\(root.stdout)")
        }
        for command in [
            ["extension"], ["extension", "install"], ["extension", "list"], ["extension", "show"], ["extension", "approve"],
            ["extension", "uninstall"], ["extension", "gc"], ["bundle"], ["bundle", "keygen"], ["bundle", "sign"],
            ["bundle", "verify"],
        ] {
            let help = try culvertctl(command + ["--help"])
            XCTAssertEqual(help.status, 0, "\(command) --help")
            XCTAssertTrue(help.stdout.hasPrefix("OVERVIEW: "), "\(command) --help has no abstract")
            XCTAssertTrue(help.stdout.contains("EXAMPLES\n  culvertctl "), "\(command) --help has no examples:\n\(help.stdout)")
            XCTAssertTrue(help.stdout.contains("--json"), "\(command): --json")
            // Examples fit the 80 columns the help is wrapped to: a wrapped example would not paste.
            let examples = help.stdout.components(separatedBy: "EXAMPLES\n").last?.components(separatedBy: "\n\n").first ?? ""
            for example in examples.split(separator: "\n") {
                XCTAssertTrue(example.hasPrefix("  "), "\(command): wrapped example line \(example)")
            }
        }
    }

    // MARK: bundle keygen, sign, verify (offline)

    func testKeygenSignVerifyAndTamperedBundle() throws {
        let publisher = try makePublisher()
        XCTAssertEqual(FileSystem.mode(of: publisher.keyFile), 0o600)
        XCTAssertEqual(FileSystem.mode(of: publisher.publicKeyFile), 0o644)
        XCTAssertEqual(try PublisherKey.load(from: publisher.publicKeyFile).fingerprint, publisher.fingerprint)
        XCTAssertEqual(try SigningKey.load(from: publisher.keyFile).publisherKey.fingerprint, publisher.fingerprint)

        // A key is never overwritten.
        let keyBytes = try FileSystem.readFile(publisher.keyFile)
        let again = try culvertctl(["--json", "bundle", "keygen", "--output", publisher.keyFile])
        XCTAssertEqual(again.status, 1)
        XCTAssertEqual(try errorCode(again), "key_file_exists")
        XCTAssertEqual(try FileSystem.readFile(publisher.keyFile), keyBytes)

        let bundle = try BundleFixture.make(in: work.file("src"), key: nil)
        let unsigned = try culvertctl(["bundle", "verify", bundle, "--trusted-keys", publisher.trustDirectory])
        XCTAssertEqual(unsigned.status, 65, unsigned.stderr)
        XCTAssertTrue(unsigned.stderr.hasPrefix("culvertctl: error: bundle is invalid: unsigned_bundle: "), unsigned.stderr)
        let allowed = try culvertctl(["bundle", "verify", bundle, "--allow-unsigned", "--trusted-keys", publisher.trustDirectory])
        XCTAssertEqual(allowed.status, 0, allowed.stderr)
        XCTAssertEqual(allowed.stdoutLines.last, "verdict         valid: UNSIGNED (accepted with --allow-unsigned)")

        let signed = try culvertctl(["bundle", "sign", "--key", publisher.keyFile, bundle])
        XCTAssertEqual(signed.status, 0, signed.stderr)
        XCTAssertTrue(signed.stdoutLines.contains("publisher       \(publisher.fingerprint)"), signed.stdout)
        XCTAssertTrue(signed.stdoutLines.contains("signature       \(bundle)/signature.json"), signed.stdout)
        XCTAssertTrue(FileSystem.exists(bundle + "/signature.json"))

        let valid = try culvertctl(["bundle", "verify", bundle, "--trusted-keys", publisher.trustDirectory])
        XCTAssertEqual(valid.status, 0, valid.stderr)
        XCTAssertEqual(valid.stderr, "")
        let lines = valid.stdoutLines
        XCTAssertEqual(
            Array(lines.prefix(8)),
            [
                "bundle          \(bundle)", "identifier      io.culvert.test", "display name    Test provider 1.0.0",
                "version         1.0.0 (1)", "publisher       \(publisher.fingerprint)", "capabilities    none",
                "executable      bin/provider", "files           3",
            ])
        XCTAssertEqual(
            lines.dropFirst(8).prefix(3).map { $0.split(separator: " ").first.map(String.init) },
            ["README", "bin/provider", "manifest.json"])
        XCTAssertEqual(lines.last, "verdict         valid: signed by a trusted key")

        let validJSON = try jsonObject(
            try culvertctl(["--json", "bundle", "verify", bundle, "--trusted-keys", publisher.trustDirectory]).stdout)
        XCTAssertEqual(validJSON["valid"] as? Bool, true)
        let summary = try XCTUnwrap(validJSON["bundle"] as? [String: Any])
        XCTAssertEqual(summary["identifier"] as? String, "io.culvert.test")
        XCTAssertEqual(summary["build"] as? Int, 1)
        XCTAssertEqual(summary["publisher"] as? String, publisher.fingerprint)
        XCTAssertEqual((summary["files"] as? [[String: Any]])?.count, 3)

        // Nobody trusted: the same bundle is invalid.
        let nobody = work.file("no-keys")
        try FileSystem.createDirectory(nobody)
        let untrusted = try culvertctl(["bundle", "verify", bundle, "--trusted-keys", nobody])
        XCTAssertEqual(untrusted.status, 65)
        XCTAssertTrue(untrusted.stdoutLines.last?.hasPrefix("verdict  INVALID: untrusted_key: ") == true, untrusted.stdout)

        // One byte appended to the executable after signing.
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: bundle + "/bin/provider"))
        handle.seekToEndOfFile()
        handle.write(Data("#".utf8))
        try handle.close()
        let tampered = try culvertctl(["bundle", "verify", bundle, "--trusted-keys", publisher.trustDirectory])
        XCTAssertEqual(tampered.status, 65)
        XCTAssertEqual(
            tampered.stdoutLines,
            ["bundle   \(bundle)", "verdict  INVALID: file_hash_mismatch: bin/provider was changed after signing"])
        XCTAssertEqual(
            tampered.stderrLines, ["culvertctl: error: bundle is invalid: file_hash_mismatch: bin/provider was changed after signing"])
        let tamperedJSON = try culvertctl(["--json", "bundle", "verify", bundle, "--trusted-keys", publisher.trustDirectory])
        XCTAssertEqual(tamperedJSON.status, 65)
        XCTAssertEqual(try jsonObject(tamperedJSON.stdout)["reason"] as? String, "file_hash_mismatch")
        XCTAssertEqual(try errorCode(tamperedJSON), "file_hash_mismatch")
        XCTAssertEqual(try jsonObject(tamperedJSON.stderr)["exitCode"] as? Int, 65)

        let missing = try culvertctl(["bundle", "verify", work.file("io.culvert.none.culvertext")])
        XCTAssertEqual(missing.status, 66, missing.stderr)
        XCTAssertEqual(missing.stdout, "", "no verdict for a bundle that is not there")

        // A private key others can read is refused, as ssh refuses one.
        XCTAssertEqual(chmod(publisher.keyFile, 0o644), 0)
        let insecure = try culvertctl(["--json", "bundle", "sign", "--key", publisher.keyFile, bundle])
        XCTAssertEqual(insecure.status, 65)
        XCTAssertEqual(try errorCode(insecure), "key_file_insecure")
    }

    // MARK: install, list, show, versions, uninstall

    func testInstallListShowVersionsAndUninstall() throws {
        let publisher = try makePublisher()
        let daemon = try startDaemon(trusting: publisher)
        let socket = ["--socket", daemon.socketPath]
        let key = try SigningKey.load(from: publisher.keyFile)
        let v1 = try BundleFixture.make(in: work.file("v1"), version: "1.0.0", build: 1, key: key)

        let installed = try culvertctl(socket + ["extension", "install", v1])
        XCTAssertEqual(installed.status, 0, installed.stderr)
        XCTAssertEqual(installed.stdoutLines, ["installed io.culvert.test 1.0.0 (1), enabled, seq 2"])

        let list = try culvertctl(socket + ["extension", "list"])
        XCTAssertEqual(list.status, 0, list.stderr)
        let short = String(publisher.fingerprint.prefix(16))
        XCTAssertEqual(
            list.stdoutLines,
            TableLayout.aligned([
                ["IDENTIFIER", "VERSION", "PUBLISHER", "STATE", "STAGED", "POLICY", "SIGNED", "INSTALLED FROM"],
                ["io.culvert.test", "1.0.0 (1)", short, "enabled", "-", "now", "yes", v1],
            ]))
        let listJSON = try jsonObject(try culvertctl(socket + ["--json", "extension", "list"]).stdout)
        XCTAssertEqual(listJSON["developerMode"] as? Bool, false)
        let listed = try XCTUnwrap((listJSON["extensions"] as? [[String: Any]])?.first)
        XCTAssertEqual(listed["publisher"] as? String, publisher.fingerprint)
        XCTAssertEqual(listed["source"] as? String, v1)

        let show = try culvertctl(socket + ["extension", "show", "io.culvert.test"])
        XCTAssertEqual(show.status, 0, show.stderr)
        let storePath = try XCTUnwrap(listed["storePath"] as? String)
        XCTAssertEqual(
            Array(show.stdoutLines.prefix(9)),
            [
                "identifier      io.culvert.test", "display name    Test provider 1.0.0", "version         1.0.0 (1)",
                "publisher       \(publisher.fingerprint)", "signed          yes", "state           enabled (installed)",
                "capabilities    none", "installed from  \(v1)", "store copy      \(storePath)",
            ])
        XCTAssertEqual(
            (try jsonObject(try culvertctl(socket + ["--json", "extension", "show", "io.culvert.test"]).stdout))["storePath"] as? String,
            storePath)

        // The same version and build again: unchanged, and still success.
        let same = try culvertctl(socket + ["extension", "install", v1])
        XCTAssertEqual(same.status, 0, same.stderr)
        XCTAssertEqual(same.stdoutLines, ["unchanged: io.culvert.test 1.0.0 (1) is already installed"])
        XCTAssertEqual(
            try jsonObject(try culvertctl(socket + ["--json", "extension", "install", v1]).stdout)["result"] as? String, "unchanged")

        let v2 = try BundleFixture.make(in: work.file("v2"), version: "1.1.0", build: 7, key: key)
        let replaced = try culvertctl(socket + ["extension", "install", v2])
        XCTAssertEqual(replaced.stdoutLines, ["replaced with io.culvert.test 1.1.0 (7), enabled, seq 3"])
        let older = try culvertctl(socket + ["--json", "extension", "install", v1])
        XCTAssertEqual(older.status, 65)
        XCTAssertEqual(try errorCode(older), "downgrade_refused")
        let downgraded = try culvertctl(socket + ["extension", "install", v1, "--allow-downgrade"])
        XCTAssertEqual(downgraded.stdoutLines, ["replaced with io.culvert.test 1.0.0 (1), enabled, seq 4"])

        // Refusals: a tampered bundle, and one from a publisher culvertd does not trust.
        let bad = try BundleFixture.make(in: work.file("bad"), version: "2.0.0", build: 1, key: key)
        try Data("#!/bin/sh\nexit 1\n".utf8).write(to: URL(fileURLWithPath: bad + "/bin/provider"))
        let tampered = try culvertctl(socket + ["extension", "install", bad])
        XCTAssertEqual(tampered.status, 65)
        XCTAssertEqual(
            tampered.stderrLines,
            [
                "culvertctl: error: bundle rejected: file_hash_mismatch: bin/provider was changed after signing "
                    + "(`culvertctl bundle verify PATH` checks a bundle without culvertd)"
            ])
        let stranger = try BundleFixture.make(in: work.file("stranger"), version: "3.0.0", build: 1, key: SigningKey.generate())
        let foreign = try culvertctl(socket + ["extension", "install", stranger])
        XCTAssertEqual(foreign.status, 65)
        XCTAssertTrue(foreign.stderr.hasPrefix("culvertctl: error: bundle rejected: untrusted_key: "), foreign.stderr)
        // Trusted, newer, but another publisher than the installed version: refused.
        let other = SigningKey.generate()
        try other.publisherKey.save(to: daemon.configDirectory + "/trusted-keys/other.json")
        let rival = try BundleFixture.make(in: work.file("rival"), version: "4.0.0", build: 1, key: other)
        let mismatch = try culvertctl(socket + ["extension", "install", rival])
        XCTAssertEqual(mismatch.status, 65)
        XCTAssertEqual(
            mismatch.stderrLines,
            [
                "culvertctl: error: publisher mismatch: io.culvert.test is installed from publisher \(short), the bundle is from "
                    + "\(other.publisherKey.shortFingerprint) (another publisher cannot replace an installed extension; "
                    + "`culvertctl extension uninstall io.culvert.test` first)"
            ])
        let notThere = try culvertctl(socket + ["--json", "extension", "install", work.file("io.culvert.none.culvertext")])
        XCTAssertEqual(notThere.status, 65)
        XCTAssertEqual(try errorCode(notThere), "invalid_path")

        let uninstalled = try culvertctl(socket + ["extension", "uninstall", "io.culvert.test"])
        XCTAssertEqual(uninstalled.status, 0, uninstalled.stderr)
        XCTAssertEqual(uninstalled.stdoutLines, ["uninstalled io.culvert.test, seq 5"])
        XCTAssertFalse(FileSystem.exists(storePath))
        for command in [["extension", "uninstall", "io.culvert.test"], ["extension", "show", "io.culvert.test"]] {
            let gone = try culvertctl(socket + command)
            XCTAssertEqual(gone.status, 66, "\(command)")
            XCTAssertEqual(
                gone.stderrLines,
                [
                    #"culvertctl: error: no extension "io.culvert.test" is installed (`culvertctl extension list` shows the installed extensions)"#
                ])
        }
        XCTAssertEqual(try culvertctl(socket + ["extension", "list"]).stdoutLines, ["no extensions installed"])
    }

    // MARK: spool

    func testInstallWhileCulvertdIsDownIsSpooledAndAppliedAtStart() throws {
        let publisher = try makePublisher()
        let root = try TemporaryDirectory(prefix: "culvert-spool")
        let daemon = DaemonProcess(root: root.path)
        addTeardownBlock {
            daemon.crash()
            root.remove()
        }
        try trust(publisher, configDirectory: daemon.configDirectory)
        let bundle = try BundleFixture.make(in: work.file("src"), key: try SigningKey.load(from: publisher.keyFile))
        let install = ["--socket", daemon.socketPath, "extension", "install", bundle, "--state-dir", daemon.stateDirectory]

        let spooled = try culvertctl(install)
        XCTAssertEqual(spooled.status, 0, spooled.stderr)
        XCTAssertEqual(spooled.stderr, "")
        let spool = daemon.stateDirectory + "/spool"
        let files = try FileSystem.listDirectory(spool)
        XCTAssertEqual(files.count, 1)
        let file = try XCTUnwrap(files.first)
        XCTAssertEqual(
            spooled.stdoutLines,
            ["culvertd is not running; the install was spooled and will be applied when it starts", "spool file: \(spool)/\(file)"])
        XCTAssertTrue(file.hasSuffix(".json"))
        XCTAssertEqual(FileSystem.mode(of: spool), 0o700)
        XCTAssertEqual(FileSystem.mode(of: spool + "/" + file), 0o600)
        let request = try JSONDecoder().decode(SpoolRequest.self, from: Data(try FileSystem.readFile(spool + "/" + file)))
        XCTAssertEqual(request.path, bundle)
        XCTAssertEqual(request.allowDowngrade, false)
        XCTAssertEqual(request.requestedBy, Int64(geteuid()))

        // A second request, in JSON, sorts after the first (names start with the time).
        let second = try culvertctl(["--json"] + install + ["--allow-downgrade"])
        XCTAssertEqual(second.status, 0, second.stderr)
        let secondObject = try jsonObject(second.stdout)
        XCTAssertEqual(secondObject["result"] as? String, "spooled")
        XCTAssertEqual((secondObject["request"] as? [String: Any])?["allowDowngrade"] as? Bool, true)
        let both = try FileSystem.listDirectory(spool)
        XCTAssertEqual(both.count, 2)
        XCTAssertEqual(both.first, file)
        XCTAssertEqual(secondObject["spoolFile"] as? String, spool + "/" + (both.last ?? ""))

        try daemon.start()
        let socket = ["--socket", daemon.socketPath]
        let list = try culvertctl(socket + ["--json", "extension", "list"])
        XCTAssertEqual(list.status, 0, list.stderr)
        let extensions = try XCTUnwrap(try jsonObject(list.stdout)["extensions"] as? [[String: Any]])
        XCTAssertEqual(extensions.map { $0["identifier"] as? String }, ["io.culvert.test"])
        XCTAssertEqual(extensions.first?["source"] as? String, bundle)
        XCTAssertEqual(try FileSystem.listDirectory(spool), [], "applied requests are removed from the spool")

        // The install is an event like a live one, replayable from the start of this epoch.
        let ping = try jsonObject(try culvertctl(socket + ["--json", "ping"]).stdout)
        let epoch = try XCTUnwrap(ping["epoch"] as? String)
        let watch = try culvertctl(socket + ["--json", "watch", "--since", "0", "--epoch", epoch, "--count", "2"])
        XCTAssertEqual(watch.status, 0, watch.stderr)
        let events = try watch.stdoutLines.map { try jsonObject($0) }.compactMap { $0["event"] as? [String: Any] }
        XCTAssertEqual(events.map { $0["kind"] as? String }, ["daemon_started", "extension_installed"])
        XCTAssertEqual((events.last?["extension"] as? [String: Any])?["identifier"] as? String, "io.culvert.test")
        XCTAssertEqual((events.last?["actor"] as? [String: Any])?["command"] as? String, "spool")

        // With culvertd running, install goes to it, never to the spool.
        let live = try culvertctl(install)
        XCTAssertEqual(live.stdoutLines, ["unchanged: io.culvert.test 1.0.0 (1) is already installed"])
        XCTAssertEqual(try FileSystem.listDirectory(spool), [])
    }

    func testReadingCommandsWithoutDaemonExit69() throws {
        let socket = work.file("io.culvert.Manager")
        for command in [["extension", "list"], ["extension", "show", "x.y"], ["extension", "gc"], ["extension", "approve", "x.y"]] {
            let result = try culvertctl(["--socket", socket] + command)
            XCTAssertEqual(result.status, 69, "\(command): \(result.stderr)")
            XCTAssertEqual(result.stdout, "")
        }
    }

    // MARK: approval, developer mode, gc

    func testApprovalRequiredByPolicy() throws {
        let publisher = try makePublisher()
        let daemon = try startDaemon(trusting: publisher, policy: #"{"requireApproval": true, "developerMode": false}"#)
        let socket = ["--socket", daemon.socketPath]
        let bundle = try BundleFixture.make(in: work.file("src"), key: try SigningKey.load(from: publisher.keyFile))

        let installed = try culvertctl(socket + ["extension", "install", bundle])
        XCTAssertEqual(installed.status, 0, installed.stderr)
        XCTAssertEqual(
            installed.stdoutLines,
            [
                "installed io.culvert.test 1.0.0 (1), awaiting_approval, seq 2",
                "io.culvert.test awaits approval: culvertctl extension approve io.culvert.test",
            ])
        XCTAssertTrue(try culvertctl(socket + ["extension", "list"]).stdoutLines.last?.contains("  awaiting_approval  ") == true)

        // Unusable until approved.
        let profile = try culvertctl(socket + ["profile", "add", "p", "--extension", "io.culvert.test"])
        XCTAssertEqual(profile.status, 65, profile.stderr)
        XCTAssertEqual(
            profile.stderrLines,
            [
                "culvertctl: error: extension io.culvert.test is awaiting approval (approve it first: culvertctl extension approve io.culvert.test)"
            ])

        let approved = try culvertctl(socket + ["extension", "approve", "io.culvert.test"])
        XCTAssertEqual(approved.status, 0, approved.stderr)
        XCTAssertEqual(approved.stdoutLines, ["approved io.culvert.test 1.0.0 (1), enabled, seq 3"])
        let show = try culvertctl(socket + ["extension", "show", "io.culvert.test"])
        XCTAssertTrue(show.stdoutLines.contains("state           enabled (approved)"), show.stdout)
        let again = try culvertctl(socket + ["--json", "extension", "approve", "io.culvert.test"])
        XCTAssertEqual(again.status, 0)
        XCTAssertEqual(try jsonObject(again.stdout)["changed"] as? Bool, false)
        XCTAssertEqual(try culvertctl(socket + ["profile", "add", "p", "--extension", "io.culvert.test"]).status, 0)
        XCTAssertEqual(try culvertctl(socket + ["extension", "approve", "io.culvert.none"]).status, 66)
    }

    func testDeveloperModeIsAnnouncedAndUnsignedIsMarked() throws {
        let publisher = try makePublisher()
        let daemon = try startDaemon(trusting: publisher, policy: #"{"requireApproval": false, "developerMode": true}"#)
        let socket = ["--socket", daemon.socketPath]
        let bundle = try BundleFixture.make(in: work.file("src"), key: nil)
        let installed = try culvertctl(socket + ["extension", "install", bundle])
        XCTAssertEqual(installed.stdoutLines, ["installed io.culvert.test 1.0.0 (1), enabled, UNSIGNED, seq 2"])
        let list = try culvertctl(socket + ["extension", "list"])
        XCTAssertEqual(list.stdoutLines.first, "DEVELOPER MODE: culvertd accepts unsigned extensions (policy developerMode)")
        XCTAssertEqual(
            Array(list.stdoutLines.dropFirst()),
            TableLayout.aligned([
                ["IDENTIFIER", "VERSION", "PUBLISHER", "STATE", "STAGED", "POLICY", "SIGNED", "INSTALLED FROM"],
                ["io.culvert.test", "1.0.0 (1)", "unsigned", "enabled", "-", "now", "NO", bundle],
            ]))
        XCTAssertEqual(try jsonObject(try culvertctl(socket + ["--json", "extension", "list"]).stdout)["developerMode"] as? Bool, true)
    }

    func testGarbageCollectionAfterTheSourceIsDeleted() throws {
        let publisher = try makePublisher()
        let daemon = try startDaemon(trusting: publisher)
        let socket = ["--socket", daemon.socketPath]
        let bundle = try BundleFixture.make(in: work.file("src"), key: try SigningKey.load(from: publisher.keyFile))
        XCTAssertEqual(try culvertctl(socket + ["extension", "install", bundle]).status, 0)
        XCTAssertEqual(try culvertctl(socket + ["extension", "gc", "--dry-run"]).stdoutLines, ["nothing to remove"])

        try FileManager.default.removeItem(atPath: bundle)
        let storePath = try XCTUnwrap(
            (try jsonObject(try culvertctl(socket + ["--json", "extension", "show", "io.culvert.test"]).stdout))["storePath"] as? String)
        let storeCopy = (storePath as NSString).deletingLastPathComponent
        let expectedRows = TableLayout.aligned([
            ["KIND", "EXTENSION", "PATH", "REASON"],
            ["orphaned_registration", "io.culvert.test", bundle, "source bundle is gone"],
            ["store_copy", "-", storeCopy, "no registration uses it"],
        ]).map { "  " + $0 }

        let dry = try culvertctl(socket + ["extension", "gc", "--dry-run"])
        XCTAssertEqual(dry.status, 0, dry.stderr)
        XCTAssertEqual(dry.stdoutLines, ["would remove 2 items (dry run):"] + expectedRows)
        let dryJSON = try jsonObject(try culvertctl(socket + ["--json", "extension", "gc", "--dry-run"]).stdout)
        XCTAssertEqual(dryJSON["dryRun"] as? Bool, true)
        XCTAssertEqual((dryJSON["removals"] as? [[String: Any]])?.map { $0["kind"] as? String }, ["orphaned_registration", "store_copy"])
        XCTAssertEqual(try culvertctl(socket + ["extension", "show", "io.culvert.test"]).status, 0, "a dry run removes nothing")
        XCTAssertTrue(FileSystem.exists(storePath))

        let collected = try culvertctl(socket + ["extension", "gc"])
        XCTAssertEqual(collected.status, 0, collected.stderr)
        XCTAssertEqual(collected.stdoutLines, ["removed 2 items, seq 3:"] + expectedRows)
        XCTAssertFalse(FileSystem.exists(storeCopy))
        XCTAssertEqual(try culvertctl(socket + ["extension", "list"]).stdoutLines, ["no extensions installed"])
        XCTAssertEqual(try culvertctl(socket + ["extension", "gc"]).stdoutLines, ["nothing to remove"])
    }

    // MARK: helpers

    struct Publisher {
        var keyFile: String
        var publicKeyFile: String
        var fingerprint: String
        /// A directory holding only the public key file, for `bundle verify --trusted-keys`.
        var trustDirectory: String
    }

    /// A publisher key made by `culvertctl bundle keygen`.
    private func makePublisher(file: StaticString = #filePath, line: UInt = #line) throws -> Publisher {
        let keyFile = work.file("keys/publisher.key")
        let result = try culvertctl(["--json", "bundle", "keygen", "--output", keyFile])
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
        let object = try jsonObject(result.stdout)
        let publicKeyFile = try XCTUnwrap(object["publicKeyFile"] as? String)
        XCTAssertEqual(publicKeyFile, work.file("keys/publisher.pub.json"), file: file, line: line)
        let trustDirectory = work.file("trusted")
        try FileSystem.createDirectory(trustDirectory)
        try FileManager.default.copyItem(atPath: publicKeyFile, toPath: trustDirectory + "/publisher.json")
        return Publisher(
            keyFile: keyFile, publicKeyFile: publicKeyFile, fingerprint: try XCTUnwrap(object["fingerprint"] as? String),
            trustDirectory: trustDirectory)
    }

    /// Installs the publisher's public key file as culvertd reads trusted keys: `trusted-keys/<name>.json`.
    private func trust(_ publisher: Publisher, configDirectory: String) throws {
        try FileSystem.createDirectory(configDirectory + "/trusted-keys")
        try FileManager.default.copyItem(atPath: publisher.publicKeyFile, toPath: configDirectory + "/trusted-keys/publisher.json")
    }

    /// A culvertd that trusts `publisher`, with `policy` as its policy.json if given.
    private func startDaemon(trusting publisher: Publisher, policy: String? = nil) throws -> DaemonProcess {
        let root = try TemporaryDirectory(prefix: "culvert-it")
        let daemon = DaemonProcess(root: root.path)
        addTeardownBlock {
            daemon.crash()
            root.remove()
        }
        try trust(publisher, configDirectory: daemon.configDirectory)
        if let policy { try Data(policy.utf8).write(to: URL(fileURLWithPath: daemon.configDirectory + "/policy.json")) }
        try daemon.start()
        return daemon
    }

    /// The `code` of a --json error line on standard error.
    private func errorCode(_ result: CommandResult, file: StaticString = #filePath, line: UInt = #line) throws -> String? {
        (try jsonObject(result.stderr, file: file, line: line)["error"] as? [String: Any])?["code"] as? String
    }

    /// Runs culvertctl to completion (bounded by BackgroundCommand's timeout).
    private func culvertctl(_ arguments: [String]) throws -> CommandResult {
        let command = try BackgroundCommand([Products.path(of: "culvertctl")] + arguments)
        defer { command.kill() }
        return try command.wait()
    }
}

/// Column alignment as culvertctl prints tables: each cell padded to its column's widest, two
/// spaces apart, the last column unpadded. Kept here so expectations don't depend on its code.
private enum TableLayout {
    static func aligned(_ rows: [[String]]) -> [String] {
        var widths: [Int] = []
        for row in rows {
            for (index, cell) in row.enumerated() {
                if index == widths.count { widths.append(0) }
                widths[index] = max(widths[index], cell.count)
            }
        }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }
    }
}
