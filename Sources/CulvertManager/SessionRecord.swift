// SessionRecord: what culvertd writes under <runtime-dir>/sessions/ for every running provider, so
// a culvertd started after a crash can find the provider again (contract 11), prove it is the
// process that was spawned, and take over its settings without re-applying them.
//
//   <runtime-dir>/sessions/<id>.json          this record (root, 0600): culvertd's word, not the provider's
//   <runtime-dir>/sessions/<id>/rendezvous.sock  the provider's socket (directory owned by the provider, 0700)

import CulvertCore
import CulvertSystem
import FoundationEssentials

struct SessionRecord: Codable, Equatable {
    static let currentFormat = 1

    var format = SessionRecord.currentFormat
    var profile: String
    var id: String
    var extensionIdentifier: String
    var extensionVersion: String
    var pid: Int32
    /// /proc/PID/stat start time: with the pid, names exactly the process that was spawned.
    var startTime: UInt64
    var uid: UInt32
    /// The store copy the provider was started from.
    var executable: String
    var interface: String
    var interfaceIndex: Int32
    var requestedAt: String
    var connectedAt: String?
    var connectedBy: Actor?
    /// The session's id when it differs from `id` (a provider that took the session over in a live
    /// upgrade has its own record and rendezvous, but the session keeps its id).
    var session: String?
    /// The last settings culvertd applied for the provider (SetTunnelNetworkSettings' value, as JSON).
    var settings: String?

    /// The id of the session the provider runs.
    var sessionID: String { session ?? id }

    /// Where records live.
    static func directory(runtimeDirectory: String) -> String { runtimeDirectory + "/sessions" }
    static func path(runtimeDirectory: String, id: String) -> String { directory(runtimeDirectory: runtimeDirectory) + "/\(id).json" }
    static func rendezvousDirectory(runtimeDirectory: String, id: String) -> String {
        directory(runtimeDirectory: runtimeDirectory) + "/\(id)"
    }
    static func rendezvousPath(runtimeDirectory: String, id: String) -> String {
        rendezvousDirectory(runtimeDirectory: runtimeDirectory, id: id) + "/rendezvous.sock"
    }

    func write(runtimeDirectory: String) throws(SystemError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Force try: a record of strings and integers always encodes.
        let bytes = Array(try! encoder.encode(self))
        try FileSystem.writeAtomically(bytes, to: Self.path(runtimeDirectory: runtimeDirectory, id: id), mode: 0o600)
    }

    /// Every record that parses; the others are removed (a torn record names no provider we could prove).
    static func loadAll(runtimeDirectory: String) -> (records: [SessionRecord], discarded: [String]) {
        let directory = directory(runtimeDirectory: runtimeDirectory)
        // try?: no directory means no records.
        let entries = (try? FileSystem.listDirectory(directory)) ?? []
        var records: [SessionRecord] = []
        var discarded: [String] = []
        for entry in entries.sorted() where entry.hasSuffix(".json") {
            let path = directory + "/" + entry
            if let bytes = try? FileSystem.readFile(path),  // try?: unreadable counts as unusable
                let record = try? JSONDecoder().decode(SessionRecord.self, from: Data(bytes)),  // try?: likewise
                record.format == currentFormat
            {
                records.append(record)
            } else {
                discarded.append(path)
            }
        }
        return (records, discarded)
    }

    /// How far removing a rendezvous directory may go: it normally holds one socket, so a provider
    /// that filled it can cost root at most this much work (on the manager queue) before giving up.
    static let rendezvousRemovalLimits = TreeRemoval.Limits(maximumDepth: 8, maximumEntries: 10_000)

    /// Removes the record and the rendezvous directory. The directory belongs to the provider's
    /// uid, which may still run and change it during the removal: it is removed descriptor-relative
    /// (`FileSystem.removeTreeBeneath`), never following a link or crossing a mount point. Returns
    /// why the directory could not be removed completely (for the log), nil when it is gone.
    @discardableResult
    static func remove(runtimeDirectory: String, id: String) -> TreeRemovalError? {
        // try?: already gone is the goal; a record we cannot remove names no provider once its rendezvous is gone.
        try? FileSystem.removeFile(path(runtimeDirectory: runtimeDirectory, id: id))
        do {
            try FileSystem.removeTreeBeneath(
                parent: directory(runtimeDirectory: runtimeDirectory), name: id, limits: rendezvousRemovalLimits)
            return nil
        } catch {
            return error
        }
    }
}
