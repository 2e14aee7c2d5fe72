// SessionSupervisor+Readoption: a culvertd started after a crash takes back the providers the
// previous one left running (contract 11). Each is found through its record and rendezvous socket
// under <runtime-dir>/sessions, proven to be the process that was spawned (pid + start time +
// executable, then SO_PEERCRED on the rendezvous connection), and asked to Reattach: it takes a
// new output pipe and hands back its TUN. Its network settings stay exactly as they are; culvertd
// only rebuilds what it needs to take them away later.

import CulvertCore
import CulvertSystem
import CulvertVarlink
import CulvertWire
import Dispatch
import FoundationEssentials

extension SessionSupervisor {
    /// Longest a provider may take to answer Reattach.
    static let reattachTimeout: Duration = .seconds(2)
    /// Largest Reattach reply accepted.
    static let reattachReplyLimit = 64 * 1024

    /// Why a record could not be re-adopted.
    struct ReadoptionRefusal: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// Takes back every provider a previous culvertd left, before leftovers are removed. Blocks
    /// the calling (manager) queue for at most `reattachTimeout` per provider.
    /// `carrying`: seccomp listeners a re-exec carried, by record id; each is taken over by its
    /// re-adopted run and closed either way.
    func readoptProviders(carrying listeners: [ReexecState.CarriedListener] = []) {
        dispatchPrecondition(condition: .onQueue(queue))
        let carried = Dictionary(listeners.map { ($0.recordID, $0) }, uniquingKeysWith: { first, _ in first })
        defer { for listener in listeners { Descriptor(rawValue: listener.descriptor).close() } }
        let (records, discarded) = SessionRecord.loadAll(runtimeDirectory: configuration.runtimeDirectory)
        for path in discarded {
            logger.warning("discarding unreadable session record \(path)")
            try? FileSystem.removeFile(path)  // try?: already gone is the goal
        }
        var kept: Set<String> = []
        defer {
            // A cgroup no re-adopted record names holds processes nobody manages: killed. Then
            // rendezvous directories no record names (their providers are gone with the cgroups).
            confinement.sweep(keeping: kept)
            removeUnclaimedRendezvous(keeping: kept)
        }
        for record in records {
            let clock = ContinuousClock()
            let started = clock.now
            do {
                guard let profile = targets.launchTarget(profileName: record.profile)?.profile,
                    profile.extensionIdentifier == record.extensionIdentifier
                else {
                    throw ReadoptionRefusal("profile \(record.profile) or its extension is gone")
                }
                try readopt(record, profile: profile, listener: carried[record.id])
                kept.insert(record.id)
                logger.notice(
                    "session \(record.profile): re-adopted provider pid \(record.pid) on \(record.interface) in \(clock.now - started)")
            } catch {
                logger.warning("session \(record.profile): provider pid \(record.pid) not re-adopted: \(error)")
                if SpawnedProcess.startTime(of: record.pid) == record.startTime, record.startTime != 0 {
                    // Ours, but unusable: it must not keep a tunnel nobody manages.
                    // try?: best effort; a process we cannot take hold of cannot be signalled either.
                    if let handle = try? SpawnedProcess.adopt(processID: record.pid, output: try Descriptor.pipe().read) {
                        _ = try? handle.kill()  // try?: it may have exited meanwhile
                        handle.close()
                    }
                }
                removeRecord(id: record.id)
            }
        }
    }

    /// Removes every entry of `sessions/` that is neither a kept record nor its directory.
    private func removeUnclaimedRendezvous(keeping kept: Set<String>) {
        // try?: no sessions directory, nothing to remove.
        let entries = (try? FileSystem.listDirectory(SessionRecord.directory(runtimeDirectory: configuration.runtimeDirectory))) ?? []
        for entry in entries where !entry.hasSuffix(".json") && !kept.contains(entry) {
            logger.info("removing rendezvous directory \(entry): no session record names it")
            removeRecord(id: entry)
        }
    }

    private func readopt(_ record: SessionRecord, profile: Profile, listener: ReexecState.CarriedListener?) throws {
        guard record.startTime != 0, SpawnedProcess.startTime(of: record.pid) == record.startTime else {
            throw ReadoptionRefusal("process \(record.pid) is gone (or the pid now names another process)")
        }
        guard let executable = SpawnedProcess.executablePath(of: record.pid), executable == record.executable else {
            throw ReadoptionRefusal("process \(record.pid) does not run \(record.executable)")
        }
        let confined = confinement.adopt(id: record.id, uid: record.uid)
        var confinedHandedOver = false
        defer { if !confinedHandedOver { confined.end() } }
        if let cgroup = confined.cgroup {
            let members: [Int32]
            do { members = try cgroup.processIDs() } catch { throw ReadoptionRefusal("reading its cgroup \(cgroup.name): \(error)") }
            guard members.contains(record.pid) else {
                throw ReadoptionRefusal("process \(record.pid) is not in its session's cgroup \(cgroup.name)")
            }
        }
        // Nothing under the provider-owned directory is followed; its socket must be the provider's.
        let connection = try SessionRecord.connectRendezvous(
            runtimeDirectory: configuration.runtimeDirectory, id: record.id, userID: record.uid)
        var handedOver = false
        defer { if !handedOver { connection.close() } }
        let peer = try UnixSocket.peerCredentials(connection)
        guard peer.pid == record.pid, peer.uid == record.uid else {
            throw ReadoptionRefusal("the rendezvous socket is held by pid \(peer.pid) uid \(peer.uid), not the provider")
        }
        let output = try Descriptor.pipe()
        var outputHandedOver = false
        defer { if !outputHandedOver { output.read.close() } }
        let call = VarlinkCallMessage(method: ProviderMethod.reattach.rawValue, parameters: [:]).encoded()
        _ = try connection.send(call, passing: [output.write])
        output.write.close()
        let (reply, descriptors) = try receiveReply(on: connection)
        guard reply.error == nil else { throw ReadoptionRefusal("Reattach failed: \(reply.error ?? "")") }
        guard descriptors.count == 1, let tunDescriptor = descriptors.first else {
            descriptors.forEach { $0.close() }
            throw ReadoptionRefusal("Reattach returned \(descriptors.count) descriptors, not the TUN")
        }
        // It must be a TUN attached to the recorded interface. Its framing is whatever culvertd created
        // it with (IFF_VNET_HDR cannot change on a live interface); upgrades check it before reuse.
        let attached: TunInterfaceFlags
        do { attached = try tunDescriptor.tunInterfaceFlags() } catch {
            tunDescriptor.close()
            throw ReadoptionRefusal("Reattach returned a descriptor that is not a TUN: \(error)")
        }
        guard attached.name == record.interface else {
            tunDescriptor.close()
            throw ReadoptionRefusal("Reattach returned the TUN of \(attached.name), not \(record.interface)")
        }
        let socket = try NetlinkRouteSocket()
        guard try socket.interfaceIndex(named: record.interface) == record.interfaceIndex else {
            tunDescriptor.close()
            throw ReadoptionRefusal("interface \(record.interface) is not index \(record.interfaceIndex) any more")
        }
        let process = try SpawnedProcess.adopt(processID: record.pid, output: output.read)
        outputHandedOver = true
        let channel = VarlinkPeer(
            descriptor: connection, interface: providerInterface, serves: ProviderLauncher.servedMethods,
            limits: ProviderChannelPolicy.peerLimits, queue: queue)
        handedOver = true
        let tun = TunDevice(descriptor: tunDescriptor, name: record.interface, interfaceIndex: record.interfaceIndex)
        let run = ProviderRun(tun: tun, channel: channel, process: process, log: ProcessLog())
        run.adopted = true
        run.record = record
        run.confinement = confined
        confinedHandedOver = true
        if let listener {
            let denials = SeccompDenials(count: listener.deniedCalls, recentNames: listener.deniedCallNames)
            do { try confined.watchRefusals(listener: Descriptor(rawValue: listener.descriptor), carrying: denials) } catch {
                logger.error("session \(record.profile): taking over its seccomp listener: \(error); refused calls go uncounted")
            }
        }
        // try? (both): our own record of settings that were accepted before; unparsable means none.
        if let text = record.settings, let settings = try? JSONParser.parse(Array(text.utf8), maximumDepth: 64) {
            let plan = try? TunnelSettingsPlan(
                settings: settings, interfaceIndex: record.interfaceIndex, fullTunnelAvailable: true,
                killSwitchTable: killSwitches.table(for: record.profile))
            run.plan = plan
            run.applied = plan.map { AppliedNetworkTransaction(adopting: $0.steps) }
        }
        // try?: an unreadable DNS record means there is no DNS to take over.
        let adoptedDNS = (try? DNSConfigurator.pendingRevert(stateDirectory: dns.stateDirectory)).flatMap {
            $0.session == record.sessionID ? $0 : nil
        }
        let session =
            sessions[record.profile]
            ?? TunnelSession(profile: profile, extensionVersion: record.extensionVersion, timing: configuration.timing)
        sessions[record.profile] = session
        session.run = run
        session.info.id = record.sessionID
        session.info.pid = Int64(record.pid)
        session.info.uid = Int64(record.uid)
        session.info.containment = confined.status
        session.info.interface = record.interface
        session.info.extensionVersion = record.extensionVersion
        session.info.requestedAt = record.requestedAt
        session.info.connectedAt = record.connectedAt
        session.info.connectedBy = record.connectedBy
        session.info.mtu = run.plan?.mtu.map(Int64.init)
        session.info.tunnelRemoteAddress = run.plan?.tunnelRemoteAddress
        session.info.addresses = run.plan?.addresses.map(\.description) ?? []
        if let adoptedDNS { dns.adopt(adoptedDNS, session: record.sessionID) }
        showDNS(adoptedDNS, session)
        session.info.routes = run.plan?.routeDescriptions ?? []
        session.info.fullTunnel = run.plan?.fullTunnel ?? false
        adoptRun(run, session: session)
    }

    /// Reads one reply frame (bounded in size and time) with the descriptors sent along.
    private func receiveReply(on connection: Descriptor) throws -> (VarlinkReplyMessage, [Descriptor]) {
        var bytes: [UInt8] = []
        var descriptors: [Descriptor] = []
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: Self.reattachTimeout)
        while !bytes.contains(0) {
            let remaining = clock.now.duration(to: deadline)
            let milliseconds = Int32(
                clamping: remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000)
            guard milliseconds > 0, try connection.waitReadable(timeoutMilliseconds: milliseconds) else {
                descriptors.forEach { $0.close() }
                throw ReadoptionRefusal("no answer to Reattach within \(Self.reattachTimeout)")
            }
            let received = try connection.receive(maximumBytes: 65536, maximumDescriptors: 4)
            descriptors += received.descriptors
            guard !received.bytes.isEmpty, bytes.count + received.bytes.count <= Self.reattachReplyLimit else {
                descriptors.forEach { $0.close() }
                throw ReadoptionRefusal(
                    received.bytes.isEmpty ? "the provider closed the rendezvous connection" : "Reattach reply too large")
            }
            bytes += received.bytes
        }
        guard let end = bytes.firstIndex(of: 0), end == bytes.count - 1 else {
            descriptors.forEach { $0.close() }
            throw ReadoptionRefusal("unexpected bytes after the Reattach reply")
        }
        do {
            return (try VarlinkReplyMessage.decode(bytes[..<end], maximumDepth: 64), descriptors)
        } catch {
            descriptors.forEach { $0.close() }
            throw ReadoptionRefusal("Reattach reply is not varlink: \(error)")
        }
    }
}
