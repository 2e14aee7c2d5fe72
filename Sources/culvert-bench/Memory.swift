// `culvert-bench memory`: the idle resident memory of culvertd and of each provider with a connected
// session (issue 15's goals: culvertd ≤ 20 MiB, a provider ≤ 16 MiB). Lab 1 (TunnelLab): culvertd,
// the test provider connected to its peer, a few pings through the tunnel and `culvertctl status`
// calls; lab 2 (WireGuardLab): culvert-wireguard connected to wireguard-go, a few pings. Each
// process is read after --idle seconds of quiet: VmRSS, its anonymous/file split, [heap] and the
// thread count (/proc/PID/status, /proc/PID/smaps). Measure the build that ships: the executables
// next to culvert-bench (or $CULVERT_PRODUCTS_DIR), e.g. a `-c release --static-swift-stdlib` build.

import ArgumentParser
import CulvertSystem
import CulvertTesting
import CulvertWire
import Foundation

struct MemoryBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory",
        abstract: "Idle RSS of culvertd, the test provider and culvert-wireguard, each with a connected session. Needs root.")

    static let profile = "mem"
    static let goals = (culvertd: 20.0, provider: 16.0)  // MiB

    @Option(help: "Seconds of quiet before each reading.")
    var idle = 10

    @Option(help: "`culvertctl status` calls before culvertd's reading.")
    var statusCalls = 3

    func validate() throws {
        guard (0...600).contains(idle), (0...100).contains(statusCalls) else { throw ValidationError("idle 0–600, status-calls 0–100") }
    }

    func run() throws {
        guard getuid() == 0 else { throw ValidationError("culvert-bench memory creates network namespaces: run it as root") }
        let box = LabBox()
        try SignalTeardown.install { box.settled()?.tearDown() }
        var rows: [(String, MemoryReading)] = []
        do {
            let lab: TunnelLab
            do { lab = try TunnelLab() } catch {
                box.settle(nil)
                throw error
            }
            box.settle(lab)
            defer { lab.tearDown() }
            try lab.saveProfile(Self.profile)
            let provider = try Self.connect(lab)
            try Self.ping(lab, TunnelLab.tunnelAddressB, what: "the test provider's tunnel")
            for _ in 0..<statusCalls {
                let result = try lab.inA(["env", "CULVERT_SOCKET=\(lab.daemon.socketPath)", Products.path(of: "culvertctl"), "status"])
                guard result.status == 0 else { throw BenchError.failed("culvertctl status: \(result.output)\(result.error)") }
            }
            sleep(UInt32(idle))
            rows.append(("culvertd (test provider session)", try MemoryReading(pid: lab.daemon.pid)))
            rows.append(("culvert-test-provider", try MemoryReading(pid: provider)))
        }
        do {
            let lab: TunnelLab
            let wireguard: WireGuardLab
            do {
                lab = try TunnelLab(startPeer: false)
                do { wireguard = try WireGuardLab(lab: lab) } catch {
                    lab.tearDown()
                    throw error
                }
            } catch {
                box.settle(nil)
                throw error
            }
            box.settle(lab)
            defer {
                wireguard.tearDown()
                lab.tearDown()
            }
            try WireGuardBench.saveProfile(wireguard, name: Self.profile)
            let provider = try Self.connect(lab)
            try Self.ping(lab, WireGuardLab.tunnelAddressB, what: "culvert-wireguard ↔ wireguard-go")
            sleep(UInt32(idle))
            rows.append(("culvertd (WireGuard session)", try MemoryReading(pid: lab.daemon.pid)))
            rows.append(("culvert-wireguard", try MemoryReading(pid: provider)))
        }
        print(Self.report(rows, idle: idle))
    }

    private static func connect(_ lab: TunnelLab) throws -> Int32 {
        let reply = try lab.connect(profile)
        guard let pid = reply["session"]?["pid"]?.intValue, pid > 0 else { throw BenchError.failed("Connect replied \(reply.jsonString)") }
        return Int32(pid)
    }

    private static func ping(_ lab: TunnelLab, _ address: String, what: String) throws {
        let result = try lab.inA(["ping", "-c", "3", "-i", "0.2", "-W", "2", address])
        guard result.status == 0 else { throw BenchError.failed("\(what): no ping to \(address): \(result.output)\(result.error)") }
    }

    static func report(_ rows: [(String, MemoryReading)], idle: Int) -> String {
        var lines = [
            "idle resident memory, \(idle) s after the last activity (MiB; goals: culvertd ≤ \(goals.culvertd), a provider ≤ \(goals.provider))",
            "| process | VmRSS | anon | file | [heap] | threads | executable |", "|---|---:|---:|---:|---:|---:|---|",
        ]
        for (name, reading) in rows {
            lines.append(
                "| \(name) | \(mib(reading.rss)) | \(mib(reading.anonymous)) | \(mib(reading.file)) | \(mib(reading.heap)) | \(reading.threads) | \(reading.executable) |"
            )
        }
        return lines.joined(separator: "\n")
    }

    static func mib(_ kib: Int) -> String { String(format: "%.1f", Double(kib) / 1024) }
}

/// One process's resident memory, in KiB, from /proc.
struct MemoryReading {
    var rss = 0
    var anonymous = 0
    var file = 0
    var heap = 0
    var threads = 0
    var executable = ""

    init(pid: Int32) throws {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        for line in status.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2 else { continue }
            let value = Int(fields[1]) ?? 0
            switch fields[0] {
            case "VmRSS:": rss = value
            case "RssAnon:": anonymous = value
            case "RssFile:": file = value
            case "Threads:": threads = value
            default: break
            }
        }
        var inHeap = false
        for line in try String(contentsOfFile: "/proc/\(pid)/smaps", encoding: .utf8).split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if let first = fields.first, first.contains("-"), first.first?.isHexDigit == true {
                inHeap = fields.last == "[heap]"
            } else if inHeap, fields.first == "Rss:", fields.count >= 2 {
                heap += Int(fields[1]) ?? 0
            }
        }
        executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? "?"  // try?: gone: "?"
    }
}
