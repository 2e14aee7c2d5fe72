// SessionDNS: tunnel DNS applied and reverted off the manager queue. With systemd-resolved every
// change is a resolvectl run that may take up to `DNSConfigurator.resolvectlTimeout` (10 s), and
// the file backend fsyncs: neither may stall every client's calls. Each operation runs on one
// serial queue, in the order it was asked for, and its completion is posted back to the manager
// queue. What is applied is kept here, by session id, so a revert asked for while an apply is
// still running undoes that apply (it runs after it on the same queue) instead of missing it.

import CulvertSystem
import Dispatch

final class SessionDNS: @unchecked Sendable {  // `applied` is confined to `queue`; completions run on `managerQueue`
    let configurator: DNSConfigurator
    let managerQueue: DispatchQueue
    private let queue = DispatchQueue(label: "culvertd.dns")
    /// What each session has applied (confined to `queue`).
    private var applied: [String: AppliedDNS] = [:]
    /// Operations asked for and not yet completed (confined to `managerQueue`): a re-exec waits for none.
    private(set) var inFlight = 0

    init(configurator: DNSConfigurator, managerQueue: DispatchQueue) {
        self.configurator = configurator
        self.managerQueue = managerQueue
    }

    var stateDirectory: String { configurator.stateDirectory }

    /// Replaces `session`'s DNS with `settings` (nil: none). `completion` gets what is now applied.
    func replace(
        session: String, with settings: TunnelDNSSettings?, interfaceName: String, fullTunnel: Bool,
        completion: @escaping (Result<AppliedDNS?, DNSError>, DNSRevertOutcome?) -> Void
    ) {
        perform(completion) { [self] () -> (Result<AppliedDNS?, DNSError>, DNSRevertOutcome?) in
            var outcome: DNSRevertOutcome?
            if let previous = applied.removeValue(forKey: session) {
                do throws(DNSError) { outcome = try configurator.revert(previous) } catch { return (.failure(error), nil) }
            }
            guard let settings else { return (.success(nil), outcome) }
            do throws(DNSError) {
                let now = try configurator.apply(settings, interfaceName: interfaceName, session: session, fullTunnel: fullTunnel)
                applied[session] = now
                return (.success(now), outcome)
            } catch {
                return (.failure(error), outcome)
            }
        }
    }

    /// Takes `session`'s DNS away (nothing if it has none). `completion` says what happened.
    func revert(session: String, completion: @escaping (Result<DNSRevertOutcome?, DNSError>) -> Void) {
        perform(completion) { [self] () -> Result<DNSRevertOutcome?, DNSError> in
            guard let previous = applied.removeValue(forKey: session) else { return .success(nil) }
            do throws(DNSError) { return .success(try configurator.revert(previous)) } catch { return .failure(error) }
        }
    }

    /// A re-adopted session's DNS (from the backup record a crashed culvertd left). At start only.
    func adopt(_ dns: AppliedDNS, session: String) { queue.sync { applied[session] = dns } }

    /// Whether any session has DNS applied (start-up: decides whether leftovers can be reverted).
    var hasAnyApplied: Bool { queue.sync { !applied.isEmpty } }

    /// Waits (off the manager queue) until every operation asked for so far has finished.
    func drain() { queue.sync {} }

    private func perform<Outcome: Sendable>(_ completion: @escaping (Outcome) -> Void, _ work: @escaping @Sendable () -> Outcome) {
        dispatchPrecondition(condition: .onQueue(managerQueue))
        inFlight += 1
        let confined = ManagerQueueConfined(completion)
        queue.async { [self] in
            let outcome = work()
            managerQueue.async { [self] in
                inFlight -= 1
                confined.value(outcome)
            }
        }
    }
}

/// A value made on the manager queue that travels through another queue and is used only back
/// on the manager queue (e.g. a completion capturing queue-confined sessions).
struct ManagerQueueConfined<Value>: @unchecked Sendable {  // only touched on the manager queue, where it was made
    let value: Value
    init(_ value: Value) { self.value = value }
}
