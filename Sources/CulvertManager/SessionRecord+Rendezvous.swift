// SessionRecord+Rendezvous: the provider-owned half of <runtime-dir>/sessions/<id>/ — made,
// reached and removed by root without following anything the provider put there (issue 11).
//
// The sessions directory is root's (0755); the rendezvous directory in it belongs to the
// provider's uid (0700), which may change its content at any moment, also after its session has
// ended. Root therefore never uses a path below `sessions/<id>`: the directory is created with
// mkdirat and given away with fchown/fchmod on an O_NOFOLLOW descriptor, the socket is reached
// through `UnixSocket.connect(in:name:)`, and the tree is removed with `removeTreeBeneath`.

import CulvertSystem

/// Why a rendezvous directory could not be made or reached.
struct RendezvousError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension SessionRecord {
    /// Name of the socket the provider listens on, inside its rendezvous directory.
    static let rendezvousSocketName = "rendezvous.sock"
    /// Mode of `sessions/`: root's, readable by all (providers must reach their own directory).
    static let sessionsDirectoryMode: UInt32 = 0o755
    /// Mode of a rendezvous directory: its provider's only.
    static let rendezvousDirectoryMode: UInt32 = 0o700

    /// Opens `sessions/`, creating it if needed, and checks that only root can change it: the
    /// descriptor-relative operations below are only as safe as this directory.
    static func openSessionsDirectory(runtimeDirectory: String) throws(RendezvousError) -> DirectoryHandle {
        let path = directory(runtimeDirectory: runtimeDirectory)
        do {
            try FileSystem.createDirectory(path, mode: sessionsDirectoryMode)
            let handle = try DirectoryHandle.open(path: path)
            let status = try handle.status()
            guard status.ownerID == 0, status.permissions & 0o022 == 0 else {
                handle.close()
                throw RendezvousError("\(path) is not root's alone (owner \(status.ownerID), mode \(String(status.permissions, radix: 8)))")
            }
            return handle
        } catch let error as RendezvousError {
            throw error
        } catch {
            throw RendezvousError("\(path): \(error)")
        }
    }

    /// Makes `sessions/<id>/` for a provider running as `userID`/`groupID`: any leftover of that
    /// name is removed first (it may belong to an earlier provider), then a new directory is made
    /// with mkdirat, opened with O_NOFOLLOW and given away with fchown and fchmod on the descriptor.
    static func createRendezvousDirectory(
        runtimeDirectory: String, id: String, userID: UInt32, groupID: UInt32
    ) throws(RendezvousError) {
        let sessions = try openSessionsDirectory(runtimeDirectory: runtimeDirectory)
        defer { sessions.close() }
        do {
            try sessions.removeTree(named: id, limits: rendezvousRemovalLimits)
        } catch {
            throw RendezvousError("removing a leftover rendezvous directory \(id): \(error)")
        }
        do {
            try sessions.createDirectory(named: id, permissions: rendezvousDirectoryMode)
            let directory = try sessions.openDirectory(named: id)
            defer { directory.close() }
            try directory.descriptor.setOwner(userID: userID, groupID: groupID)
            try directory.descriptor.setPermissions(rendezvousDirectoryMode)
        } catch {
            throw RendezvousError("creating the rendezvous directory \(id): \(error)")
        }
    }

    /// Connects to the rendezvous socket of record `id`, whose provider runs as `userID`: the
    /// directory must be a directory owned by `userID` (not followed if a link), the socket a
    /// socket owned by `userID` (not followed if a link), and a listener that does not accept
    /// makes this fail at once rather than block the caller.
    static func connectRendezvous(runtimeDirectory: String, id: String, userID: UInt32) throws(RendezvousError) -> Descriptor {
        let sessions = try openSessionsDirectory(runtimeDirectory: runtimeDirectory)
        defer { sessions.close() }
        let directory: DirectoryHandle
        do { directory = try sessions.openDirectory(named: id) } catch {
            throw RendezvousError("opening rendezvous directory \(id): \(error)")
        }
        defer { directory.close() }
        do {
            let status = try directory.status()
            guard status.ownerID == userID else {
                throw RendezvousError("rendezvous directory \(id) belongs to uid \(status.ownerID), not the provider's \(userID)")
            }
            let (connection, socketFile) = try UnixSocket.connect(in: directory, name: rendezvousSocketName)
            guard socketFile.ownerID == userID else {
                connection.close()
                throw RendezvousError("rendezvous socket of \(id) belongs to uid \(socketFile.ownerID), not the provider's \(userID)")
            }
            return connection
        } catch let error as RendezvousError {
            throw error
        } catch {
            throw RendezvousError("connecting to the rendezvous socket of \(id): \(error)")
        }
    }
}
