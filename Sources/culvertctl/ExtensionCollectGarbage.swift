// culvertctl extension gc: remove what no installed extension needs any more.

import ArgumentParser
import CulvertClient
import CulvertCore

extension Culvertctl.ExtensionCommand {
    struct CollectGarbage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc",
            abstract: "Remove stale registrations and unused installed copies.",
            discussion: """
                Removes, and lists:
                  orphaned_registration  an extension whose source bundle has vanished (for example
                                         its package was purged) is unregistered
                  store_copy             an installed copy no registration uses
                  staging                a copy left behind by an interrupted install
                With --dry-run, lists what would be removed and removes nothing. Needs root.

                With --json, prints {"dryRun": BOOL, "removals": [...], "seq": N} with \
                io.culvert.Manager Removal objects.

                EXAMPLES
                  culvertctl extension gc --dry-run
                  culvertctl extension gc
                """)

        @OptionGroup var global: GlobalOptions

        @Flag(name: .long, help: "Only report what would be removed.")
        var dryRun = false

        struct Result: Encodable {
            var dryRun: Bool
            var removals: [Removal]
            var seq: Int64
        }

        func run() async throws {
            let socket = global.socketPath
            try await global.run { client, output throws(CommandFailure) in
                let collection: GarbageCollection
                do throws(CulvertClientError) { collection = try await client.collectGarbage(dryRun: dryRun) } catch {
                    throw CommandFailure(error, socket: socket)
                }
                if output.json {
                    output.json(Result(dryRun: dryRun, removals: collection.removals, seq: collection.seq))
                    return
                }
                let count = collection.removals.count
                let items = "\(count) item\(count == 1 ? "" : "s")"
                if count == 0 {
                    output.line("nothing to remove")
                    return
                }
                output.line(dryRun ? "would remove \(items) (dry run):" : "removed \(items), seq \(collection.seq):")
                let rows =
                    [["KIND", "EXTENSION", "PATH", "REASON"]]
                    + collection.removals.map { [$0.kind.rawValue, $0.identifier ?? "-", $0.path, $0.reason] }
                output.table(rows, indent: "  ")
            }
        }
    }
}
