// BundleSigner: the publisher's side — hash every file, sign the manifest and the list, write
// signature.json, then verify the result as culvertd would.

import CulvertSystem
import CulvertVarlink

public enum BundleSigner {
    /// Signs the bundle at `directory` with `key`, replacing any `signature.json`, and returns
    /// the bundle as verified with `key` as the only trusted publisher.
    ///
    /// Refuses what verification would refuse, before writing anything: the tree's shape, a
    /// malformed or invalid manifest, an identifier that does not match the directory's name, a
    /// missing or non-executable executable. The signature file is written atomically (temp
    /// file, fsync, rename, fsync directory) with mode 0644.
    @discardableResult
    public static func sign(directory: String, key: SigningKey) throws(BundleError) -> VerifiedBundle {
        try sign(directory: directory, key: key, checkingManifest: true)
        return try BundleVerifier.verify(directory: directory, trust: TrustedPublishers([key.publisherKey]), allowUnsigned: false)
    }

    /// Signs without interpreting the manifest beyond JSON: for tests that need a validly signed
    /// bundle whose manifest is wrong in one precise way.
    static func sign(directory: String, key: SigningKey, checkingManifest: Bool) throws(BundleError) {
        var inspection = try BundleInspection(scanning: directory)
        try inspection.read()
        let manifestJSON = try inspection.manifestJSON()
        if checkingManifest {
            try inspection.check(try BundleManifest(json: manifestJSON))
        }
        let signature = BundleSignature.make(manifest: manifestJSON, files: inspection.signableDigests, key: key)
        let path = directory + "/" + BundleFormat.signatureFileName
        do {
            try FileSystem.writeAtomically(signature.encoded(), to: path, mode: 0o644)
        } catch {
            throw .io(error)
        }
    }
}
