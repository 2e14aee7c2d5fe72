// CertificationFailure: why a certification run against a server did not pass.

/// The typed outcome of a failed `CertificationClient.run()`. Every case names the step it
/// happened at.
public enum CertificationFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// Connecting, sending or receiving failed, or no reply came in time.
    case transport(step: CertificationStep, VarlinkClientError)
    /// The server refused our call with `CertificationError`: it expected something else.
    case rejected(step: CertificationStep, CertificationMismatch)
    /// The server answered with some other error (`ClientIdError`, `InvalidParameter`, …).
    case serverError(step: CertificationStep, VarlinkError)
    /// A reply had the right shape but not the scripted values (`wants` is the script, `got` the
    /// reply's declared fields).
    case wrongReply(step: CertificationStep, CertificationMismatch)
    /// A reply broke the protocol or the interface: wrong types, a missing field, `continues` on a
    /// call that did not ask for more, too many streamed replies.
    case malformedReply(step: CertificationStep, reason: String)

    public var step: CertificationStep {
        switch self {
        case .transport(let step, _), .rejected(let step, _), .serverError(let step, _), .wrongReply(let step, _),
            .malformedReply(let step, _):
            return step
        }
    }

    public var description: String {
        switch self {
        case .transport(let step, let error): return "\(step): \(error)"
        case .rejected(let step, let mismatch): return "\(step): the server refused the call: \(mismatch)"
        case .serverError(let step, let error): return "\(step): the server answered with an error: \(error)"
        case .wrongReply(let step, let mismatch): return "\(step): wrong reply: \(mismatch)"
        case .malformedReply(let step, let reason): return "\(step): malformed reply: \(reason)"
        }
    }
}
