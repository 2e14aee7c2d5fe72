// ProviderMessages: SendProviderMessage's calls to providers (HandleAppMessage). Each is answered
// exactly once — with the provider's reply, its error, its channel closing, or the timeout — and
// the count of unanswered ones tells a re-exec whether anything is in flight.

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
        run.channel.call(ProviderMethod.handleAppMessage.rawValue, parameters: HandleAppMessageParameters(data: data).jsonValue) {
            [self] result in
            guard !answered else { return }
            answered = true
            pending -= 1
            timeout.cancel()
            switch result {
            case .success(let reply):
                replier.reply(["data": reply.parameters["data"] ?? .null])
            case .failure(.remote(let remote)):
                replier.fail(failed("provider_error", remote.description))
            case .failure(.closed):
                replier.fail(failed("provider_gone", "the provider closed its channel before answering"))
            }
        }
    }
}
