// culvertctl status: the daemon's whole state at one instant.

import ArgumentParser
import CulvertClient
import CulvertCore

extension Culvertctl {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show culvertd's state: the daemon, its event position, profiles, extensions, sessions and problems.",
            discussion: """
                Prints one consistent view (GetStatus): the daemon's version, pid and start time; its \
                epoch and the seq of the last event the view includes (give both to `watch --since SEQ \
                --epoch EPOCH` to follow changes from exactly this point); every profile and extension; \
                every session (as `session list` shows them); anything damaged the daemon found \
                and set aside; and the control socket's limits by class of caller (root, the reader \
                group, everyone else) with the connections and buffered bytes each holds now.

                With --json, prints the io.culvert.Manager Status object, with the ConnectionLimits \
                object as its member "limits" when the daemon reports one.

                EXAMPLES
                  culvertctl status
                  culvertctl status --json | jq -r '.profiles[].name'
                """)

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                let status: ManagerStatus
                let limits: ConnectionLimits?
                do throws(CulvertClientError) {
                    (status, limits) = try await client.statusAndLimits()
                } catch {
                    throw CommandFailure(error, socket: socket)
                }
                if output.json {
                    output.json(StatusWithLimits(status: status, limits: limits))
                    return
                }
                let daemon = status.daemon
                output.table([
                    ["daemon", "culvertd \(daemon.version)  pid \(daemon.pid)  started \(daemon.startedAt)"],
                    ["socket", socket],
                    ["epoch", daemon.epoch],
                    ["seq", "\(status.seq)"],
                    ["profiles", status.profiles.isEmpty ? "none" : "\(status.profiles.count)"],
                ])
                if !status.profiles.isEmpty { output.table(ProfileCommand.tableRows(status.profiles), indent: "  ") }
                output.table([
                    [
                        "extensions",
                        status.extensions.isEmpty
                            ? "none" : "\(status.extensions.count)" + (status.developerMode ? "  (developer mode: unsigned accepted)" : ""),
                    ]
                ])
                if !status.extensions.isEmpty {
                    output.table(Culvertctl.ExtensionCommand.tableRows(status.extensions), indent: "  ")
                }
                output.table([["sessions", status.sessions.isEmpty ? "none" : "\(status.sessions.count)"]])
                if !status.sessions.isEmpty {
                    let sessions = status.sessions.sorted { $0.profile < $1.profile }
                    output.table(Culvertctl.SessionCommand.tableRows(sessions), indent: "  ")
                }
                output.table([["problems", status.problems.isEmpty ? "none" : "\(status.problems.count)"]])
                for problem in status.problems {
                    output.line(
                        "  \(problem.kind)  \(problem.path): \(problem.description)" + (problem.movedTo.map { "  (moved to \($0))" } ?? ""))
                }
                if let containment = status.containment { output.table(Self.containmentRows(containment)) }
                if let limits { output.table(Self.limitRows(limits)) }
            }
        }
    }
}

extension Culvertctl.Status {
    /// The Status object with the limits beside its own members, so `--json` stays a superset of
    /// what it printed before.
    struct StatusWithLimits: Encodable {
        var status: ManagerStatus
        var limits: ConnectionLimits?

        enum CodingKeys: String, CodingKey { case limits }

        func encode(to encoder: any Encoder) throws {
            try status.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(limits, forKey: .limits)
        }
    }

    /// What culvertd enforces on every provider here (docs/PROVIDERS.md, "Containment").
    static func containmentRows(_ containment: ContainmentInfo) -> [[String]] {
        let perSession = [
            containment.tasksMax.map { "\($0) tasks" }, containment.memoryMax.map { SessionDescription.mebibytes($0) },
        ].compactMap { $0 }
        var rows = [
            ["provider uids", "\(containment.identities) (one per running provider)"],
            [
                "cgroups",
                containment.cgroups
                    + (perSession.isEmpty ? " (no limits enforced)" : ", per session " + perSession.joined(separator: ", ")),
            ],
            ["seccomp", containment.seccomp == "notify" ? "on (refused calls fail with EPERM and are counted)" : containment.seccomp],
        ]
        if !containment.description.isEmpty { rows.append(["", containment.description]) }
        return rows
    }

    static func limitRows(_ limits: ConnectionLimits) -> [[String]] {
        func kib(_ bytes: Int64) -> String {
            if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
            return bytes >= 1024 && bytes % 1024 == 0 ? "\(bytes >> 10) KiB" : "\(bytes) B"
        }
        func seconds(_ value: Double) -> String { value == value.rounded() ? "\(Int(value)) s" : "\(value) s" }
        func row(_ name: String, _ use: ConnectionClassUse) -> [String] {
            let idle = use.idleDeadlineSeconds.map { "idle " + seconds($0) } ?? "no idle limit"
            return [
                "  \(name)",
                "\(use.connections) open, \(use.bufferedBytes) B buffered;  message \(kib(use.maximumMessageSize)), output \(kib(use.maximumQueuedOutput)), \(idle)",
            ]
        }
        return [
            [
                "connections",
                "at most \(limits.maximumConnections) (\(limits.reservedForAdmin) reserved for root, \(limits.reservedForReaders) for readers), \(limits.maximumConnectionsPerUser) per uid",
            ],
            [
                "  budgets",
                "\(kib(limits.perUserMemoryBudget)) per non-root uid, \(kib(limits.otherMemoryBudget)) for all others; partial message "
                    + seconds(limits.partialMessageDeadlineSeconds),
            ],
            row("root", limits.admin), row("readers", limits.reader), row("others", limits.other),
        ]
    }
}
