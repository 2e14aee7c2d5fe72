// SessionSupervisor+ProviderCalls: what a provider asks of culvertd over its channel —
// SetTunnelNetworkSettings (one transaction plus DNS, replaced as a whole), Protect (SO_MARK),
// SetReasserting, CancelTunnel — and taking those settings away again, including what a previous
// culvertd left behind.

import CulvertCore
import CulvertSystem
import CulvertVarlink
import CulvertWire
import Dispatch
import Logging

extension SessionSupervisor {

    func handleProviderCall(_ call: VarlinkPeerCall, responder: VarlinkPeerResponder, session: TunnelSession, run: ProviderRun) {
        let state = session.machine.state
        switch ProviderMethod(rawValue: call.message.method) {
        case .setTunnelNetworkSettings?:
            guard state == .connecting || state == .connected || state == .reasserting else {
                responder.fail(ProviderError.notReady(state: state.rawValue))
                return
            }
            applySettings(call.parameters["settings"], session: session, run: run, responder: responder)
        case .protect?:
            protect(call.descriptors, session: session, run: run, responder: responder)
        case .setReasserting?:
            responder.reply([:])
            // The peer validated the call against the interface: `reasserting` is a bool.
            feed(.reasserting((try? SetReassertingParameters(json: call.parameters))?.reasserting ?? false), session)
        case .cancelTunnel?:
            responder.reply([:])
            run.drainOutput()
            // try?: validated against the interface already; an absent error gets the default text.
            let text = ((try? CancelTunnelParameters(json: call.parameters))?.error ?? "the provider cancelled the tunnel")
                .clipped(toBytes: ProviderTextLimits.maximumReasonBytes)
            feed(
                .cancelled(
                    SessionFailure(reason: .providerCancelled, description: text, log: run.log.lastLines(ProviderRun.failureLogLines))),
                session)
        case .startTunnel?, .stopTunnel?, .handleAppMessage?, .reattach?, .prepareHandover?, .resumeAfterFailedHandover?,
            .importHandover?, nil:
            responder.fail(.methodNotImplemented(call.message.method))
        }
    }

    /// The provider channel closed. If the provider broke its contract (ProviderChannelPolicy:
    /// excess descriptors, a malformed or oversized message), it is killed at once and its exit
    /// ends the session with `protocol_violation`; an ordinary close waits for the exit as before.
    func providerChannelClosed(_ reason: VarlinkCloseReason, run: ProviderRun, session: TunnelSession) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard let what = ProviderChannelPolicy.violation(reason), run.exit == nil, run.violation == nil else {
            logger.debug("session \(session.profileName): provider channel closed (\(reason))")
            return
        }
        logger.warning("session \(session.profileName): provider \(run.process.processID) broke the channel protocol: \(what)")
        run.violation = SessionFailure(reason: .protocolViolation, description: "the provider broke the channel protocol: \(what)")
        killRun(run)
    }

    func protect(_ descriptors: [Descriptor], session: TunnelSession, run: ProviderRun, responder: VarlinkPeerResponder) {
        defer { descriptors.forEach { $0.close() } }
        func refuse(_ reason: String, _ description: String) {
            responder.fail(
                ProviderError.protectFailed(reason: reason, description: description))
        }
        guard descriptors.count == 1, let socket = descriptors.first else {
            refuse("wrong_descriptor_count", "Protect takes exactly one descriptor, got \(descriptors.count)")
            return
        }
        do {
            guard try socket.ipSocketFamily() != nil else {
                refuse("not_an_ip_socket", "only AF_INET and AF_INET6 sockets can be protected")
                return
            }
            try socket.setFirewallMark(CulvertNetlink.fullTunnelTable)
            // Larger buffers are a help, not part of the promise: the socket stays protected without them.
            do { try socket.forceBufferSizes(configuration.providerLimits.protectedSocketBufferBytes) } catch {
                logger.warning("session \(session.profileName): raising a protected socket's buffers: \(error)")
            }
            // Where it talks to, if it is connected already; an unconnected socket is covered by the
            // session's tunnelRemoteAddress instead (SettingsConflicts).
            if let peer = try socket.connectedPeerAddress(), !run.protectedEndpoints.contains(peer),
                run.protectedEndpoints.count < ProviderRun.maximumProtectedEndpoints
            {
                run.protectedEndpoints.append(peer)
            }
        } catch {
            refuse("mark_failed", error.description)
            return
        }
        logger.debug("session \(session.profileName): protected a provider socket")
        responder.reply([:])
    }

    /// SetTunnelNetworkSettings: the new settings replace the old as a whole. Validation and the
    /// netlink transaction run here; DNS runs on `SessionDNS`'s queue (resolvectl may take
    /// seconds), and each step continues only if the run is still the session's.
    func applySettings(_ settings: JSONValue?, session: TunnelSession, run: ProviderRun, responder: VarlinkPeerResponder) {
        let socket: NetlinkRouteSocket
        do { socket = try routeSocket() } catch {
            responder.fail(
                ProviderError.settingsFailed(step: "netlink", description: error.description))
            return
        }
        let plan: TunnelSettingsPlan?
        var underlay = UnderlayView()
        if let settings, settings != .null {
            let othersFull = sessions.values.contains { $0 !== session && $0.run?.plan?.fullTunnel == true }
            do {
                let checked = try TunnelSettingsPlan(
                    settings: settings, interfaceIndex: run.tun.interfaceIndex, fullTunnelAvailable: !othersFull,
                    killSwitchTable: killSwitches.table(for: session.profileName))
                do { underlay = try readUnderlay(socket, run: run) } catch {
                    responder.fail(ProviderError.settingsFailed(step: "netlink", description: error.description))
                    return
                }
                try checkAgainstOthers(checked, session: session, run: run, underlay: underlay)
                plan = checked
            } catch {
                logger.warning("session \(session.profileName): refused settings: \(error)")
                responder.fail(error.varlinkError)
                return
            }
        } else {
            plan = nil
        }
        let underlayRead = underlay
        // Replace: take the old settings away, apply the new ones; if that fails, put the old back.
        dns.revert(session: session.info.id) { [self] outcome in
            if case .failure(let error) = outcome { logger.error("session \(session.profileName): reverting DNS: \(error)") }
            guard actsForSession(run, session) else { return notReady(responder, session) }
            showDNS(nil, session)
            // Another session may have applied settings while the DNS was reverted: check again.
            if let plan {
                do throws(InvalidTunnelSettings) { try checkAgainstOthers(plan, session: session, run: run, underlay: underlayRead) } catch
                {
                    logger.warning("session \(session.profileName): refused settings: \(error)")
                    return responder.fail(error.varlinkError)
                }
            }
            guard replaceNetwork(with: plan, run: run, session: session, socket: socket, responder: responder) else { return }
            guard let plan, let wanted = plan.dns else {
                return settingsApplied(settings, session: session, run: run, responder: responder)
            }
            dns.replace(session: session.info.id, with: wanted, interfaceName: run.tun.name, fullTunnel: plan.fullTunnel) {
                [self] result, _ in
                switch result {
                case .success(let applied):
                    guard actsForSession(run, session) else { return notReady(responder, session) }  // its teardown reverts the DNS
                    showDNS(applied, session)
                    settingsApplied(settings, session: session, run: run, responder: responder)
                case .failure(let error):
                    logger.error("session \(session.profileName): applying DNS: \(error)")
                    if actsForSession(run, session), let applied = run.applied {
                        _ = applied.revert(on: socket)
                        run.applied = nil
                        run.plan = nil
                        absorbOwnChanges(on: run.tun.interfaceIndex)
                    }
                    responder.fail(
                        ProviderError.settingsFailed(step: "dns", description: error.description))
                }
            }
        }
    }

    /// The host's own network as netlink reports it now: every link but Culvert's TUNs (live runs
    /// and superseded ones still exiting).
    private func readUnderlay(_ socket: NetlinkRouteSocket, run: ProviderRun) throws(NetlinkError) -> UnderlayView {
        let tunnels = Set(sessions.values.compactMap { $0.run?.tun.interfaceIndex } + superseded.values.map(\.tun.interfaceIndex))
            .union([run.tun.interfaceIndex])
        return UnderlayView(addresses: try socket.allAddresses(), gatewayRoutes: try socket.gatewayRoutes(), tunnels: tunnels)
    }

    /// The cross-session check (SettingsConflicts) against every other live session and `underlay`.
    private func checkAgainstOthers(_ plan: TunnelSettingsPlan, session: TunnelSession, run: ProviderRun, underlay: UnderlayView)
        throws(InvalidTunnelSettings)
    {
        func endpoints(_ run: ProviderRun, _ plan: TunnelSettingsPlan?) -> [IPAddress] {
            // try?: a tunnelRemoteAddress that is not an IP address (a host name) names no endpoint.
            run.protectedEndpoints + [plan?.tunnelRemoteAddress.flatMap { try? IPAddress($0) }].compactMap { $0 }
        }
        let others = sessions.values.filter { $0 !== session }.compactMap { other -> SessionFootprint? in
            guard let otherRun = other.run else { return nil }
            return SessionFootprint(
                name: other.profileName, addresses: otherRun.plan?.addresses ?? [], routes: otherRun.plan?.includedRoutes ?? [],
                protectedEndpoints: endpoints(otherRun, otherRun.plan))
        }
        try SettingsConflicts.check(plan, ownEndpoints: endpoints(run, plan), others: others, underlay: underlay)
    }

    /// The netlink half of a settings change; false (and the responder answered) if it failed.
    private func replaceNetwork(
        with plan: TunnelSettingsPlan?, run: ProviderRun, session: TunnelSession, socket: NetlinkRouteSocket,
        responder: VarlinkPeerResponder
    ) -> Bool {
        let previous = run.plan
        if let applied = run.applied {
            let failures = applied.revert(on: socket)
            if !failures.isEmpty { logger.error("session \(session.profileName): reverting settings: \(failures)") }
            run.applied = nil
            run.plan = nil
        }
        // Our own link and address events are consumed here, where the netlink changes are made:
        // the DNS step after this may complete later, and the monitor's read source would meanwhile
        // take them for someone else's.
        guard let plan else {
            absorbOwnChanges(on: run.tun.interfaceIndex)
            return true
        }
        do {
            run.applied = try NetworkTransaction(steps: plan.steps).apply(
                on: socket, injectingFailureAt: configuration.injectSettingsFailureAtStep)
            run.plan = plan
            absorbOwnChanges(on: run.tun.interfaceIndex)
            return true
        } catch {
            logger.error("session \(session.profileName): applying settings: \(error)")
            if let previous {
                // try?: restoring is best effort; a failure is logged just below.
                run.applied = try? NetworkTransaction(steps: previous.steps).apply(on: socket)
                run.plan = run.applied == nil ? nil : previous
                if run.applied == nil { logger.error("session \(session.profileName): previous settings could not be restored") }
            }
            let step: String
            if case .stepFailed(_, let failed, _, _) = error { step = failed.description } else { step = "validate" }
            absorbOwnChanges(on: run.tun.interfaceIndex)
            responder.fail(
                ProviderError.settingsFailed(step: step, description: error.description))
            return false
        }
    }

    private func settingsApplied(_ settings: JSONValue?, session: TunnelSession, run: ProviderRun, responder: VarlinkPeerResponder) {
        let shown = run.plan
        session.info.mtu = shown?.mtu.map(Int64.init)
        session.info.tunnelRemoteAddress = shown?.tunnelRemoteAddress
        session.info.addresses = shown?.addresses.map(\.description) ?? []
        session.info.routes = shown?.routeDescriptions ?? []
        session.info.fullTunnel = shown?.fullTunnel ?? false
        run.record?.settings = run.plan == nil ? nil : settings.map { String(decoding: $0.serialized(), as: UTF8.self) }
        saveRecord(run)
        events.statusChanged()
        responder.reply([:])
    }

    private func notReady(_ responder: VarlinkPeerResponder, _ session: TunnelSession) {
        responder.fail(ProviderError.notReady(state: session.machine.state.rawValue))
    }

    /// What the session reports of its DNS.
    func showDNS(_ applied: AppliedDNS?, _ session: TunnelSession) {
        session.info.dnsServers = applied?.settings.servers.map(\.description) ?? []
        session.info.dnsBackend = applied.map { if case .resolved = $0.backend { "resolved" } else { "file" } }
    }

    /// Removes what a previous culvertd left behind: Culvert-tagged routes and rules (their TUN
    /// interfaces died with the providers) and a resolv.conf it had rewritten.
    func removeLeftovers() {
        let adopted = sessions.values.compactMap(\.run)
        if !dns.hasAnyApplied {
            do {
                if let recovered = try DNSConfigurator.recoverLeftovers(stateDirectory: dns.stateDirectory) {
                    logger.notice("reverted DNS left by session \(recovered.session): \(recovered.outcome)")
                }
            } catch {
                logger.error("reverting leftover DNS: \(error)")
            }
        }
        // What re-adopted sessions applied stays; everything else tagged as ours is a leftover.
        var keptRoutes = Set<NetworkRoute>()
        var keptRules = Set<PolicyRule>()
        for run in adopted {
            for step in run.plan?.steps ?? [] {
                if case .addRoute(let route) = step { keptRoutes.insert(route) }
                if case .addRule(let rule) = step { keptRules.insert(rule) }
            }
        }
        do {
            let socket = try routeSocket()
            for route in try socket.routes()
            where !keptRoutes.contains(where: { $0.destination == route.destination && $0.table == route.table && $0.kind == route.kind }) {
                do { try socket.removeRoute(route) } catch { logger.warning("leftover route \(route): \(error)") }
                logger.notice("removed leftover route \(route)")
            }
            // The kill switch's rules are KillSwitchHolds.adopt's to keep or remove.
            for rule in try socket.rules()
            where !killSwitches.owns(rule)
                && !keptRules.contains(where: { $0.priority == rule.priority && $0.family == rule.family && $0.table == rule.table })
            {
                do { try socket.removeRule(rule) } catch { logger.warning("leftover rule \(rule): \(error)") }
                logger.notice("removed leftover rule \(rule)")
            }
        } catch {
            logger.error("listing leftover routes and rules: \(error)")
        }
    }

    /// Takes the run's routes, rules and addresses away (the DNS goes through `SessionDNS`).
    func revertNetwork(_ run: ProviderRun, session: TunnelSession) {
        guard let applied = run.applied else { return }
        run.applied = nil
        run.plan = nil
        do {
            let failures = applied.revert(on: try routeSocket())
            if !failures.isEmpty { logger.error("session \(session.profileName): settings left behind: \(failures)") }
        } catch {
            logger.error("session \(session.profileName): reverting settings: \(error)")
        }
    }
}
