// CgroupError: why a cgroup could not be found, made, limited, killed or removed — each case with
// the path and errno involved, worded for the operator who has to fix the machine.

/// Which cgroup hierarchy an error or a directory concerns.
public enum CgroupHierarchyKind: Sendable, Hashable, CustomStringConvertible {
    /// The cgroup2 (unified) hierarchy.
    case unified
    /// A cgroup v1 hierarchy, named by the controller Culvert uses it for.
    case v1(CgroupController)

    public var description: String {
        switch self {
        case .unified: return "cgroup2 hierarchy"
        case .v1(let controller): return "cgroup v1 \(controller.rawValue) hierarchy"
        }
    }
}

/// A cgroup operation that failed.
public enum CgroupError: Error, Sendable, Equatable, CustomStringConvertible {
    /// /proc/self/mountinfo or /proc/self/cgroup could not be read or made no sense.
    case unreadable(path: String, errno: Int32, detail: String)
    /// No hierarchy Culvert can use is mounted (neither cgroup2 nor v1 pids/memory).
    case unavailable
    /// A session name that is not 1…`SessionCgroup.maximumNameLength` of [A-Za-z0-9_-].
    case invalidName(String)
    /// A configured sessions root that is not an absolute path of plain components.
    case invalidRoot(String)
    /// The hierarchy refused a directory or a write: read-only, or not ours.
    case notWritable(hierarchy: CgroupHierarchyKind, path: String, errno: Int32)
    /// The session's directory exists already (a leftover) and reuse was not asked for.
    case alreadyExists(hierarchy: CgroupHierarchyKind, path: String)
    /// rmdir refused: processes are still in the cgroup (EBUSY).
    case populated(hierarchy: CgroupHierarchyKind, path: String)
    /// A controller could not be enabled in `path`'s cgroup.subtree_control.
    case controllerUnavailable(controller: CgroupController, path: String, errno: Int32)
    /// Any other failed system call on a cgroup file or directory.
    case failed(call: String, path: String, errno: Int32)

    public var description: String {
        switch self {
        case .unreadable(let path, let errno, let detail):
            return "cannot read the cgroup layout from \(path): \(detail)\(Self.errnoText(errno))"
        case .unavailable:
            return "no usable cgroup hierarchy is mounted (neither cgroup2 nor cgroup v1 pids/memory)"
        case .invalidName(let name):
            return "invalid session cgroup name \(String(reflecting: name)): use 1–\(SessionCgroup.maximumNameLength) of A–Z a–z 0–9 _ -"
        case .invalidRoot(let path):
            return "invalid cgroup sessions root \(String(reflecting: path)): give an absolute path of plain components (no . or ..)"
        case .notWritable(let hierarchy, let path, let errno):
            return "the \(hierarchy) is not writable (\(path))\(Self.errnoText(errno))"
        case .alreadyExists(let hierarchy, let path):
            return "the session cgroup \(path) already exists in the \(hierarchy) (left by an earlier run?)"
        case .populated(let hierarchy, let path):
            return "the session cgroup \(path) in the \(hierarchy) still has processes; kill them before removing it"
        case .controllerUnavailable(let controller, let path, let errno):
            let hint =
                errno == CgroupFiles.EBUSY ? " (the cgroup has processes of its own: cgroup v2 allows controllers only above leaves)" : ""
            return "cannot enable the \(controller.rawValue) controller in \(path)/cgroup.subtree_control\(hint)\(Self.errnoText(errno))"
        case .failed(let call, let path, let errno):
            return "\(call)(\(path))\(Self.errnoText(errno))"
        }
    }

    private static func errnoText(_ errno: Int32) -> String {
        errno == 0 ? "" : ": \(Syscall.errorMessage(errno)) (errno \(errno))"
    }

    /// The error for a failed call on `path` in `hierarchy`: EROFS, EACCES and EPERM mean the
    /// hierarchy is not ours to change, which an operator fixes differently from anything else.
    static func from(_ error: SystemError, hierarchy: CgroupHierarchyKind, path: String) -> CgroupError {
        switch error.errno {
        case CgroupFiles.EROFS, Syscall.EACCES, Syscall.EPERM:
            return .notWritable(hierarchy: hierarchy, path: path, errno: error.errno)
        default:
            return .failed(call: error.call, path: path, errno: error.errno)
        }
    }
}
