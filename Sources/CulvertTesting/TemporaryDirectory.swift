// TemporaryDirectory: a private directory for one test, removed when the test is done with it.

import Foundation

/// A fresh directory under `base` (default /tmp), deleted with everything in it on `remove()` or deinit.
public final class TemporaryDirectory: @unchecked Sendable {  // immutable after init; remove() is idempotent via FileManager
    public let path: String

    public init(prefix: String = "culvert-test", base: String = NSTemporaryDirectory()) throws {
        var template = Array(((base.hasSuffix("/") ? base : base + "/") + prefix + ".XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: made)
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)  // already gone is fine
    }

    deinit { remove() }

    public func file(_ name: String) -> String { path + "/" + name }
}
