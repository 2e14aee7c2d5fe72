// VarlinkHandler: what an interface implementation provides to VarlinkServer.

import CulvertSystem

/// One call as the handler sees it: the message, validated, and who sent it.
public struct VarlinkCall: Sendable {
    public let message: VarlinkCallMessage
    /// The caller's kernel-verified credentials.
    public let peer: PeerCredentials
    /// Stable for the life of the connection; lets a handler tie state to a client.
    public let connectionID: UInt64

    public init(message: VarlinkCallMessage, peer: PeerCredentials, connectionID: UInt64) {
        self.message = message
        self.peer = peer
        self.connectionID = connectionID
    }

    public var parameters: JSONValue { message.parameters }
}

/// A `more` call a previous process image marked carriable and handed over with its connection.
public struct VarlinkCarriedCall: Sendable {
    /// The call as it stands: its method, with `more` set. Its parameters are not carried.
    public let message: VarlinkCallMessage
    /// The caller's credentials as the previous image verified them.
    public let peer: PeerCredentials
    /// The connection's id in this image.
    public let connectionID: UInt64

    public init(message: VarlinkCallMessage, peer: PeerCredentials, connectionID: UInt64) {
        self.message = message
        self.peer = peer
        self.connectionID = connectionID
    }
}

/// An implementation of one varlink interface.
///
/// Every method is called on the server's queue; implementations keep their state confined to it.
public protocol VarlinkHandler: AnyObject {
    /// The interface definition, served verbatim by `GetInterfaceDescription` and parsed to
    /// validate every call before `handle` sees it.
    var interfaceDescription: String { get }
    /// Decides whether `call.peer` may make `call`. Runs before parameter validation so an
    /// unauthorised caller learns nothing about the parameters. Return nil to allow.
    func authorize(_ call: VarlinkCall) -> VarlinkError?
    /// Handles a call whose parameters matched the interface. Must eventually reply through
    /// `replier` (a final reply or error), unless the call was `oneway`.
    func handle(_ call: VarlinkCall, replier: VarlinkReplier)
    /// Takes up a call this handler marked carriable (`VarlinkReplier.markCarriable`) in a
    /// previous process image, on a connection `VarlinkServer.adopt` took back. `replier` is
    /// carriable again. The default ends the call with MethodNotImplemented.
    func resume(_ call: VarlinkCarriedCall, replier: VarlinkReplier)
}

extension VarlinkHandler {
    public func authorize(_ call: VarlinkCall) -> VarlinkError? { nil }

    public func resume(_ call: VarlinkCarriedCall, replier: VarlinkReplier) {
        replier.fail(.methodNotImplemented(call.message.method))
    }
}

/// What `org.varlink.service.GetInfo` reports.
public struct VarlinkServiceInfo: Sendable {
    public var vendor: String
    public var product: String
    public var version: String
    public var url: String

    public init(vendor: String, product: String, version: String, url: String) {
        self.vendor = vendor
        self.product = product
        self.version = version
        self.url = url
    }
}
