// A simulated network for WireGuardDeviceTests: devices addressed by UDP endpoints, datagrams
// carried in FIFO order, a simulated monotonic clock and a seeded generator, and a filter to lose
// or capture datagrams. Everything runs in memory and deterministically; no timed assertions.
import WireGuardCrypto
import WireGuardDevice
import XCTest

struct Datagram {
    var bytes: [UInt8]
    var from: Endpoint
    var to: Endpoint
    var type: UInt8 { bytes.first ?? 0 }
}

struct SimulatedNetwork {
    var devices: [WireGuardDevice] = []
    /// Each device's current source endpoint (change it to make a device roam).
    var endpoints: [Endpoint] = []
    var inFlight: [Datagram] = []
    /// Inner packets each device delivered to its TUN.
    var delivered: [[[UInt8]]] = []
    /// Every datagram sent, in order (for inspection and replay).
    var log: [Datagram] = []
    /// Non-send actions (give-ups, key zeroing) per device.
    var events: [[DeviceAction]] = []
    var now: Duration = .zero
    var generator = SeededGenerator(state: 42)
    /// Return false to lose a datagram.
    var filter: (Datagram) -> Bool = { _ in true }

    /// A device with a fixed key (seed) at 10.0.0.<host> / endpoint 192.0.2.<host>:51820.
    static func key(_ seed: UInt8) -> PrivateKey { PrivateKey(clamping: SecretKey.filled(seed)) }
    static func inner(_ host: UInt8) -> IPAddress { IPAddress(10, 0, 0, host) }
    static func endpoint(_ host: UInt8, port: UInt16 = 51820) -> Endpoint { Endpoint(address: IPAddress(192, 0, 2, host), port: port) }

    /// Full mesh of `count` devices; device i is host i+1 and routes 10.0.0.(j+1)/32 to device j.
    static func mesh(
        _ count: Int, timers: WireGuardTimers = .shortened, persistentKeepalive: Duration? = nil, presharedKey: SecretKey? = nil
    ) -> SimulatedNetwork {
        var network = SimulatedNetwork()
        for i in 0..<count {
            var peers: [PeerConfiguration] = []
            for j in 0..<count where j != i {
                let host = UInt8(j + 1)
                let prefix = IPPrefix(inner(host), 32)!  // /32 is valid
                peers.append(
                    PeerConfiguration(
                        publicKey: key(host).publicKey, presharedKey: presharedKey, endpoint: endpoint(host), allowedIPs: [prefix],
                        persistentKeepalive: persistentKeepalive))
            }
            network.add(WireGuardDevice(configuration: DeviceConfiguration(privateKey: key(UInt8(i + 1)), peers: peers), timers: timers))
        }
        return network
    }

    mutating func add(_ device: WireGuardDevice) {
        devices.append(device)
        endpoints.append(Self.endpoint(UInt8(devices.count)))
        delivered.append([])
        events.append([])
    }

    mutating func apply(_ actions: [DeviceAction], from device: Int) {
        for action in actions {
            switch action {
            case .send(let bytes, let to):
                let datagram = Datagram(bytes: bytes, from: endpoints[device], to: to)
                log.append(datagram)
                if filter(datagram) { inFlight.append(datagram) }
            default:
                events[device].append(action)
            }
        }
    }

    /// Device `from` sends an inner packet to 10.0.0.<toHost>.
    @discardableResult
    mutating func sendPacket(from device: Int, toHost host: UInt8, payloadCount: Int = 64, fill: UInt8 = 0xa5) -> OutboundResult {
        let packet = TestPackets.ipv4(
            source: Self.inner(UInt8(device + 1)), destination: Self.inner(host), payloadCount: payloadCount, fill: fill)
        let (actions, result) = devices[device].send(packet, now: now, using: &generator)
        apply(actions, from: device)
        return result
    }

    /// Delivers datagrams until none are in flight (bounded).
    mutating func run(maxDatagrams: Int = 10_000) {
        var carried = 0
        while !inFlight.isEmpty, carried < maxDatagrams {
            let datagram = inFlight.removeFirst()
            carried += 1
            guard let target = endpoints.firstIndex(of: datagram.to) else { continue }
            let (packet, result) = devices[target].receive(datagram.bytes, from: datagram.from, now: now, using: &generator)
            if let packet { delivered[target].append(packet) }
            apply(result.actions, from: target)
        }
        precondition(inFlight.isEmpty, "datagram storm: more than \(maxDatagrams) carried")
    }

    /// Moves the clock to `time`, ticking every device at each deadline on the way and carrying
    /// what the ticks send.
    mutating func advance(to time: Duration) {
        var steps = 0
        while steps < 100_000 {
            steps += 1
            let next = devices.compactMap(\.nextDeadline).filter { $0 <= time }.min()
            guard let deadline = next else { break }
            now = max(now, deadline)
            for index in devices.indices {
                let actions = devices[index].tick(now: now, using: &generator)
                apply(actions, from: index)
            }
            run()
        }
        now = max(now, time)
    }

    mutating func advance(by interval: Duration) { advance(to: now + interval) }

    /// The inner packets device `device` delivered whose source is 10.0.0.<host>.
    func deliveredPackets(at device: Int, fromHost host: UInt8) -> [[UInt8]] {
        delivered[device].filter { Array($0[12..<16]) == SimulatedNetwork.inner(host).bytes }
    }

    func initiations(from device: Int) -> [Datagram] { log.filter { $0.type == 1 && $0.from == endpoints[device] } }
}

extension SecretKey {
    /// 32 copies of `byte` (test keys).
    static func filled(_ byte: UInt8) -> SecretKey { try! SecretKey(bytes: [UInt8](repeating: byte, count: 32)) }  // 32 bytes
}
