// BundleFormat: the fixed names and constants of the on-disk bundle format (docs/BUNDLES.md).

/// Names and constants of the bundle format. Changing any of them is a new format version.
public enum BundleFormat {
    /// A bundle is a directory named `<identifier>.culvertext`.
    public static let directorySuffix = ".culvertext"
    /// The manifest, at the bundle's root.
    public static let manifestFileName = "manifest.json"
    /// The signature file, at the bundle's root; the one file it does not list.
    public static let signatureFileName = "signature.json"
    /// The `format` field of signature files this code writes and accepts.
    public static let signatureFormatVersion: Int64 = 1
    /// The `format` field of key files this code writes and accepts.
    public static let keyFormatVersion: Int64 = 1
    /// Prefix of every signed payload: a signature over a bundle can never be mistaken for a
    /// signature over anything else the same key might sign, nor for another format version.
    public static let signatureDomain = "culvert.bundle.signature.v1\u{0}"
}
