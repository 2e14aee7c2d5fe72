// ManagerService+Sessions: Connect, Disconnect, SendProviderMessage and GetSessionLog, handed to
// the SessionSupervisor after the checks that need the profile store and the extension catalog.

import CulvertCore
import CulvertSystem
import CulvertVarlink
import CulvertWire
import FoundationEssentials

/// How the supervisor finds what a session runs when nobody hands it over (an alwaysOn restart,
/// a live upgrade's successor, re-adoption): the profile, its enabled extension and its secrets.
protocol LaunchTargetDirectory: AnyObject {
    /// Nil when the profile is gone or its extension is not installed and enabled.
    func launchTarget(profileName: String) -> LaunchTarget?
}

extension ManagerService: LaunchTargetDirectory {
    func launchTarget(profileName: String) -> LaunchTarget? {
        guard let stored = store.profiles[profileName],
            let info = catalog.installed(stored.profile.extensionIdentifier), info.state.isUsable
        else { return nil }
        return LaunchTarget(profile: stored.profile, extensionInfo: info, secrets: stored.secrets)
    }
}

extension ManagerService {
    /// alwaysOn profiles come up when the daemon starts.
    func startAlwaysOnSessions() {
        for profile in store.sortedProfiles where profile.alwaysOn {
            guard let target = launchTarget(profileName: profile.name) else { continue }
            supervisor.connect(target, actor: nil, wait: false, replier: nil)
        }
    }

    func handleSessionCall(_ call: VarlinkCall, replier: VarlinkReplier) {
        let name = call.parameters["profile"]?.stringValue ?? ""
        switch ManagerMethod(rawValue: call.message.method) {
        case .connect?:
            // A staged version waiting for no session to run it (a disconnect a moment ago): the switch first.
            let identifier = store.profiles[name]?.profile.extensionIdentifier ?? ""
            if waitForStagedSwitch(identifier, then: { [self] in connect(call, replier: replier) }) { return }
            connect(call, replier: replier)
        case .disconnect?:
            let wait = call.parameters["wait"]?.boolValue ?? true
            if !supervisor.disconnect(profileName: name, reason: .userRequest, wait: wait, replier: replier) {
                replier.fail(ManagerError.sessionNotFound(profile: name))
            }
        case .sendProviderMessage?:
            let data = call.parameters["data"]?.stringValue ?? ""
            // Checking is proportional to the message (up to the message size limit): a large one is checked off the queue.
            OffQueue.run(on: OffQueue.messages, returningTo: queue, inline: data.utf8.count < OffQueue.inlineBelow) {
                Data(base64Encoded: data) != nil
            } then: { [self] valid in
                guard valid else { return replier.fail(.invalidParameter("data")) }
                supervisor.sendMessage(profileName: name, data: data, replier: replier)
            }
        case .getSessionLog?:
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

    private func connect(_ call: VarlinkCall, replier: VarlinkReplier) {
        let name = call.parameters["profile"]?.stringValue ?? ""
        guard let stored = store.profiles[name] else {
            replier.fail(ManagerError.profileNotFound(name: name))
            return
        }
        let identifier = stored.profile.extensionIdentifier
        guard let info = catalog.installed(identifier) else {
            replier.fail(ManagerError.extensionNotFound(identifier: identifier))
            return
        }
        guard info.state.isUsable else {
            replier.fail(ManagerError.extensionNotUsable(identifier: identifier, state: info.state.rawValue))
            return
        }
        supervisor.connect(
            LaunchTarget(profile: stored.profile, extensionInfo: info, secrets: stored.secrets), actor: actor(call),
            wait: call.parameters["wait"]?.boolValue ?? true, replier: replier)
    }
}
