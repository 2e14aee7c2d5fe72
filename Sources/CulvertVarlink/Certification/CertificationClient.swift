// CertificationClient: the client side of org.varlink.certification.

/// One call of a run and what came back, for reporting progress.
public struct CertificationExchange: Sendable, Equatable {
    public let step: CertificationStep
    public let call: VarlinkCallMessage
    /// The reply parameters as received (several for Test10; none for the oneway Test11).
    public let replies: [JSONValue]
}

/// A run that passed.
public struct CertificationResult: Sendable, Equatable {
    /// The id the server handed out on `Start`.
    public let clientID: String
    /// Every call made, in order, with its replies.
    public let exchanges: [CertificationExchange]
}

/// Runs the certification sequence against a server, as the reference client does: `Start`,
/// `Test01` … `Test11`, `End` on one connection, each call passing along what the previous reply
/// returned, Test10 with `more` and Test11 `oneway`.
///
/// Unlike the reference client, which leaves all checking to the server, every reply is checked
/// too: its declared fields must match the interface's types and equal the script's values
/// (`CertificationScript`), Test10 must stream exactly the scripted strings, and `End` must say
/// `all_ok`. Fields a reply carries that its method does not declare are ignored, as the
/// reference client ignores them (the reference server's Test09 reply carries a stray `client_id`).
///
/// Blocking; use from one thread at a time.
public struct CertificationClient: Sendable {
    /// The longest wait for any one reply unless the caller chooses otherwise.
    public static let defaultReplyTimeout: Duration = .seconds(10)

    public let path: String
    public let replyTimeout: Duration

    /// - Parameters:
    ///   - path: the server's AF_UNIX socket.
    ///   - replyTimeout: the longest wait for each reply; a silent server fails the run, never hangs it.
    public init(path: String, replyTimeout: Duration = defaultReplyTimeout) {
        self.path = path
        self.replyTimeout = replyTimeout
    }

    /// Runs the whole sequence on a new connection. `progress` is called after each step.
    public func run(progress: @escaping (CertificationExchange) -> Void = { _ in }) throws(CertificationFailure) -> CertificationResult {
        let connection: VarlinkClientConnection
        do {
            connection = try VarlinkClientConnection(path: path)
        } catch {
            throw .transport(step: .start, error)
        }
        defer { connection.close() }
        var run = Run(connection: connection, timeoutMilliseconds: Self.milliseconds(replyTimeout), progress: progress)
        return try run.perform()
    }

    private static func milliseconds(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        let total = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return Int32(clamping: max(0, total))
    }

    /// The state of one run: the connection and what the server has said so far.
    private struct Run {
        let connection: VarlinkClientConnection
        let timeoutMilliseconds: Int32
        let progress: (CertificationExchange) -> Void
        // The bundled definition is ours and covered by tests; failing to parse it is a build defect.
        let interface = try! VarlinkInterface(parsing: VarlinkBundledInterfaces.orgVarlinkCertification)
        var exchanges: [CertificationExchange] = []

        mutating func perform() throws(CertificationFailure) -> CertificationResult {
            let started = try exchange(.start, parameters: [:])
            guard let clientID = started["client_id"]?.stringValue, !clientID.isEmpty else {
                throw .malformedReply(step: .start, reason: "client_id is empty")
            }
            try check(started, of: .start, against: ["client_id": .string(clientID)])

            var previous = try exchange(.test01, parameters: ["client_id": .string(clientID)])
            try check(previous, of: .test01, clientID: clientID)
            for step in [CertificationStep.test02, .test03, .test04, .test05, .test06, .test07, .test08, .test09] {
                previous = try exchange(step, parameters: carrying(previous, clientID: clientID))
                try check(previous, of: step, clientID: clientID)
            }

            let streamed = try streamTest10(parameters: carrying(previous, clientID: clientID))
            let test11 = VarlinkCallMessage(
                method: CertificationStep.test11.method,
                parameters: ["client_id": .string(clientID), "last_more_replies": .array(streamed.map { .string($0) })],
                oneway: true)
            do {
                try connection.send(test11)
            } catch {
                throw .transport(step: .test11, error)
            }
            record(CertificationExchange(step: .test11, call: test11, replies: []))

            let ended = try exchange(.end, parameters: ["client_id": .string(clientID)])
            try check(ended, of: .end, clientID: clientID)
            return CertificationResult(clientID: clientID, exchanges: exchanges)
        }

        /// The next call's parameters: the client id plus the previous reply.
        private func carrying(_ reply: JSONValue, clientID: String) -> JSONValue {
            var parameters = reply.objectValue ?? [:]
            parameters["client_id"] = .string(clientID)
            return .object(parameters)
        }

        /// Makes a single-reply call and returns the reply's declared fields, type-checked.
        private mutating func exchange(_ step: CertificationStep, parameters: JSONValue) throws(CertificationFailure) -> JSONValue {
            let call = VarlinkCallMessage(method: step.method, parameters: parameters)
            let reply = try send(call, step: step)
            if reply.continues {
                throw .malformedReply(step: step, reason: "the reply says continues, but the call did not ask for more")
            }
            let parameters = try declaredFields(of: reply, step: step)
            record(CertificationExchange(step: step, call: call, replies: [reply.parameters]))
            return parameters
        }

        /// Test10 with `more`: collects the streamed strings, checking each against the script.
        private mutating func streamTest10(parameters: JSONValue) throws(CertificationFailure) -> [String] {
            let step = CertificationStep.test10
            let call = VarlinkCallMessage(method: step.method, parameters: parameters, more: true)
            var reply = try send(call, step: step)
            var received: [JSONValue] = []
            var strings: [String] = []
            while true {
                let fields = try declaredFields(of: reply, step: step)
                received.append(reply.parameters)
                let index = strings.count
                guard index < CertificationScript.streamedReplyCount else {
                    throw .malformedReply(step: step, reason: "more than \(CertificationScript.streamedReplyCount) replies")
                }
                try check(fields, of: step, against: CertificationScript.streamedReply(index))
                strings.append(fields["string"]?.stringValue ?? "")  // checked just above
                guard reply.continues else { break }
                reply = try receive(step: step)
            }
            guard strings.count == CertificationScript.streamedReplyCount else {
                throw .malformedReply(
                    step: step, reason: "\(strings.count) replies, \(CertificationScript.streamedReplyCount) expected")
            }
            record(CertificationExchange(step: step, call: call, replies: received))
            return strings
        }

        private func send(_ call: VarlinkCallMessage, step: CertificationStep) throws(CertificationFailure) -> VarlinkReplyMessage {
            do {
                try connection.send(call)
            } catch {
                throw .transport(step: step, error)
            }
            return try receive(step: step)
        }

        /// The next reply; an error reply is thrown, a CertificationError as `.rejected`.
        private func receive(step: CertificationStep) throws(CertificationFailure) -> VarlinkReplyMessage {
            let reply: VarlinkReplyMessage
            do {
                reply = try connection.receive(timeoutMilliseconds: timeoutMilliseconds)
            } catch {
                throw .transport(step: step, error)
            }
            if let name = reply.error {
                let error = VarlinkError(name, reply.parameters)
                if let mismatch = CertificationMismatch(error) { throw .rejected(step: step, mismatch) }
                throw .serverError(step: step, error)
            }
            return reply
        }

        /// The reply's parameters restricted to the fields its method declares, validated against them.
        private func declaredFields(of reply: VarlinkReplyMessage, step: CertificationStep) throws(CertificationFailure) -> JSONValue {
            let declared = interface.methods[step.rawValue]?.output ?? .empty
            let members = reply.parameters.objectValue ?? [:]
            let kept = members.filter { declared.field(named: $0.key) != nil }
            do {
                try interface.validate(reply: .object(kept), of: step.rawValue)
            } catch {
                throw .malformedReply(step: step, reason: error.description)
            }
            return .object(kept)
        }

        private func check(_ reply: JSONValue, of step: CertificationStep, clientID: String) throws(CertificationFailure) {
            try check(reply, of: step, against: CertificationScript.reply(to: step, clientID: clientID))
        }

        private func check(_ reply: JSONValue, of step: CertificationStep, against wanted: JSONValue) throws(CertificationFailure) {
            guard reply.isVarlinkEquivalent(to: wanted) else {
                throw .wrongReply(step: step, CertificationMismatch(wants: wanted, got: reply))
            }
        }

        private mutating func record(_ exchange: CertificationExchange) {
            exchanges.append(exchange)
            progress(exchange)
        }
    }
}
