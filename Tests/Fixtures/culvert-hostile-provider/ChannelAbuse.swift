// ChannelAbuse: attacks through the provider's own channel to culvertd — settings that would
// capture other sessions' traffic, an oversized cancel reason, more descriptors than a method
// takes, and terminal escape sequences in log lines and a cancel reason.

import CulvertProvider
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

struct ChannelAbuse {
    static let hugeReasonBytes = 15 << 20
    static let excessDescriptors = 200
    /// The channel socket culvertd hands over (LISTEN_FDS: tun on 3, channel on 4).
    static let channelDescriptor: Int32 = 4

    let tunnel: Tunnel
    let options: [String: String]
    let ownSettings: TunnelNetworkSettings

    /// Each request is one ATTACK line whose detail is culvertd's answer (`InvalidSettings:<reason>`
    /// when refused); an accepted one is replaced by the provider's own settings at once.
    func routes() async {
        let own = options["address"] ?? HostileProvider.defaultAddress
        let attempts: [(String, IPSettings)] = [
            ("route-overlaps-session", IPSettings(addresses: [own], includedRoutes: [options["overlapRoute"] ?? "10.99.0.0/24"])),
            ("address-overlaps-session", IPSettings(addresses: [options["overlapAddress"] ?? "10.77.0.5/24"])),
            ("route-captures-underlay", IPSettings(addresses: [own], includedRoutes: [options["underlayRoute"] ?? "10.200.0.2/32"])),
            ("route-reserved-prefix", IPSettings(addresses: [own], includedRoutes: [options["reservedRoute"] ?? "127.0.0.0/8"])),
        ]
        for (name, settings) in attempts {
            do {
                try await tunnel.setTunnelNetworkSettings(TunnelNetworkSettings(ipv4: settings))
                Report.succeeded(name, "applied")
                try? await tunnel.setTunnelNetworkSettings(ownSettings)  // try?: reported by the next attempt's answer
            } catch {
                switch error {
                case .invalidSettings(let field, let reason, _): Report.blocked(name, "InvalidSettings:\(reason) \(field)")
                case .settingsFailed(let step, _): Report.blocked(name, "SettingsFailed:\(step)")
                default: Report.blocked(name, "\(error)")
                }
            }
        }
    }

    /// CancelTunnel with a 15 MiB reason; ATTACKS DONE first, since the session ends with it.
    func cancelHuge() async {
        Report.note("sending CancelTunnel with a \(Self.hugeReasonBytes)-byte reason")
        Report.done()
        await tunnel.cancelTunnel(error: String(repeating: "A", count: Self.hugeReasonBytes))
    }

    /// A Protect call carrying 200 descriptors, written to the channel directly (the SDK sends one).
    func excessDescriptors() {
        var descriptors: [Int32] = []
        for _ in 0..<Self.excessDescriptors {
            let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
            if fd >= 0 { descriptors.append(fd) }
        }
        let frame = Array(#"{"method":"io.culvert.Provider.Protect","parameters":{}}"#.utf8) + [0]
        // Said first: culvertd may kill this process before sendmsg returns.
        Report.note("sending Protect with \(descriptors.count) descriptors")
        let sent = Self.send(frame, descriptors: descriptors, on: Self.channelDescriptor)
        descriptors.forEach { close($0) }
        switch sent {
        case .success(let count): Report.note("sent Protect with \(descriptors.count) descriptors (\(count) bytes)")
        case .failure(let error): Report.note("sendmsg with \(descriptors.count) descriptors failed: \(error)")
        }
    }

    /// Control characters in log lines, then in a CancelTunnel reason (ATTACKS DONE before it).
    func escapes() async {
        let samples = [
            "clear \u{1b}[2J\u{1b}[H screen", "title \u{1b}]0;owned\u{07} bell", "c0 \u{01}\u{08}\u{0b}\u{0c}\r\u{7f} mix",
            "c1 \u{9b}31m csi \u{9d}0;x\u{9c} osc",
        ]
        for sample in samples { Report.line("ESCAPE " + sample) }
        _ = [UInt8]([0x52, 0x41, 0x57, 0x20, 0x9b, 0x33, 0x31, 0x6d, 0x0a]).withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        Report.done()
        await tunnel.cancelTunnel(error: "cancel \u{1b}[2J\u{1b}]0;owned\u{07} \u{9b}1m reason")
    }

    /// sendmsg(2) with one SCM_RIGHTS message of any size (the SDK's helper stops at 16).
    static func send(_ bytes: [UInt8], descriptors: [Int32], on socket: Int32) -> Result<Int, Errno> {
        let header = MemoryLayout<cmsghdr>.size
        let payload = descriptors.count * MemoryLayout<Int32>.size
        let space = header + (payload + 7) & ~7
        var control = [UInt8](repeating: 0, count: space)
        control.withUnsafeMutableBytes { raw in
            var cmsg = cmsghdr()
            cmsg.cmsg_len = header + payload
            cmsg.cmsg_level = SOL_SOCKET
            cmsg.cmsg_type = Int32(SCM_RIGHTS)
            withUnsafeBytes(of: &cmsg) { raw.copyMemory(from: $0) }
            // !: both buffers are non-empty (a header and at least one descriptor).
            descriptors.withUnsafeBytes { raw.baseAddress!.advanced(by: header).copyMemory(from: $0.baseAddress!, byteCount: payload) }
        }
        var data = bytes
        return data.withUnsafeMutableBytes { dataBuffer in
            control.withUnsafeMutableBytes { controlBuffer in
                var vector = iovec(iov_base: dataBuffer.baseAddress, iov_len: dataBuffer.count)
                return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                    var message = msghdr()
                    message.msg_iov = vectorPointer
                    message.msg_iovlen = 1
                    message.msg_control = controlBuffer.baseAddress
                    message.msg_controllen = controlBuffer.count
                    return RawSyscall.libc { sendmsg(socket, &message, Int32(MSG_NOSIGNAL)) }
                }
            }
        }
    }
}
