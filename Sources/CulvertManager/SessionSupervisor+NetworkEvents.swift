// SessionSupervisor+NetworkEvents: changes someone else makes to a session's TUN (link down or
// deleted, MTU, addresses), seen through NetworkEventMonitor and reported as session_network_changed.

import CulvertCore
import CulvertSystem
import CulvertVarlink
import Dispatch
import Logging

extension SessionSupervisor {

    /// Starts watching link and address events (once); failures only cost the reports.
    func startMonitor() {
        guard monitor == nil else { return }
        do {
            let created = try NetworkEventMonitor()
            let source = DispatchSource.makeReadSource(fileDescriptor: created.descriptor.rawValue, queue: queue)
            source.setEventHandler { [weak self] in self?.readNetworkEvents() }
            monitor = created
            monitorSource = source
            source.resume()
        } catch {
            logger.warning("cannot watch link and address events: \(error)")
        }
    }

    /// Consumes the notifications of changes culvertd just made to `interfaceIndex`. The kernel
    /// queues a change's notification before it acknowledges the change, so right after our own
    /// netlink calls return, their events are already waiting; anything about other links is
    /// handled as usual.
    func absorbOwnChanges(on interfaceIndex: Int32) {
        readNetworkEvents(ignoring: interfaceIndex)
    }

    func readNetworkEvents(ignoring ownIndex: Int32? = nil) {
        guard let monitor else { return }
        let events: [NetworkEvent]
        do { events = try monitor.readEvents() } catch {
            logger.warning("reading link and address events: \(error)")
            return
        }
        for event in events {
            switch event {
            case .link(let link) where link.interfaceIndex == ownIndex: continue
            case .address(let address) where address.interfaceIndex == ownIndex: continue
            default: noticeNetworkEvent(event)
            }
        }
    }

    /// Reports a change to a session's interface that culvertd did not make. culvertd's own changes
    /// happen on this queue before their events arrive, so they match the applied plan and are quiet.
    func noticeNetworkEvent(_ event: NetworkEvent) {
        let index: Int32
        switch event {
        case .link(let link): index = link.interfaceIndex
        case .address(let address): index = address.interfaceIndex
        case .overrun:
            logger.notice("link and address events were lost (overrun); changes made meanwhile go unreported")
            return
        }
        guard let session = sessions.values.first(where: { $0.run?.tun.interfaceIndex == index }), let run = session.run,
            let plan = run.plan, run.applied != nil
        else { return }
        var finding: (reason: String, text: String)?
        switch event {
        case .link(let link) where link.kind == .deleted:
            finding = ("link_deleted", "\(run.tun.name) was deleted")
        case .link(let link) where !link.isUp:
            finding = ("link_down", "\(run.tun.name) was set down")
        case .link(let link):
            if let mtu = plan.mtu, let now = link.mtu, now != mtu { finding = ("mtu_changed", "\(run.tun.name) MTU is \(now), not \(mtu)") }
        case .address(let change) where change.kind == .removed && plan.addresses.contains(change.address):
            finding = ("address_removed", "\(change.address) was removed from \(run.tun.name)")
        case .address(let change) where change.kind == .added && !plan.addresses.contains(change.address) && !change.address.isLinkLocal:
            finding = ("address_added", "\(change.address) was added to \(run.tun.name)")
        default:
            break
        }
        guard let finding else { return }
        logger.warning("session \(session.profileName): \(finding.text) by someone other than culvertd")
        events.publish(EventBody(kind: .sessionNetworkChanged, reason: finding.reason, error: finding.text, session: session.info))
    }
}
