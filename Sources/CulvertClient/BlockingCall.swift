// BlockingCall: runs blocking socket I/O on its own thread and hands the result to async code.

import CulvertSystem

/// Bridges one blocking operation into Swift concurrency.
///
/// The varlink client blocks in `poll`/`read`; doing that on the cooperative pool would starve
/// every other task (the pool has one thread per core). Each call therefore gets a dedicated
/// thread, and cancelling the awaiting task cancels the operation's `ConnectionGate`, which wakes
/// the thread at once.
enum BlockingCall {
    static func run<Value: Sendable>(
        name: String, _ body: @escaping @Sendable (ConnectionGate) -> Result<Value, CulvertClientError>
    ) async -> Result<Value, CulvertClientError> {
        let gate = ConnectionGate()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<Value, CulvertClientError>, Never>) in
                SystemThread.start(name: name) { continuation.resume(returning: body(gate)) }
            }
        } onCancel: {
            gate.cancel()
        }
    }
}
