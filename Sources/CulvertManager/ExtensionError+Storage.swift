// ExtensionError+Storage: which failures of an install are the disk's, not the bundle's.

import CulvertBundle

extension ExtensionError {
    /// A failed copy-and-verify: a failure to write the copy (a full or failing disk) is the
    /// daemon's storage failing, not the bundle; anything else is the bundle refused.
    init(staging error: BundleError) {
        if case .copyFailed(let systemError) = error {
            self = .storage(systemError)
        } else {
            self = .rejected(error)
        }
    }
}
