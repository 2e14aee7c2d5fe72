// SessionSupervisor+KillSwitch: when a session's kill switch (KillSwitchHolds) is held and
// released. Held at Connect, before anything is launched; released only once the session is down
// after an explicit Disconnect or its profile's removal. Provider exits, alwaysOn restarts, live
// upgrades, re-exec, a graceful stop and culvertd's death all leave it held: the next culvertd
// adopts it at start (`adoptKillSwitches`) and shows held profiles without a provider as
// disconnected sessions that still hold it.

import CulvertCore
import CulvertSystem
import Dispatch

extension SessionSupervisor {
    /// Connect: holds `profile`'s kill switch if it has one (a held one stays held). False when it
    /// could not be held: the Connect fails and nothing is launched.
    func holdKillSwitch(_ profile: Profile, _ session: TunnelSession) -> Bool {
        session.releaseKillSwitch = false
        defer { showKillSwitch(session) }
        guard profile.killSwitch, killSwitches.table(for: profile.name) == nil else { return true }
        // A session already running routes through main: a hold now would block its own tunnel.
        // The kill switch a profile gained meanwhile takes effect at its next Connect.
        guard !session.machine.state.isActive else {
            logger.notice("session \(profile.name): the kill switch takes effect at the next Connect")
            return true
        }
        let socket: NetlinkRouteSocket
        do { socket = try routeSocket() } catch {
            logger.error("session \(profile.name): kill switch: \(error)")
            return false
        }
        do { try killSwitches.hold(profile, socket: socket) } catch {
            logger.error("session \(profile.name): kill switch: \(error)")
            return false
        }
        return true
    }

    /// Releases the session's kill switch if a Disconnect asked for it and nothing runs any more.
    func releaseKillSwitchIfDown(_ session: TunnelSession) {
        guard session.releaseKillSwitch, !session.machine.state.isActive, session.run == nil else { return }
        session.releaseKillSwitch = false
        guard killSwitches.table(for: session.profileName) != nil else { return }
        // try?: without a socket the rules stay; `release` logs it and the next start removes them.
        killSwitches.release(session.profileName, socket: try? routeSocket())
        showKillSwitch(session)
    }

    /// What status says: true while held, false once released, absent if it never was.
    func showKillSwitch(_ session: TunnelSession) {
        if killSwitches.table(for: session.profileName) != nil {
            session.info.killSwitch = true
        } else if session.info.killSwitch != nil {
            session.info.killSwitch = false
        }
    }

    /// At start, before providers are re-adopted: takes over the holds of profiles that still
    /// exist and removes the others. Returns what to report.
    func adoptKillSwitches(profileExists: (String) -> Bool) -> [Problem] {
        dispatchPrecondition(condition: .onQueue(queue))
        do {
            return killSwitches.adopt(socket: try routeSocket(), exists: profileExists)
        } catch {
            logger.error("kill switches not adopted: \(error)")
            return []
        }
    }

    /// After re-adoption: every held profile shows as a session, those without a provider as
    /// disconnected (reason `kill_switch_held`) until a Connect or an explicit Disconnect.
    func showHeldKillSwitches(profiles: [Profile]) {
        dispatchPrecondition(condition: .onQueue(queue))
        for profile in profiles where killSwitches.table(for: profile.name) != nil {
            if let session = sessions[profile.name] {
                showKillSwitch(session)
                continue
            }
            let session = TunnelSession(profile: profile, extensionVersion: "", timing: configuration.timing)
            session.info.reason = "kill_switch_held"
            sessions[profile.name] = session
            showKillSwitch(session)
        }
    }
}
