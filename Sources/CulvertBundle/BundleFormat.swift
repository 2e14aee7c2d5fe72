// The bundle format lands here; see docs/BUNDLES.md.
public enum CulvertBundleFormat { public static let version = 1 }
