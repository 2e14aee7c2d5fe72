// ManagerService+Limits: the control socket's budgets by identity (contract 15) — each connection
// classed by AccessPolicy when it is accepted, and GetStatus's report of the limits and their use.

import CulvertCore
import CulvertSystem
import CulvertVarlink

extension ManagerService {
    /// How the server classes a connection: by the same policy that authorises each call, so
    /// a caller's budget and its rights never disagree.
    static func connectionClass(policy: AccessPolicy) -> @Sendable (PeerCredentials) -> VarlinkConnectionClass {
        { peer in
            switch policy.level(of: Caller(uid: peer.uid, gid: peer.gid, groups: peer.groups)) {
            case .admin: return .admin
            case .reader: return .reader
            case .none: return .other
            }
        }
    }

    /// The limits in force and their use now, or nil before the service is attached to a server.
    var connectionLimits: ConnectionLimits? {
        guard let usage = server?.usage else { return nil }
        let limits = usage.limits
        func use(_ connectionClass: VarlinkConnectionClass) -> ConnectionClassUse {
            let budget = limits.budget(for: connectionClass)
            let current = usage.byClass[connectionClass] ?? VarlinkClassUsage()
            return ConnectionClassUse(
                maximumMessageSize: Int64(budget.maximumMessageSize), maximumQueuedOutput: Int64(budget.maximumQueuedOutput),
                idleDeadlineSeconds: budget.idleDeadline.map(Self.seconds), connections: Int64(current.connections),
                bufferedBytes: Int64(max(0, current.heldBytes)))
        }
        return ConnectionLimits(
            maximumConnections: Int64(limits.maximumConnections), maximumConnectionsPerUser: Int64(limits.maximumConnectionsPerUser),
            reservedForAdmin: Int64(limits.reservedAdminConnections), reservedForReaders: Int64(limits.reservedReaderConnections),
            perUserMemoryBudget: Int64(limits.perUserMemoryBudget), otherMemoryBudget: Int64(limits.otherMemoryBudget),
            partialMessageDeadlineSeconds: Self.seconds(limits.partialMessageDeadline), admin: use(.admin), reader: use(.reader),
            other: use(.other))
    }

    /// GetStatus's reply: the cached status encoding (`{"status":…}`) with the (uncached,
    /// always current) limits added as a second member.
    func appendingLimits(to encodedStatus: [UInt8]) -> [UInt8] {
        var reply = encodedStatus
        guard let limits = connectionLimits, reply.last == UInt8(ascii: "}") else { return reply }
        reply.removeLast()
        reply += Array(#","limits":"#.utf8)
        reply += WireEncoding.encode(limits)
        reply.append(UInt8(ascii: "}"))
        return reply
    }

    private static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
