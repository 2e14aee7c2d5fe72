// TunnelLab+Peer: how the lab's peer (`culvert-test-provider peer` in namespace B) is started —
// with or without its own offloads, with or without forced socket buffers — so a bench or test can
// pair the peer with the provider variant it runs (plain, or a bundle declaring `tun-offload`).

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

extension TunnelLab {
    /// How long a peer may take to exit on SIGTERM before it gets SIGKILL.
    public static let peerStopGrace: TimeInterval = 2

    /// SIGTERM, up to `grace` seconds for the exit, then SIGKILL; reaped either way. A child started
    /// from a thread that blocks signals (Dispatch's threads do, and the mask survives exec) never
    /// sees the SIGTERM: without the SIGKILL a bench would wait for it forever.
    public static func stop(_ process: Process, grace: TimeInterval) {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(grace)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// culvertd forces 7 MiB on the provider's protected socket (Protect, SO_RCVBUFFORCE/SO_SNDBUFFORCE);
    /// a peer started with this matches it.
    public static let matchingSocketBuffer = 7 * 1024 * 1024

    public struct PeerOptions: Sendable, Equatable {
        /// `--tun-offload on`: the peer's TUN has IFF_VNET_HDR, relayed with TSO/USO and UDP GSO/GRO.
        public var tunOffload: Bool
        /// `--socket-buffer BYTES`: the peer's UDP buffers forced to this size; nil keeps the kernel default.
        public var socketBuffer: Int?

        public init(tunOffload: Bool = false, socketBuffer: Int? = nil) {
            self.tunOffload = tunOffload
            self.socketBuffer = socketBuffer
        }

        /// What the lab always started before issue 13: no offloads, default buffers.
        public static let plain = PeerOptions()
        /// Offloads on and buffers matching the provider's: the far end of an offloading provider.
        public static let offloading = PeerOptions(tunOffload: true, socketBuffer: TunnelLab.matchingSocketBuffer)

        /// The peer's command-line options.
        public var arguments: [String] {
            (tunOffload ? ["--tun-offload", "on"] : []) + (socketBuffer.map { ["--socket-buffer", String($0)] } ?? [])
        }
    }
}
