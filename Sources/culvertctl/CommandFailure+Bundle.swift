// How culvertctl reports the bundle library's refusals, for the commands that work offline.

import CulvertBundle
import CulvertSystem

extension CommandFailure {
    /// The failure for a `BundleError` from verifying, signing, or reading or writing a key.
    /// A refusal of the bundle or key itself exits 65 with the error's stable code (for
    /// example `file_hash_mismatch`); missing files exit 66; file-system trouble 77 or 1.
    init(_ error: BundleError) {
        switch error {
        case .bundleNotFound:
            self.init(status: .notFound, code: error.code, message: error.description)
        case .io(let system) where system.errno == Syscall.ENOENT:
            self.init(status: .notFound, code: "not_found", message: system.description)
        case .io(let system) where system.errno == Syscall.EACCES || system.errno == Syscall.EPERM:
            self.init(status: .permissionDenied, code: "permission_denied", message: system.description)
        case .io(let system):
            self.init(status: .failure, code: "io_error", message: system.description)
        case .keyFileExists:
            self.init(
                status: .failure, code: error.code, message: error.description,
                hint: "a key is never overwritten; choose another path or remove the old key yourself")
        case .keyFileMalformed, .publicKeyInvalid:
            self.init(status: .inputRefused, code: error.code, message: "unusable key: \(error.description)")
        case .keyFileInsecure(let path, _):
            self.init(status: .inputRefused, code: error.code, message: error.description, hint: "chmod 600 \(path)")
        case .untrustedKey:
            self.init(
                status: .inputRefused, code: error.code, message: "bundle is invalid: \(error.description)",
                hint: "put the publisher's public key file in the --trusted-keys directory")
        case .unsignedBundle:
            self.init(
                status: .inputRefused, code: error.code, message: "bundle is invalid: \(error.description)",
                hint: "sign it with `culvertctl bundle sign`, or pass --allow-unsigned to accept it as developer mode does")
        default:
            self.init(status: .inputRefused, code: error.code, message: "bundle is invalid: \(error.description)")
        }
    }
}
