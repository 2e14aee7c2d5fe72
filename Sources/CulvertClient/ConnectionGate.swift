// ConnectionGate: lets another thread interrupt a blocking connection without racing its close.

import CulvertSystem
import FoundationEssentials

/// Cancellation for blocking I/O done on a dedicated thread.
///
/// The I/O thread `attach`es its socket before blocking on it and `detach`es it before closing
/// it; `cancel()` (from any thread) shuts the attached socket down, which wakes a blocked
/// `read`/`poll` with end of file. Both happen under one lock, so a cancel can never shut down a
/// descriptor number that was already closed and reused.
final class ConnectionGate: @unchecked Sendable {  // every mutable member is guarded by `condition`
    private let condition = ThreadCondition()
    private var descriptor: Descriptor?
    private var cancelled = false

    var isCancelled: Bool {
        condition.lock()
        defer { condition.unlock() }
        return cancelled
    }

    /// Registers the socket the I/O thread is about to block on. Returns false (and registers
    /// nothing) if the gate was already cancelled: the caller should close and stop.
    func attach(_ socket: Descriptor) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !cancelled else { return false }
        descriptor = socket
        return true
    }

    /// Unregisters the socket; call before closing it.
    func detach() {
        condition.lock()
        descriptor = nil
        condition.unlock()
    }

    /// Interrupts the attached socket (if any) and every `sleep`, now and in future. Idempotent.
    func cancel() {
        condition.lock()
        cancelled = true
        descriptor?.shutdown()
        condition.broadcast()
        condition.unlock()
    }

    /// Sleeps for `duration` unless cancelled first. Returns false if the gate is cancelled.
    func sleep(for duration: Duration) -> Bool {
        let deadline = ThreadCondition.Deadline.after(duration)
        condition.lock()
        defer { condition.unlock() }
        while !cancelled {
            if !condition.wait(until: deadline) { break }
        }
        return !cancelled
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }

    /// Milliseconds for poll(2), rounded up so a short remainder doesn't become "don't wait", and
    /// clamped to what poll accepts.
    var pollMilliseconds: Int32 {
        let milliseconds = (seconds * 1000).rounded(.up)
        return Int32(max(0, min(milliseconds, Double(Int32.max))))
    }
}
