// TreeRemovalError: why `TreeRemoval` stopped before a tree someone else can write to was gone.

/// Why a tree was not (completely) removed. What was removed before the error stays removed;
/// nothing outside the tree was touched. Paths are relative to the parent directory the removal
/// started from, with bytes that are not printable UTF-8 escaped (the names were chosen by
/// whoever owns the tree, and end up in root's logs).
public enum TreeRemovalError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The name given is not one path component (empty, `.`, `..`, or contains `/` or NUL).
    case invalidName(String)
    /// A system call failed (EACCES, EROFS, EIO, EBUSY, …).
    case system(SystemError)
    /// A directory in the tree is a mount point (a bind mount included); it was not entered.
    case crossesMountPoint(path: String)
    /// Directories nest deeper than the limit below the top; the deeper ones were not entered.
    case tooDeep(path: String, limit: Int)
    /// More entries than the limit were met (counting every retry of a name that changed under
    /// the walk): the tree is being refilled as fast as it is emptied, or is just too big.
    case tooManyEntries(path: String, limit: Int)

    public var description: String {
        switch self {
        case .invalidName(let name): "\(TreeRemoval.printable(Array(name.utf8))) is not a single path component"
        case .system(let error): error.description
        case .crossesMountPoint(let path): "\(path) is a mount point; removal does not cross into it"
        case .tooDeep(let path, let limit): "\(path) is nested more than \(limit) directories deep"
        case .tooManyEntries(let path, let limit): "more than \(limit) entries met by \(path)"
        }
    }
}
