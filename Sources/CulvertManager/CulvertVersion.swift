// CulvertVersion: the version culvertd reports (Ping, status, `--version`) and checks extensions'
// minimumCulvertdVersion against. Source builds say the line below; `make deb` (packaging/debian/
// rules) rewrites it in its clean copy to the package's x.y.z before building, so two package
// versions really are two culvertd versions.

public enum CulvertVersion {
    public static let current = "0.1.0"
}
