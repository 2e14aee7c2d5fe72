// SignalTeardown: runs a cleanup on SIGINT or SIGTERM, then exits, so an interrupted benchmark
// leaves no namespace or process behind (its `defer` would not run otherwise).
//
// The handler only writes the signal number to a pipe (async-signal-safe); a thread reading the
// pipe runs the cleanup. Signals are neither blocked nor ignored, so the children the benchmark
// starts (culvertd, iperf3, the peer) get the default actions back at exec and can still be
// stopped with SIGTERM. (A Dispatch signal source would need the signal ignored or blocked, and
// children inherit both.)

import Foundation

/// Write end of the pipe the handler writes to; set once before the handlers are installed.
nonisolated(unsafe) private var signalPipe: Int32 = -1

enum SignalTeardown {
    /// Installs the handlers for SIGINT and SIGTERM; `cleanup` runs on a dedicated thread, then the process exits 128 + signal.
    static func install(_ cleanup: @escaping @Sendable () -> Void) throws {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw BenchError.failed("pipe: errno \(errno)") }
        signalPipe = ends[1]
        let reader = ends[0]
        let thread = Thread {
            var number: UInt8 = 0
            while read(reader, &number, 1) != 1 {
                guard errno == EINTR else { return }
            }
            FileHandle.standardError.write(Data("culvert-bench: signal \(number), cleaning up\n".utf8))
            cleanup()
            exit(128 + Int32(number))
        }
        thread.name = "signal-teardown"
        thread.start()
        for number in [SIGINT, SIGTERM] {
            // glibc's signal() installs with SA_RESTART: the main thread's blocking calls carry on.
            signal(number) { received in
                var byte = UInt8(truncatingIfNeeded: received)
                _ = write(signalPipe, &byte, 1)  // nothing to do if it fails inside a handler
            }
        }
    }
}
