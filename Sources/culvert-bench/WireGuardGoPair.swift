// WireGuardGoPair: Debian's wireguard-go in both namespaces of a TunnelLab, the baseline of
// `culvert-bench wireguard`: a TUN of its own on each side (10.67.0.1/24 in A, 10.67.0.2/24 in B,
// beside the WireGuardLab's 10.66.0.0/24), keys from `wg genkey`, configured with `wg setconf`, the
// veth as underlay. `tearDown` stops both (SIGKILL after a grace) and removes their control sockets.

import CulvertTesting
import Foundation

final class WireGuardGoPair {
    static let tunnelAddressA = "10.67.0.1"
    static let tunnelAddressB = "10.67.0.2"
    static let portA = 51831
    static let portB = 51830
    /// wireguard-go's default MTU, as the WireGuardLab's B side runs it.
    static let mtu = 1420
    /// How long wireguard-go may take to create its TUN and control socket.
    static let startDeadline: TimeInterval = 10
    /// How long wireguard-go gets to exit on SIGTERM before SIGKILL.
    static let stopGrace: TimeInterval = 2

    let lab: TunnelLab
    let interfaceA: String
    let interfaceB: String
    private var processes: [Process] = []

    /// Starts and configures both sides; stops what it started if a step fails.
    init(lab: TunnelLab) throws {
        self.lab = lab
        let suffix = UInt32.random(in: 0..<UInt32.max) % 1_000_000_000
        interfaceA = "wga\(suffix)"
        interfaceB = "wgb\(suffix)"
        do {
            let privateA = try Self.wg(["genkey"])
            let privateB = try Self.wg(["genkey"])
            let publicA = try Self.publicKey(of: privateA)
            let publicB = try Self.publicKey(of: privateB)
            try start(in: lab.namespaces.a, interfaceA)
            try start(in: lab.namespaces.b, interfaceB)
            try configure(
                in: lab.namespaces.a, interfaceA, privateKey: privateA, port: Self.portA, peer: publicB,
                endpoint: "\(NetworkNamespacePair.addressB):\(Self.portB)", peerAddress: Self.tunnelAddressB, address: Self.tunnelAddressA)
            try configure(
                in: lab.namespaces.b, interfaceB, privateKey: privateB, port: Self.portB, peer: publicA,
                endpoint: "\(NetworkNamespacePair.addressA):\(Self.portA)", peerAddress: Self.tunnelAddressA, address: Self.tunnelAddressB)
        } catch {
            tearDown()
            throw error
        }
    }

    /// The two wireguard-go processes, A's first.
    var pids: [Int32] { processes.map(\.processIdentifier) }

    func tearDown() {
        for process in processes { TunnelLab.stop(process, grace: Self.stopGrace) }
        processes = []
        for name in [interfaceA, interfaceB] {
            try? FileManager.default.removeItem(atPath: "\(WireGuardLab.controlDirectory)/\(name).sock")  // try?: gone after a clean exit
        }
    }

    private func start(in namespace: String, _ interface: String) throws {
        let process = try lab.namespaces.spawn(
            in: namespace, [WireGuardLab.wireguardGoCommand, "-f", interface], output: lab.directory.path + "/\(interface).log")
        processes.append(process)
        let deadline = Date().addingTimeInterval(Self.startDeadline)
        while Date() < deadline {
            if FileManager.default.fileExists(atPath: "\(WireGuardLab.controlDirectory)/\(interface).sock") { return }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        throw BenchError.failed("wireguard-go \(interface) did not start")
    }

    private func configure(
        in namespace: String, _ interface: String, privateKey: String, port: Int, peer: String, endpoint: String, peerAddress: String,
        address: String
    ) throws {
        let file = lab.directory.path + "/\(interface).conf"
        let text = """
            [Interface]
            PrivateKey = \(privateKey)
            ListenPort = \(port)

            [Peer]
            PublicKey = \(peer)
            Endpoint = \(endpoint)
            AllowedIPs = \(peerAddress)/32

            """
        guard FileManager.default.createFile(atPath: file, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw BenchError.failed("cannot write \(file)")
        }
        let result = try lab.namespaces.exec(in: namespace, [WireGuardLab.wgCommand, "setconf", interface, file])
        guard result.status == 0 else { throw BenchError.failed("wg setconf \(interface): \(result.error)") }
        try lab.namespaces.ip(in: namespace, ["addr", "add", address + "/24", "dev", interface])
        try lab.namespaces.ip(in: namespace, ["link", "set", interface, "mtu", String(Self.mtu), "up"])
    }

    private static func wg(_ arguments: [String]) throws -> String {
        let result = try NetworkNamespacePair.run(WireGuardLab.wgCommand, arguments)
        guard result.status == 0 else { throw BenchError.failed("wg \(arguments.joined(separator: " ")): \(result.error)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `wg pubkey` reads the key on stdin; a shell feeds it (keys made for this run only).
    private static func publicKey(of privateKey: String) throws -> String {
        let result = try NetworkNamespacePair.run(
            "/bin/sh", ["-c", "printf '%s\\n' \"$0\" | \(WireGuardLab.wgCommand) pubkey", privateKey])
        guard result.status == 0 else { throw BenchError.failed("wg pubkey: \(result.error)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
