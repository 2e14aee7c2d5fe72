// BundleError: every reason a bundle, a signature or a key is refused, one case per reason.
//
// Each case has a stable snake_case `code` (for the wire, logs and tests) and a readable
// `description`. Paths are relative to the bundle root unless they name the bundle itself.

import CulvertSystem

/// Why a bundle (or a key, or a copy of a bundle) was refused.
public enum BundleError: Error, Sendable, Equatable, CustomStringConvertible {
    // The bundle directory itself.
    case bundleNotFound(path: String)
    case notADirectory(path: String)
    case bundleNameInvalid(name: String)

    // The tree: refused while walking it, before any content is read.
    case invalidFileName(path: String)
    case pathTooLong(path: String, limit: Int)
    case symlinkNotAllowed(path: String)
    case symlinkEscapesBundle(path: String, target: String)
    case hardLinkNotAllowed(path: String, linkCount: UInt64)
    case deviceNodeNotAllowed(path: String)
    case fifoNotAllowed(path: String)
    case socketNotAllowed(path: String)
    case unsupportedFileType(path: String)
    case setuidNotAllowed(path: String)
    case setgidNotAllowed(path: String)
    case stickyBitNotAllowed(path: String)
    case fileTooLarge(path: String, size: Int64, limit: Int64)
    case bundleTooLarge(limit: Int64)
    case tooManyFiles(limit: Int)
    case tooDeep(path: String, limit: Int)
    case fileChangedDuringRead(path: String)

    // The manifest.
    case manifestMissing
    case manifestTooLarge(size: Int64, limit: Int64)
    case manifestMalformed(reason: String)
    case manifestUnknownKey(key: String)
    case manifestMissingKey(key: String)
    case manifestWrongType(key: String, expected: String)
    case identifierInvalid(identifier: String)
    case versionInvalid(text: String)
    case minimumVersionInvalid(text: String)
    case buildOutOfRange(build: Int64)
    /// A number in the manifest (`key`: build, or a component of version or
    /// minimumCulvertdVersion) is well formed but outside what the field allows.
    case numberOutOfRange(key: String, text: String, limit: String)
    case displayNameInvalid(reason: String)
    case capabilityUnknown(name: String)
    case capabilityDuplicate(name: String)
    case executablePathInvalid(path: String)
    case executableMissing(path: String)
    case executableNotRegularFile(path: String)
    case executableNotExecutable(path: String)
    case identifierMismatch(directory: String, manifest: String)

    // The signature.
    case unsignedBundle
    case signatureTooLarge(size: Int64, limit: Int64)
    case signatureMalformed(reason: String)
    case signatureFormatUnsupported(format: Int64)
    case publicKeyInvalid
    case untrustedKey(fingerprint: String)
    case signedPathAbsolute(path: String)
    case signedPathParentReference(path: String)
    case signedPathInvalid(path: String)
    case fileMissing(path: String)
    case fileNotSigned(path: String)
    case directoryNotSigned(path: String)
    case manifestHashMismatch
    case fileHashMismatch(path: String)
    case signatureInvalid(fingerprint: String)

    // Key files.
    case keyFileMalformed(path: String, reason: String)
    case keyFileInsecure(path: String, permissions: UInt32)
    case keyFileExists(path: String)

    // Copies.
    case stagingDestinationExists(path: String)
    /// Writing the copy failed (ENOSPC, EIO, EDQUOT…): says nothing about the bundle. The
    /// error's path is the destination file or directory, absolute.
    case copyFailed(SystemError)

    /// A system call failed for a reason that says nothing about the bundle (EIO, ENOSPC, EACCES…).
    case io(SystemError)

    /// A stable machine-readable name of the case, e.g. `symlink_not_allowed`.
    public var code: String {
        switch self {
        case .bundleNotFound: return "bundle_not_found"
        case .notADirectory: return "not_a_directory"
        case .bundleNameInvalid: return "bundle_name_invalid"
        case .invalidFileName: return "invalid_file_name"
        case .pathTooLong: return "path_too_long"
        case .symlinkNotAllowed: return "symlink_not_allowed"
        case .symlinkEscapesBundle: return "symlink_escapes_bundle"
        case .hardLinkNotAllowed: return "hard_link_not_allowed"
        case .deviceNodeNotAllowed: return "device_node_not_allowed"
        case .fifoNotAllowed: return "fifo_not_allowed"
        case .socketNotAllowed: return "socket_not_allowed"
        case .unsupportedFileType: return "unsupported_file_type"
        case .setuidNotAllowed: return "setuid_not_allowed"
        case .setgidNotAllowed: return "setgid_not_allowed"
        case .stickyBitNotAllowed: return "sticky_bit_not_allowed"
        case .fileTooLarge: return "file_too_large"
        case .bundleTooLarge: return "bundle_too_large"
        case .tooManyFiles: return "too_many_files"
        case .tooDeep: return "too_deep"
        case .fileChangedDuringRead: return "file_changed_during_read"
        case .manifestMissing: return "manifest_missing"
        case .manifestTooLarge: return "manifest_too_large"
        case .manifestMalformed: return "manifest_malformed"
        case .manifestUnknownKey: return "manifest_unknown_key"
        case .manifestMissingKey: return "manifest_missing_key"
        case .manifestWrongType: return "manifest_wrong_type"
        case .identifierInvalid: return "identifier_invalid"
        case .versionInvalid: return "version_invalid"
        case .minimumVersionInvalid: return "minimum_version_invalid"
        case .buildOutOfRange: return "build_out_of_range"
        case .numberOutOfRange: return "number_out_of_range"
        case .displayNameInvalid: return "display_name_invalid"
        case .capabilityUnknown: return "capability_unknown"
        case .capabilityDuplicate: return "capability_duplicate"
        case .executablePathInvalid: return "executable_path_invalid"
        case .executableMissing: return "executable_missing"
        case .executableNotRegularFile: return "executable_not_regular_file"
        case .executableNotExecutable: return "executable_not_executable"
        case .identifierMismatch: return "identifier_mismatch"
        case .unsignedBundle: return "unsigned_bundle"
        case .signatureTooLarge: return "signature_too_large"
        case .signatureMalformed: return "signature_malformed"
        case .signatureFormatUnsupported: return "signature_format_unsupported"
        case .publicKeyInvalid: return "public_key_invalid"
        case .untrustedKey: return "untrusted_key"
        case .signedPathAbsolute: return "signed_path_absolute"
        case .signedPathParentReference: return "signed_path_parent_reference"
        case .signedPathInvalid: return "signed_path_invalid"
        case .fileMissing: return "file_missing"
        case .fileNotSigned: return "file_not_signed"
        case .directoryNotSigned: return "directory_not_signed"
        case .manifestHashMismatch: return "manifest_hash_mismatch"
        case .fileHashMismatch: return "file_hash_mismatch"
        case .signatureInvalid: return "signature_invalid"
        case .keyFileMalformed: return "key_file_malformed"
        case .keyFileInsecure: return "key_file_insecure"
        case .keyFileExists: return "key_file_exists"
        case .stagingDestinationExists: return "staging_destination_exists"
        case .copyFailed: return "copy_failed"
        case .io: return "io_error"
        }
    }

    /// The code followed by a sentence for people.
    public var description: String { "\(code): \(message)" }

    private var message: String {
        switch self {
        case .bundleNotFound(let path): return "no bundle at \(shown(path))"
        case .notADirectory(let path): return "\(shown(path)) is not a directory (a symlink to one is refused too)"
        case .bundleNameInvalid(let name): return "\(shown(name)) is not named <identifier>\(BundleFormat.directorySuffix)"
        case .invalidFileName(let path): return "\(shown(path)): names may use only ASCII letters, digits and . _ - + @"
        case .pathTooLong(let path, let limit): return "\(shown(String(path.prefix(64))))…: path longer than \(limit) bytes"
        case .symlinkNotAllowed(let path): return "\(shown(path)) is a symlink; bundles may not contain symlinks"
        case .symlinkEscapesBundle(let path, let target):
            return "\(shown(path)) is a symlink pointing outside the bundle (\(shown(target)))"
        case .hardLinkNotAllowed(let path, let count): return "\(shown(path)) has \(count) hard links; bundle files must have exactly one"
        case .deviceNodeNotAllowed(let path): return "\(shown(path)) is a device node"
        case .fifoNotAllowed(let path): return "\(shown(path)) is a FIFO"
        case .socketNotAllowed(let path): return "\(shown(path)) is a socket"
        case .unsupportedFileType(let path): return "\(shown(path)) is of an unknown file type"
        case .setuidNotAllowed(let path): return "\(shown(path)) has the setuid bit"
        case .setgidNotAllowed(let path): return "\(shown(path)) has the setgid bit"
        case .stickyBitNotAllowed(let path): return "\(shown(path)) has the sticky bit"
        case .fileTooLarge(let path, let size, let limit): return "\(shown(path)) is \(size) bytes; the limit is \(limit)"
        case .bundleTooLarge(let limit): return "the bundle's files add up to more than \(limit) bytes"
        case .tooManyFiles(let limit): return "the bundle has more than \(limit) entries"
        case .tooDeep(let path, let limit): return "\(shown(path)) is nested deeper than \(limit) levels"
        case .fileChangedDuringRead(let path): return "\(shown(path)) changed while it was being read; try again once it is stable"
        case .manifestMissing: return "the bundle has no \(BundleFormat.manifestFileName) regular file"
        case .manifestTooLarge(let size, let limit): return "the manifest is \(size) bytes; the limit is \(limit)"
        case .manifestMalformed(let reason): return "the manifest is not acceptable JSON: \(shown(reason))"
        case .manifestUnknownKey(let key): return "the manifest has an unknown key \(shown(key, quoted: true))"
        case .manifestMissingKey(let key): return "the manifest lacks \(shown(key, quoted: true))"
        case .manifestWrongType(let key, let expected): return "manifest \(shown(key, quoted: true)) must be \(shown(expected))"
        case .identifierInvalid(let identifier):
            return "\(shown(identifier, quoted: true)) is not a reverse-DNS identifier (lowercase labels of a-z 0-9 -, at least two)"
        case .versionInvalid(let text): return "version \(shown(text, quoted: true)) is not MAJOR.MINOR.PATCH"
        case .minimumVersionInvalid(let text): return "minimum culvertd version \(shown(text, quoted: true)) is not MAJOR.MINOR.PATCH"
        case .buildOutOfRange(let build): return "build \(build) is outside 0...\(BundleManifest.maximumBuild)"
        case .numberOutOfRange(let key, let text, let limit):
            return "manifest \(shown(key, quoted: true)) is \(shown(text)), outside \(shown(limit))"
        case .displayNameInvalid(let reason): return "display name \(shown(reason))"
        case .capabilityUnknown(let name): return "unknown capability \(shown(name, quoted: true))"
        case .capabilityDuplicate(let name): return "capability \(shown(name, quoted: true)) is listed twice"
        case .executablePathInvalid(let path): return "executable \(shown(path, quoted: true)) is not a relative path inside the bundle"
        case .executableMissing(let path): return "executable \(shown(path)) does not exist"
        case .executableNotRegularFile(let path): return "executable \(shown(path)) is not a regular file"
        case .executableNotExecutable(let path): return "executable \(shown(path)) has no execute permission"
        case .identifierMismatch(let directory, let manifest):
            return "the directory says \(shown(directory, quoted: true)) but the manifest says \(shown(manifest, quoted: true))"
        case .unsignedBundle: return "the bundle has no \(BundleFormat.signatureFileName) and unsigned bundles are not allowed"
        case .signatureTooLarge(let size, let limit): return "the signature file is \(size) bytes; the limit is \(limit)"
        case .signatureMalformed(let reason): return "the signature file is malformed: \(shown(reason))"
        case .signatureFormatUnsupported(let format): return "signature format \(format) is not supported"
        case .publicKeyInvalid: return "the public key is not a 32-byte Ed25519 key"
        case .untrustedKey(let fingerprint): return "publisher \(shown(fingerprint)) is not among the trusted keys"
        case .signedPathAbsolute(let path): return "the signature lists an absolute path \(shown(path))"
        case .signedPathParentReference(let path): return "the signature lists a path with \"..\": \(shown(path))"
        case .signedPathInvalid(let path): return "the signature lists an invalid path \(shown(path, quoted: true))"
        case .fileMissing(let path): return "\(shown(path)) is signed but missing"
        case .fileNotSigned(let path): return "\(shown(path)) is present but not signed"
        case .directoryNotSigned(let path): return "directory \(shown(path)) holds no signed file"
        case .manifestHashMismatch: return "the manifest was changed after signing"
        case .fileHashMismatch(let path): return "\(shown(path)) was changed after signing"
        case .signatureInvalid(let fingerprint): return "the signature does not verify with key \(shown(fingerprint))"
        case .keyFileMalformed(let path, let reason): return "\(shown(path)): \(shown(reason))"
        case .keyFileInsecure(let path, let permissions):
            return "\(shown(path)) has mode \(String(permissions, radix: 8)); a private key must not be readable by group or others"
        case .keyFileExists(let path): return "\(shown(path)) already exists; refusing to overwrite a key"
        case .stagingDestinationExists(let path): return "\(shown(path)) already exists in the staging directory"
        case .copyFailed(let error): return "writing the copy failed: \(error.description)"
        case .io(let error): return error.description
        }
    }

    /// Untrusted text as it may appear in a message: printable ASCII as is (in quotes if
    /// `quoted`), anything else quoted and escaped, so no newline or terminal escape sequence
    /// reaches a log; at most 200 characters.
    private func shown(_ text: String, quoted: Bool = false) -> String {
        let clipped = text.count > 200 ? String(text.prefix(200)) + "…" : text
        guard clipped.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else { return clipped.debugDescription }
        return quoted ? "\"\(clipped)\"" : clipped
    }
}
