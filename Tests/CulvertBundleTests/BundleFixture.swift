// BundleFixture: a real bundle in a private temporary directory, and the tools to damage it.

import CulvertSystem
import Foundation
import XCTest

@testable import CulvertBundle

/// `<tmp>/culvert-bundle.XXXXXX/com.example.vpn.culvertext` holding a manifest, an executable and
/// a data file; `key` is the trusted publisher key it is signed with by `sign()`.
final class BundleFixture {
    static let identifier = "com.example.vpn"
    static let executableBytes = Array("#!/bin/sh\necho provider\n".utf8)
    static let readmeBytes = Array("hello\n".utf8)

    let base: String
    private(set) var path: String
    let key = SigningKey.generate()
    var trust: TrustedPublishers { TrustedPublishers([key.publisherKey]) }

    init() throws {
        var template = Array((NSTemporaryDirectory() + "culvert-bundle.XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        base = String(cString: made)
        path = base + "/" + Self.identifier + BundleFormat.directorySuffix
        try mkdir(".")
        try writeManifest(Self.manifestText())
        try write("bin/provider", Self.executableBytes, mode: 0o755)
        try write("share/readme.txt", Self.readmeBytes)
    }

    deinit { remove() }

    /// Removes everything; read-only copies included, since the tests run as root.
    func remove() {
        try? FileManager.default.removeItem(atPath: base)  // best effort cleanup
    }

    /// The manifest text with one field replaced (or `nil` to drop it) and extra raw members appended.
    static func manifestText(
        _ overrides: [String: String?] = [:], extra: String = "", identifier: String = BundleFixture.identifier
    ) -> String {
        var fields: [(String, String?)] = [
            ("identifier", "\"\(identifier)\""),
            ("version", "\"1.2.3\""),
            ("build", "7"),
            ("executable", "\"bin/provider\""),
            ("displayName", "\"Example VPN\""),
            ("capabilities", "[\"handover\"]"),
            ("minimumCulvertdVersion", "\"0.1.0\""),
        ]
        for (index, field) in fields.enumerated() {
            if let override = overrides[field.0] { fields[index].1 = override }
        }
        let members = fields.compactMap { name, value in value.map { "\"\(name)\": \($0)" } }
        return "{\n  " + (members + (extra.isEmpty ? [] : [extra])).joined(separator: ",\n  ") + "\n}\n"
    }

    func file(_ relative: String) -> String { relative == "." ? path : path + "/" + relative }

    func mkdir(_ relative: String, mode: UInt32 = 0o755) throws {
        try FileSystem.createDirectory(file(relative), mode: mode)
    }

    func write(_ relative: String, _ bytes: [UInt8], mode: UInt32 = 0o644) throws {
        let full = file(relative)
        try FileSystem.createDirectory(String(full[..<full.lastIndex(of: "/")!]))  // full always contains the bundle path
        try FileSystem.writeAtomically(bytes, to: full, mode: mode)
    }

    func writeManifest(_ text: String) throws { try write(BundleFormat.manifestFileName, Array(text.utf8)) }

    func read(_ relative: String) throws -> [UInt8] { try FileSystem.readFile(file(relative)) }

    func sign(with key: SigningKey? = nil) throws { try BundleSigner.sign(directory: path, key: key ?? self.key) }

    /// Signs whatever manifest is there (it must be JSON), without checking its fields.
    func signUnchecked() throws { try BundleSigner.sign(directory: path, key: key, checkingManifest: false) }

    func verify(allowUnsigned: Bool = false, trust: TrustedPublishers? = nil) throws(BundleError) -> VerifiedBundle {
        try BundleVerifier.verify(directory: path, trust: trust ?? self.trust, allowUnsigned: allowUnsigned)
    }

    /// Flips one bit of a file in place (same size, same inode).
    func flipBit(_ relative: String, byte offset: Int, bit: UInt8 = 0) throws {
        var bytes = try read(relative)
        bytes[offset] ^= 1 << bit
        let mode = FileSystem.mode(of: file(relative)) ?? 0o644
        try FileSystem.writeAtomically(bytes, to: file(relative), mode: mode)
    }

    /// Rewrites signature.json after `edit` changes its parsed form (no re-signing).
    func editSignature(_ edit: (inout BundleSignature) throws -> Void) throws {
        var signature = try BundleSignature.parse(read(BundleFormat.signatureFileName))
        try edit(&signature)
        try write(BundleFormat.signatureFileName, signature.encoded())
    }

    /// Rewrites signature.json as text (for damage `BundleSignature` cannot represent).
    func editSignatureText(_ edit: (String) -> String) throws {
        let text = String(decoding: try read(BundleFormat.signatureFileName), as: UTF8.self)
        try write(BundleFormat.signatureFileName, Array(edit(text).utf8))
    }

    /// Renames the bundle directory (its identifier claim) and follows it.
    func rename(to name: String) throws {
        let destination = base + "/" + name
        try FileSystem.rename(path, to: destination)
        path = destination
    }

    /// Creates a sparse file of `size` bytes: large to lstat, cheap to make.
    func sparseFile(_ relative: String, size: Int64) throws {
        try write(relative, [])
        XCTAssertEqual(truncate(file(relative), off_t(size)), 0, "truncate \(relative)")
    }

    static func sha256(_ bytes: [UInt8]) -> String { Hex.sha256(bytes) }
}

/// Runs `body` and returns the `BundleError` it throws, failing the test if it throws nothing.
func bundleError<T>(_ body: () throws(BundleError) -> T, file: StaticString = #filePath, line: UInt = #line) -> BundleError? {
    do {
        _ = try body()
        XCTFail("expected a BundleError, got success", file: file, line: line)
        return nil
    } catch {
        return error
    }
}

/// Fails loudly unless running as root: device nodes and ownership need it, and skipping would
/// hide exactly the cases that matter.
func requireRoot(file: StaticString = #filePath, line: UInt = #line) throws {
    guard geteuid() == 0 else {
        XCTFail("CulvertBundleTests must run as root (mknod, chown); euid is \(geteuid())", file: file, line: line)
        throw CocoaError(.featureUnsupported)
    }
}
