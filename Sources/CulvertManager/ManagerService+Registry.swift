// ManagerService+Registry: every change to registry.json goes through `commitRegistry` — decided
// on the manager queue, written off it, taken as the catalog's registry once it is on disk. A
// write is a JSON encoding, a write, and two fsyncs (file and directory), which on a busy disk
// take milliseconds: long enough to delay every Ping behind it if done on the manager queue.

import CulvertSystem
import Dispatch

extension ManagerService {
    /// Runs `decide` on the manager queue after every change asked for before it has been written
    /// (so it sees the registry as last written, and no two changes are made from the same one),
    /// writes the registry it returns off the queue, adopts it into the catalog, then calls `then`
    /// with the value `decide` returned. A nil or unchanged registry writes nothing. On a write
    /// failure the catalog keeps the registry it had and `then` gets `.storage`.
    /// `inline` (the spool at start) does all of it in the caller's turn.
    func commitRegistry<T>(
        inline: Bool = false, _ decide: @escaping () throws(ExtensionError) -> (next: ExtensionRegistry?, value: T),
        then: @escaping (Result<T, ExtensionError>) -> Void
    ) {
        dispatchPrecondition(condition: .onQueue(queue))
        registryWrites.enqueue { [self] done in
            let decision: (next: ExtensionRegistry?, value: T)
            do throws(ExtensionError) { decision = try decide() } catch {
                then(.failure(error))
                return done()
            }
            guard let next = decision.next, next != catalog.registry else {
                then(.success(decision.value))
                return done()
            }
            let path = catalog.registryPath
            registryWrites.offQueue(inline: inline) { () -> SystemError? in
                do throws(SystemError) {
                    try next.save(path: path)
                    return nil
                } catch {
                    return error
                }
            } then: { [self] failure in
                if let failure {
                    then(.failure(.storage(failure)))
                } else {
                    catalog.adopt(next)
                    then(.success(decision.value))
                }
                done()
            }
        }
    }
}
