// TunnelLab: a culvertd in namespace A of a fresh NetworkNamespacePair, the test provider installed
// as a signed extension, and its peer running in namespace B. The one setup behind the tunnel
// integration tests and `culvert-bench tunnel`. `tearDown()` (or deinit) stops the peer and the
// daemon, deletes both namespaces and the directory, also after a failed init.
//
//   namespace A                                           namespace B
//   culvertd ── provider (nobody) ── UDP 10.200.0.1:7001 ═══ 10.200.0.2:7000 ── peer (root)
//                   │ fd 3                                                        │
//                 cvtN 10.77.0.1/24  ─ ─ ─ ─ ─ tunnel ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─   cvtpeerN 10.77.0.2/24
//                                                                        lo: 10.99.0.1/32 (only via the tunnel)

import CulvertBundle
import CulvertSystem
import CulvertVarlink
import CulvertWire
import Foundation

public final class TunnelLab: @unchecked Sendable {  // used from one thread at a time; tearDown is idempotent under `lock`
    public static let extensionIdentifier = "io.culvert.testprovider"
    public static let tunnelAddressA = "10.77.0.1"
    public static let tunnelAddressB = "10.77.0.2"
    /// Reachable from A only through the tunnel (on B's loopback).
    public static let behindPeer = "10.99.0.1"
    public static let peerPort = 7000
    public static let providerPort = 7001
    /// How long the peer may take to bring its TUN up.
    public static let peerStartDeadline: TimeInterval = 10
    /// The peer exits on its own after this long, should everything else fail to stop it.
    public static let peerLifetimeSeconds = 600
    /// Reply deadline of the lab's control calls; Connect and Disconnect get `sessionCallMilliseconds`.
    public static let callMilliseconds: Int32 = 10_000
    public static let sessionCallMilliseconds: Int32 = 20_000
    /// How culvertd contains providers in the lab: the production defaults, spelled out so tests
    /// can rely on them (each lab's culvertd has its own runtime directory, hence its own cgroup root).
    public static let containmentArguments = ["--provider-uids", "90000-99999", "--provider-tasks", "256", "--provider-memory", "256M"]
    /// Short timeouts and delays, so failure tests are quick; appended before the caller's arguments.
    public static let daemonArguments =
        containmentArguments + [
            "--start-timeout", "3", "--stop-timeout", "2", "--restart-delay", "0.3",
            "--restart-delay-max", "1.2", "--stats-interval", "0.2",
        ]

    public let namespaces: NetworkNamespacePair
    public let directory: TemporaryDirectory
    public let daemon: DaemonProcess
    /// The lab's own connection to culvertd (root, so every method is allowed).
    public let control: VarlinkClientConnection
    /// The publisher key the installed test provider is signed with (trusted by culvertd).
    public let signingKey: SigningKey
    public private(set) var peer: Process?
    /// How the running (or next) peer is started; `restartPeer(_:)` changes it.
    public private(set) var peerOptions: PeerOptions
    private let lock = NSLock()
    private var tornDown = false

    /// The resolv.conf culvertd manages for the sessions (a private file, not the host's).
    public var resolvConf: String { directory.path + "/resolv.conf" }
    public var peerLog: String { (try? String(contentsOfFile: directory.path + "/peer.log", encoding: .utf8)) ?? "" }  // absent: empty

    /// Creates the namespaces, starts culvertd in A, installs the test provider and (unless
    /// `startPeer` is false) starts its peer in B with `peerOptions`. Everything made so far is
    /// removed if a step fails.
    public init(daemonArguments: [String] = [], startPeer: Bool = true, peerOptions: PeerOptions = .plain) throws {
        self.peerOptions = peerOptions
        namespaces = try NetworkNamespacePair()
        do {
            directory = try TemporaryDirectory(prefix: "culvert-tunnel")
        } catch {
            namespaces.tearDown()
            throw error
        }
        daemon = DaemonProcess(
            root: directory.path, arguments: Self.daemonArguments + ["--resolv-conf", directory.path + "/resolv.conf"] + daemonArguments,
            namespace: namespaces.a)
        do {
            (control, signingKey) = try Self.startDaemon(daemon, in: directory.path)
        } catch {
            Self.release(peer: nil, daemon: daemon, namespaces: namespaces, directory: directory)
            throw error
        }
        if startPeer {
            do { try startPeerProcess() } catch {
                tearDown()
                throw error
            }
        }
    }

    deinit { tearDown() }

    /// Stops the peer and culvertd (which stops its sessions), deletes both namespaces and the
    /// directory. Idempotent; safe from another thread (e.g. a signal handler's queue).
    /// A second caller waits until the first has finished, so a process that exits right after
    /// its own `tearDown()` returns never cuts short one running on a signal handler's queue.
    public func tearDown() {
        lock.withLock {
            guard !tornDown else { return }
            tornDown = true
            Self.release(peer: peer, daemon: daemon, namespaces: namespaces, directory: directory)
        }
    }

    private static func release(peer: Process?, daemon: DaemonProcess, namespaces: NetworkNamespacePair, directory: TemporaryDirectory) {
        stopPeer(peer)
        daemon.stop()
        namespaces.tearDown()
        directory.remove()
    }

    /// Trust, policy, a signed bundle of the test provider; culvertd started and the bundle installed.
    private static func startDaemon(_ daemon: DaemonProcess, in root: String) throws -> (VarlinkClientConnection, SigningKey) {
        // The provider runs under an unprivileged uid of its own and must reach its store copy below this directory.
        try FileSystem.setMode(root, 0o755)
        try Data("nameserver 192.0.2.53\nsearch example.invalid\noptions edns0\n".utf8).write(
            to: URL(fileURLWithPath: root + "/resolv.conf"))
        let key = SigningKey.generate()
        try BundleFixture.trust(key, configDirectory: daemon.configDirectory)
        try BundleFixture.policy(configDirectory: daemon.configDirectory)
        let sources = root + "/src"
        try FileManager.default.createDirectory(atPath: sources, withIntermediateDirectories: true)
        let bundle = try BundleFixture.make(
            in: sources, identifier: extensionIdentifier, key: key, executableFile: Products.path(of: "culvert-test-provider"))
        try daemon.start()
        let control = try daemon.connect()
        _ = try control.call(ManagerMethod.installExtension.rawValue, ["path": .string(bundle)], timeoutMilliseconds: callMilliseconds)
        return (control, key)
    }

    /// Builds another signed version of the test provider (in its own source directory) and
    /// installs it. `behaviour` goes into the bundle's bin/behaviour.txt (see TestProvider).
    /// Returns InstallExtension's reply; a live upgrade's failure is thrown as the remote error.
    /// `connection` (default: the lab's own) lets another thread install while the lab's is busy.
    @discardableResult
    public func installTestProvider(
        version: String, build: Int = 1, capabilities: [BundleCapability] = [], behaviour: String? = nil, allowDowngrade: Bool = false,
        connection: VarlinkClientConnection? = nil, limits: (tasks: Int?, memory: Int?) = (nil, nil),
        identifier: String = TunnelLab.extensionIdentifier
    ) throws -> JSONValue {
        let bundle = try providerBundle(
            version: version, build: build, capabilities: capabilities, behaviour: behaviour, limits: limits, identifier: identifier)
        return try (connection ?? control).call(
            ManagerMethod.installExtension.rawValue, ["path": .string(bundle), "allowDowngrade": .bool(allowDowngrade)],
            timeoutMilliseconds: Self.sessionCallMilliseconds)
    }

    /// A bundle of the test provider at `version` (`build`), signed with the lab's key: installing it
    /// replaces the installed one (an upgrade when the version is higher). `behaviour` goes into
    /// the bundle's bin/behaviour.txt (see TestProvider). `identifier` other than the default makes
    /// a second extension of the same code (e.g. an offloading variant next to the plain one).
    /// Returns its path.
    public func providerBundle(
        version: String, build: Int = 1, capabilities: [BundleCapability] = [], behaviour: String? = nil,
        limits: (tasks: Int?, memory: Int?) = (nil, nil), identifier: String = TunnelLab.extensionIdentifier
    ) throws -> String {
        let sources = directory.path + "/src-\(identifier)-\(version)-\(build)-\(behaviour ?? "normal")"
        try FileManager.default.createDirectory(atPath: sources, withIntermediateDirectories: true)
        try FileSystem.setMode(sources, 0o755)
        return try BundleFixture.make(
            in: sources, identifier: identifier, version: version, build: build, capabilities: capabilities,
            key: signingKey, executableFile: Products.path(of: "culvert-test-provider"),
            extraFiles: behaviour.map { ["bin/behaviour.txt": $0 + "\n"] } ?? [:], taskLimit: limits.tasks, memoryLimit: limits.memory)
    }

    /// Starts `culvert-test-provider peer` in B (TUN 10.77.0.2/24, 10.99.0.1 on its loopback) with
    /// `peerOptions` and waits (bounded) until it relays.
    public func startPeerProcess() throws {
        if try !namespaces.ip(in: namespaces.b, ["-j", "addr", "show", "dev", "lo"]).contains("\"\(Self.behindPeer)\"") {
            try namespaces.ip(in: namespaces.b, ["addr", "add", Self.behindPeer + "/32", "dev", "lo"])
        }
        let process = try namespaces.spawn(
            in: namespaces.b,
            [
                Products.path(of: "culvert-test-provider"), "peer", "--listen", "\(NetworkNamespacePair.addressB):\(Self.peerPort)",
                "--remote", "\(NetworkNamespacePair.addressA):\(Self.providerPort)", "--address", Self.tunnelAddressB + "/24",
                "--seconds", String(Self.peerLifetimeSeconds),
            ] + peerOptions.arguments, output: directory.path + "/peer.log")
        peer = process
        let deadline = Date().addingTimeInterval(Self.peerStartDeadline)
        while Date() < deadline {
            if peerLog.contains("relaying") { return }
            usleep(20_000)
        }
        throw NetworkNamespacePair.CommandError.failed(command: "peer", status: -1, error: peerLog)
    }

    /// Stops the running peer (waiting for its exit, so its TUN and UDP port are gone) and starts
    /// one with `options`, e.g. `--tun-offload on` to match a bundle that declares `tun-offload`.
    public func restartPeer(_ options: PeerOptions) throws {
        Self.stopPeer(peer)
        peer = nil
        peerOptions = options
        try startPeerProcess()
    }

    private static func stopPeer(_ peer: Process?) {
        guard let peer else { return }
        stop(peer, grace: peerStopGrace)
    }

    /// Saves a profile of the test provider. `options` add to / override the defaults (peer, listen, address).
    /// `extensionIdentifier` picks another installed variant (see `providerBundle`). `killSwitch`
    /// and `killSwitchAllow` are the profile's kill switch fields.
    public func saveProfile(
        _ name: String, options: [String: String] = [:], alwaysOn: Bool = false, secrets: [String: String] = [:],
        extensionIdentifier: String = TunnelLab.extensionIdentifier, killSwitch: Bool = false, killSwitchAllow: [String] = []
    ) throws {
        var all = [
            "peer": "\(NetworkNamespacePair.addressB):\(Self.peerPort)", "listen": "0.0.0.0:\(Self.providerPort)",
            "address": Self.tunnelAddressA + "/24",
        ]
        all.merge(options) { $1 }
        _ = try control.call(
            ManagerMethod.saveProfile.rawValue,
            [
                "profile": [
                    "name": .string(name), "extension": .string(extensionIdentifier),
                    "options": .object(all.mapValues { .string($0) }), "alwaysOn": .bool(alwaysOn),
                    "secrets": .object(secrets.mapValues { .string($0) }), "killSwitch": .bool(killSwitch),
                    "killSwitchAllow": .array(killSwitchAllow.map { .string($0) }),
                ]
            ], timeoutMilliseconds: Self.callMilliseconds)
    }

    /// Connect; with `wait` the reply comes once the session is connected (or failed).
    @discardableResult
    public func connect(_ name: String, wait: Bool = true) throws -> JSONValue {
        try control.call(
            ManagerMethod.connect.rawValue, ["profile": .string(name), "wait": .bool(wait)],
            timeoutMilliseconds: Self.sessionCallMilliseconds
        )
    }

    @discardableResult
    public func disconnect(_ name: String) throws -> JSONValue {
        try control.call(ManagerMethod.disconnect.rawValue, ["profile": .string(name)], timeoutMilliseconds: Self.sessionCallMilliseconds)
    }

    /// The session of profile `name` in GetStatus, if any.
    public func session(_ name: String) throws -> JSONValue? {
        let status = try control.call(ManagerMethod.getStatus.rawValue, [:], timeoutMilliseconds: Self.callMilliseconds)
        guard case .array(let sessions)? = status["status"]?["sessions"] else { return nil }
        return sessions.first { $0["profile"]?.stringValue == name }
    }

    /// Polls the session until `predicate` holds (bounded by `timeout` seconds).
    public func waitForSession(_ name: String, timeout: TimeInterval = 15, _ predicate: (JSONValue) -> Bool) throws -> JSONValue? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let session = try session(name), predicate(session) { return session }
            usleep(50_000)
        }
        return try session(name)
    }

    public func sessionLog(_ name: String) throws -> [String] {
        let reply = try control.call(
            ManagerMethod.getSessionLog.rawValue, ["profile": .string(name)], timeoutMilliseconds: Self.callMilliseconds)
        guard case .array(let lines)? = reply["lines"] else { return [] }
        return lines.compactMap(\.stringValue)
    }

    /// Runs `command` in namespace A.
    @discardableResult
    public func inA(_ command: [String], timeout: TimeInterval = 30) throws -> NetworkNamespacePair.CommandResult {
        try namespaces.exec(in: namespaces.a, command, timeout: timeout)
    }

    /// Runs `command` in namespace B.
    @discardableResult
    public func inB(_ command: [String], timeout: TimeInterval = 30) throws -> NetworkNamespacePair.CommandResult {
        try namespaces.exec(in: namespaces.b, command, timeout: timeout)
    }

    public func networkStateA() throws -> [String: String] { try namespaces.networkState(in: namespaces.a) }

    /// Descriptors culvertd holds.
    public var daemonDescriptorCount: Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(daemon.pid)/fd")) ?? []).count  // gone: 0
    }
}
