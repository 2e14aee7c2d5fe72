// Products: where the built executables are, seen from a running test.

import Foundation

public enum Products {
    /// The build products directory: $CULVERT_PRODUCTS_DIR, else the directory of the running
    /// test bundle (SwiftPM puts the xctest bundle next to the executables it built).
    public static var directory: String {
        if let explicit = ProcessInfo.processInfo.environment["CULVERT_PRODUCTS_DIR"], !explicit.isEmpty { return explicit }
        var candidate = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {  // /proc always exists on Linux
            candidate = URL(fileURLWithPath: exe)
        }
        // …/debug/culvertPackageTests.xctest is the test binary; its directory holds the products.
        return candidate.deletingLastPathComponent().path
    }

    public static func path(of product: String) -> String { directory + "/" + product }
}
