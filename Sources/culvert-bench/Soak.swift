// `culvert-bench soak`: the upgrade soak of issue 5 — one tunnel under a ping flood and an iperf3
// TCP stream, CulvertClient watchers and a reference-implementation watcher, then live extension
// upgrades, daemon re-execs and kill -9 + restarts of culvertd in a seeded random order. Reports
// what the contracts say never happens (invalidations, seq gaps and duplicates, lost pings, iperf3
// resets) and how long re-adoption takes. In two private namespaces, torn down on exit and signals.

import ArgumentParser
import CulvertTesting
import CulvertWire
import Foundation

struct Soak: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Live extension upgrades, daemon re-execs and crashes under traffic and watchers. Needs root.")

    @Option(help: "Live extension upgrades (v1 ⇄ v2, handover, downgrade allowed).")
    var upgrades = 50

    @Option(help: "Daemon re-execs.")
    var reexecs = 50

    @Option(help: "kill -9 + restarts of culvertd.")
    var crashes = 20

    @Option(help: "Seconds between pings (0.0002 = 5,000 a second).")
    var pingInterval = 0.0002

    @Option(help: "CulvertClient watchers (plus one reference-implementation watcher).")
    var watchers = 4

    @Option(help: "Milliseconds to wait after each operation.")
    var settle = 400

    @Flag(inversion: .prefixedNo, help: "Run an iperf3 TCP stream through the tunnel during the soak.")
    var iperf = true

    @Flag(
        inversion: .prefixedNo,
        help: "Every provider version declares tun-offload and the peer runs with --tun-offload on and 7 MiB socket buffers (issue 13).")
    var tunOffload = true

    @Option(help: "The tunnel's MTU (profile option mtu); 0 leaves the provider's default (1,500: outer datagrams fragmented).")
    var tunnelMTU = Tunnel.defaultTunnelMTU

    @Option(help: "Seed of the operation order.")
    var seed: UInt64 = 1

    @Option(help: "Python with the PyPI varlink package (make deps puts one in .build-py).")
    var python = ".build-py/bin/python3"

    @Option(help: "The reference watcher script.")
    var referenceWatcher = "Tests/Fixtures/reference-watcher/watch.py"

    func validate() throws {
        // All 0 is the control run: the same traffic for a few seconds with nothing happening.
        guard (0...1000).contains(upgrades), (0...1000).contains(reexecs), (0...1000).contains(crashes)
        else { throw ValidationError("upgrades, reexecs and crashes: 0–1000 each") }
        guard pingInterval >= 0.0002, pingInterval <= 1 else { throw ValidationError("--ping-interval 0.0002–1") }
        guard tunnelMTU == 0 || (576...9000).contains(tunnelMTU) else { throw ValidationError("--tunnel-mtu 0 or 576–9000") }
        guard (0...64).contains(watchers), (0...10_000).contains(settle) else { throw ValidationError("watchers 0–64, settle 0–10000") }
        guard FileManager.default.isExecutableFile(atPath: python), FileManager.default.fileExists(atPath: referenceWatcher) else {
            throw ValidationError(
                "no reference watcher: \(python) or \(referenceWatcher) is missing (run from the checkout after make deps)")
        }
    }

    func run() async throws {
        guard getuid() == 0 else { throw ValidationError("culvert-bench soak creates network namespaces: run it as root") }
        let box = LabBox()
        try SignalTeardown.install { box.settled()?.tearDown() }
        let lab: TunnelLab
        do { lab = try TunnelLab(peerOptions: tunOffload ? .offloading : .plain) } catch {
            box.settle(nil)
            throw error
        }
        box.settle(lab)
        defer { lab.tearDown() }
        try lab.saveProfile("soak", options: ["routes": "10.99.0.0/24"].merging(tunnelMTU > 0 ? ["mtu": String(tunnelMTU)] : [:]) { $1 })
        let before = try lab.networkStateA()
        let cwd = FileManager.default.currentDirectoryPath
        let plan = SoakPlan(
            upgrades: upgrades, reexecs: reexecs, crashes: crashes, pingInterval: pingInterval, watchers: watchers,
            settle: .milliseconds(settle), seed: seed,
            referenceWatcher: (python.hasPrefix("/") ? python : cwd + "/" + python, cwd + "/" + referenceWatcher), iperf: iperf,
            tunOffload: tunOffload)
        let baselineDescriptors = lab.daemonDescriptorCount
        let report = try await SoakRunner.run(plan, lab: lab, profile: "soak")
        _ = try lab.daemon.connect().call(ManagerMethod.disconnect.rawValue, ["profile": .string("soak")], timeoutMilliseconds: 20_000)
        let after = try lab.networkStateA()
        print(
            "culvert-bench soak: \(upgrades) upgrades, \(reexecs) re-execs, \(crashes) crashes, seed \(seed), "
                + (tunOffload ? "tun-offload provider, offloading peer (7 MiB buffers)" : "plain provider and peer")
                + ", tunnel MTU \(tunnelMTU > 0 ? String(tunnelMTU) : "default")")
        print(report)
        print("after Disconnect: ip -j state \(after == before ? "identical to before Connect" : "DIFFERS from before Connect")")
        print("culvertd descriptors: \(baselineDescriptors) before the soak (idle), \(lab.daemonDescriptorCount) after Disconnect")
    }
}
