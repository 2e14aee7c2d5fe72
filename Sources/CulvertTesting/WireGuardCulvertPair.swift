// WireGuardCulvertPair: culvert-wireguard against culvert-wireguard, each run by its own culvertd,
// on a TunnelLab's namespaces — for the culvert ↔ culvert tests (timers, roaming) and benchmarks.
// The lab's culvertd (namespace A) and a second culvertd started here in namespace B (its own root
// under the lab's directory, its own provider uid range, so the two never hand out the same uid)
// both get the culvert-wireguard bundle signed with the lab's key. Keys come from `wg genkey` /
// `wg pubkey` / `wg genpsk`; each side's profile "wg" names the other as its one peer with an
// endpoint, so either side can initiate. `tearDown()` (or deinit) stops B's culvertd (which stops
// its session); the TunnelLab (torn down by its owner) deletes the namespaces and the directory.
//
//   namespace A                                                  namespace B
//   culvertd A ── culvert-wireguard ── UDP 10.200.0.1:51821 ═══ 10.200.0.2:51820 ── culvert-wireguard ── culvertd B
//                      │ fd 3                                                            │ fd 3
//                    cvtN 10.67.0.1/24 fd67::1/64 ─ ─ ─ WireGuard ─ ─ ─ ─ ─ ─ ─   cvtM 10.67.0.2/24 fd67::2/64

import CulvertBundle
import CulvertSystem
import CulvertVarlink
import CulvertWire
import Foundation

public final class WireGuardCulvertPair: @unchecked Sendable {  // used from one thread at a time; tearDown is idempotent under `lock`
    public enum Side: String, Sendable, CaseIterable {
        case a
        case b
    }

    public static let tunnelAddressA = "10.67.0.1"
    public static let tunnelAddressB = "10.67.0.2"
    public static let tunnelAddress6A = "fd67::1"
    public static let tunnelAddress6B = "fd67::2"
    public static let portA = 51821
    public static let portB = 51820
    /// The profile name on both sides.
    public static let profileName = "wg"
    /// B's culvertd hands out provider uids from here: disjoint from the lab's (TunnelLab.containmentArguments).
    public static let providerUIDsB = "110000-119999"
    /// The option that selects a test-only timer set in culvert-wireguard (debug builds only).
    public static let testTimersOption = "test-timers"

    public let lab: TunnelLab
    /// culvertd in namespace B, over `<lab directory>/b`.
    public let daemonB: DaemonProcess
    /// A root connection to B's culvertd.
    public let controlB: VarlinkClientConnection
    public let privateKeyA: String
    public let publicKeyA: String
    public let privateKeyB: String
    public let publicKeyB: String
    public let presharedKey: String
    private let lock = NSLock()
    private var tornDown = false

    /// Starts culvertd in B, installs culvert-wireguard in both daemons, makes the keys and saves
    /// profile "wg" on each side with `options` added to both (e.g. `["test-timers": "shortened"]`)
    /// and `optionsA` / `optionsB` to one side only. `capabilities` go into the bundle's manifest
    /// (e.g. `tun-offload` for a benchmark). Nothing is connected yet. Stops B's culvertd if a step fails.
    public init(
        lab: TunnelLab, options: [String: String] = [:], optionsA: [String: String] = [:], optionsB: [String: String] = [:],
        capabilities: [BundleCapability] = []
    ) throws {
        self.lab = lab
        privateKeyA = try WireGuardLab.wg(["genkey"])
        publicKeyA = try WireGuardLab.publicKey(of: privateKeyA)
        privateKeyB = try WireGuardLab.wg(["genkey"])
        publicKeyB = try WireGuardLab.publicKey(of: privateKeyB)
        presharedKey = try WireGuardLab.wg(["genpsk"])
        let root = lab.directory.path + "/b"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try FileSystem.setMode(root, 0o755)
        try Data("nameserver 192.0.2.53\n".utf8).write(to: URL(fileURLWithPath: root + "/resolv.conf"))
        daemonB = DaemonProcess(root: root, arguments: Self.daemonArgumentsB(root: root), namespace: lab.namespaces.b)
        do {
            try BundleFixture.trust(lab.signingKey, configDirectory: daemonB.configDirectory)
            try BundleFixture.policy(configDirectory: daemonB.configDirectory)
            try daemonB.start()
            controlB = try daemonB.connect()
            let bundle = try Self.bundle(in: lab, capabilities: capabilities)
            for control in [lab.control, controlB] {
                _ = try control.call(
                    ManagerMethod.installExtension.rawValue, ["path": .string(bundle)],
                    timeoutMilliseconds: TunnelLab.sessionCallMilliseconds)
            }
            try saveProfile(.a, options: options.merging(optionsA) { $1 })
            try saveProfile(.b, options: options.merging(optionsB) { $1 })
        } catch {
            daemonB.stop()
            throw error
        }
    }

    deinit { tearDown() }

    /// Stops B's culvertd (SIGTERM: it stops its session and provider first). Idempotent.
    public func tearDown() {
        lock.withLock {
            guard !tornDown else { return }
            tornDown = true
            daemonB.stop()
        }
    }

    /// The lab's arguments with B's own uid range and resolv.conf.
    static func daemonArgumentsB(root: String) -> [String] {
        var arguments = TunnelLab.daemonArguments
        if let index = arguments.firstIndex(of: "--provider-uids") { arguments[index + 1] = providerUIDsB }
        return arguments + ["--resolv-conf", root + "/resolv.conf"]
    }

    /// One signed culvert-wireguard bundle (installed into both daemons; each keeps its own copy).
    private static func bundle(in lab: TunnelLab, capabilities: [BundleCapability]) throws -> String {
        let sources = lab.directory.path + "/src-wireguard-pair"
        try FileManager.default.createDirectory(atPath: sources, withIntermediateDirectories: true)
        try FileSystem.setMode(sources, 0o755)
        return try BundleFixture.make(
            in: sources, identifier: WireGuardLab.extensionIdentifier, capabilities: capabilities, key: lab.signingKey,
            executableFile: Products.path(of: "culvert-wireguard"))
    }

    // MARK: per side

    public func control(_ side: Side) -> VarlinkClientConnection { side == .a ? lab.control : controlB }
    public func daemon(_ side: Side) -> DaemonProcess { side == .a ? lab.daemon : daemonB }
    public static func tunnelAddress(_ side: Side) -> String { side == .a ? tunnelAddressA : tunnelAddressB }
    public static func tunnelAddress6(_ side: Side) -> String { side == .a ? tunnelAddress6A : tunnelAddress6B }
    public static func underlayAddress(_ side: Side) -> String {
        side == .a ? NetworkNamespacePair.addressA : NetworkNamespacePair.addressB
    }
    public static func port(_ side: Side) -> Int { side == .a ? portA : portB }
    public static func other(_ side: Side) -> Side { side == .a ? .b : .a }
    public func publicKey(_ side: Side) -> String { side == .a ? publicKeyA : publicKeyB }

    /// The profile options of `side` (io.culvert.wireguard's schema): the other side as peer 0.
    public func profileOptions(_ side: Side) -> [String: String] {
        let other = Self.other(side)
        return [
            "address": "\(Self.tunnelAddress(side))/24,\(Self.tunnelAddress6(side))/64",
            "listen-port": String(Self.port(side)),
            "peer.0.public-key": publicKey(other),
            "peer.0.endpoint": "\(Self.underlayAddress(other)):\(Self.port(other))",
            "peer.0.allowed-ips": "\(Self.tunnelAddress(other))/32,\(Self.tunnelAddress6(other))/128",
        ]
    }

    /// The secrets of `side`: its private key and the shared preshared key.
    public func profileSecrets(_ side: Side) -> [String: String] {
        ["private-key": side == .a ? privateKeyA : privateKeyB, "peer.0.preshared-key": presharedKey]
    }

    /// (Re)saves profile "wg" on `side`: `profileOptions(side)` with `options` added or overriding
    /// (a value of "" removes that option).
    public func saveProfile(_ side: Side, options: [String: String] = [:]) throws {
        let all = profileOptions(side).merging(options) { $1 }.filter { !$0.value.isEmpty }
        _ = try control(side).call(
            ManagerMethod.saveProfile.rawValue,
            [
                "profile": [
                    "name": .string(Self.profileName), "extension": .string(WireGuardLab.extensionIdentifier),
                    "options": .object(all.mapValues { .string($0) }), "alwaysOn": .bool(false),
                    "secrets": .object(profileSecrets(side).mapValues { .string($0) }),
                ]
            ], timeoutMilliseconds: TunnelLab.callMilliseconds)
    }

    /// Connect on `side`, waiting until the session is connected (or failed). The tunnel's first
    /// handshake happens with the first packet (or persistent keepalive), not here.
    @discardableResult
    public func connect(_ side: Side) throws -> JSONValue {
        try control(side).call(
            ManagerMethod.connect.rawValue, ["profile": .string(Self.profileName), "wait": .bool(true)],
            timeoutMilliseconds: TunnelLab.sessionCallMilliseconds)
    }

    /// Connects B, then A.
    public func connectBoth() throws {
        try connect(.b)
        try connect(.a)
    }

    @discardableResult
    public func disconnect(_ side: Side) throws -> JSONValue {
        try control(side).call(
            ManagerMethod.disconnect.rawValue, ["profile": .string(Self.profileName)],
            timeoutMilliseconds: TunnelLab.sessionCallMilliseconds)
    }

    /// The session of profile "wg" in `side`'s GetStatus, if any.
    public func session(_ side: Side) throws -> JSONValue? {
        let status = try control(side).call(ManagerMethod.getStatus.rawValue, [:], timeoutMilliseconds: TunnelLab.callMilliseconds)
        guard case .array(let sessions)? = status["status"]?["sessions"] else { return nil }
        return sessions.first { $0["profile"]?.stringValue == Self.profileName }
    }

    /// The provider's output on `side` (culvertd's session log).
    public func sessionLog(_ side: Side) throws -> [String] {
        let reply = try control(side).call(
            ManagerMethod.getSessionLog.rawValue, ["profile": .string(Self.profileName)], timeoutMilliseconds: TunnelLab.callMilliseconds)
        guard case .array(let lines)? = reply["lines"] else { return [] }
        return lines.compactMap(\.stringValue)
    }

    /// Both sessions' logs, labelled: for failure messages.
    public var logs: String {
        Side.allCases.map { side in
            // try?: only for failure messages.
            "\n\(side.rawValue) session log:\n" + ((try? sessionLog(side).joined(separator: "\n")) ?? "?")
        }.joined()
    }

    /// Sends `message` to `side`'s provider (SendProviderMessage, as `culvertctl message wg MESSAGE`)
    /// and returns its answer as text ("" for none).
    public func message(_ side: Side, _ message: String) throws -> String {
        let reply = try control(side).call(
            ManagerMethod.sendProviderMessage.rawValue,
            ["profile": .string(Self.profileName), "data": .string(Data(message.utf8).base64EncodedString())],
            timeoutMilliseconds: TunnelLab.callMilliseconds)
        guard let encoded = reply["data"]?.stringValue, let data = Data(base64Encoded: encoded) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    /// `side`'s `status` answer, parsed (the object `culvertctl message wg status` prints).
    public func status(_ side: Side) throws -> [String: Any] {
        let text = try message(side, "status")
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw WireGuardCulvertPairError.unexpectedStatus(text)
        }
        return object
    }

    /// `side`'s view of its one peer (the first entry of `status`'s peers; empty if none).
    public func peerStatus(_ side: Side) throws -> [String: Any] {
        (try status(side)["peers"] as? [[String: Any]])?.first ?? [:]
    }

    /// An integer field of `side`'s peer status (-1 when absent).
    public func peerFigure(_ side: Side, _ field: String) throws -> Int { try peerStatus(side)[field] as? Int ?? -1 }

    /// Runs `command` in `side`'s namespace.
    @discardableResult
    public func run(in side: Side, _ command: [String], timeout: TimeInterval = 60) throws -> NetworkNamespacePair.CommandResult {
        try lab.namespaces.exec(in: side == .a ? lab.namespaces.a : lab.namespaces.b, command, timeout: timeout)
    }

    /// Polls `side`'s peer status until `predicate` holds (bounded by `timeout` seconds); returns the last one read.
    @discardableResult
    public func waitForPeerStatus(_ side: Side, timeout: TimeInterval = 15, _ predicate: ([String: Any]) -> Bool) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        var last: [String: Any] = [:]
        while Date() < deadline {
            last = try peerStatus(side)
            if predicate(last) { return last }
            usleep(50_000)
        }
        return last
    }
}

public enum WireGuardCulvertPairError: Error, CustomStringConvertible {
    case unexpectedStatus(String)
    public var description: String {
        switch self {
        case .unexpectedStatus(let text): return "the provider's status answer is not a JSON object: \(text.prefix(200))"
        }
    }
}
