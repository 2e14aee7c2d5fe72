// DNSConfigurator+ResolvConf: the resolv.conf backend. Before the file is touched, a backup
// record (the original bytes, symlink target or absence, and the exact bytes Culvert is about to
// write) is made durable in the state directory, so a restarted daemon can revert after a crash.
// Revert compares the file with what Culvert wrote and restores the original only on an exact
// match: an administrator's later edit is never overwritten.
//
// Crash points: before the record → nothing changed; record written, file not yet → the file
// still equals the original, revert sees that and only drops the record; both written → revert
// restores; original restored, record not yet removed → the file equals the original, as before.

import FoundationEssentials

/// The backup record's file name in the state directory.
private let backupFileName = "dns-resolv-conf.json"
/// Permissions of the backup record: it holds a copy of a system file and is root's business.
private let backupPermissions: UInt32 = 0o600
/// Permissions of a resolv.conf that did not exist before.
private let newResolvConfPermissions: UInt32 = 0o644

/// What was at the resolv.conf path before Culvert replaced it.
enum OriginalResolvConf: Sendable, Equatable {
    case absent
    case file(contents: [UInt8], permissions: UInt32)
    case symbolicLink(target: String)
    /// Something apply refuses to replace (a directory, a device, …); never recorded.
    case unsupported(FileStatus.Kind)
}

/// The persisted backup: everything revert needs, and enough to rebuild the `AppliedDNS`.
struct ResolvConfBackup: Codable, Equatable {
    static let formatVersion = 1

    var version: Int
    var path: String
    var session: String
    var interfaceName: String
    var servers: [String]
    var searchDomains: [String]
    var matchDomains: [String]
    var fullTunnel: Bool
    /// "absent", "file" or "symbolic_link".
    var originalKind: String
    var originalContents: Data?
    var originalPermissions: UInt32?
    var originalTarget: String?
    /// The exact bytes Culvert wrote to `path`.
    var written: Data

    enum CodingKeys: String, CodingKey {
        case version, path, session
        case interfaceName = "interface_name"
        case servers
        case searchDomains = "search_domains"
        case matchDomains = "match_domains"
        case fullTunnel = "full_tunnel"
        case originalKind = "original_kind"
        case originalContents = "original_contents"
        case originalPermissions = "original_permissions"
        case originalTarget = "original_target"
        case written
    }

    init(applied: AppliedDNS, path: String, original: OriginalResolvConf, written: [UInt8]) {
        version = Self.formatVersion
        self.path = path
        session = applied.session
        interfaceName = applied.interfaceName
        servers = applied.settings.servers.map(\.description)
        searchDomains = applied.settings.searchDomains
        matchDomains = applied.settings.matchDomains
        fullTunnel = applied.fullTunnel
        switch original {
        case .absent: originalKind = "absent"
        case .file(let contents, let permissions):
            originalKind = "file"
            originalContents = Data(contents)
            originalPermissions = permissions
        case .symbolicLink(let target):
            originalKind = "symbolic_link"
            originalTarget = target
        case .unsupported: preconditionFailure("apply refuses an unsupported file before it makes a record")
        }
        self.written = Data(written)
    }

    /// The original, or nil if the record is inconsistent.
    var original: OriginalResolvConf? {
        switch originalKind {
        case "absent": return .absent
        case "file":
            guard let originalContents, let originalPermissions else { return nil }
            return .file(contents: Array(originalContents), permissions: originalPermissions)
        case "symbolic_link":
            guard let originalTarget else { return nil }
            return .symbolicLink(target: originalTarget)
        default: return nil
        }
    }
}

extension DNSConfigurator {
    /// The `AppliedDNS` of a resolv.conf change a previous daemon made and did not revert, or nil.
    /// culvertd calls this at start: if the session is re-adopted, it keeps the value for the
    /// session's disconnect; otherwise it passes it to `revert` at once.
    public static func pendingRevert(stateDirectory: String) throws(DNSError) -> AppliedDNS? {
        guard let record = try loadBackup(stateDirectory: stateDirectory) else { return nil }
        let settings: TunnelDNSSettings
        do {
            settings = try TunnelDNSSettings(
                serverTexts: record.servers, searchDomains: record.searchDomains, matchDomains: record.matchDomains)
        } catch {
            throw .corruptState(path: backupPath(stateDirectory))
        }
        return AppliedDNS(
            backend: .file(path: record.path), interfaceName: record.interfaceName, session: record.session, settings: settings,
            fullTunnel: record.fullTunnel)
    }

    /// `pendingRevert` followed by `revert`, for a daemon that re-adopts no sessions. Returns the
    /// session and outcome, or nil when there was nothing to recover.
    public static func recoverLeftovers(stateDirectory: String) throws(DNSError) -> (session: String, outcome: DNSRevertOutcome)? {
        guard let applied = try pendingRevert(stateDirectory: stateDirectory) else { return nil }
        let configurator = DNSConfigurator(backend: applied.backend, stateDirectory: stateDirectory)
        return (applied.session, try configurator.revert(applied))
    }

    func applyResolvConf(_ applied: AppliedDNS, path: String) throws(DNSError) {
        let previous = try Self.loadBackup(stateDirectory: stateDirectory)
        let original: OriginalResolvConf
        if let previous {
            guard previous.session == applied.session, previous.path == path else { throw .dnsInUse(by: previous.session) }
            guard let recorded = previous.original else { throw .corruptState(path: Self.backupPath(stateDirectory)) }
            // Replacing this session's own settings: only if the file is still Culvert's.
            guard Self.holds(try Self.current(path), previous.written) else { throw .modifiedExternally(path: path) }
            original = recorded
        } else {
            original = try Self.current(path)
            if case .unsupported(let kind) = original { throw .unsupportedFile(path: path, kind: kind) }
        }
        let written = Self.render(applied, optionLines: Self.optionLines(of: original, at: path))
        do {
            try FileSystem.createDirectory(stateDirectory, mode: 0o700)
        } catch {
            throw .stateFailed(error)
        }
        try saveBackup(ResolvConfBackup(applied: applied, path: path, original: original, written: written))
        do {
            try FileSystem.writeAtomically(written, to: path, mode: Self.permissions(original))
        } catch {
            // The file is unchanged (atomic write): put the record back as it was. try?: the write
            // error is the one to report; a stale record is harmless, revert compares before acting.
            if let previous { try? saveBackup(previous) } else { try? FileSystem.removeFileDurably(Self.backupPath(stateDirectory)) }
            throw .fileFailed(error)
        }
    }

    func revertResolvConf(session: String) throws(DNSError) -> DNSRevertOutcome {
        guard let record = try Self.loadBackup(stateDirectory: stateDirectory), record.session == session else {
            return .nothingToRevert
        }
        guard let original = record.original else { throw .corruptState(path: Self.backupPath(stateDirectory)) }
        let current = try Self.current(record.path)
        let outcome: DNSRevertOutcome
        if Self.holds(current, record.written) {
            do {
                switch original {
                case .absent: try FileSystem.removeFileDurably(record.path)
                case .file(let contents, let permissions): try FileSystem.writeAtomically(contents, to: record.path, mode: permissions)
                case .symbolicLink(let target): try FileSystem.replaceWithSymbolicLink(at: record.path, target: target)
                case .unsupported: preconditionFailure("a record never holds an unsupported original (see `original`)")
                }
            } catch {
                throw .fileFailed(error)  // the record stays, so a later revert or recovery tries again
            }
            outcome = .restored
        } else if Self.isSame(current, as: original) {
            outcome = .restored  // the daemon stopped between writing the record and the file
        } else {
            outcome = .keptExternalChange(path: record.path)
        }
        do {
            try FileSystem.removeFileDurably(Self.backupPath(stateDirectory))
        } catch {
            throw .stateFailed(error)
        }
        return outcome
    }

    /// The new file: a header naming Culvert and the session, the tunnel's servers, its search
    /// domains, then the original's `options` lines. Match domains cannot be expressed here.
    static func render(_ applied: AppliedDNS, optionLines: [String]) -> [UInt8] {
        var lines = [
            "# Written by Culvert for session \(applied.session) (interface \(applied.interfaceName)).",
            "# The previous file is put back when the tunnel disconnects, unless this one has been edited.",
        ]
        lines += applied.settings.servers.map { "nameserver \($0)" }
        if !applied.settings.searchDomains.isEmpty { lines.append("search " + applied.settings.searchDomains.joined(separator: " ")) }
        lines += optionLines
        return Array((lines.joined(separator: "\n") + "\n").utf8)
    }

    /// The `options` lines of the original (through a symlink, of its target when readable), verbatim.
    /// Only these are kept: every other keyword is about name servers and search lists, which are the tunnel's now.
    static func optionLines(of original: OriginalResolvConf, at path: String) -> [String] {
        let contents: [UInt8]
        switch original {
        case .absent, .unsupported: return []
        case .file(let bytes, _): contents = bytes
        case .symbolicLink(let target):
            let resolved = target.hasPrefix("/") ? target : FileSystem.parentDirectory(of: path) + "/" + target
            // try?: a dangling or unreadable link target just contributes no options.
            guard let bytes = try? FileSystem.readFile(resolved) else { return [] }
            contents = bytes
        }
        // glibc's own test: the keyword at the very start of the line, then a blank.
        return String(decoding: contents, as: UTF8.self).split(separator: "\n").filter { line in
            line.hasPrefix("options ") || line.hasPrefix("options\t")
        }.map(String.init)
    }

    /// What is at `path` now.
    static func current(_ path: String) throws(DNSError) -> OriginalResolvConf {
        do {
            guard let status = try FileSystem.status(of: path) else { return .absent }
            switch status.kind {
            case .regular: return .file(contents: try FileSystem.readFile(path), permissions: status.permissions)
            case .symbolicLink: return .symbolicLink(target: try FileSystem.symbolicLinkTarget(path))
            default: return .unsupported(status.kind)
            }
        } catch {
            throw .fileFailed(error)
        }
    }

    /// True if `current` is a regular file holding exactly `written`.
    static func holds(_ current: OriginalResolvConf, _ written: Data) -> Bool {
        if case .file(let contents, _) = current { return contents.elementsEqual(written) }
        return false
    }

    /// Same content (bytes, link target or absence); permissions are not compared.
    static func isSame(_ current: OriginalResolvConf, as original: OriginalResolvConf) -> Bool {
        switch (current, original) {
        case (.absent, .absent): return true
        case (.file(let a, _), .file(let b, _)): return a == b
        case (.symbolicLink(let a), .symbolicLink(let b)): return a == b
        default: return false
        }
    }

    /// The permissions the replacement file gets: the original's, or 0644.
    static func permissions(_ original: OriginalResolvConf) -> UInt32 {
        if case .file(_, let permissions) = original { return permissions }
        return newResolvConfPermissions
    }

    /// Where the resolv.conf backup record lives under `stateDirectory` (culvertd's `<state-dir>/dns`).
    public static func backupPath(_ stateDirectory: String) -> String { stateDirectory + "/" + backupFileName }

    static func loadBackup(stateDirectory: String) throws(DNSError) -> ResolvConfBackup? {
        let path = backupPath(stateDirectory)
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path)
        } catch  where error.errno == Syscall.ENOENT {
            return nil
        } catch {
            throw .stateFailed(error)
        }
        guard let record = try? JSONDecoder().decode(ResolvConfBackup.self, from: Data(bytes)),  // try?: any decoding error is "corrupt"
            record.version == ResolvConfBackup.formatVersion
        else { throw .corruptState(path: path) }
        return record
    }

    func saveBackup(_ record: ResolvConfBackup) throws(DNSError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data: Data
        do {
            data = try encoder.encode(record)
        } catch {
            preconditionFailure("encoding strings, numbers and Data cannot fail: \(error)")
        }
        do {
            try FileSystem.writeAtomically(Array(data), to: Self.backupPath(stateDirectory), mode: backupPermissions)
        } catch {
            throw .stateFailed(error)
        }
    }
}
