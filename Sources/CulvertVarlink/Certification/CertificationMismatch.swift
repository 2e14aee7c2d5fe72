// CertificationMismatch: the payload of org.varlink.certification.CertificationError.

/// What a certification peer expected (`wants`) against what it received (`got`).
///
/// On the wire this is the `CertificationError (wants: object, got: object)` error: the server
/// sends it when a call differs from the script, and the client reports it (as
/// `CertificationFailure.wrongReply`) when a reply does.
public struct CertificationMismatch: Error, Sendable, Equatable, CustomStringConvertible {
    /// The fully qualified error name.
    public static let errorName = CertificationStep.interfaceName + ".CertificationError"
    /// The error sent when a call names a client id that `Start` did not hand out (or that expired).
    public static let clientIDErrorName = CertificationStep.interfaceName + ".ClientIdError"

    public var wants: JSONValue
    public var got: JSONValue

    public init(wants: JSONValue, got: JSONValue) {
        self.wants = wants
        self.got = got
    }

    /// Reads a `CertificationError` reply; nil for any other error or malformed parameters.
    public init?(_ error: VarlinkError) {
        guard error.name == Self.errorName, let wants = error.parameters["wants"], let got = error.parameters["got"] else {
            return nil
        }
        self.init(wants: wants, got: got)
    }

    /// The error reply that carries this mismatch.
    public var varlinkError: VarlinkError {
        VarlinkError(Self.errorName, ["wants": wants, "got": got])
    }

    public static let clientIDError = VarlinkError(clientIDErrorName)

    public var description: String { "wanted \(wants.jsonString), got \(got.jsonString)" }
}
