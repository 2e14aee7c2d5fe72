// BundleVerifier: decides whether a bundle directory is what its publisher signed.
//
// Order matters and is fixed (docs/BUNDLES.md): the tree's shape before any byte is read; the
// signature's shape and trust before its list is believed; the list and every hash before the
// manifest is interpreted; the Ed25519 signature before any manifest field is acted on.

import CulvertVarlink

public enum BundleVerifier {
    /// Verifies the bundle at `directory` (`…/<identifier>.culvertext`), never following a symlink.
    ///
    /// 1. Tree: every refusal of a bundle's shape (symlinks, hard links, device nodes, FIFOs,
    ///    sockets, setuid/setgid/sticky bits, names, sizes, counts, depth), then the manifest's
    ///    and signature file's presence and size.
    /// 2. No `signature.json`: `unsignedBundle` unless `allowUnsigned`, in which case the result
    ///    is marked `.unsigned`. A signature file that is present is always checked: a bad or
    ///    untrusted signature is never downgraded to "unsigned".
    /// 3. Signature file shape (`BundleSignature.parse`), then its key must be in `trust`
    ///    (`untrustedKey`).
    /// 4. The files against the list (`BundleInspection.check(against:)`): missing, extra,
    ///    unlisted directories, manifest hash, file hashes.
    /// 5. The manifest as JSON (`manifestMalformed`), then the Ed25519 signature over it and the
    ///    list (`signatureInvalid`).
    /// 6. The manifest's fields (`BundleManifest.init(json:)`), the directory name against the
    ///    identifier, the executable.
    ///
    /// Every refusal is a distinct `BundleError` case; system failures are `io`.
    public static func verify(directory: String, trust: TrustedPublishers, allowUnsigned: Bool) throws(BundleError) -> VerifiedBundle {
        var inspection = try BundleInspection(scanning: directory)
        guard inspection.hasSignatureFile || allowUnsigned else { throw .unsignedBundle }
        try inspection.read()

        let manifestJSON: JSONValue
        var publicKey: PublisherKey?
        if let signatureBytes = inspection.signatureBytes {
            let signature = try BundleSignature.parse(signatureBytes)
            guard trust.contains(signature.publicKey) else { throw .untrustedKey(fingerprint: signature.publicKey.fingerprint) }
            try inspection.check(against: signature.files)
            manifestJSON = try inspection.manifestJSON()
            guard signature.isValid(manifest: manifestJSON) else { throw .signatureInvalid(fingerprint: signature.publicKey.fingerprint) }
            publicKey = signature.publicKey
        } else {
            manifestJSON = try inspection.manifestJSON()
        }

        let manifest = try BundleManifest(json: manifestJSON)
        try inspection.check(manifest)
        let payload = BundleSignature.payload(manifest: manifestJSON, files: inspection.signableDigests)
        return VerifiedBundle(
            path: directory, manifest: manifest, publisher: publicKey.map { .key(fingerprint: $0.fingerprint) } ?? .unsigned,
            publicKey: publicKey, files: inspection.bundleFiles, contentDigest: Hex.sha256(payload))
    }
}
