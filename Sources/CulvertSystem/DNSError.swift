// DNSError: why DNS could not be applied or reverted, and what a revert found. Every case names
// what a caller (and, through the session's typed failure, a user) can act on.

/// Why `DNSConfigurator` could not apply or revert a tunnel's DNS.
public enum DNSError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A field of the request is unacceptable; nothing was changed.
    case invalidSetting(field: DNSSettingsField, value: String, problem: DNSSettingsProblem)
    /// The resolv.conf backend is owned by another session (one owner at a time); nothing was changed.
    case dnsInUse(by: String)
    /// A second apply for the same session found the file no longer holding what Culvert wrote
    /// (someone edited it); nothing was changed.
    case modifiedExternally(path: String)
    /// The resolv.conf path is neither a regular file, a symlink nor absent (e.g. a directory).
    case unsupportedFile(path: String, kind: FileStatus.Kind)
    /// Reading or replacing the resolv.conf file failed.
    case fileFailed(SystemError)
    /// Reading or writing the backup record in the state directory failed.
    case stateFailed(SystemError)
    /// The backup record exists but cannot be decoded; it is left in place for a human.
    case corruptState(path: String)
    /// `resolvectl` with `arguments` did not succeed; for apply, what had been set was reverted.
    case resolvectlFailed(arguments: [String], error: HelperCommandError)

    public var description: String {
        switch self {
        case .invalidSetting(let field, let value, let problem):
            return "invalid DNS \(field.rawValue) \(value.debugDescription): \(problem.rawValue)"
        case .dnsInUse(let session): return "resolv.conf is already managed for session \(session)"
        case .modifiedExternally(let path): return "\(path) was changed by someone else since Culvert wrote it"
        case .unsupportedFile(let path, let kind): return "\(path) is a \(kind.rawValue), not a file or symlink"
        case .fileFailed(let error): return "resolv.conf: \(error)"
        case .stateFailed(let error): return "DNS backup record: \(error)"
        case .corruptState(let path): return "DNS backup record \(path) cannot be read"
        case .resolvectlFailed(let arguments, let error): return "resolvectl \(arguments.joined(separator: " ")): \(error)"
        }
    }
}

/// What `DNSConfigurator.revert` found and did. Every case leaves no Culvert state behind.
public enum DNSRevertOutcome: Sendable, Hashable {
    /// The system is as it was before apply: resolved's per-link settings reverted, or resolv.conf's
    /// original bytes, symlink or absence restored (or never changed, after a crash mid-apply).
    case restored
    /// The tunnel interface no longer exists; resolved dropped its per-link settings with it.
    case interfaceGone
    /// resolv.conf no longer holds what Culvert wrote: someone edited or replaced it. Their version
    /// is left in place and the backup is discarded.
    case keptExternalChange(path: String)
    /// There was nothing of this session's to revert (already reverted, or another session's record).
    case nothingToRevert
}
