// ExtensionSpool: install requests left for culvertd while it is not running.
//
// A deb's postinst can run before culvertd does, and installing must not fail then: the request
// is written under <state-dir>/spool/ and culvertd applies it at start, oldest first, with the
// same events as a live install (applySpool in CulvertManager is the reading side).

import CulvertCore
import CulvertSystem
import FoundationEssentials

public enum ExtensionSpool {
    /// Mode of a spool directory this code creates: requests are root's business only.
    public static let directoryMode: UInt32 = 0o700
    /// Suffix of a request file; culvertd reads nothing else, so a temp file is never read half-written.
    public static let fileSuffix = ".json"

    /// The spool directory of a culvertd state directory.
    public static func directory(stateDirectory: String) -> String {
        stateDirectory + "/" + SpoolRequest.directoryName
    }

    /// A request for `path` made now by this process's effective user.
    public static func request(path: String, allowDowngrade: Bool) -> SpoolRequest {
        SpoolRequest(
            path: path, allowDowngrade: allowDowngrade, requestedAt: WallClock.rfc3339Now(),
            requestedBy: Int64(Identity.effectiveUserID))
    }

    /// Writes `request` as a new file of the spool under `stateDirectory` and returns its path.
    ///
    /// The directory is created with mode 0700, any missing parent (the state directory itself on
    /// a fresh system) with 0755, as culvertd would make it. The file is named
    /// `<requestedAt, compact>-<random>.json`: culvertd applies requests in name order, so they
    /// are applied in the order they were made, and the random part keeps requests made in the
    /// same millisecond apart. It is written atomically and durably (temp file, fsync, rename,
    /// fsync directory) before this returns: a crash leaves the request whole or absent.
    public static func enqueue(stateDirectory: String, request: SpoolRequest) throws(CulvertClientError) -> String {
        let directory = directory(stateDirectory: stateDirectory)
        let file = directory + "/" + fileName(requestedAt: request.requestedAt, random: WallClock.randomIdentifier())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let bytes: [UInt8]
        do {
            bytes = Array(try encoder.encode(request)) + [UInt8(ascii: "\n")]
        } catch {
            // Strings, a Bool and an Int64 have no failing encoding; reported rather than trapped all the same.
            throw .spoolFailed(path: directory, errno: 0, description: "cannot encode the request: \(error)")
        }
        do {
            try FileSystem.createDirectory(directory, mode: directoryMode)
            try FileSystem.writeAtomically(bytes, to: file, mode: 0o600)
        } catch {
            throw .spoolFailed(path: error.path ?? directory, errno: Int64(error.errno), description: error.description)
        }
        return file
    }

    /// Takes a spooled request back. Returns true if this call took it (nobody will apply it
    /// now), false if it was already gone (culvertd took it first).
    ///
    /// The file is renamed to a name culvertd never reads before it is removed, so exactly one
    /// of culvertd and this call owns the request, however the two interleave.
    public static func withdraw(_ file: String) throws(CulvertClientError) -> Bool {
        let taken = file + ".withdrawn"
        do {
            try FileSystem.rename(file, to: taken)
        } catch {
            if error.errno == Syscall.ENOENT { return false }
            throw .spoolFailed(path: file, errno: Int64(error.errno), description: error.description)
        }
        // The request is ours either way; a leftover under this name is never applied.
        try? FileSystem.removeFile(taken)
        return true
    }

    /// `2026-11-27T17:45:55.123Z` → `20261127T174555.123Z-<random>.json`: fixed width, so names
    /// sort as the times do.
    static func fileName(requestedAt: String, random: String) -> String {
        let compact = requestedAt.filter { $0 != "-" && $0 != ":" }
        return compact + "-" + random.prefix(16) + fileSuffix
    }
}
