// SessionDescription: how controllers describe a session to a person. Shared so that
// `culvertctl session show` and culvert-tui's context overlay say the same thing the same way.

import CulvertCore
import CulvertSystem

public enum SessionDescription {
    /// `count` bytes in binary units with one decimal: "0 B", "512 B", "1.5 KiB", "3.0 GiB".
    public static func bytes(_ count: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        guard count >= 1024 else { return "\(count) B" }
        var value = Double(count)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        let tenths = Int64((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) \(units[unit])"
    }

    /// "1.5 MiB (1572864 bytes, 1200 packets)": human units and the exact counts.
    public static func traffic(bytes: Int64, packets: Int64) -> String {
        "\(Self.bytes(bytes)) (\(bytes) bytes, \(packets) packet\(packets == 1 ? "" : "s"))"
    }

    /// "uid 0 pid 4321 culvertctl"
    public static func actor(_ actor: Actor) -> String {
        "uid \(actor.uid) pid \(actor.pid)" + (actor.command.map { " \($0)" } ?? "")
    }

    /// "connected (provider_started)"
    public static func state(_ session: SessionInfo) -> String {
        "\(session.state.rawValue) (\(session.reason.terminalSafe))"
    }

    /// "start_timeout: the provider did not finish StartTunnel in 30 s (exit status 1)"
    public static func failure(_ failure: SessionFailure) -> String {
        // Provider text (the description, even the reason code as it arrives) is made terminalSafe.
        let reason = failure.reason.rawValue.terminalSafe
        let description = failure.description.terminalSafe
        var text = description.hasPrefix(reason + ":") ? description : "\(reason): \(description)"
        var ending: [String] = []
        if let status = failure.exitStatus { ending.append("exit status \(status)") }
        if let signal = failure.signal, !failure.description.contains(signal) { ending.append("signal \(signal.terminalSafe)") }
        if !ending.isEmpty { text += " (" + ending.joined(separator: ", ") + ")" }
        return text
    }

    /// The session's whole execution context as label/value rows, in reading order. Lists (routes,
    /// the failure's log lines) take one row each, with an empty label after the first.
    /// `readerView`: the caller is not root, so culvertd withheld the provider's identity, who
    /// connected, failure texts and logs (docs/DESIGN.md, "Who may see what"); say so instead of
    /// reading the blanks as facts.
    public static func contextRows(_ session: SessionInfo, readerView: Bool = false) -> [[String]] {
        if readerView { return readerRows(session) }
        var rows: [[String]] = [
            ["profile", session.profile],
            ["state", state(session)],
            ["session id", session.id],
            ["extension", "\(session.extensionIdentifier) \(session.extensionVersion)"],
            ["provider pid", session.pid.map { "\($0)" } ?? "none (no provider process)"],
            [
                "provider uid",
                session.uid.map { uid in Identity.userName(of: UInt32(clamping: uid)).map { "\(uid) (\($0))" } ?? "\(uid)" } ?? "-",
            ],
            ["connected by", session.connectedBy.map(actor) ?? "culvertd (always-on start)"],
            ["requested at", session.requestedAt],
            ["connected at", session.connectedAt ?? "-"],
            ["interface", session.interface ?? "none"],
        ]
        if let remote = session.tunnelRemoteAddress { rows.append(["remote address", remote.terminalSafe]) }
        rows.append(["mtu", session.mtu.map { "\($0)" } ?? "-"])
        rows.append(["addresses", session.addresses.isEmpty ? "none" : session.addresses.joined(separator: ", ")])
        rows += list("routes", session.routes)
        rows.append(["full tunnel", session.fullTunnel ? "yes (routes all traffic)" : "no"])
        if let held = session.killSwitch { rows.append(["kill switch", held ? "held (nothing leaves outside the tunnel)" : "released"]) }
        let dns = session.dnsServers.isEmpty ? "none" : session.dnsServers.joined(separator: ", ")
        rows.append(["dns", dns + (session.dnsBackend.map { " (\($0))" } ?? "")])
        rows.append(["received", traffic(bytes: session.counters.rxBytes, packets: session.counters.rxPackets)])
        rows.append(["sent", traffic(bytes: session.counters.txBytes, packets: session.counters.txPackets)])
        rows.append(["restarts", "\(session.restarts)"])
        rows.append(["next restart", session.nextRestartAt ?? "-"])
        rows += containmentRows(session.containment)
        if let last = session.failure {
            rows.append(["last failure", failure(last)])
            rows += list("failure log", last.log.map(\.terminalSafe))
        } else {
            rows.append(["last failure", "none"])
        }
        return rows
    }

    private static let withheld = "withheld (root only)"

    /// The provider's cgroup, limits, use and refused system calls (docs/PROVIDERS.md).
    static func containmentRows(_ containment: SessionContainment?) -> [[String]] {
        guard let containment else { return [] }
        func amount(_ tasks: Int64?, _ memory: Int64?) -> String {
            [tasks.map { "\($0) tasks" }, memory.map { mebibytes($0) }].compactMap { $0 }.joined(separator: ", ")
        }
        let limits = amount(containment.tasksMax, containment.memoryMax)
        let use = amount(containment.tasks, containment.memoryBytes)
        let names = containment.deniedCallNames.map(\.terminalSafe).joined(separator: ", ")
        return [
            ["cgroup", containment.cgroup?.terminalSafe ?? "none"],
            ["limits", limits.isEmpty ? "none enforced" : limits],
            ["in use", use.isEmpty ? "-" : use],
            ["refused calls", "\(containment.deniedCalls)" + (names.isEmpty ? "" : " (last: \(names))")],
        ]
    }

    /// "12.5 MiB" (tenths, rounded down).
    public static func mebibytes(_ bytes: Int64) -> String {
        let tenths = bytes * 10 / 1_048_576
        return tenths % 10 == 0 ? "\(tenths / 10) MiB" : "\(tenths / 10).\(tenths % 10) MiB"
    }

    private static func readerRows(_ session: SessionInfo) -> [[String]] {
        var rows = contextRows(session).filter {
            !["provider pid", "provider uid", "cgroup", "connected by", "failure log", ""].contains($0[0])
        }
        let firstCounter = rows.firstIndex { $0[0] == "interface" } ?? rows.count
        rows.insert(contentsOf: [["provider", withheld], ["connected by", withheld]], at: firstCounter)
        rows = rows.map { row in
            guard row[0] == "last failure", let last = session.failure else { return row }
            return ["last failure", "\(last.reason.rawValue.terminalSafe) (details \(withheld))"]
        }
        // Lists drop their continuation rows above; put the routes back whole.
        if let index = rows.firstIndex(where: { $0[0] == "routes" }) {
            rows.replaceSubrange(index...index, with: list("routes", session.routes))
        }
        return rows
    }

    private static func list(_ label: String, _ values: [String]) -> [[String]] {
        guard !values.isEmpty else { return [[label, "none"]] }
        return values.enumerated().map { index, value in [index == 0 ? label : "", value] }
    }
}
