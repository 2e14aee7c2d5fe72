// ManagerError: the named errors of io.culvert.Manager with their typed parameters — encoded by
// culvertd, decoded by CulvertClient. An error this build does not know (a newer daemon) decodes
// to `.other` with its name and parameters, so adding one never breaks an older client.

import CulvertVarlink

/// An `io.culvert.Manager` error reply. Parameter meanings are documented in
/// `io.culvert.Manager.varlink`; `Int64` is the interface's `int`.
public enum ManagerError: Error, Sendable, Equatable, CustomStringConvertible {
    case permissionDenied(action: String, uid: Int64)
    case profileNotFound(name: String)
    case invalidProfile(field: String, reason: String)
    case storageFailed(path: String, errno: Int64, description: String)
    case subscriberTooSlow(queuedBytes: Int64, limit: Int64)
    case extensionNotFound(identifier: String)
    case downgradeRefused(identifier: String, installed: String, offered: String)
    case daemonTooOld(identifier: String, required: String, running: String)
    case publisherMismatch(identifier: String, installed: String, offered: String)
    case publisherNotAllowed(identifier: String, publisher: String)
    case bundleRejected(reason: String, path: String?, description: String)
    case invalidPath(path: String, reason: String)
    case policyInvalid(path: String, description: String)
    case extensionNotUsable(identifier: String, state: String)
    case connectFailed(reason: String, description: String, log: [String])
    case sessionNotFound(profile: String)
    case providerUnavailable(profile: String, state: String)
    case providerMessageFailed(profile: String, reason: String, description: String)
    case extensionInUse(identifier: String, profiles: [String])
    case upgradeFailed(
        identifier: String, installed: String, offered: String, profile: String?, reason: String, description: String, log: [String])
    case fullTunnelInUse(profile: String)
    case reexecFailed(reason: String, description: String)
    case invalidUpgradePolicy(policy: String)
    case noUpgradeStaged(identifier: String)
    case upgradeInProgress(identifier: String)
    /// Any other error reply — one this build does not know, or a known name whose parameters do
    /// not have the declared shape — exactly as received.
    case other(name: String, parameters: JSONValue)

    /// The fully qualified error name.
    public var name: String { knownName?.rawValue ?? otherName }

    /// The error as sent on the wire.
    public var varlinkError: VarlinkError { VarlinkError(name, parameters) }

    public var description: String { varlinkError.description }

    private var otherName: String {
        if case .other(let name, _) = self { return name }
        return ""
    }

    /// The declared name; nil for `.other`.
    public var knownName: ManagerErrorName? {
        switch self {
        case .permissionDenied: return .permissionDenied
        case .profileNotFound: return .profileNotFound
        case .invalidProfile: return .invalidProfile
        case .storageFailed: return .storageFailed
        case .subscriberTooSlow: return .subscriberTooSlow
        case .extensionNotFound: return .extensionNotFound
        case .downgradeRefused: return .downgradeRefused
        case .daemonTooOld: return .daemonTooOld
        case .publisherMismatch: return .publisherMismatch
        case .publisherNotAllowed: return .publisherNotAllowed
        case .bundleRejected: return .bundleRejected
        case .invalidPath: return .invalidPath
        case .policyInvalid: return .policyInvalid
        case .extensionNotUsable: return .extensionNotUsable
        case .connectFailed: return .connectFailed
        case .sessionNotFound: return .sessionNotFound
        case .providerUnavailable: return .providerUnavailable
        case .providerMessageFailed: return .providerMessageFailed
        case .extensionInUse: return .extensionInUse
        case .upgradeFailed: return .upgradeFailed
        case .fullTunnelInUse: return .fullTunnelInUse
        case .reexecFailed: return .reexecFailed
        case .invalidUpgradePolicy: return .invalidUpgradePolicy
        case .noUpgradeStaged: return .noUpgradeStaged
        case .upgradeInProgress: return .upgradeInProgress
        case .other: return nil
        }
    }

    /// The error's parameters as sent on the wire (an optional that is nil is left out).
    public var parameters: JSONValue {
        switch self {
        case .permissionDenied(let action, let uid): return ["action": .string(action), "uid": .int(uid)]
        case .profileNotFound(let name): return ["name": .string(name)]
        case .invalidProfile(let field, let reason): return ["field": .string(field), "reason": .string(reason)]
        case .storageFailed(let path, let errno, let description):
            return ["path": .string(path), "errno": .int(errno), "description": .string(description)]
        case .subscriberTooSlow(let queuedBytes, let limit): return ["queuedBytes": .int(queuedBytes), "limit": .int(limit)]
        case .extensionNotFound(let identifier), .noUpgradeStaged(let identifier), .upgradeInProgress(let identifier):
            return ["identifier": .string(identifier)]
        case .invalidUpgradePolicy(let policy): return ["policy": .string(policy)]
        case .downgradeRefused(let identifier, let installed, let offered),
            .publisherMismatch(let identifier, let installed, let offered):
            return ["identifier": .string(identifier), "installed": .string(installed), "offered": .string(offered)]
        case .daemonTooOld(let identifier, let required, let running):
            return ["identifier": .string(identifier), "required": .string(required), "running": .string(running)]
        case .publisherNotAllowed(let identifier, let publisher):
            return ["identifier": .string(identifier), "publisher": .string(publisher)]
        case .bundleRejected(let reason, let path, let description):
            return .members(["reason": .string(reason), "path": path.map { .string($0) }, "description": .string(description)])
        case .invalidPath(let path, let reason): return ["path": .string(path), "reason": .string(reason)]
        case .policyInvalid(let path, let description): return ["path": .string(path), "description": .string(description)]
        case .extensionNotUsable(let identifier, let state): return ["identifier": .string(identifier), "state": .string(state)]
        case .connectFailed(let reason, let description, let log):
            return ["reason": .string(reason), "description": .string(description), "log": .strings(log)]
        case .sessionNotFound(let profile), .fullTunnelInUse(let profile): return ["profile": .string(profile)]
        case .providerUnavailable(let profile, let state): return ["profile": .string(profile), "state": .string(state)]
        case .providerMessageFailed(let profile, let reason, let description):
            return ["profile": .string(profile), "reason": .string(reason), "description": .string(description)]
        case .extensionInUse(let identifier, let profiles): return ["identifier": .string(identifier), "profiles": .strings(profiles)]
        case .upgradeFailed(let identifier, let installed, let offered, let profile, let reason, let description, let log):
            return .members([
                "identifier": .string(identifier), "installed": .string(installed), "offered": .string(offered),
                "profile": profile.map { .string($0) }, "reason": .string(reason), "description": .string(description),
                "log": .strings(log),
            ])
        case .reexecFailed(let reason, let description): return ["reason": .string(reason), "description": .string(description)]
        case .other(_, let parameters): return parameters
        }
    }
}

extension ManagerError {
    /// Decodes an error reply. Anything that is not a well-formed `io.culvert.Manager` error is `.other`.
    public init(_ reply: VarlinkError) {
        guard let known = ManagerErrorName(rawValue: reply.name) else {
            self = .other(name: reply.name, parameters: reply.parameters)
            return
        }
        do {
            self = try Self.decode(known, WireErrorFields(parameters: reply.parameters))
        } catch {
            self = .other(name: known.rawValue, parameters: reply.parameters)
        }
    }

    private static func decode(_ name: ManagerErrorName, _ p: WireErrorFields) throws(WireErrorFields.Missing) -> ManagerError {
        switch name {
        case .permissionDenied: return .permissionDenied(action: try p.string("action"), uid: try p.int("uid"))
        case .profileNotFound: return .profileNotFound(name: try p.string("name"))
        case .invalidProfile: return .invalidProfile(field: try p.string("field"), reason: try p.string("reason"))
        case .storageFailed:
            return .storageFailed(path: try p.string("path"), errno: try p.int("errno"), description: try p.string("description"))
        case .subscriberTooSlow: return .subscriberTooSlow(queuedBytes: try p.int("queuedBytes"), limit: try p.int("limit"))
        case .extensionNotFound: return .extensionNotFound(identifier: try p.string("identifier"))
        case .downgradeRefused:
            return .downgradeRefused(
                identifier: try p.string("identifier"), installed: try p.string("installed"), offered: try p.string("offered"))
        case .daemonTooOld:
            return .daemonTooOld(
                identifier: try p.string("identifier"), required: try p.string("required"), running: try p.string("running"))
        case .publisherMismatch:
            return .publisherMismatch(
                identifier: try p.string("identifier"), installed: try p.string("installed"), offered: try p.string("offered"))
        case .publisherNotAllowed:
            return .publisherNotAllowed(identifier: try p.string("identifier"), publisher: try p.string("publisher"))
        case .bundleRejected:
            return .bundleRejected(
                reason: try p.string("reason"), path: try p.optionalString("path"), description: try p.string("description"))
        case .invalidPath: return .invalidPath(path: try p.string("path"), reason: try p.string("reason"))
        case .policyInvalid: return .policyInvalid(path: try p.string("path"), description: try p.string("description"))
        case .extensionNotUsable: return .extensionNotUsable(identifier: try p.string("identifier"), state: try p.string("state"))
        case .connectFailed:
            return .connectFailed(reason: try p.string("reason"), description: try p.string("description"), log: try p.strings("log"))
        case .sessionNotFound: return .sessionNotFound(profile: try p.string("profile"))
        case .providerUnavailable: return .providerUnavailable(profile: try p.string("profile"), state: try p.string("state"))
        case .providerMessageFailed:
            return .providerMessageFailed(
                profile: try p.string("profile"), reason: try p.string("reason"), description: try p.string("description"))
        case .extensionInUse: return .extensionInUse(identifier: try p.string("identifier"), profiles: try p.strings("profiles"))
        case .upgradeFailed:
            return .upgradeFailed(
                identifier: try p.string("identifier"), installed: try p.string("installed"), offered: try p.string("offered"),
                profile: try p.optionalString("profile"), reason: try p.string("reason"), description: try p.string("description"),
                log: try p.strings("log"))
        case .fullTunnelInUse: return .fullTunnelInUse(profile: try p.string("profile"))
        case .reexecFailed: return .reexecFailed(reason: try p.string("reason"), description: try p.string("description"))
        case .invalidUpgradePolicy: return .invalidUpgradePolicy(policy: try p.string("policy"))
        case .noUpgradeStaged: return .noUpgradeStaged(identifier: try p.string("identifier"))
        case .upgradeInProgress: return .upgradeInProgress(identifier: try p.string("identifier"))
        }
    }
}
