// StateQuarantine: files in the state directory that culvertd will not use, moved aside and
// reported instead of followed, opened, deleted or silently ignored.
//
// Every state file culvertd reads at start (profiles, registry.json, spool requests, the DNS
// backup) is first checked with lstat: a FIFO would block the open, a symlink could point
// anywhere, a device could have side effects on open. Anything that is not a regular file is
// renamed (the rename moves the entry itself, never what a link points to) into
// <state-dir>/corrupt/ and becomes a `Problem` in GetStatus. Undecodable files go the same way.

import CulvertCore
import CulvertSystem
import FoundationEssentials

enum StateQuarantine {
    static let directoryName = "corrupt"
    static let directoryMode: UInt32 = 0o700

    static func directory(stateDirectory: String) -> String { stateDirectory + "/" + directoryName }

    /// The kind of what is at `path` when it is there but not a regular file; nil for a regular
    /// file or nothing. An lstat error counts as unusable (`unknown`).
    static func irregularKind(at path: String) -> FileStatus.Kind? {
        do {
            guard let status = try FileSystem.status(of: path) else { return nil }
            return status.kind == .regular ? nil : status.kind
        } catch {
            return .unknown
        }
    }

    /// Moves `path` (whatever it is) to `<state-dir>/corrupt/<name>.<timestamp>`, makes the move
    /// durable in both directories and returns the problem to report.
    static func setAside(
        _ path: String, stateDirectory: String, kind: ProblemKind, reason: String
    ) throws(SystemError) -> Problem {
        let corrupt = directory(stateDirectory: stateDirectory)
        try FileSystem.createDirectory(corrupt, mode: directoryMode)
        let name = path.split(separator: "/").last.map(String.init) ?? "file"
        let stamp = WallClock.rfc3339Now().replacing(":", with: "")
        var target = corrupt + "/" + name + "." + stamp
        var attempt = 1
        while FileSystem.exists(target) {  // two set aside within the same second
            attempt += 1
            target = corrupt + "/" + name + "." + stamp + "-\(attempt)"
        }
        try FileSystem.rename(path, to: target)
        try FileSystem.syncDirectory(FileSystem.parentDirectory(of: path))
        try FileSystem.syncDirectory(corrupt)
        return Problem(kind: kind, path: path, description: reason, movedTo: target)
    }

    /// Sets `path` aside if it is there and not a regular file; the problem, or nil if it is
    /// absent or regular.
    static func setAsideIfIrregular(_ path: String, stateDirectory: String) throws(SystemError) -> Problem? {
        guard let kind = irregularKind(at: path) else { return nil }
        return try setAside(
            path, stateDirectory: stateDirectory, kind: .notARegularFile,
            reason: "a \(kind.rawValue.replacing("_", with: " ")) where a regular file belongs; not followed or opened")
    }
}

extension StateQuarantine {
    /// Sets aside whatever is not a regular file among the spool requests and in place of the
    /// DNS backup record, before anything reads them (profiles and the registry check their own).
    static func checkAuxiliaryFiles(stateDirectory: String) throws(SystemError) -> [Problem] {
        var paths = [DNSConfigurator.backupPath(stateDirectory + "/dns")]
        let spool = stateDirectory + "/" + SpoolRequest.directoryName
        if FileSystem.isDirectory(spool) {
            paths += try FileSystem.listDirectory(spool).filter { !FileSystem.isTemporaryName($0) }.map { spool + "/" + $0 }
        }
        var problems: [Problem] = []
        for path in paths {
            if let problem = try setAsideIfIrregular(path, stateDirectory: stateDirectory) { problems.append(problem) }
        }
        return problems
    }
}
