// ProviderMessages: SendProviderMessage's calls to providers (HandleAppMessage). Each is answered
// exactly once — with the provider's reply, its error, its channel closing, or the timeout — and
// the count of unanswered ones tells a re-exec whether anything is in flight. A message, and the
// answer's whole reply frame, of `OffQueue.inlineBelow` bytes or more is encoded off the manager
// queue (the channel parses a large answer off it too: VarlinkFrameDecoding; the streams queue and
// buffer it without copying it whole), so a large message delays no one else.

import CulvertCore
import CulvertVarlink
import CulvertWire
import Dispatch

final class ProviderMessages: @unchecked Sendable {  // confined to `queue`
    /// How long a provider may take to answer an app message.
    static let timeout: Duration = .seconds(10)

    let queue: DispatchQueue
    /// Messages sent and not yet answered.
    private(set) var pending = 0

    init(queue: DispatchQueue) { self.queue = queue }

    /// Sends `data` (base64, already checked) to `run`'s provider and answers `replier`.
    func send(_ data: String, to run: ProviderRun, profile: String, replier: VarlinkReplier) {
        dispatchPrecondition(condition: .onQueue(queue))
        func failed(_ reason: String, _ description: String) -> VarlinkError {
            ManagerError.providerMessageFailed(profile: profile, reason: reason, description: description).varlinkError
        }
        var answered = false
        pending += 1
        let timeout = DispatchWorkItem { [self] in
            guard !answered else { return }
            answered = true
            pending -= 1
            replier.fail(failed("timeout", "the provider did not answer within \(Self.timeout)"))
        }
        queue.asyncAfter(deadline: .now() + Self.timeout.dispatchInterval, execute: timeout)
        // Encoding is proportional to the message: a large one is encoded off the queue, and so is the answer.
        let method = ProviderMethod.handleAppMessage.rawValue
        let inline = data.utf8.count < OffQueue.inlineBelow
        OffQueue.run(on: OffQueue.messages, returningTo: queue, inline: inline) {
            EncodedCall(VarlinkCallMessage(method: method, parameters: HandleAppMessageParameters(data: data).jsonValue))
        } then: { [self] call in
            guard !answered else { return }  // timed out meanwhile
            run.channel.call(encoded: call) { [self] result in
                guard !answered else { return }
                answered = true
                pending -= 1
                timeout.cancel()
                switch result {
                case .success(let reply):
                    let answer = reply.parameters["data"] ?? .null
                    OffQueue.run(
                        on: OffQueue.messages, returningTo: queue,
                        inline: inline && (answer.stringValue?.utf8.count ?? 0) < OffQueue.inlineBelow
                    ) {
                        // The whole reply frame: building it on the queue would copy the answer there.
                        VarlinkReplyMessage.frame(encodedParameters: JSONValue.object(["data": answer]).serialized(), continues: false)
                    } then: { frame in
                        replier.reply(finalFrame: frame)
                    }
                case .failure(.remote(let remote)):
                    replier.fail(failed("provider_error", remote.description))
                case .failure(.closed):
                    replier.fail(failed("provider_gone", "the provider closed its channel before answering"))
                }
            }
        }
    }
}
