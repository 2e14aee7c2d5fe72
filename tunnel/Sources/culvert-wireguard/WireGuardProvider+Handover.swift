// WireGuardProvider, handover (HandoverCapable, issue 14 item 4): a live upgrade moves the running
// sessions to the next version, so the peer sees no new handshake. The old version stops its data
// plane (the two versions share send counters: they must never both send — pausesDuringHandover
// stays true), exports the device (WireGuardDevice+Handover) and passes its UDP socket; the new
// one builds the device from the profile, imports the state and adopts the socket: the same bound
// port, and culvertd's protect mark (SO_MARK) belongs to the socket, so no re-bind and no
// re-protect. The blob holds session keys: it stays in memory and is never logged.

import CulvertProvider
import CulvertSystem
import WireGuardCrypto
import WireGuardDevice

/// Why a handover step failed here. Never carries a key.
enum WireGuardHandoverError: Error, CustomStringConvertible {
    case notRunning
    case stopTimedOut
    case sockets(count: Int)
    case state(DeviceHandoverError)

    var description: String {
        switch self {
        case .notRunning: return "no running tunnel to hand over"
        case .stopTimedOut: return "the data plane did not stop in time; not handing over"
        case .sockets(let count): return "a handover passes exactly one UDP socket, not \(count)"
        case .state(let error): return "\(error)"
        }
    }
}

extension WireGuardProvider: HandoverCapable {
    /// How far a resuming old version moves its send counters past the exported ones: more than
    /// the next version could send before culvertd gives up on it (2^32 messages ≈ 70 minutes at
    /// a million packets per second), and far below REKEY_AFTER_MESSAGES.
    static let resumeCounterSkip: UInt64 = 1 << 32

    func prepareHandover() async throws -> HandoverState {
        guard let plane, let socket else { throw WireGuardHandoverError.notRunning }
        self.plane = nil
        let stopped = plane.stop()
        var device = plane.device.withLock { $0 }
        guard stopped else {
            // A thread outlived the stop deadline: it could still seal a batch on the old copy, so no
            // state leaves, and this version carries on past any counter the straggler may use.
            device.skipSendCounters(by: Self.resumeCounterSkip)
            self.plane = try DataPlane(device: device, start: clockStart, flow: tunnel.packetFlow, socket: socket, mtu: mtu)
            throw WireGuardHandoverError.stopTimedOut
        }
        let data = device.exportHandover(now: plane.now)
        pausedDevice = device
        say(
            "handover prepared: data plane stopped, \(device.sessionCount) session(s) exported (\(data.count) bytes), moving the UDP socket"
        )
        return HandoverState(data: data, sockets: [socket])
    }

    func resumeAfterFailedHandover() async {
        guard var device = pausedDevice, let socket else { return }
        device.skipSendCounters(by: Self.resumeCounterSkip)
        do {
            plane = try DataPlane(device: device, start: clockStart, flow: tunnel.packetFlow, socket: socket, mtu: mtu)
            pausedDevice = nil
            say("handover failed elsewhere: data plane running again (send counters moved \(Self.resumeCounterSkip) ahead)")
        } catch {
            say("cannot resume the data plane: \(error)")
        }
    }

    func importHandover(_ state: HandoverState, options: [String: String]) async throws {
        guard state.sockets.count == 1, let socket = state.sockets.first else {
            state.sockets.forEach { $0.close() }
            throw WireGuardHandoverError.sockets(count: state.sockets.count)
        }
        do {
            let (configuration, testOptions) = try configuration(options)
            let deviceConfiguration = try ProfileMapping.device(configuration)
            let plan = ProfileMapping.settings(configuration)
            var (device, start) = Self.makeDevice(deviceConfiguration, testOptions: testOptions)
            do throws(DeviceHandoverError) {
                try device.importHandover(state.data, now: start.duration(to: .now))
            } catch {
                throw WireGuardHandoverError.state(error)
            }
            let bound = try socket.localEndpoint().port
            if let wanted = configuration.interface.listenPort, wanted != bound {
                say("ListenPort \(wanted) differs from the handed-over socket's port \(bound): keeping \(bound) (reconnect to change it)")
            }
            plane = try DataPlane(device: device, start: start, flow: tunnel.packetFlow, socket: socket, mtu: plan.mtu)
            self.socket = socket
            listenPort = bound
            keepalives = Self.keepalives(deviceConfiguration)
            clockStart = start
            mtu = plan.mtu
            say(
                "took over by handover: interface \(StatusReport.base64(device.publicKey)) on \(tunnel.session?.interface ?? "?"), "
                    + "UDP port \(bound), \(device.sessionCount) session(s), no new handshake")
        } catch {
            socket.close()
            throw error
        }
    }
}
