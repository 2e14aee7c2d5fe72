// BundlePath: the grammar of names and relative paths inside a bundle, shared by the tree walk,
// the signature's file list and the manifest's executable.
//
// Names are restricted to a portable ASCII set: no byte can need quoting in a log or a shell, no
// two different names can be canonically-equivalent Unicode (Swift compares Strings that way),
// and a path compares, sorts and hashes the same everywhere.

/// Rules for paths inside a bundle.
public enum BundlePath {
    /// Longest name of one entry, in bytes (NAME_MAX).
    public static let maximumNameLength = 255
    /// Longest relative path, in bytes.
    public static let maximumPathLength = 1024

    /// What is wrong with a relative path.
    public enum Problem: Sendable, Equatable {
        case absolute
        case parentReference
        case invalid
    }

    /// True for a name of ASCII letters, digits and `. _ - + @`, other than `.` and `..`.
    public static func isValidName(_ name: Substring) -> Bool {
        guard !name.isEmpty, name.utf8.count <= maximumNameLength, name != ".", name != ".." else { return false }
        return name.utf8.allSatisfy(isPortable)
    }

    /// nil if `path` is a valid relative path inside a bundle: valid names joined by single `/`,
    /// nothing absolute, no `.` or `..` component, at most `maximumPathLength` bytes.
    public static func problem(with path: String) -> Problem? {
        if path.hasPrefix("/") { return .absolute }
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        if components.contains("..") { return .parentReference }
        guard path.utf8.count <= maximumPathLength, components.allSatisfy(isValidName) else { return .invalid }
        return nil
    }

    /// The identifier a bundle directory's name claims: `com.example.vpn` for `…/com.example.vpn.culvertext`.
    public static func identifier(ofBundleDirectory path: String) throws(BundleError) -> String {
        let name = lastComponent(of: path)
        guard name.hasSuffix(BundleFormat.directorySuffix), name.count > BundleFormat.directorySuffix.count else {
            throw .bundleNameInvalid(name: name)
        }
        return String(name.dropLast(BundleFormat.directorySuffix.count))
    }

    /// The last component of `path`, ignoring trailing slashes.
    static func lastComponent(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        return String(trimmed.split(separator: "/").last ?? trimmed)
    }

    /// Every proper ancestor directory of a relative path: `a/b/c` → `a`, `a/b`.
    static func ancestors(of path: String) -> [String] {
        let components = path.split(separator: "/")
        return (1..<max(components.count, 1)).map { components[0..<$0].joined(separator: "/") }
    }

    private static func isPortable(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "@"):
            return true
        default:
            return false
        }
    }
}
