// WireGuardLab: culvert-wireguard against Debian's wireguard-go, on a TunnelLab's namespaces. The
// lab's culvertd (namespace A) gets the culvert-wireguard bundle installed; namespace B runs
// `wireguard-go -f` on a uniquely named TUN configured with `wg setconf` and `ip`. Keys come from
// `wg genkey` / `wg pubkey` / `wg genpsk`. `tearDown()` stops wireguard-go and removes its control
// socket; the TunnelLab (torn down by its owner) deletes the namespaces and everything in them.
//
//   namespace A                                              namespace B
//   culvertd ── culvert-wireguard ── UDP 10.200.0.1:51821 ═══ 10.200.0.2:51820 ── wireguard-go
//                    │ fd 3                                                          │
//                  cvtN 10.66.0.1/24 fd66::1/64 ─ ─ ─ WireGuard ─ ─ ─ ─ ─ ─   wgtN 10.66.0.2/24 fd66::2/64

import CulvertBundle
import CulvertSystem
import CulvertVarlink
import CulvertWire
import Foundation

public final class WireGuardLab: @unchecked Sendable {  // used from one thread at a time; tearDown is idempotent under `lock`
    public static let extensionIdentifier = "io.culvert.wireguard"
    public static let tunnelAddressA = "10.66.0.1"
    public static let tunnelAddressB = "10.66.0.2"
    public static let tunnelAddress6A = "fd66::1"
    public static let tunnelAddress6B = "fd66::2"
    public static let portA = 51821
    public static let portB = 51820
    public static let wgCommand = "/usr/bin/wg"
    public static let wireguardGoCommand = "/usr/bin/wireguard-go"
    /// Where wireguard-go puts its control socket (shared by every namespace: hence the unique names).
    public static let controlDirectory = "/var/run/wireguard"
    /// How long wireguard-go may take to create its TUN and control socket.
    public static let startDeadline: TimeInterval = 10

    public let lab: TunnelLab
    /// B's WireGuard interface, unique per lab (at most 15 characters).
    public let interfaceB: String
    public let privateKeyA: String
    public let publicKeyA: String
    public let privateKeyB: String
    public let publicKeyB: String
    public let presharedKey: String
    public private(set) var wireguardGo: Process?
    private let lock = NSLock()
    private var tornDown = false

    public var wireguardGoLog: String {
        (try? String(contentsOfFile: lab.directory.path + "/wireguard-go.log", encoding: .utf8)) ?? ""  // absent: empty
    }

    /// Installs culvert-wireguard into `lab`'s culvertd (declaring `capabilities`, e.g. `.handover`),
    /// makes the keys, starts wireguard-go in B and configures it (A as its only peer, at
    /// 10.200.0.1:51821). Stops wireguard-go if a step fails.
    public init(lab: TunnelLab, capabilities: [BundleCapability] = []) throws {
        self.lab = lab
        interfaceB = "wgt\(UInt32.random(in: 0..<UInt32.max) % 1_000_000_000)"
        privateKeyA = try Self.wg(["genkey"])
        publicKeyA = try Self.publicKey(of: privateKeyA)
        privateKeyB = try Self.wg(["genkey"])
        publicKeyB = try Self.publicKey(of: privateKeyB)
        presharedKey = try Self.wg(["genpsk"])
        try installBundle(capabilities: capabilities)
        do {
            try startWireguardGo()
            try configureB()
        } catch {
            tearDown()
            throw error
        }
    }

    /// How long wireguard-go gets to exit on SIGTERM before SIGKILL.
    static let stopGrace: TimeInterval = 2

    deinit { tearDown() }

    public func tearDown() {
        lock.withLock {
            guard !tornDown else { return }
            tornDown = true
            // TunnelLab.stop: SIGKILL after a grace (children of Dispatch threads may block SIGTERM).
            if let process = wireguardGo { TunnelLab.stop(process, grace: Self.stopGrace) }
            try? FileManager.default.removeItem(atPath: "\(Self.controlDirectory)/\(interfaceB).sock")  // try?: gone after a clean exit
        }
    }

    /// A's side as a wg-quick file (keys included: for `culvertctl profile import`).
    /// `allowedIPs` replaces the peer's AllowedIPs (default: B's tunnel addresses).
    public func wgQuickFileA(persistentKeepalive: Int? = nil, allowedIPs: String? = nil) -> String {
        var text = """
            [Interface]
            PrivateKey = \(privateKeyA)
            Address = \(Self.tunnelAddressA)/24, \(Self.tunnelAddress6A)/64
            ListenPort = \(Self.portA)
            DNS = 10.66.0.53, wg.example.invalid

            [Peer]
            PublicKey = \(publicKeyB)
            PresharedKey = \(presharedKey)
            Endpoint = \(NetworkNamespacePair.addressB):\(Self.portB)
            AllowedIPs = \(allowedIPs ?? "\(Self.tunnelAddressB)/32, \(Self.tunnelAddress6B)/128")

            """
        if let persistentKeepalive { text += "PersistentKeepalive = \(persistentKeepalive)\n" }
        return text
    }

    /// `wg ARGS` in namespace B (e.g. `["show", interfaceB, "latest-handshakes"]`); throws on failure.
    @discardableResult
    public func wgInB(_ arguments: [String]) throws -> String {
        let result = try lab.inB([Self.wgCommand] + arguments)
        guard result.status == 0 else {
            throw NetworkNamespacePair.CommandError.failed(
                command: "wg " + arguments.joined(separator: " "), status: result.status, error: result.error)
        }
        return result.output
    }

    /// B's view of A: the second column of `wg show IF latest-handshakes` (0 = never).
    public func latestHandshakeInB() throws -> Int {
        let line = try wgInB(["show", interfaceB, "latest-handshakes"]).split(separator: "\n").first ?? ""
        return Int(line.split(separator: "\t").last ?? "") ?? -1
    }

    /// B's view of A: (received, sent) bytes from `wg show IF transfer`.
    public func transferInB() throws -> (received: Int, sent: Int) {
        let line = try wgInB(["show", interfaceB, "transfer"]).split(separator: "\n").first ?? ""
        let fields = line.split(separator: "\t")
        guard fields.count == 3, let received = Int(fields[1]), let sent = Int(fields[2]) else { return (-1, -1) }
        return (received, sent)
    }

    // MARK: set-up

    /// Installs (or, with a higher `version`, upgrades live) the culvert-wireguard bundle; returns
    /// InstallExtension's reply. Each version is built in its own directory.
    @discardableResult
    public func installBundle(version: String = "1.0.0", build: Int = 1, capabilities: [BundleCapability] = []) throws -> JSONValue {
        let sources = lab.directory.path + "/src-wireguard-\(version)"
        try FileManager.default.createDirectory(atPath: sources, withIntermediateDirectories: true)
        try FileSystem.setMode(sources, 0o755)
        let bundle = try BundleFixture.make(
            in: sources, identifier: Self.extensionIdentifier, version: version, build: build, capabilities: capabilities,
            key: lab.signingKey, executableFile: Products.path(of: "culvert-wireguard"))
        return try lab.control.call(
            ManagerMethod.installExtension.rawValue, ["path": .string(bundle)], timeoutMilliseconds: TunnelLab.sessionCallMilliseconds)
    }

    private func startWireguardGo() throws {
        let process = try lab.namespaces.spawn(
            in: lab.namespaces.b, [Self.wireguardGoCommand, "-f", interfaceB], output: lab.directory.path + "/wireguard-go.log")
        wireguardGo = process
        let deadline = Date().addingTimeInterval(Self.startDeadline)
        while Date() < deadline {
            if FileManager.default.fileExists(atPath: "\(Self.controlDirectory)/\(interfaceB).sock") { return }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        throw NetworkNamespacePair.CommandError.failed(command: "wireguard-go", status: -1, error: wireguardGoLog)
    }

    private func configureB() throws {
        let file = lab.directory.path + "/\(interfaceB).conf"
        let text = """
            [Interface]
            PrivateKey = \(privateKeyB)
            ListenPort = \(Self.portB)

            [Peer]
            PublicKey = \(publicKeyA)
            PresharedKey = \(presharedKey)
            Endpoint = \(NetworkNamespacePair.addressA):\(Self.portA)
            AllowedIPs = \(Self.tunnelAddressA)/32, \(Self.tunnelAddress6A)/128

            """
        _ = FileManager.default.createFile(atPath: file, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        try wgInB(["setconf", interfaceB, file])
        try lab.namespaces.ip(in: lab.namespaces.b, ["addr", "add", Self.tunnelAddressB + "/24", "dev", interfaceB])
        try lab.namespaces.ip(in: lab.namespaces.b, ["addr", "add", Self.tunnelAddress6B + "/64", "dev", interfaceB, "nodad"])
        try lab.namespaces.ip(in: lab.namespaces.b, ["link", "set", interfaceB, "up"])
    }

    static func wg(_ arguments: [String]) throws -> String {
        let result = try NetworkNamespacePair.run(wgCommand, arguments)
        guard result.status == 0 else {
            throw NetworkNamespacePair.CommandError.failed(
                command: "wg " + arguments.joined(separator: " "), status: result.status, error: result.error)
        }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `wg pubkey` reads the key on stdin; a shell feeds it (test keys only).
    static func publicKey(of privateKey: String) throws -> String {
        let result = try NetworkNamespacePair.run("/bin/sh", ["-c", "printf '%s\\n' \"$0\" | \(wgCommand) pubkey", privateKey])
        guard result.status == 0 else {
            throw NetworkNamespacePair.CommandError.failed(command: "wg pubkey", status: result.status, error: result.error)
        }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
