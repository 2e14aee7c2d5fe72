// Flood: many connections from one unprivileged identity against culvertd's control socket, for
// the budget tests and `culvert-bench flood` (contract 15). A stdlib-only Python peer run under
// setpriv (so the kernel reports the uid we choose), bounded in connections and in time: it opens
// its connections, says "ready", holds them for `hold` seconds doing its kind of harm, and
// reports how each connection ended.

import CulvertSystem
import Foundation

/// What each connection of a flood does.
public enum FloodKind: String, Sendable, CaseIterable {
    /// Connects and sends nothing (the idle deadline ends it).
    case idle
    /// Sends `size` bytes of one message without its NUL, then nothing.
    case partial
    /// Like `partial`, for sizes over the message limit: refused at once.
    case huge
    /// Sends one byte of a message every 250 ms, never its NUL (the partial-message deadline ends it).
    case trickle
    /// Opens a Watch and reads it.
    case watch
}

/// One flood: who, where, how many, what, for how long.
public struct FloodPlan: Sendable {
    /// setpriv arguments naming the identity, e.g. `["--reuid=65534", "--regid=65534", "--clear-groups"]`.
    public var identity: [String]
    public var socketPath: String
    public var kind: FloodKind
    public var connections: Int
    /// Seconds the connections are held after "ready".
    public var hold: Double
    /// Bytes of the unfinished message (`partial`, `huge`).
    public var size: Int

    public init(identity: [String], socketPath: String, kind: FloodKind, connections: Int, hold: Double, size: Int = 0) {
        self.identity = identity
        self.socketPath = socketPath
        self.kind = kind
        self.connections = connections
        self.hold = hold
        self.size = size
    }

    /// setpriv arguments for a uid with no name, its own gid and no supplementary groups.
    public static func stranger(uid: UInt32) -> [String] { ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups"] }
}

/// How a flood's connections ended.
public struct FloodReport: Sendable {
    /// Outcome → connections: an error name, "closed" (closed without an error), "open" (still
    /// open when the hold ended), or an error name with " (open)" (an error that did not close).
    public var outcomes: [String: Int]
    /// Seconds from each connection's opening to its first error, ascending.
    public var errorDelays: [Double]
}

public enum FloodError: Error, CustomStringConvertible {
    case failed(String)
    public var description: String {
        switch self {
        case .failed(let why): return "flood failed: \(why)"
        }
    }
}

/// A running flood. `start` returns once every connection is open.
public final class Flood: @unchecked Sendable {  // used from one thread at a time: start, then finish
    public static let setpriv = "/usr/bin/setpriv"
    public static let python = "/usr/bin/python3"
    /// Most connections one flood may open (select-free, but one process's descriptors are finite).
    public static let maximumConnections = 900

    public let plan: FloodPlan
    private let process = Process()
    private let pipe = Pipe()
    private var buffered = Data()

    public init(_ plan: FloodPlan) { self.plan = plan }

    /// Starts the peer and waits for its "ready" (its connects are bounded by their own timeouts).
    public func start() throws(FloodError) {
        guard plan.connections >= 1, plan.connections <= Self.maximumConnections else { throw .failed("connections out of range") }
        let arguments: [String: Any] = [
            "socket": plan.socketPath, "count": plan.connections, "kind": plan.kind.rawValue, "hold": plan.hold, "size": plan.size,
        ]
        // try!: a dictionary of strings and numbers always serialises.
        let json = String(decoding: try! JSONSerialization.data(withJSONObject: arguments), as: UTF8.self)
        process.executableURL = URL(fileURLWithPath: Self.setpriv)
        process.arguments = plan.identity + ["--", Self.python, "-c", Self.script, json]
        process.standardOutput = pipe
        process.standardError = pipe
        do {
            try process.run()
        } catch {
            throw .failed("\(error)")
        }
        guard readLine() == "ready" else { throw .failed("no ready: \(String(decoding: buffered, as: UTF8.self))") }
    }

    /// Waits for the hold to end and returns the report.
    public func finish() throws(FloodError) -> FloodReport {
        guard let line = readLine() else { throw .failed("no report") }
        process.waitUntilExit()
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],  // try?: judged below
            let outcomes = object["outcomes"] as? [String: Int], let delays = object["delays"] as? [Double]
        else { throw .failed("bad report: \(line)") }
        return FloodReport(outcomes: outcomes, errorDelays: delays)
    }

    /// Stops the peer at once (its connections close with it).
    public func stop() {
        if process.isRunning { process.terminate() }
    }

    private func readLine() -> String? {
        while true {
            if let newline = buffered.firstIndex(of: 0x0A) {
                let line = String(decoding: buffered[buffered.startIndex..<newline], as: UTF8.self)
                buffered = Data(buffered[(newline + 1)...])
                return line
            }
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { return nil }
            buffered.append(chunk)
        }
    }

    static let script = #"""
        import json, socket, sys, time, select
        a = json.loads(sys.argv[1])
        path, count, kind, hold, size = a["socket"], a["count"], a["kind"], a["hold"], a.get("size", 0)
        outcomes, delays, live = {}, [], {}
        def note(name):
            outcomes[name] = outcomes.get(name, 0) + 1
        for i in range(count):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(2)
            for attempt in range(100):
                try:
                    s.connect(path)
                    break
                except (BlockingIOError, socket.timeout):
                    time.sleep(0.02)  # the listen backlog is full: try again, as an attacker would
            else:
                note("connect-failed")
                s.close()
                continue
            try:
                if kind == "huge" or kind == "partial":
                    s.sendall(b"{" + b"x" * (size - 1))
                elif kind == "trickle":
                    s.sendall(b"{")
                elif kind == "watch":
                    s.sendall(b'{"method":"io.culvert.Manager.Watch","more":true}\0')
            except OSError:
                pass  # a refused or closed connection still has its reply (or EOF) to read
            s.setblocking(False)
            live[s] = [time.monotonic(), b"", None]
        print("ready", flush=True)
        end = time.monotonic() + hold
        last_trickle = time.monotonic()
        poller = select.poll()
        byfd = {}
        for s in live:
            poller.register(s, select.POLLIN)
            byfd[s.fileno()] = s
        while live and time.monotonic() < end:
            events = poller.poll(100)
            now = time.monotonic()
            for fd, _ in events:
                s = byfd[fd]
                state = live[s]
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if data:
                    state[1] += data
                    while b"\0" in state[1]:
                        frame, state[1] = state[1].split(b"\0", 1)
                        error = json.loads(frame).get("error")
                        if error and state[2] is None:
                            state[2] = error
                            delays.append(now - state[0])
                    continue
                note(state[2] or "closed")
                poller.unregister(s)
                del byfd[fd]
                s.close()
                del live[s]
            if kind == "trickle" and now - last_trickle >= 0.25:
                last_trickle = now
                for s in list(live):
                    try:
                        s.send(b"x")
                    except OSError:
                        pass
        for s, state in live.items():
            note("open" if state[2] is None else state[2] + " (open)")
            s.close()
        print(json.dumps({"outcomes": outcomes, "delays": sorted(delays)}), flush=True)
        """#
}
