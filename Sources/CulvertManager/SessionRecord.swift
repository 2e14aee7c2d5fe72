// SessionRecord: what culvertd writes under <runtime-dir>/sessions/ for every running provider, so
// a culvertd started after a crash can find the provider again (contract 11), prove it is the
// process that was spawned, and take over its settings without re-applying them.
//
//   <runtime-dir>/sessions/<id>.json          this record (root, 0600): culvertd's word, not the provider's
//   <runtime-dir>/sessions/<id>/rendezvous.sock  the provider's socket (directory owned by the provider, 0700)

import CulvertCore
import CulvertSystem
import Foundation

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

    /// Removes the record and the rendezvous directory.
    static func remove(runtimeDirectory: String, id: String) {
        // try?: already gone is the goal.
        try? FileSystem.removeFile(path(runtimeDirectory: runtimeDirectory, id: id))
        try? FileSystem.removeTree(rendezvousDirectory(runtimeDirectory: runtimeDirectory, id: id))
    }
}
