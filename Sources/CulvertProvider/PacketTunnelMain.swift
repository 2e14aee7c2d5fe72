// PacketTunnelMain: the provider process's runtime. Checks it was started by culvertd (LISTEN_FDS
// with tun:channel on fds 3 and 4), serves io.culvert.Provider's provider half on the channel
// and calls the provider's methods, one at a time.

import CulvertSystem
import CulvertVarlink
import CulvertWire
import Dispatch
import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#endif

public enum PacketTunnelMain {
    /// The descriptor numbers culvertd hands over (LISTEN_FDS style).
    static let tunDescriptor: Int32 = 3
    static let channelDescriptor: Int32 = 4
    /// Methods the provider serves on the channel.
    static let servedMethods = Set(
        [
            ProviderMethod.startTunnel, .stopTunnel, .handleAppMessage, .reattach, .prepareHandover, .resumeAfterFailedHandover,
            .importHandover,
        ]
        .map(\.member))
    /// Exit status when not started by culvertd (EX_USAGE).
    static let usageExitStatus: Int32 = 64
    /// Exit status when the process cannot make itself non-dumpable (EX_OSERR).
    static let nonDumpableExitStatus: Int32 = 71
    /// How long a provider whose culvertd died keeps its tunnel up waiting to be re-adopted, unless
    /// CULVERT_ORPHAN_TIMEOUT (seconds) says otherwise.
    static let defaultOrphanTimeout: Duration = .seconds(600)

    /// Runs `Provider` until culvertd stops it. Never returns.
    public static func run<Provider: PacketTunnelProvider>(_ type: Provider.Type) -> Never {
        // First, before any secret is read: no core dumps, and no other process of our uid may ptrace
        // us or read our memory, environment or descriptors through /proc.
        do {
            try ProcessImage.markNonDumpable()
        } catch {
            // try?: nowhere left to report a failed write.
            try? Descriptor.standardError.writeAll("provider: cannot mark itself non-dumpable: \(error)\n".utf8)
            exit(nonDumpableExitStatus)
        }
        let environment = ProviderEnvironment.current
        guard environment.isValid else {
            let message = """
                \(CommandLine.arguments.first ?? "provider"): this is a Culvert packet-tunnel provider; culvertd starts it \
                with its TUN on fd 3 and its channel on fd 4 (LISTEN_FDS=2, LISTEN_FDNAMES=tun:channel). \(environment.problem)

                """
            // try?: nowhere left to report a failed write.
            try? Descriptor.standardError.writeAll(message.utf8)
            exit(usageExitStatus)
        }
        // Output goes to a pipe culvertd reads; if culvertd dies, writes must fail, not kill us.
        signal(SIGPIPE, SIG_IGN)
        let runtime = ProviderRuntime<Provider>()
        runtime.start()
        dispatchMain()
    }
}

/// The LISTEN_FDS handshake culvertd's spawn sets up.
struct ProviderEnvironment {
    var isValid: Bool
    var problem: String

    static var current: ProviderEnvironment {
        let count = getenv("LISTEN_FDS").map { String(cString: $0) }
        let names = getenv("LISTEN_FDNAMES").map { String(cString: $0) }
        let pid = getenv("LISTEN_PID").map { String(cString: $0) }
        guard count == "2", names == "tun:channel" else {
            return ProviderEnvironment(isValid: false, problem: "LISTEN_FDS/LISTEN_FDNAMES are not set as culvertd sets them.")
        }
        guard pid == String(getpid()) else {
            return ProviderEnvironment(isValid: false, problem: "LISTEN_PID names another process.")
        }
        return ProviderEnvironment(isValid: true, problem: "")
    }
}

/// Serves the channel for one provider instance.
final class ProviderRuntime<Provider: PacketTunnelProvider>: @unchecked Sendable {  // confined to `queue`
    let queue = DispatchQueue(label: "culvert.provider.channel")
    let interface: VarlinkInterface
    let tunnel: Tunnel
    let provider: Provider
    private var started = false
    /// No culvertd holds our channel: the tunnel runs on, waiting to be re-adopted.
    private var orphaned = false
    private var orphanDeadline: DispatchWorkItem?
    private var rendezvous: Descriptor?
    private var rendezvousSource: (any DispatchSourceRead)?
    private let orphanTimeout: Duration

    init() {
        // The bundled definition is ours and known-good; failing to parse it is a build defect.
        interface = try! VarlinkInterface(parsing: VarlinkBundledInterfaces.ioCulvertProvider)
        let channelDescriptor = Descriptor(rawValue: PacketTunnelMain.channelDescriptor)
        let channel = VarlinkPeer(
            descriptor: channelDescriptor, interface: interface, serves: PacketTunnelMain.servedMethods, queue: queue)
        tunnel = Tunnel(
            packetFlow: PacketFlow(descriptor: Descriptor(rawValue: PacketTunnelMain.tunDescriptor)), channel: channel, queue: queue)
        provider = Provider(tunnel: tunnel)
        let seconds = getenv("CULVERT_ORPHAN_TIMEOUT").flatMap { Double(String(cString: $0)) }
        orphanTimeout = seconds.map { .milliseconds(Int64($0 * 1000)) } ?? PacketTunnelMain.defaultOrphanTimeout
    }

    func start() {
        queue.async { [self] in
            attach(tunnel.channel)
            tunnel.channel.start()
            openRendezvous()
        }
    }

    private func attach(_ channel: VarlinkPeer) {
        channel.onCall = { [self] call, responder in handle(call, responder, on: channel) }
        channel.onClose = { [self] _ in channelClosed(channel) }
    }

    /// The socket a new culvertd connects to after the previous one died (CULVERT_RENDEZVOUS, in a
    /// directory culvertd made for this provider). Without it, the provider cannot be re-adopted.
    private func openRendezvous() {
        guard let path = getenv("CULVERT_RENDEZVOUS").map({ String(cString: $0) }) else { return }
        do {
            let listener = try UnixSocket.listen(path: path, backlog: 4)
            try FileSystem.setMode(path, 0o600)
            try listener.setNonblocking(true)
            let source = DispatchSource.makeReadSource(fileDescriptor: listener.rawValue, queue: queue)
            source.setEventHandler { [self] in acceptRendezvous() }
            rendezvous = listener
            rendezvousSource = source
            source.resume()
        } catch {
            // try?: nowhere left to report a failed write.
            try? Descriptor.standardError.writeAll("culvert provider: no rendezvous at \(path): \(error)\n".utf8)
        }
    }

    /// Serves a connection on the rendezvous socket — only from root; anything else is closed at
    /// once. It becomes the channel when Reattach is called on it (the old one is then closed):
    /// a culvertd that re-execs may connect before this provider has noticed the old channel end.
    private func acceptRendezvous() {
        guard let listener = rendezvous else { return }
        for _ in 0..<4 {  // bounded per wake-up
            let accepted: Descriptor?
            do { accepted = try UnixSocket.accept(listener) } catch { return }
            guard let connection = accepted else { return }
            let peer = try? UnixSocket.peerCredentials(connection)  // try?: unidentifiable peers are refused below
            guard peer?.uid == 0 else {
                connection.close()
                continue
            }
            let candidate = VarlinkPeer(descriptor: connection, interface: interface, serves: PacketTunnelMain.servedMethods, queue: queue)
            attach(candidate)
            candidate.start()
        }
    }

    private func handle(_ call: VarlinkPeerCall, _ responder: VarlinkPeerResponder, on channel: VarlinkPeer) {
        let method = ProviderMethod(rawValue: call.message.method)
        guard channel === tunnel.channel || method == .reattach else {
            responder.fail(ProviderError.notReady(state: "not_reattached"))
            return
        }
        let provider = self.provider
        let queue = self.queue
        switch method {
        case .startTunnel?:
            guard let parameters = Self.decode(StartTunnelParameters.self, call, responder) else { return }
            tunnel.begin(context: TunnelSessionContext(parameters.session), secrets: parameters.secrets)
            started = true
            Task {
                do {
                    try await provider.startTunnel(options: parameters.options)
                    queue.async { responder.reply([:]) }
                } catch {
                    let failure = ProviderError.tunnelFailed(reason: "provider_error", description: "\(error)")
                    queue.async { responder.fail(failure) }
                }
            }
        case .stopTunnel?:
            guard let parameters = Self.decode(StopTunnelParameters.self, call, responder) else { return }
            let reason = TunnelStopReason(rawValue: parameters.reason) ?? .other
            Task {
                await provider.stopTunnel(reason: reason)
                queue.async {
                    responder.reply([:])
                    // The reply is queued on the socket before the process ends; culvertd waits for the exit.
                    queue.async { exit(0) }
                }
            }
        case .reattach?:
            // The new culvertd's channel replaces the old one (closed if it still looks open), its
            // output pipe becomes stdout and stderr, and it gets the TUN back.
            if channel !== tunnel.channel {
                let old = tunnel.channel
                tunnel.channel = channel
                orphaned = false
                orphanDeadline?.cancel()
                orphanDeadline = nil
                old.close()
            }
            do {
                for descriptor in call.descriptors.prefix(1) {
                    try descriptor.duplicate(onto: 1)
                    try descriptor.duplicate(onto: 2)
                }
                call.descriptors.forEach { $0.close() }
                let tun = try Descriptor(rawValue: PacketTunnelMain.tunDescriptor).duplicate()
                responder.reply(tunnel.reattachReply.jsonValue, passing: [tun])
            } catch {
                responder.fail(ProviderError.tunnelFailed(reason: "reattach_failed", description: "\(error)"))
            }
        case .prepareHandover?, .resumeAfterFailedHandover?, .importHandover?:
            handleHandover(call, responder)
        case .handleAppMessage?:
            guard let parameters = Self.decode(HandleAppMessageParameters.self, call, responder) else { return }
            let message = Data(base64Encoded: parameters.data).map { [UInt8]($0) } ?? []
            Task {
                let answer = await provider.handleAppMessage(message)
                let reply = HandleAppMessageReply(data: answer.map { Data($0).base64EncodedString() })
                queue.async { responder.reply(reply.jsonValue) }
            }
        case .setTunnelNetworkSettings?, .protect?, .setReasserting?, .cancelTunnel?, nil:
            responder.fail(.methodNotImplemented(call.message.method))
        }
    }

    /// culvertd went away without stopping us. A started tunnel keeps running, waiting on the
    /// rendezvous socket to be re-adopted by the next culvertd (bounded by the orphan timeout);
    /// otherwise there is nothing to keep.
    private func channelClosed(_ channel: VarlinkPeer) {
        guard channel === tunnel.channel else { return }
        let provider = self.provider
        guard started, rendezvous != nil else {
            let wasStarted = started
            Task {
                if wasStarted { await provider.stopTunnel(reason: .channelClosed) }
                exit(0)
            }
            return
        }
        orphaned = true
        let deadline = DispatchWorkItem { [self] in
            guard orphaned else { return }
            Task {
                await provider.stopTunnel(reason: .channelClosed)
                exit(0)
            }
        }
        orphanDeadline = deadline
        queue.asyncAfter(deadline: .now() + .milliseconds(Int(orphanTimeout.components.seconds * 1000)), execute: deadline)
    }

    /// The handover calls (HandoverCapable); a provider without it answers HandoverFailed(unsupported).
    private func handleHandover(_ call: VarlinkPeerCall, _ responder: VarlinkPeerResponder) {
        let queue = self.queue
        let flow = tunnel.packetFlow
        let failure = Self.handoverFailure
        guard let capable = provider as? any HandoverCapable else {
            call.descriptors.forEach { $0.close() }
            responder.fail(failure("unsupported", HandoverError.unsupported))
            return
        }
        switch ProviderMethod(rawValue: call.message.method) {
        case .prepareHandover?:
            Task {
                do {
                    let state = try await capable.prepareHandover()
                    if capable.pausesDuringHandover { flow.setPaused(true) }
                    // The channel closes what it sends: copies go, the provider keeps its sockets to resume.
                    var duplicated: [Descriptor] = []
                    do {
                        for socket in state.sockets { duplicated.append(try socket.descriptor.duplicate()) }
                    } catch {
                        duplicated.forEach { $0.close() }
                        flow.setPaused(false)
                        await capable.resumeAfterFailedHandover()
                        queue.async { responder.fail(failure("duplicate_failed", error)) }
                        return
                    }
                    let encoded = Data(state.data).base64EncodedString()
                    let copies = duplicated
                    queue.async { responder.reply(PrepareHandoverReply(state: encoded).jsonValue, passing: copies) }
                } catch {
                    queue.async { responder.fail(failure("prepare_failed", error)) }
                }
            }
        case .resumeAfterFailedHandover?:
            flow.setPaused(false)
            Task {
                await capable.resumeAfterFailedHandover()
                queue.async { responder.reply([:]) }
            }
        default:  // ImportHandover
            guard let parameters = Self.decode(StartTunnelParameters.self, call, responder) else {
                call.descriptors.forEach { $0.close() }
                return
            }
            var sockets: [DatagramSocket] = []
            for (index, descriptor) in call.descriptors.enumerated() {
                // try?: an unidentifiable descriptor is refused as not a socket, like a non-IP one.
                guard let socket = try? DatagramSocket.adopting(descriptor) else {
                    call.descriptors.forEach { $0.close() }
                    responder.fail(failure("not_a_socket", HandoverError.notASocket(index: index)))
                    return
                }
                sockets.append(socket)
            }
            let data = Data(base64Encoded: parameters.state ?? "").map { [UInt8]($0) } ?? []
            tunnel.begin(context: TunnelSessionContext(parameters.session), secrets: parameters.secrets)
            started = true
            let state = HandoverState(data: data, sockets: sockets)
            Task {
                do {
                    try await capable.importHandover(state, options: parameters.options)
                    queue.async { responder.reply([:]) }
                } catch {
                    queue.async { responder.fail(failure("import_failed", error)) }
                }
            }
        }
    }

    @Sendable static func handoverFailure(_ reason: String, _ error: any Error) -> VarlinkError {
        ProviderError.handoverFailed(reason: reason, description: "\(error)").varlinkError
    }

    /// The call's parameters as `T`; the peer validated them against the interface, so a failure
    /// means our types and the interface disagree — answered as an invalid parameter.
    static func decode<T: WireValue>(_ type: T.Type, _ call: VarlinkPeerCall, _ responder: VarlinkPeerResponder) -> T? {
        do {
            return try T(json: call.parameters)
        } catch {
            responder.fail(.invalidParameter("\(call.message.member): \(error)"))
            return nil
        }
    }
}
