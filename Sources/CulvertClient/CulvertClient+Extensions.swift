// CulvertClient+Extensions: installing, approving, listing, uninstalling and collecting extensions.

import CulvertCore
import CulvertSystem
import CulvertVarlink
import CulvertWire

extension CulvertClient {
    /// Installs the bundle directory at `path` (absolute): culvertd verifies it, copies it into
    /// its state directory, verifies the copy and registers it atomically.
    ///
    /// - Returns: `installed`, `replaced` (a newer version of the same publisher's extension), or
    ///   `unchanged` (the same version and build are installed; nothing happened).
    /// - Throws: `.bundleRejected` (verification failed; `reason` names why), `.downgradeRefused`
    ///   (older than the installed version and not `allowDowngrade`), `.publisherMismatch`,
    ///   `.publisherNotAllowed`, `.invalidPath`, `.policyInvalid`, `.permissionDenied` (not root).
    public func installExtension(path: String, allowDowngrade: Bool = false) async throws(CulvertClientError) -> InstallResult {
        let parameters = Self.installParameters(path: path, allowDowngrade: allowDowngrade)
        let reply = try await extensionCall(.installExtension, parameters).unwrapped()
        return try WireDecoding.decode(InstallResult.self, from: reply, what: "InstallExtension reply")
    }

    /// Like `installExtension`, except that when culvertd is not running the request is written
    /// to its spool under `stateDirectory` (see `ExtensionSpool`), to be applied when it starts.
    ///
    /// Only a failure to connect because nothing listens on the socket (it is missing, or
    /// nobody accepts on it) means "not running": after that culvertd certainly did nothing, so
    /// the request can be spooled without risk of applying it twice. Every other failure
    /// (permission denied, a timeout, a refusal) is thrown as by `installExtension`.
    ///
    /// If culvertd starts while the request is being written, it may have read its spool
    /// before the file appeared. So once the request is spooled, the daemon is pinged: if it
    /// answers, its start-up (which applies the spool) is over, and a request still in the
    /// spool was missed; it is withdrawn and installed live instead.
    public func installExtensionOrSpool(
        path: String, allowDowngrade: Bool = false, stateDirectory: String
    ) async throws(CulvertClientError) -> InstallRequestOutcome {
        let parameters = Self.installParameters(path: path, allowDowngrade: allowDowngrade)
        switch await extensionCall(.installExtension, parameters) {
        case .success(let reply):
            return .applied(try WireDecoding.decode(InstallResult.self, from: reply, what: "InstallExtension reply"))
        case .failure(let failure) where !failure.daemonAbsent:
            throw failure.error
        case .failure:
            break
        }
        let request = ExtensionSpool.request(path: path, allowDowngrade: allowDowngrade)
        let file = try ExtensionSpool.enqueue(stateDirectory: stateDirectory, request: request)
        let spooled = InstallRequestOutcome.spooled(SpooledInstall(file: file, request: request))
        guard case .success = await extensionCall(.ping, [:]) else { return spooled }
        guard try ExtensionSpool.withdraw(file) else { return spooled }
        return .applied(try await installExtension(path: path, allowDowngrade: allowDowngrade))
    }

    /// Enables an extension that is awaiting approval (needs root). Approving an enabled one
    /// changes nothing (`changed` is false). Throws `.extensionNotFound` if none is installed.
    public func approveExtension(_ identifier: String) async throws(CulvertClientError) -> ApprovalResult {
        let reply = try await extensionCall(.approveExtension, ["identifier": .string(identifier)]).unwrapped()
        return try WireDecoding.decode(ApprovalResult.self, from: reply, what: "ApproveExtension reply")
    }

    /// Removes an extension's registration and its installed copy (needs root); returns the
    /// seq of the `extension_uninstalled` event. Refused while sessions use it unless `force`,
    /// which disconnects them first. Throws `.extensionNotFound` if none is installed.
    @discardableResult
    public func uninstallExtension(_ identifier: String, force: Bool = false) async throws(CulvertClientError) -> Int64 {
        let reply = try await extensionCall(.uninstallExtension, ["identifier": .string(identifier), "force": .bool(force)]).unwrapped()
        guard let seq = reply["seq"]?.intValue else { throw .protocolViolation("UninstallExtension reply without seq") }
        return seq
    }

    /// Sets when newer versions of `identifier` replace the running one in its sessions (needs
    /// root); nil follows policy.json's `defaultUpgradePolicy` again. A staged version is looked at
    /// again at once (`now` applies it). `changed` is false if the policy was already set so.
    /// Throws `.extensionNotFound`, `.invalidUpgradePolicy`.
    public func setUpgradePolicy(_ identifier: String, _ policy: UpgradePolicy?) async throws(CulvertClientError) -> ApprovalResult {
        var parameters: [String: JSONValue] = ["identifier": .string(identifier)]
        if let policy { parameters["policy"] = .string(policy.rawValue) }
        let reply = try await extensionCall(.setUpgradePolicy, .object(parameters)).unwrapped()
        return try WireDecoding.decode(ApprovalResult.self, from: reply, what: "SetUpgradePolicy reply")
    }

    /// Applies the staged version of `identifier` now, live, as policy `now` would (needs root);
    /// returns once every session runs it, with the extension as now registered and the seq of
    /// `extension_replaced`. Throws `.noUpgradeStaged`, `.upgradeInProgress`, `.upgradeFailed`
    /// (the old version runs on; the staged one is dropped), `.extensionNotFound`.
    public func upgradeExtension(_ identifier: String) async throws(CulvertClientError) -> StagedUpgradeResult {
        let reply = try await extensionCall(.upgradeExtension, ["identifier": .string(identifier)]).unwrapped()
        return try WireDecoding.decode(StagedUpgradeResult.self, from: reply, what: "UpgradeExtension reply")
    }

    /// Drops the staged version of `identifier` (needs root): state back to `enabled`, event
    /// `upgrade_cancelled`; its copy is left for gc. Throws `.noUpgradeStaged`, `.upgradeInProgress`,
    /// `.extensionNotFound`.
    public func cancelUpgrade(_ identifier: String) async throws(CulvertClientError) -> StagedUpgradeResult {
        let reply = try await extensionCall(.cancelUpgrade, ["identifier": .string(identifier)]).unwrapped()
        return try WireDecoding.decode(StagedUpgradeResult.self, from: reply, what: "CancelUpgrade reply")
    }

    /// Every installed extension, sorted by identifier.
    public func extensions() async throws(CulvertClientError) -> [ExtensionInfo] {
        let reply = try await extensionCall(.listExtensions, [:]).unwrapped()
        return try WireDecoding.decode([ExtensionInfo].self, from: reply["extensions"], what: "extension list")
    }

    /// The installed extension `identifier`; throws `.extensionNotFound` if there is none.
    public func extensionInfo(_ identifier: String) async throws(CulvertClientError) -> ExtensionInfo {
        guard let info = try await extensions().first(where: { $0.identifier == identifier }) else {
            throw .extensionNotFound(identifier: identifier)
        }
        return info
    }

    /// Removes installed copies nothing references, leftover staging directories, and
    /// registrations whose source bundle has vanished (needs root). With `dryRun`, reports what
    /// it would remove and removes nothing.
    public func collectGarbage(dryRun: Bool = false) async throws(CulvertClientError) -> GarbageCollection {
        let reply = try await extensionCall(.collectGarbage, ["dryRun": .bool(dryRun)]).unwrapped()
        return try WireDecoding.decode(GarbageCollection.self, from: reply, what: "CollectGarbage reply")
    }

    // MARK: plumbing

    static func installParameters(path: String, allowDowngrade: Bool) -> JSONValue {
        ["path": .string(path), "allowDowngrade": .bool(allowDowngrade)]
    }

    /// A failed one-shot call, telling apart the one failure after which the daemon certainly
    /// did nothing because it is not running.
    struct ExtensionCallFailure: Error {
        var error: CulvertClientError
        /// Connecting failed because nothing listens on the socket (ENOENT, ECONNREFUSED).
        var daemonAbsent: Bool
    }

    /// One call on a fresh connection, on its own thread, bounded by `callDeadline`.
    func extensionCall(_ method: ManagerMethod, _ parameters: JSONValue) async -> Result<JSONValue, ExtensionCallFailure> {
        let path = socketPath
        // A live upgrade answers once every connected session runs the new version: as long as a Connect.
        let waits = method == .installExtension || method == .upgradeExtension
        let deadline = ContinuousClock.now + (waits ? max(callDeadline, Self.sessionWaitDeadline) : callDeadline)
        // The body reports every failure inside its value, so BlockingCall's own failure is never used.
        let outcome = await BlockingCall.run(name: "culvert-\(method.member)") {
            gate -> Result<Result<JSONValue, ExtensionCallFailure>, CulvertClientError> in
            .success(Self.call(method, parameters, path: path, gate: gate, until: deadline))
        }
        switch outcome {
        case .success(let result): return result
        case .failure(let error): return .failure(ExtensionCallFailure(error: error, daemonAbsent: false))
        }
    }

    private static func call(
        _ method: ManagerMethod, _ parameters: JSONValue, path: String, gate: ConnectionGate, until deadline: ContinuousClock.Instant
    ) -> Result<JSONValue, ExtensionCallFailure> {
        let connection: ManagerConnection
        do throws(ManagerConnection.Failure) {
            connection = try ManagerConnection.open(path: path, gate: gate)
        } catch {
            var absent = false
            if case .varlink(.system(let system)) = error {
                absent = system.errno == Syscall.ENOENT || system.errno == Syscall.ECONNREFUSED
            }
            return .failure(ExtensionCallFailure(error: CulvertClientError(error, path: path, member: method.member), daemonAbsent: absent))
        }
        defer { connection.close() }
        do throws(ManagerConnection.Failure) {
            return .success(try connection.call(method, parameters, until: deadline))
        } catch {
            return .failure(ExtensionCallFailure(error: CulvertClientError(error, path: path, member: method.member), daemonAbsent: false))
        }
    }
}

extension Result where Failure == CulvertClient.ExtensionCallFailure {
    /// The reply, or the failure's client error.
    func unwrapped() throws(CulvertClientError) -> Success {
        switch self {
        case .success(let value): return value
        case .failure(let failure): throw failure.error
        }
    }
}
