// ManagerService+Sessions: Connect, Disconnect, SendProviderMessage and GetSessionLog, handed to
// the SessionSupervisor after the checks that need the profile store and the extension catalog.

import CulvertCore
import CulvertSystem
import CulvertVarlink
import CulvertWire
import Foundation

extension ManagerService {
    /// Wires the supervisor to the event stream and the stores. Called once from init.
    func attachSupervisor() {
        supervisor.publish = { [unowned self] body in publish(body) }
        supervisor.currentSeq = { [unowned self] in events.lastSeq }
        supervisor.hasWatchers = { [unowned self] in subscribers.count > 0 }
        supervisor.statusChanged = { [unowned self] in invalidateStatus() }
        supervisor.profileExists = { [unowned self] name in store.profiles[name] != nil }
        supervisor.resolveLaunch = { [unowned self] name in
            guard let stored = store.profiles[name],
                let info = catalog.registry.extensions[stored.profile.extensionIdentifier], info.state == .enabled
            else { return nil }
            return (stored.profile, info, stored.secrets)
        }
    }

    /// alwaysOn profiles come up when the daemon starts.
    func startAlwaysOnSessions() {
        let profiles = store.sortedProfiles.compactMap { profile -> (Profile, ExtensionInfo)? in
            guard profile.alwaysOn, let info = catalog.registry.extensions[profile.extensionIdentifier], info.state == .enabled
            else { return nil }
            return (profile, info)
        }
        supervisor.startAlwaysOn(profiles)
    }

    func handleSessionCall(_ call: VarlinkCall, replier: VarlinkReplier) {
        let name = call.parameters["profile"]?.stringValue ?? ""
        switch call.message.member {
        case "Connect":
            guard let stored = store.profiles[name] else {
                replier.fail(ManagerError.profileNotFound(name: name))
                return
            }
            let identifier = stored.profile.extensionIdentifier
            guard let info = catalog.registry.extensions[identifier] else {
                replier.fail(ManagerError.extensionNotFound(identifier: identifier))
                return
            }
            guard info.state == .enabled else {
                replier.fail(ManagerError.extensionNotUsable(identifier: identifier, state: info.state.rawValue))
                return
            }
            supervisor.connect(
                profile: stored.profile, extensionInfo: info, actor: actor(call), wait: call.parameters["wait"]?.boolValue ?? true,
                replier: replier)
        case "Disconnect":
            let wait = call.parameters["wait"]?.boolValue ?? true
            if !supervisor.disconnect(profileName: name, reason: .userRequest, wait: wait, replier: replier) {
                replier.fail(ManagerError.sessionNotFound(profile: name))
            }
        case "SendProviderMessage":
            let data = call.parameters["data"]?.stringValue ?? ""
            guard Data(base64Encoded: data) != nil else {
                replier.fail(.invalidParameter("data"))
                return
            }
            supervisor.sendMessage(profileName: name, data: data, replier: replier)
        case "GetSessionLog":
            guard let lines = supervisor.sessionLog(profileName: name) else {
                replier.fail(ManagerError.sessionNotFound(profile: name))
                return
            }
            let limit = call.parameters["limit"]?.intValue.map { Int(clamping: max(0, $0)) } ?? lines.count
            let shown = Array(lines.suffix(limit))
            replier.reply(
                encodedParameters: WireEncoding.encode(WireEncoding.SessionLogReply(lines: shown, truncated: shown.count < lines.count)))
        default:
            replier.fail(.methodNotImplemented(call.message.method))
        }
    }
}
