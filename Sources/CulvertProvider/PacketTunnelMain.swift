// PacketTunnelMain: the provider process's runtime. Checks it was started by culvertd (LISTEN_FDS
// with tun:channel on fds 3 and 4), serves io.culvert.Provider's provider half on the channel
// and calls the provider's methods, one at a time.

import CulvertSystem
import CulvertVarlink
import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public enum PacketTunnelMain {
    /// The descriptor numbers culvertd hands over (LISTEN_FDS style).
    static let tunDescriptor: Int32 = 3
    static let channelDescriptor: Int32 = 4
    /// Methods the provider serves on the channel.
    static let servedMethods: Set<String> = ["StartTunnel", "StopTunnel", "HandleAppMessage"]
    /// Exit status when not started by culvertd (EX_USAGE).
    static let usageExitStatus: Int32 = 64

    /// Runs `Provider` until culvertd stops it. Never returns.
    public static func run<Provider: PacketTunnelProvider>(_ type: Provider.Type) -> Never {
        let environment = ProviderEnvironment.current
        guard environment.isValid else {
            let message = """
                \(CommandLine.arguments.first ?? "provider"): this is a Culvert packet-tunnel provider; culvertd starts it \
                with its TUN on fd 3 and its channel on fd 4 (LISTEN_FDS=2, LISTEN_FDNAMES=tun:channel). \(environment.problem)

                """
            FileHandle.standardError.write(Data(message.utf8))
            exit(usageExitStatus)
        }
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
    let channel: VarlinkPeer
    let tunnel: Tunnel
    let provider: Provider
    private var started = false

    init() {
        // The bundled definition is ours and known-good; failing to parse it is a build defect.
        let interface = try! VarlinkInterface(parsing: VarlinkBundledInterfaces.ioCulvertProvider)
        let channelDescriptor = Descriptor(rawValue: PacketTunnelMain.channelDescriptor)
        channel = VarlinkPeer(descriptor: channelDescriptor, interface: interface, serves: PacketTunnelMain.servedMethods, queue: queue)
        tunnel = Tunnel(
            packetFlow: PacketFlow(descriptor: Descriptor(rawValue: PacketTunnelMain.tunDescriptor)), channel: channel, queue: queue)
        provider = Provider(tunnel: tunnel)
    }

    func start() {
        queue.async { [self] in
            channel.onCall = { [self] call, responder in handle(call, responder) }
            channel.onClose = { [self] _ in channelClosed() }
            channel.start()
        }
    }

    private func handle(_ call: VarlinkPeerCall, _ responder: VarlinkPeerResponder) {
        let provider = self.provider
        let queue = self.queue
        switch call.message.member {
        case "StartTunnel":
            let p = call.parameters
            let context = TunnelSessionContext(
                profile: p["session"]?["profile"]?.stringValue ?? "", session: p["session"]?["session"]?.stringValue ?? "",
                interface: p["session"]?["interface"]?.stringValue ?? "")
            let options = Self.stringMap(p["options"])
            tunnel.begin(context: context, secrets: Self.stringMap(p["secrets"]))
            started = true
            Task {
                do {
                    try await provider.startTunnel(options: options)
                    queue.async { responder.reply([:]) }
                } catch {
                    let failure = VarlinkError(
                        "io.culvert.Provider.TunnelFailed", ["reason": .string("provider_error"), "description": .string("\(error)")])
                    queue.async { responder.fail(failure) }
                }
            }
        case "StopTunnel":
            let reason = TunnelStopReason(rawValue: call.parameters["reason"]?.stringValue ?? "") ?? .other
            Task {
                await provider.stopTunnel(reason: reason)
                queue.async {
                    responder.reply([:])
                    // The reply is queued on the socket before the process ends; culvertd waits for the exit.
                    queue.async { exit(0) }
                }
            }
        case "HandleAppMessage":
            let message = Data(base64Encoded: call.parameters["data"]?.stringValue ?? "").map { [UInt8]($0) } ?? []
            Task {
                let answer = await provider.handleAppMessage(message)
                queue.async { responder.reply(["data": answer.map { .string(Data($0).base64EncodedString()) } ?? .null]) }
            }
        default:
            responder.fail(.methodNotImplemented(call.message.method))
        }
    }

    /// culvertd went away without stopping us: stop and exit (re-adoption is culvertd's job).
    private func channelClosed() {
        let provider = self.provider
        let wasStarted = started
        Task {
            if wasStarted { await provider.stopTunnel(reason: .channelClosed) }
            exit(0)
        }
    }

    static func stringMap(_ value: JSONValue?) -> [String: String] {
        guard case .object(let members)? = value else { return [:] }
        return members.compactMapValues { $0.stringValue }
    }
}
