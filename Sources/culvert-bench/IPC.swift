// `culvert-bench ipc`: GetStatus round trip against a raw echo, and Watch delivery latency to
// many subscribers. Both peers are real processes on this machine; nothing leaves it.

import ArgumentParser
import CulvertSystem
import CulvertTesting
import CulvertVarlink
import CulvertWire
import Foundation

struct IPC: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "GetStatus p50/p99 as a ratio to a unix-socket echo; Watch delivery p50/p99 to N subscribers.")

    @Option(help: "Round trips per measurement.")
    var roundTrips = 20_000

    @Option(help: "Watch subscribers.")
    var subscribers = 100

    @Option(help: "Events published for the delivery measurement.")
    var events = 1_000

    func run() throws {
        let directory = try TemporaryDirectory(prefix: "culvert-bench", base: "/dev/shm")
        defer { directory.remove() }

        // Baseline: echo of a message the size of a GetStatus call, in a separate process.
        let echoPath = directory.file("echo.sock")
        let echo = Process()
        echo.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        echo.arguments = ["echo-server", echoPath]
        try echo.run()
        defer { echo.terminate() }
        var echoConnection: Descriptor?
        for _ in 0..<200 where echoConnection == nil {
            echoConnection = try? UnixSocket.connect(path: echoPath)  // not listening yet: retry
            if echoConnection == nil { usleep(10_000) }
        }
        guard let echoFD = echoConnection else { throw ValidationError("echo server did not start") }
        let request = VarlinkCallMessage(method: ManagerMethod.getStatus.rawValue).encoded()
        var buffer: [UInt8] = []
        func echoOnce() throws {
            try echoFD.writeAll(request)
            buffer.removeAll(keepingCapacity: true)
            while buffer.last != 0 { _ = try echoFD.read(appendingTo: &buffer, maximum: 65536) }
        }
        for _ in 0..<1000 { try echoOnce() }
        var echoSamples: [UInt64] = []
        echoSamples.reserveCapacity(roundTrips)
        for _ in 0..<roundTrips {
            let start = WallClock.monotonicNanoseconds()
            try echoOnce()
            echoSamples.append(WallClock.monotonicNanoseconds() - start)
        }
        echoFD.close()

        // culvertd: GetStatus on the same kind of connection.
        let daemon = DaemonProcess(root: directory.path, arguments: ["--event-buffer", "65536"])
        try daemon.start()
        defer { daemon.stop() }
        let client = try daemon.connect()
        for i in 0..<5 { _ = try client.saveProfile("profile-\(i)") }
        for _ in 0..<1000 { _ = try client.call(ManagerMethod.getStatus.rawValue) }
        var statusSamples: [UInt64] = []
        statusSamples.reserveCapacity(roundTrips)
        for _ in 0..<roundTrips {
            let start = WallClock.monotonicNanoseconds()
            _ = try client.call(ManagerMethod.getStatus.rawValue)
            statusSamples.append(WallClock.monotonicNanoseconds() - start)
        }
        let echoStats = Percentiles(nanoseconds: echoSamples)
        let statusStats = Percentiles(nanoseconds: statusSamples)

        let delivery = try measureDelivery(daemon: daemon, client: client)

        print(
            """
            ## IPC (`culvert-bench ipc --round-trips \(roundTrips) --subscribers \(subscribers) --events \(events)`)

            | measurement | n | p50 µs | p99 µs | max µs | p50 ratio to echo | p99 ratio to echo |
            |---|---|---|---|---|---|---|
            | unix-socket echo (baseline, separate process) | \(echoStats.count) | \(format(echoStats.p50)) | \(format(echoStats.p99)) | \(format(echoStats.max)) | 1.0 | 1.0 |
            | GetStatus round trip (5 profiles) | \(statusStats.count) | \(format(statusStats.p50)) | \(format(statusStats.p99)) | \(format(statusStats.max)) | \(format(statusStats.p50 / echoStats.p50)) | \(format(statusStats.p99 / echoStats.p99)) |
            | Watch delivery, SaveProfile sent → event received, \(subscribers) subscribers | \(delivery.count) | \(format(delivery.p50)) | \(format(delivery.p99)) | \(format(delivery.max)) | | |

            Targets: GetStatus p50 ≤ 4× echo p50 → **\(statusStats.p50 <= 4 * echoStats.p50 ? "met" : "missed")**; \
            delivery p99 ≤ 5 ms with \(subscribers) subscribers → **\(delivery.p99 <= 5000 ? "met" : "missed")**.
            """)
    }

    /// Each event carries its send time (CLOCK_MONOTONIC, same machine); every subscriber
    /// thread records receive − send for every event.
    private func measureDelivery(daemon: DaemonProcess, client: VarlinkClientConnection) throws -> Percentiles {
        let collector = SampleCollector()
        let ready = DispatchSemaphore(value: 0)
        let finished = DispatchGroup()
        let socket = daemon.socketPath
        let expected = events
        for _ in 0..<subscribers {
            finished.enter()
            Thread {
                defer { finished.leave() }
                guard let connection = try? VarlinkClientConnection(path: socket),  // reported as missing samples
                    (try? connection.send(VarlinkCallMessage(method: ManagerMethod.watch.rawValue, more: true))) != nil,  // likewise
                    (try? connection.receive(timeoutMilliseconds: 10_000)) != nil  // the snapshot
                else {
                    ready.signal()
                    return
                }
                ready.signal()
                var samples: [UInt64] = []
                samples.reserveCapacity(expected)
                while samples.count < expected {
                    guard let reply = try? connection.receive(timeoutMilliseconds: 30_000) else { break }  // timeout: fewer samples
                    let now = WallClock.monotonicNanoseconds()
                    if let sent = reply.parameters["event"]?["profile"]?["options"]?["sentAt"]?.stringValue, let start = UInt64(sent) {
                        samples.append(now - start)
                    }
                }
                collector.add(samples)
            }.start()
        }
        for _ in 0..<subscribers { ready.wait() }
        for i in 0..<events {
            let sentAt = String(WallClock.monotonicNanoseconds())
            _ = try client.call(
                ManagerMethod.saveProfile.rawValue,
                ["profile": ["name": .string("bench-\(i % 10)"), "extension": "io.culvert.bench", "options": ["sentAt": .string(sentAt)]]])
            usleep(2_000)  // one event every ~2 ms: latency, not throughput
        }
        finished.wait()
        let samples = collector.all
        if samples.count != subscribers * events {
            print("warning: \(samples.count) of \(subscribers * events) deliveries measured")
        }
        return Percentiles(nanoseconds: samples)
    }
}

/// Samples from many threads.
final class SampleCollector: @unchecked Sendable {  // every access holds `lock`
    private let lock = NSLock()
    private var samples: [UInt64] = []
    func add(_ more: [UInt64]) {
        lock.lock()
        samples += more
        lock.unlock()
    }
    var all: [UInt64] {
        lock.lock()
        defer { lock.unlock() }
        return samples
    }
}

extension VarlinkClientConnection {
    fileprivate func saveProfile(_ name: String) throws -> JSONValue {
        try call(ManagerMethod.saveProfile.rawValue, ["profile": ["name": .string(name), "extension": "io.culvert.bench"]])
    }
}
