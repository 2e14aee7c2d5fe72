// ProviderLauncher: the one way a provider process comes to exist (contract 8). Connect, an
// alwaysOn restart and both kinds of live upgrade all call `launch`: it reads the verified store
// copy's manifest, creates (or duplicates) the TUN, makes the channel socketpair and the
// rendezvous directory a crashed culvertd's successor will find, spawns the provider unprivileged
// and confined (an identity and a cgroup of its own, the seccomp filter: ProviderConfinement)
// and returns a `ProviderRun` holding all of it. Nothing is watched yet: the caller decides which
// role the run plays before its exit and output sources start. The TUN's framing (bare packets, or
// a virtio_net_hdr before each: bundle capability `tun-offload`) is the one the manifest of the
// store copy declares; a TUN of another framing is never handed to the provider.

import CulvertBundle
import CulvertCore
import CulvertSystem
import CulvertVarlink
import CulvertWire
import Dispatch
import Logging

/// What a provider run is started for: the profile, its enabled extension and the profile's secrets.
/// Resolved once, by whoever asks for the run (Connect carries it; a restart looks it up afresh).
struct LaunchTarget: Sendable {
    var profile: Profile
    var extensionInfo: ExtensionInfo
    var secrets: [String: String]
}

/// Why a provider could not be started; nothing it had made is left behind.
struct LaunchFailure: Error, CustomStringConvertible {
    enum Step: Sendable { case manifest, credentials, tun, channel, spawn }
    var step: Step
    var description: String
}

struct ProviderLauncher: Sendable {
    /// Environment every provider gets. Swift's crash backtracer would otherwise fill the kept
    /// output with registers and frames of every thread, pushing out the provider's own last lines.
    static let providerEnvironment = ["SWIFT_BACKTRACE": "enable=no"]
    /// Methods culvertd serves on a provider channel.
    static let servedMethods = Set(
        [ProviderMethod.setTunnelNetworkSettings, .protect, .setReasserting, .cancelTunnel].map(\.member))

    /// Where the TUN of a new run comes from.
    enum TunSource {
        /// A new interface named by the configured pattern (Connect, restarts).
        case create
        /// A duplicate descriptor of the session's interface (live upgrades: same link, same settings),
        /// or of the interface an upgrade made for a version of another framing. Its framing must be
        /// the manifest's.
        case duplicate(TunDevice)
    }

    /// The framing an extension's TUN has: what its manifest's capabilities declare.
    static func framing(of capabilities: [BundleCapability]) -> TunFraming {
        capabilities.contains(.tunOffload) ? .virtioNetHeader : .plain
    }

    /// The same from an installed extension's listing (the capabilities of its verified manifest).
    static func framing(of info: ExtensionInfo) -> TunFraming {
        info.capabilities.contains(BundleCapability.tunOffload.rawValue) ? .virtioNetHeader : .plain
    }

    /// A new TUN interface with `framing`, named `preferred` if no interface has that name (never
    /// attaching to one that does: `IFF_TUN_EXCL`), else by the configured pattern.
    func createTun(framing: TunFraming, preferring preferred: String?) throws(SystemError) -> TunDevice {
        if let preferred {
            do { return try TunDevice.create(name: preferred, framing: framing, exclusive: true) } catch {
                logger.notice("a new TUN cannot be named \(preferred) (\(error)); the kernel picks the name")
            }
        }
        return try TunDevice.create(name: configuration.interfaceNamePattern, framing: framing)
    }

    let configuration: SupervisorConfiguration
    /// Identities, cgroups and the system call filter.
    let confinement: ProviderConfinement
    let providerInterface: VarlinkInterface
    let queue: DispatchQueue
    let logger: Logger

    /// Starts `target`'s provider for session `sessionID`. A run started for Connect or a restart
    /// has the session's id as its rendezvous id; an upgrade's successor (`.duplicate` TUN) gets its
    /// own, and `base` (the session's current record) supplies what the session keeps.
    func launch(
        _ target: LaunchTarget, tun source: TunSource, sessionID: String, requestedAt: String, connectedBy: Actor?,
        base: SessionRecord? = nil
    ) throws(LaunchFailure) -> ProviderRun {
        let successor: Bool
        if case .duplicate = source { successor = true } else { successor = false }
        let info = target.extensionInfo
        let executable: String
        let manifestNeeds: (tasks: Int?, memoryBytes: Int?)
        let framing: TunFraming
        do {
            let manifest = try BundleManifest.parse(try FileSystem.readFile(info.storePath + "/manifest.json"))
            executable = info.storePath + "/" + manifest.executable
            manifestNeeds = (manifest.taskLimit, manifest.memoryLimit)
            framing = Self.framing(of: manifest.capabilities)
        } catch {
            throw LaunchFailure(step: .manifest, description: "reading the installed manifest of \(info.identifier): \(error)")
        }
        // Two runs of one session live side by side during an upgrade: each needs its own
        // rendezvous, identity and cgroup, all named by the run's record id.
        let recordID = successor ? WallClock.randomIdentifier() : sessionID
        let confined = try confinement.prepare(id: recordID, tasks: manifestNeeds.tasks, memoryBytes: manifestNeeds.memoryBytes)
        var handedOver = false
        defer { if !handedOver { confined.end() } }
        let credentials = confined.credentials ?? ProviderCredentials(userID: 0, groupID: 0)  // always set by prepare
        let (containment, placement) = try confined.spawnContainment()
        defer { placement?.close() }
        let tun = try tunDevice(source, framing: framing)
        let ours: Descriptor
        let theirs: Descriptor
        do { (ours, theirs) = try DescriptorPassing.socketPair() } catch {
            tun.descriptor.close()
            throw LaunchFailure(step: .channel, description: "creating the provider channel: \(error)")
        }
        let environment = rendezvousEnvironment(id: recordID, credentials: credentials, profile: target.profile.name)
        let process: SpawnedProcess
        do {
            let spawn = ProviderSpawn(
                executablePath: executable, credentials: credentials, extraEnvironment: environment, containment: containment)
            process = try spawn.spawn(tun: tun.descriptor, channel: theirs)
        } catch {
            SessionRecord.remove(runtimeDirectory: configuration.runtimeDirectory, id: recordID)
            theirs.close()
            ours.close()
            tun.descriptor.close()
            throw LaunchFailure(step: .spawn, description: error.description)
        }
        theirs.close()
        if let listener = process.seccompListener {
            do { try confined.watchRefusals(listener: listener) } catch {
                // The filter still refuses (ENOSYS without a listener); only the counting is lost.
                logger.error("session \(target.profile.name): watching refused system calls: \(error)")
            }
        }
        let channel = VarlinkPeer(
            descriptor: ours, interface: providerInterface, serves: Self.servedMethods, limits: ProviderChannelPolicy.peerLimits,
            queue: queue)
        let run = ProviderRun(tun: tun, channel: channel, process: process, log: ProcessLog())
        run.confinement = confined
        handedOver = true
        var record =
            base
            ?? SessionRecord(
                profile: target.profile.name, id: recordID, extensionIdentifier: info.identifier, extensionVersion: info.version,
                pid: 0, startTime: 0, uid: 0, executable: "", interface: tun.name, interfaceIndex: tun.interfaceIndex,
                requestedAt: requestedAt, connectedBy: connectedBy)
        record.id = recordID
        if record.interfaceIndex != tun.interfaceIndex { record.settings = nil }  // a new TUN carries none yet
        record.interface = tun.name
        record.interfaceIndex = tun.interfaceIndex
        record.session = recordID == sessionID ? nil : sessionID
        record.extensionVersion = info.version
        record.pid = process.processID
        record.startTime = SpawnedProcess.startTime(of: process.processID) ?? 0
        record.uid = credentials.userID
        record.executable = executable
        run.record = record
        logger.info(
            "session \(target.profile.name): \(info.identifier) \(info.versionDescription) pid \(process.processID) uid \(credentials.userID) on \(tun.name)"
        )
        return run
    }

    /// The run's TUN: created with `framing`, or a duplicate of an existing interface (`duplicate`).
    private func tunDevice(_ source: TunSource, framing: TunFraming) throws(LaunchFailure) -> TunDevice {
        switch source {
        case .create:
            do { return try TunDevice.create(name: configuration.interfaceNamePattern, framing: framing) } catch {
                throw LaunchFailure(step: .tun, description: "creating the TUN interface: \(error)")
            }
        case .duplicate(let shared):
            return try Self.duplicate(shared, framing: framing)
        }
    }

    /// A duplicate of `shared` for a provider whose manifest declares `framing`, if the kernel reports
    /// the interface to have that framing (else nothing is handed over: `LaunchFailure.tun`), with the
    /// header length set again: it is the interface's, and the previous holder may have changed it.
    static func duplicate(_ shared: TunDevice, framing: TunFraming) throws(LaunchFailure) -> TunDevice {
        let tun: TunDevice
        do {
            tun = TunDevice(descriptor: try shared.descriptor.duplicate(), name: shared.name, interfaceIndex: shared.interfaceIndex)
        } catch {
            throw LaunchFailure(step: .tun, description: "duplicating the TUN descriptor: \(error)")
        }
        let actual: TunFraming
        do { actual = try tun.framing() } catch {
            tun.descriptor.close()
            throw LaunchFailure(step: .tun, description: "reading the framing of \(shared.name): \(error)")
        }
        guard actual == framing else {
            tun.descriptor.close()
            throw LaunchFailure(
                step: .tun, description: "\(shared.name) carries \(actual.rawValue) packets but the extension declares \(framing.rawValue)")
        }
        guard framing == .virtioNetHeader else { return tun }
        do { try tun.descriptor.setVirtioHeaderSize(VirtioNetHeader.size) } catch {
            tun.descriptor.close()
            throw LaunchFailure(step: .tun, description: "setting the virtio_net_hdr length of \(shared.name): \(error)")
        }
        return tun
    }

    /// The rendezvous directory (owned by the provider's user, 0700) and the environment naming it.
    private func rendezvousEnvironment(id: String, credentials: ProviderCredentials, profile: String) -> [String: String] {
        var environment = Self.providerEnvironment
        let runtime = configuration.runtimeDirectory
        do {
            try SessionRecord.createRendezvousDirectory(
                runtimeDirectory: runtime, id: id, userID: credentials.userID, groupID: credentials.groupID)
            environment["CULVERT_RENDEZVOUS"] = SessionRecord.rendezvousPath(runtimeDirectory: runtime, id: id)
            environment["CULVERT_ORPHAN_TIMEOUT"] = "\(configuration.orphanTimeout.components.seconds)"
        } catch {
            // Without a rendezvous the tunnel still works; it just cannot survive a culvertd crash.
            logger.warning("session \(profile): no rendezvous directory (\(error)); it will not survive a culvertd crash")
        }
        return environment
    }
}
