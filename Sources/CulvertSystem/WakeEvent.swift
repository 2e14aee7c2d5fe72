// WakeEvent: an eventfd that another thread signals to wake a data-plane thread out of
// `Descriptor.waitReadable`, so stopping a provider's loop never waits for a timeout or a packet.

import CCulvert

/// A wake-up flag as a descriptor: `signal()` makes it readable until `reset()`.
/// Watch `descriptor` in `Descriptor.waitReadable(_:timeout:)` next to the packet descriptors.
/// A value type: whoever created it calls `close()` once, after every thread has stopped using it.
public struct WakeEvent: Sendable, Hashable {
    /// Non-blocking and close-on-exec.
    public let descriptor: Descriptor

    /// Creates an unsignalled event. The corresponding C function is `eventfd`.
    public init() throws(SystemError) {
        descriptor = Descriptor(rawValue: try Syscall.call("eventfd") { culvert_eventfd() })
    }

    /// Makes the event readable, waking every thread waiting for it. Safe from any thread; signalling
    /// an already signalled event changes nothing. The corresponding C function is `write`.
    public func signal() throws(SystemError) {
        do throws(SystemError) {
            _ = try Syscall.call("write(eventfd)") { culvert_eventfd_signal(descriptor.rawValue) }
        } catch  where error.isWouldBlock {
            return  // the counter is at its maximum: the event is signalled already
        }
    }

    /// Clears the event. Returns true if it was signalled. The corresponding C function is `read`.
    @discardableResult
    public func reset() throws(SystemError) -> Bool {
        do throws(SystemError) {
            _ = try Syscall.call("read(eventfd)") { culvert_eventfd_drain(descriptor.rawValue) }
            return true
        } catch  where error.isWouldBlock {
            return false
        }
    }

    /// Closes the descriptor.
    public func close() { descriptor.close() }
}
