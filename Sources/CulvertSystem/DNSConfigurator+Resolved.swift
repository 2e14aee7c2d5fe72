// DNSConfigurator+Resolved: per-link DNS through systemd-resolved, exactly as an administrator
// would type it with resolvectl. resolvectl is run as a child process because resolved's API is
// D-Bus (SetLinkDNS, SetLinkDomains, SetLinkDefaultRoute, RevertLink) and speaking D-Bus would need
// a new dependency; resolvectl is part of the same systemd package as resolved, so when one is
// there the other is. Nothing is persisted: the settings belong to the link and vanish with it.

#if canImport(Glibc)
    import Glibc
#endif

extension DNSConfigurator {
    /// The resolvectl argument lists that apply `applied`, in order:
    ///
    ///     dns <ifname> <server>…
    ///     domain <ifname> <search>… ~<match>…        (~. added for a full tunnel without match domains;
    ///                                                 left out when there is no domain at all)
    ///     default-route <ifname> true|false           (false when split by match domains)
    public static func resolvectlArguments(for applied: AppliedDNS) -> [[String]] {
        let name = applied.interfaceName
        let settings = applied.settings
        var routing = settings.matchDomains.map { "~" + $0 }
        if routing.isEmpty && applied.fullTunnel { routing = ["~."] }
        let domains = settings.searchDomains + routing
        var commands = [["dns", name] + settings.servers.map(\.description)]
        if !domains.isEmpty { commands.append(["domain", name] + domains) }
        commands.append(["default-route", name, settings.matchDomains.isEmpty ? "true" : "false"])
        return commands
    }

    func applyResolved(_ applied: AppliedDNS, resolvectl: String) throws(DNSError) {
        for arguments in Self.resolvectlArguments(for: applied) {
            do {
                try HelperCommand(executablePath: resolvectl, arguments: arguments).run(timeout: timeout)
            } catch {
                // All or nothing: drop whatever the earlier commands set. try?: the error being
                // thrown is the one to report; a failing revert cannot be handled better here.
                _ = try? HelperCommand(executablePath: resolvectl, arguments: ["revert", applied.interfaceName]).run(timeout: timeout)
                throw .resolvectlFailed(arguments: arguments, error: error)
            }
        }
    }

    func revertResolved(_ applied: AppliedDNS, resolvectl: String) throws(DNSError) -> DNSRevertOutcome {
        // A gone interface took its per-link settings with it, and resolvectl would fail on the name.
        guard if_nametoindex(applied.interfaceName) != 0 else { return .interfaceGone }
        let arguments = ["revert", applied.interfaceName]
        do {
            try HelperCommand(executablePath: resolvectl, arguments: arguments).run(timeout: timeout)
        } catch {
            throw .resolvectlFailed(arguments: arguments, error: error)
        }
        return .restored
    }
}
