// VarlinkServer: accepts connections on a listening AF_UNIX socket and routes calls to handlers.

import CulvertSystem
import Dispatch

/// A varlink server over one listening socket. All state lives on `queue`; handlers are called there.
///
/// Built on Dispatch sources over raw descriptors rather than SwiftNIO because the daemon's
/// other descriptors (SCM_RIGHTS channels, pidfds, netlink) need the same loop and NIO cannot carry fds.
public final class VarlinkServer: @unchecked Sendable {  // every mutable member is confined to `queue`
    public let queue: DispatchQueue
    public let limits: VarlinkLimits
    public let info: VarlinkServiceInfo

    private var interfaces: [String: (definition: VarlinkInterface, text: String, handler: any VarlinkHandler)] = [:]
    private var interfaceOrder: [String] = []
    private var connections: [UInt64: VarlinkServerConnection] = [:]
    private var connectionsPerUser: [UInt32: Int] = [:]
    /// Bytes held (input buffered plus output queued) by each unprivileged uid's connections.
    private var heldPerUser: [UInt32: Int] = [:]
    private var usageByClass: [VarlinkConnectionClass: VarlinkClassUsage] = [:]
    private var nextConnectionID: UInt64 = 1
    private var listener: Descriptor?
    private var listenerSource: (any DispatchSourceRead)?
    private var acceptPaused = false

    /// Called on `queue` if the listener fails for good; the daemon must not run without it.
    public var onListenerFailure: (@Sendable (SystemError) -> Void)?
    /// The error a slow subscriber is dropped with, given its queued byte count.
    public var overflowError: @Sendable (Int) -> VarlinkError = { queued in
        VarlinkError("io.culvert.Varlink.OutputOverflow", ["queuedBytes": .int(Int64(queued))])
    }
    /// Decides a connection's class from its peer credentials when it is accepted (or adopted
    /// after a re-exec). Called on `queue`.
    public var classify: @Sendable (PeerCredentials) -> VarlinkConnectionClass = VarlinkConnectionClass.byUID
    /// Called on `queue` whenever a connection closes (handlers drop per-connection state).
    public var onConnectionClosed: (@Sendable (UInt64) -> Void)?
    /// Called on `queue` when a connection is dropped for not reading its output.
    public var onOverflow: (@Sendable (UInt64, PeerCredentials) -> Void)?

    public init(info: VarlinkServiceInfo, limits: VarlinkLimits = VarlinkLimits(), queue: DispatchQueue) {
        self.info = info
        self.limits = limits
        self.queue = queue
        let service = VarlinkServiceHandler()
        service.server = self
        // The built-in definition is ours and known-good; failing to parse it is a build defect.
        try! register(service)
    }

    /// Adds an interface. Its definition is parsed here; a bad one is refused with the parse error.
    public func register(_ handler: any VarlinkHandler) throws(VarlinkIDLError) {
        let definition = try VarlinkInterface(parsing: handler.interfaceDescription)
        if interfaces[definition.name] == nil { interfaceOrder.append(definition.name) }
        interfaces[definition.name] = (definition, handler.interfaceDescription, handler)
    }

    public var interfaceNames: [String] { interfaceOrder }

    func interfaceText(_ name: String) -> String? { interfaces[name]?.text }

    /// Starts accepting on `listener` (non-blocking is set here). Call once.
    public func start(listener: Descriptor) throws(SystemError) {
        try listener.setNonblocking(true)
        self.listener = listener
        let source = DispatchSource.makeReadSource(fileDescriptor: listener.rawValue, queue: queue)
        source.setEventHandler { [self] in acceptPending() }
        listenerSource = source
        source.resume()
    }

    /// Stops accepting and closes every connection. The listener descriptor is left open:
    /// its owner decides (re-exec hands it on).
    public func stop() {
        dispatchPrecondition(condition: .onQueue(queue))
        listenerSource?.cancel()
        listenerSource = nil
        for connection in connections.values { connection.close() }
    }

    public var connectionCount: Int { connections.count }

    /// The limits in force and what each class holds now (counts only).
    public var usage: VarlinkServerUsage {
        dispatchPrecondition(condition: .onQueue(queue))
        var byClass = usageByClass
        for connectionClass in VarlinkConnectionClass.allCases where byClass[connectionClass] == nil {
            byClass[connectionClass] = VarlinkClassUsage()
        }
        return VarlinkServerUsage(limits: limits, byClass: byClass)
    }

    /// The listening descriptor (for a re-exec to keep).
    public var listenerDescriptor: Descriptor? { listener }

    /// Whether every connection is idle or in a call its handler marked carriable
    /// (`VarlinkReplier.markCarriable`): nothing a re-exec would cut short.
    public func connectionsAreCarriable(except id: UInt64) -> Bool {
        dispatchPrecondition(condition: .onQueue(queue))
        return connections.allSatisfy { $0.key == id || $0.value.isCarriable }
    }

    /// Stops accepting, flushes every connection (blocking, until `deadline`) and lets go of them
    /// without closing their descriptors. Connections that cannot be flushed in time are closed.
    public func handOverConnections(deadline: ContinuousClock.Instant) -> [VarlinkConnectionHandover] {
        dispatchPrecondition(condition: .onQueue(queue))
        listenerSource?.cancel()
        listenerSource = nil
        var carried: [VarlinkConnectionHandover] = []
        for id in connections.keys.sorted() {
            guard let connection = connections[id] else { continue }
            if let handover = connection.detachForExec(deadline: deadline) { carried.append(handover) } else { connection.close() }
        }
        return carried
    }

    /// Takes back a connection a previous process image handed over. If it carried an open call,
    /// the handler of that call's interface takes it up through `resume(_:replier:)`; a carried
    /// call this server cannot name (a handover from an image that did not record it) closes the
    /// connection, and its client reconnects. Returns the connection's id in this image.
    @discardableResult
    public func adopt(_ handover: VarlinkConnectionHandover) -> UInt64 {
        dispatchPrecondition(condition: .onQueue(queue))
        let peer = PeerCredentials(pid: handover.pid, uid: handover.uid, gid: handover.gid, groups: handover.groups, pidIsPinned: false)
        let id = nextConnectionID
        nextConnectionID += 1
        let connectionClass = classify(peer)
        let connection = VarlinkServerConnection(
            id: id, descriptor: Descriptor(rawValue: handover.descriptor), peer: peer, connectionClass: connectionClass, server: self,
            queue: queue)
        connections[id] = connection
        connectionsPerUser[peer.uid, default: 0] += 1
        usageByClass[connectionClass, default: VarlinkClassUsage()].connections += 1
        let replier = connection.resume(input: handover.input, carrying: handover.carriedMethod)
        if let replier, let method = handover.carriedMethod {
            let call = VarlinkCarriedCall(message: VarlinkCallMessage(method: method, more: true), peer: peer, connectionID: id)
            if let handler = interfaces[call.message.interface]?.handler {
                handler.resume(call, replier: replier)
            } else {
                replier.fail(.interfaceNotFound(call.message.interface))
            }
        } else if handover.carriesCall {
            connection.close()
        }
        return id
    }

    private func acceptPending() {
        guard let listener else { return }
        for attempt in 0..<64 {  // bounded per wake-up so established clients keep being served
            let accepted: Descriptor?
            do {
                accepted = try UnixSocket.accept(listener)
            } catch {
                if error.errno == EMFILE_ || error.errno == ENFILE_ || error.errno == ENOBUFS_ || error.errno == ENOMEM_ {
                    pauseAccepting()
                    return
                }
                onListenerFailure?(error)
                return
            }
            guard let fd = accepted else {
                // Woken with nothing to accept: a listener that was shut down polls as hung up
                // for ever while accept() says EAGAIN. That is a dead socket, not an idle one.
                if attempt == 0, UnixSocket.listenerHasHungUp(listener) {
                    listenerSource?.cancel()
                    listenerSource = nil
                    onListenerFailure?(SystemError(call: "accept4 (listener hung up)", errno: ESHUTDOWN_))
                }
                return
            }
            admit(fd)
        }
    }

    /// Out of descriptors or memory: stop listening briefly instead of spinning on the error.
    private func pauseAccepting() {
        guard !acceptPaused, let source = listenerSource else { return }
        acceptPaused = true
        source.suspend()
        queue.asyncAfter(deadline: .now() + .milliseconds(100)) { [self] in
            acceptPaused = false
            listenerSource?.resume()
        }
    }

    private func admit(_ fd: Descriptor) {
        let peer: PeerCredentials
        do {
            peer = try UnixSocket.peerCredentials(fd)
        } catch {
            fd.close()
            return
        }
        let perUser = connectionsPerUser[peer.uid, default: 0]
        let connectionClass = classify(peer)
        // The class's ceiling leaves the slots reserved for the classes above it free.
        let ceiling = limits.connectionCeiling(for: connectionClass)
        if connections.count >= ceiling || perUser >= limits.maximumConnectionsPerUser {
            let limit = perUser >= limits.maximumConnectionsPerUser ? limits.maximumConnectionsPerUser : ceiling
            let frame = VarlinkReplyMessage.frame(error: .tooManyConnections(limit: limit))
            _ = frame.withUnsafeBytes { try? fd.send($0) }  // best effort: the client is refused either way
            fd.close()
            return
        }
        let id = nextConnectionID
        nextConnectionID += 1
        let connection = VarlinkServerConnection(
            id: id, descriptor: fd, peer: peer, connectionClass: connectionClass, server: self, queue: queue)
        connections[id] = connection
        connectionsPerUser[peer.uid] = perUser + 1
        usageByClass[connectionClass, default: VarlinkClassUsage()].connections += 1
        connection.start()
    }

    func connectionClosed(_ connection: VarlinkServerConnection) {
        guard connections.removeValue(forKey: connection.id) != nil else { return }
        let remaining = (connectionsPerUser[connection.peer.uid] ?? 1) - 1
        connectionsPerUser[connection.peer.uid] = remaining > 0 ? remaining : nil
        _ = account(connection, from: connection.reportedHeld, to: 0)
        usageByClass[connection.connectionClass, default: VarlinkClassUsage()].connections -= 1
        onConnectionClosed?(connection.id)
        if connection.sawLargeInput {
            // Its buffers were just freed; hand the pages back rather than keep them resident.
            queue.async { MemoryPolicy.releaseFreeMemory() }
        }
    }

    /// Records that `connection` now holds `held` bytes instead of `previous`. Returns the budget
    /// its uid (or, for a stranger, all strangers together) is now over, if any; the
    /// administrator has none.
    func account(_ connection: VarlinkServerConnection, from previous: Int, to held: Int) -> Int? {
        let delta = held - previous
        let connectionClass = connection.connectionClass
        usageByClass[connectionClass, default: VarlinkClassUsage()].heldBytes += delta
        guard connectionClass != .admin else { return nil }
        let uid = connection.peer.uid
        let userHeld = heldPerUser[uid, default: 0] + delta
        heldPerUser[uid] = userHeld > 0 ? userHeld : nil
        if userHeld > limits.perUserMemoryBudget { return limits.perUserMemoryBudget }
        if connectionClass == .other, (usageByClass[.other]?.heldBytes ?? 0) > limits.otherMemoryBudget { return limits.otherMemoryBudget }
        return nil
    }

    func connectionOverflowed(_ connection: VarlinkServerConnection) {
        onOverflow?(connection.id, connection.peer)
    }

    /// Authorises, validates and hands a call to its interface's handler.
    func route(_ call: VarlinkCall, replier: VarlinkReplier) {
        let message = call.message
        guard let entry = interfaces[message.interface] else {
            replier.fail(.interfaceNotFound(message.interface))
            return
        }
        if let denied = entry.handler.authorize(call) {
            replier.fail(denied)
            return
        }
        guard entry.definition.methods[message.member] != nil else {
            replier.fail(.methodNotFound(message.method, server: info))
            return
        }
        if message.upgrade {
            replier.fail(.methodNotImplemented(message.method))
            return
        }
        do throws(VarlinkValidationError) {
            try entry.definition.validate(parameters: message.parameters, of: message.member)
        } catch {
            replier.fail(.invalidParameter(error.parameter))
            return
        }
        entry.handler.handle(call, replier: replier)
    }
}

/// One client connection as a re-exec carries it to the next process image.
public struct VarlinkConnectionHandover: Codable, Sendable {
    public var descriptor: Int32
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
    public var groups: [UInt32]
    /// Bytes received but not yet processed (pipelined calls).
    public var input: [UInt8]
    /// The fully qualified method of the open call that continues in the next image (its handler
    /// marked it carriable), if any.
    public var carriedMethod: String?
    /// Whether a call continues. Written beside `carriedMethod` because images that predate it
    /// read only this (under its old key) and carried only one kind of call.
    public var carriesCall: Bool

    enum CodingKeys: String, CodingKey {
        case descriptor, pid, uid, gid, groups, input, carriedMethod
        case carriesCall = "watching"
    }

    init(descriptor: Int32, pid: Int32, uid: UInt32, gid: UInt32, groups: [UInt32], input: [UInt8], carriedMethod: String?) {
        self.descriptor = descriptor
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.input = input
        self.carriedMethod = carriedMethod
        self.carriesCall = carriedMethod != nil
    }
}

// errno values the accept loop distinguishes, named here to keep Glibc out of this file.
private let EMFILE_: Int32 = 24
private let ENFILE_: Int32 = 23
private let ENOBUFS_: Int32 = 105
private let ENOMEM_: Int32 = 12
private let ESHUTDOWN_: Int32 = 108
