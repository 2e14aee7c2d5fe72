// culvert-bench: benchmarks reported as ratios against a baseline measured in the same run.

import ArgumentParser

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "culvert-bench",
        abstract: "Culvert benchmarks. Results are ratios against baselines measured in the same run.",
        subcommands: [
            IPC.self, FloodBench.self, Tunnel.self, WireGuardBench.self, Soak.self, QueueLoad.self, EchoServer.self, MemoryBench.self,
        ])
}
