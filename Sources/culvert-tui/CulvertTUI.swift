// culvert-tui: the terminal controller. The main thread runs the screen loop; the watch stream,
// signals and actions post messages to an inbox that the loop drains every poll.

import ArgumentParser
import CulvertClient
import CulvertCore
import CulvertTUIModel
import Dispatch
import FoundationEssentials
import Glibc
import Synchronization

@main
struct CulvertTUI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "culvert-tui",
        abstract: "Watch and manage culvertd in a full-screen terminal UI.",
        discussion: """
            Shows profiles, extensions, tunnel sessions (state, interface, traffic, failure) and the \
            event log, live from culvertd's status channel; the bottom line says whether the data is \
            live, reconnecting or resynced. Keys: arrows or j/k move, Tab switches pane, c connects \
            and d disconnects the selected profile or session, l shows its provider's log and i its \
            execution context, / filters by name (Esc clears), a approves the selected extension, x \
            removes the selected profile (asks y/n), ? shows help, q quits. Changes need root; other \
            users get a read-only view. NO_COLOR turns colours off.
            """)

    @Option(
        name: .long,
        help: ArgumentHelp("culvertd's control socket (default: $CULVERT_SOCKET, else /run/culvert/io.culvert.Manager).", valueName: "path")
    )
    var socket: String?

    /// How long the loop waits for a key before it looks at the inbox again: events are on screen within this.
    static let pollMilliseconds: Int32 = 50

    func run() throws {
        let client = CulvertClient(socketPath: CulvertClient.resolveSocketPath(explicit: socket))
        let inbox = Inbox()
        let signalSources = [SIGINT, SIGTERM, SIGHUP].map { number -> any DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { inbox.post(.terminate) }
            source.resume()
            return source
        }
        defer { signalSources.forEach { $0.cancel() } }

        let uid = geteuid()
        let readOnly = uid == 0 ? nil : "not root (uid \(uid)): changes need root"
        let stream = client.watch()
        let watcher = Task.detached {
            for await update in stream { inbox.post(.watch(update)) }
        }
        defer {
            stream.cancel()
            watcher.cancel()
        }

        let terminal = try Terminal(pollMilliseconds: Self.pollMilliseconds, environment: ProcessInfo.processInfo.environment)
        defer { terminal.stop() }
        var state = TUIState(readOnlyReason: readOnly)
        let clock = ContinuousClock()
        let origin = clock.now
        var drawn: (lines: [ScreenLine], width: Int, height: Int)?
        while !state.quitting {
            let elapsed = origin.duration(to: clock.now)
            let monotonic = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            var messages: [TUIMessage] = [.tick(monotonic: monotonic, wall: Date().timeIntervalSince1970)]
            messages += inbox.drain()
            for message in messages {
                for effect in state.reduce(message) { perform(effect, client: client, inbox: inbox) }
            }
            if state.quitting { break }
            let size = terminal.size
            let lines = Layout(width: size.width, height: size.height, unicode: terminal.unicode).lines(for: state)
            if drawn == nil || drawn!.lines != lines || drawn!.width != size.width || drawn!.height != size.height {
                terminal.draw(lines)
                drawn = (lines, size.width, size.height)
            }
            if let key = terminal.readKey() {
                if key == .resize { drawn = nil }
                for effect in state.reduce(.key(key)) { perform(effect, client: client, inbox: inbox) }
            }
        }
    }

    /// Runs an action off the screen loop; its outcome comes back as a message.
    private func perform(_ effect: TUIEffect, client: CulvertClient, inbox: Inbox) {
        switch effect {
        case .quit:
            break
        case .approve(let identifier):
            Task.detached {
                do throws(CulvertClientError) {
                    let result = try await client.approveExtension(identifier)
                    let text =
                        result.changed
                        ? "approved \(identifier) (seq \(result.seq))" : "\(identifier) was already \(result.extensionInfo.state.rawValue)"
                    inbox.post(.actionFinished(text: text, denied: nil))
                } catch {
                    inbox.post(Self.failure("approve \(identifier)", error))
                }
            }
        case .connect(let profile):
            Task.detached {
                do throws(CulvertClientError) {
                    let change = try await client.connect(profile: profile)
                    let session = change.session
                    let place = session.interface.map { " on \($0)" } ?? ""
                    inbox.post(.sessionActionFinished(text: "\(profile) is \(session.state.rawValue)\(place)", session: session))
                } catch {
                    let hint = if case .connectFailed = error { " (l shows the log)" } else { "" }
                    inbox.post(Self.failure("connect \(profile)", error, hint: hint))
                }
            }
        case .disconnect(let profile):
            Task.detached {
                do throws(CulvertClientError) {
                    let change = try await client.disconnect(profile: profile)
                    inbox.post(.sessionActionFinished(text: "\(profile) is \(change.session.state.rawValue)", session: change.session))
                } catch {
                    inbox.post(Self.failure("disconnect \(profile)", error))
                }
            }
        case .fetchLog(let profile):
            Task.detached {
                do throws(CulvertClientError) {
                    inbox.post(.logLoaded(profile: profile, log: try await client.sessionLog(profile: profile)))
                } catch {
                    inbox.post(.logFailed(profile: profile, text: "cannot read the log: \(error)"))
                }
            }
        case .removeProfile(let name):
            Task.detached {
                do throws(CulvertClientError) {
                    let seq = try await client.removeProfile(named: name)
                    inbox.post(.actionFinished(text: "removed profile \(name) (seq \(seq))", denied: nil))
                } catch {
                    inbox.post(Self.failure("remove \(name)", error))
                }
            }
        }
    }

    /// "connect lab failed (l shows the log): start_timeout: …": the hint before the details, which
    /// an 80-column line may cut; the error's own "connect failed: " is not said twice.
    private static func failure(_ what: String, _ error: CulvertClientError, hint: String = "") -> TUIMessage {
        if case .permissionDenied(let action) = error {
            return .actionFinished(text: "\(what) failed: \(error)", denied: action)
        }
        var detail = "\(error)"
        if case .connectFailed = error, detail.hasPrefix("connect failed: ") { detail.removeFirst("connect failed: ".count) }
        return .actionFinished(text: "\(what) failed\(hint): \(detail)", denied: nil)
    }
}

/// Messages from other threads to the screen loop.
final class Inbox: Sendable {
    private let messages = Mutex<[TUIMessage]>([])

    func post(_ message: TUIMessage) {
        messages.withLock { $0.append(message) }
    }

    func drain() -> [TUIMessage] {
        messages.withLock { messages in
            let drained = messages
            messages = []
            return drained
        }
    }
}
