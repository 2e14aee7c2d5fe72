// CertificationService: the server side of org.varlink.certification.

import CulvertSystem

/// Serves `org.varlink.certification`: hands out a client id on `Start`, then checks every call of
/// the run against `CertificationScript` and answers with the script's replies.
///
/// Behaviour, matching the reference server (python `varlink`, tests/test_certification.py):
/// - `Start` opens a run and returns a fresh random `client_id`. Runs are server-wide, not tied to
///   a connection, so a client may use a new connection per call.
/// - Steps must come in order. A call out of order fails with `CertificationError`
///   (`wants`/`got` name the expected and the called method) and leaves the run where it was.
/// - A call in order whose message differs from the script (parameters, or the `more` flag on
///   Test10, or `oneway` on Test11) fails with `CertificationError`, `wants` the scripted call and
///   `got` the received one, and ends the run.
/// - Test10 streams `CertificationScript.streamedReplyCount` replies; Test11 is oneway and gets
///   no reply. `End` answers `all_ok: true` and closes the run.
///
/// Differences from the reference, each because the reference contradicts the interface text:
/// an unknown, ended or expired client id gets `ClientIdError` (the reference sends a
/// CertificationError there and never uses the declared ClientIdError); an out-of-order error
/// carries objects (`{"method": …}`), not strings, since `wants`/`got` are declared `object`;
/// and a wrong oneway Test11, which cannot be answered, makes `End` fail with that mismatch
/// instead of with an unknown-client error.
///
/// Like every `VarlinkHandler`, it is used only on the server's queue.
public final class CertificationService: VarlinkHandler {
    /// How long a run may last from its `Start`; older runs are forgotten (the reference's 12 hours).
    public static let runLifetime: Duration = .seconds(12 * 60 * 60)
    /// Most runs held at once unless the creator chooses otherwise; starting one more forgets the
    /// oldest, so clients that never call `End` cannot grow the state without bound within `runLifetime`.
    public static let defaultMaximumRuns = 1024

    /// This instance's bound on runs held at once (at least 1).
    public let maximumRuns: Int

    /// How often `makeClientID` is asked again when it returns the id of an open run.
    private static let clientIDDraws = 8

    private struct Run {
        var next: CertificationStep
        let started: UInt64
        /// A mismatch in a oneway call, which could not be answered; `End` reports it.
        var deferredFailure: CertificationMismatch?
    }

    private var runs: [String: Run] = [:]
    /// Run starts, oldest first, for expiry and eviction. May hold ids of runs already ended;
    /// those are skipped (and compacted away, see `forgetExpiredRuns`).
    private var startOrder: [(started: UInt64, clientID: String)] = []
    private let now: @Sendable () -> UInt64
    private let makeClientID: @Sendable () -> String

    /// - Parameters:
    ///   - clock: monotonic nanoseconds; tests inject one to exercise expiry.
    ///   - makeClientID: should not repeat; 128 random bits by default, as the reference. An id
    ///     of an open run is drawn again a few times, then that run is replaced.
    ///   - maximumRuns: runs held at once; values below 1 count as 1.
    public init(
        clock: @escaping @Sendable () -> UInt64 = WallClock.monotonicNanoseconds,
        makeClientID: @escaping @Sendable () -> String = WallClock.randomIdentifier,
        maximumRuns: Int = defaultMaximumRuns
    ) {
        self.maximumRuns = max(1, maximumRuns)
        self.now = clock
        self.makeClientID = makeClientID
    }

    public var interfaceDescription: String { VarlinkBundledInterfaces.orgVarlinkCertification }

    /// Runs currently open.
    public var openRunCount: Int { runs.count }

    public func handle(_ call: VarlinkCall, replier: VarlinkReplier) {
        let message = call.message
        guard let step = CertificationStep(rawValue: message.member) else {
            // Unreachable while the interface text and CertificationStep agree: the server only
            // routes declared methods here.
            replier.fail(.methodNotImplemented(message.method))
            return
        }
        forgetExpiredRuns()
        if step == .start {
            start(message, replier: replier)
            return
        }
        guard let clientID = call.parameters["client_id"]?.stringValue, var run = runs[clientID] else {
            replier.fail(CertificationMismatch.clientIDError)
            return
        }
        guard run.next == step else {
            replier.fail(
                CertificationMismatch(wants: ["method": .string(run.next.method)], got: ["method": .string(step.method)]).varlinkError)
            return
        }
        let wanted = CertificationScript.call(for: step, clientID: clientID).messageObject
        let got = message.messageObject
        guard got.isVarlinkEquivalent(to: wanted) else {
            let mismatch = CertificationMismatch(wants: wanted, got: got)
            if message.oneway {
                // No reply is possible; keep the run so End can say what went wrong.
                run.deferredFailure = run.deferredFailure ?? mismatch
                run.next = step.next ?? .end
                runs[clientID] = run
            } else {
                runs[clientID] = nil
                replier.fail(mismatch.varlinkError)
            }
            return
        }

        switch step {
        case .end:
            runs[clientID] = nil
            if let failure = run.deferredFailure {
                replier.fail(failure.varlinkError)
            } else {
                replier.reply(CertificationScript.reply(to: .end, clientID: clientID))
            }
        case .test10:
            run.next = .test11
            runs[clientID] = run
            for index in 0..<CertificationScript.streamedReplyCount {
                replier.reply(
                    CertificationScript.streamedReply(index), continues: index < CertificationScript.streamedReplyCount - 1)
            }
        default:
            run.next = step.next ?? .start  // every step but End has a next one
            runs[clientID] = run
            // Test11 is oneway (checked above): the replier drops this, as it must.
            if step != .test11 { replier.reply(CertificationScript.reply(to: step, clientID: clientID)) }
        }
    }

    private func start(_ message: VarlinkCallMessage, replier: VarlinkReplier) {
        let wanted = CertificationScript.call(for: .start, clientID: "").messageObject
        let got = message.messageObject
        guard got.isVarlinkEquivalent(to: wanted) else {
            replier.fail(CertificationMismatch(wants: wanted, got: got).varlinkError)
            return
        }
        if runs.count >= maximumRuns { forgetOldestRun() }
        var clientID = makeClientID()
        for _ in 0..<Self.clientIDDraws where runs[clientID] != nil {
            clientID = makeClientID()  // a repeat would merge two runs; bounded so a bad generator can't hang us
        }
        let started = now()
        runs[clientID] = Run(next: .test01, started: started, deferredFailure: nil)
        startOrder.append((started, clientID))
        replier.reply(CertificationScript.reply(to: .start, clientID: clientID))
    }

    /// Drops runs older than `runLifetime`, and ended runs' leftovers from `startOrder`.
    private func forgetExpiredRuns() {
        let current = now()
        let lifetime = UInt64(Self.runLifetime.components.seconds) * 1_000_000_000
        var expired = 0
        for entry in startOrder {
            guard current &- entry.started >= lifetime else { break }
            if runs[entry.clientID]?.started == entry.started { runs[entry.clientID] = nil }
            expired += 1
        }
        if expired > 0 { startOrder.removeFirst(expired) }
        // Runs that ended normally leave an entry behind; compact before it dwarfs the live ones.
        if startOrder.count > 2 * runs.count + 64 {
            startOrder.removeAll { runs[$0.clientID]?.started != $0.started }
        }
    }

    private func forgetOldestRun() {
        while !startOrder.isEmpty {
            let entry = startOrder.removeFirst()
            if runs[entry.clientID]?.started == entry.started {
                runs[entry.clientID] = nil
                return
            }
        }
    }
}
