// Tampering: one way to damage a bundle, and the one error code verification must answer with.

import CulvertSystem
import Foundation
import XCTest

@testable import CulvertBundle

#if canImport(Glibc)
    import Glibc
#endif

struct Tampering: Sendable {
    let name: String
    /// The `BundleError.code` verification must throw.
    let code: String
    /// Verify with unsigned bundles allowed (to reach a check that a missing signature would hide).
    var allowUnsigned = false
    /// A refusal of the tree's shape, so `stageCopy` must refuse it with the same code.
    var structural = false
    /// Builds the damaged bundle from a fresh, unsigned fixture.
    let apply: @Sendable (BundleFixture) throws -> Void

    /// Signs the good bundle, then damages it.
    static func afterSigning(
        _ name: String, _ code: String, structural: Bool = false, _ damage: @escaping @Sendable (BundleFixture) throws -> Void
    ) -> Tampering {
        Tampering(name: name, code: code, structural: structural) { fixture in
            try fixture.sign()
            try damage(fixture)
        }
    }

    /// Replaces the manifest with one differing from the good one as given, and signs it
    /// without checking: a validly signed bundle whose manifest is wrong in exactly one way.
    static func signedManifest(_ name: String, _ code: String, _ overrides: [String: String?], extra: String = "") -> Tampering {
        Tampering(name: name, code: code) { fixture in
            try fixture.writeManifest(BundleFixture.manifestText(overrides, extra: extra))
            try fixture.signUnchecked()
        }
    }
}

// Helpers the tamperings share: system calls the fixture does not wrap, each failing loudly.
enum Damage {
    static func symlink(_ target: String, at path: String) throws {
        guard Glibc.symlink(target, path) == 0 else { throw SystemError(call: "symlink", errno: errno, path: path) }
    }

    static func hardLink(_ existing: String, at path: String) throws {
        guard link(existing, path) == 0 else { throw SystemError(call: "link", errno: errno, path: path) }
    }

    static func chmod(_ path: String, _ mode: UInt32) throws {
        guard Glibc.chmod(path, mode_t(mode)) == 0 else { throw SystemError(call: "chmod", errno: errno, path: path) }
    }

    static func mknodCharacterDevice(_ path: String) throws {
        try requireRoot()
        // /dev/null's numbers (1, 3) in the kernel's dev_t encoding for small majors and minors.
        guard mknod(path, mode_t(S_IFCHR | 0o666), dev_t(1 << 8 | 3)) == 0 else {
            throw SystemError(call: "mknod", errno: errno, path: path)
        }
    }

    static func mkfifo(_ path: String) throws {
        guard Glibc.mkfifo(path, 0o644) == 0 else { throw SystemError(call: "mkfifo", errno: errno, path: path) }
    }

    static func socket(_ path: String) throws {
        try UnixSocket.listen(path: path).close()  // the socket file stays after the descriptor is closed
    }

    static func remove(_ path: String) throws {
        guard unlink(path) == 0 else { throw SystemError(call: "unlink", errno: errno, path: path) }
    }

    static func removeDirectory(_ path: String) throws { try FileManager.default.removeItem(atPath: path) }
}
