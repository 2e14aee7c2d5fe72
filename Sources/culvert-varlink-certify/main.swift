// culvert-varlink-certify: runs the varlink certification (org.varlink.certification) in either
// direction — our server for other clients, our client against other servers (docs/DESIGN.md, contract 1).

import ArgumentParser
import CulvertSystem
import CulvertVarlink
import Dispatch

#if canImport(Glibc)
    import Glibc  // signal(2) to hand SIGTERM/SIGINT to Dispatch; fflush and exit
#endif

@main
struct CulvertVarlinkCertify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "culvert-varlink-certify",
        abstract: "Run the varlink certification (org.varlink.certification) against Culvert's varlink implementation.",
        discussion: """
            A varlink implementation is certified when its client passes against a known-good server \
            and known-good clients pass against its server. This tool is both of Culvert's sides.

            Serve the certification interface for the reference client (varlink/tests/ in PyPI varlink):
              culvert-varlink-certify serve --varlink=unix:/tmp/c.sock
              python3 .../test_certification.py --client --varlink=unix:/tmp/c.sock

            Run our client against a reference server:
              python3 .../test_certification.py --varlink=unix:/tmp/c.sock
              culvert-varlink-certify client --varlink=unix:/tmp/c.sock

            scripts/certify runs both directions against the python reference implementation. Only \
            unix:PATH addresses are supported (AF_UNIX stream sockets, as culvertd uses).
            """,
        subcommands: [Serve.self, Client.self])
}

/// The `--varlink` option shared by both subcommands.
struct AddressOptions: ParsableArguments {
    @Option(
        name: .customLong("varlink"),
        help: ArgumentHelp("The varlink address: unix:PATH, an AF_UNIX socket path.", valueName: "address"))
    var address: String

    /// The socket path of `address`.
    var path: String {
        get throws { try Self.socketPath(of: address) }
    }

    mutating func validate() throws {
        _ = try path
    }

    /// Accepts exactly `unix:PATH` with a non-empty filesystem path; says why anything else is refused.
    static func socketPath(of address: String) throws(ValidationError) -> String {
        guard address.hasPrefix("unix:") else {
            let scheme = address.split(separator: ":", maxSplits: 1).first.map(String.init) ?? address
            throw ValidationError(
                "unsupported varlink address '\(address)': only unix:PATH is supported"
                    + (address.contains(":") ? " (not '\(scheme):')" : " (the 'unix:' prefix is required)"))
        }
        let path = String(address.dropFirst("unix:".count))
        guard !path.isEmpty else { throw ValidationError("varlink address '\(address)' has no socket path after 'unix:'") }
        guard !path.hasPrefix("@") else {
            throw ValidationError("abstract socket addresses (unix:@NAME) are not supported; give a filesystem path")
        }
        guard !path.contains(";") else {
            throw ValidationError("varlink address parameters (';…' in '\(address)') are not supported; give a bare unix:PATH")
        }
        guard path.utf8.count <= UnixSocket.maximumPathLength else {
            throw ValidationError("socket path is \(path.utf8.count) bytes; AF_UNIX allows at most \(UnixSocket.maximumPathLength)")
        }
        return path
    }
}

// MARK: - serve

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve org.varlink.certification until SIGTERM or SIGINT.",
        discussion: """
            Creates the socket at PATH (a stale socket file nobody answers on is replaced; a live one \
            is an error), prints one line 'serving org.varlink.certification on unix:PATH' to standard \
            output once it accepts connections, and serves until SIGTERM or SIGINT, then removes the \
            socket file. org.varlink.service (GetInfo, GetInterfaceDescription) is served too.

            Every run a client starts is checked step by step; a wrong call is answered with \
            org.varlink.certification.CertificationError (wants, got), an unknown client id with \
            ClientIdError. Runs are forgotten 12 hours after their Start.

            Exit status: 0 after SIGTERM/SIGINT, 1 if the socket cannot be created or fails, 64 on \
            bad usage.
            """)

    @OptionGroup var address: AddressOptions

    func run() throws {
        let path = try address.path
        if FileSystem.exists(path) {
            if let probe = try? UnixSocket.connect(path: path) {  // refused or not a socket: stale, replace it
                probe.close()
                fail("another server already answers on \(path)")
            }
            try? FileSystem.removeFile(path)  // listen below reports the real problem if this failed
        }
        let listener: Descriptor
        do {
            listener = try UnixSocket.listen(path: path)
        } catch {
            fail("cannot listen on \(path): \(error)")
        }

        let queue = DispatchQueue(label: "culvert-varlink-certify.server")
        let server = VarlinkServer(
            info: VarlinkServiceInfo(
                vendor: "Culvert", product: "culvert-varlink-certify", version: "1", url: "https://varlink.org/"),
            queue: queue)
        do {
            try queue.sync { () throws -> Void in
                // The bundled certification interface is ours; a parse failure here is a build defect
                // the tests catch, but report it rather than trap.
                try server.register(CertificationService())
                server.onListenerFailure = { error in
                    try? FileSystem.removeFile(path)  // best effort on the way out
                    fail("the listening socket failed: \(error)")
                }
                try server.start(listener: listener)
            }
        } catch {
            try? FileSystem.removeFile(path)  // best effort on the way out
            fail("cannot serve on \(path): \(error)")
        }

        // Dispatch delivers the signals on the server queue, so shutdown never races a call.
        var signalSources: [any DispatchSourceSignal] = []
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)  // the default action would kill us before Dispatch sees it
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                server.stop()
                listener.close()
                try? FileSystem.removeFile(path)  // a leftover socket file is replaced by the next serve anyway
                Glibc.exit(0)
            }
            source.resume()
            signalSources.append(source)
        }
        print("serving org.varlink.certification on unix:\(path)")
        fflush(nil)  // scripts wait for this line; stdout is a pipe or file there, so block-buffered
        withExtendedLifetime(signalSources) { dispatchMain() }
    }
}

// MARK: - client

struct Client: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the certification sequence against a server and check every reply.",
        discussion: """
            Calls Start, Test01 … Test11 and End on one connection, as the reference client does: \
            each call passes along what the previous reply returned, Test10 is called with 'more' and \
            Test11 'oneway'. Unlike the reference client, every reply is also checked against the \
            expected values, so a wrong server is caught at the step that went wrong. Prints each \
            step, then 'Certification passed'.

            Exit status: 0 if certification passed; 1 if it failed, with the step and the wanted and \
            received values on standard error; 64 on bad usage.
            """)

    @OptionGroup var address: AddressOptions

    @Option(help: ArgumentHelp("Seconds to wait for each reply before failing.", valueName: "seconds"))
    var timeout: Double = 10

    @Flag(help: "Print only the final result.")
    var quiet = false

    func validate() throws {
        guard timeout > 0, timeout <= 3600 else { throw ValidationError("--timeout must be between 0 and 3600 seconds") }
    }

    func run() throws {
        let path = try address.path
        let quiet = self.quiet
        let client = CertificationClient(path: path, replyTimeout: .milliseconds(Int64(timeout * 1000)))
        if !quiet { print("Connecting to unix:\(path)") }
        do throws(CertificationFailure) {
            let result = try client.run { exchange in
                guard !quiet else { return }
                if exchange.step == .start {
                    print("client_id: \(exchange.replies.first?["client_id"]?.stringValue ?? "")")
                } else if exchange.replies.isEmpty {
                    print("\(exchange.step): (oneway, no reply)")
                } else {
                    for reply in exchange.replies { print("\(exchange.step): \(reply.jsonString)") }
                }
            }
            print("Certification passed (client_id \(result.clientID), \(result.exchanges.count) calls)")
        } catch {
            fail("certification failed at \(error)")  // the description starts with the step
        }
    }
}

/// Reports `message` on standard error and exits 1.
func fail(_ message: String) -> Never {
    fflush(nil)  // what was printed so far comes before the reason
    try? Descriptor.standardError.writeAll(Array("culvert-varlink-certify: \(message)\n".utf8))  // nowhere else to report to
    Glibc.exit(1)
}
