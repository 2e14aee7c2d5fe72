// NetworkEventMonitor: a libmnl socket subscribed to rtnetlink's link and address groups, so
// culvertd notices when something outside it changes a session's TUN interface (`ip link set cvt0
// down`, `ip link del cvt0`, an address removed). culvertd watches `descriptor` with a Dispatch
// read source and calls `readEvents()` when it fires. Parsing is in CMnl/events.h.

import CMnl

#if canImport(Glibc)
    import Glibc
#endif

/// Notifications of link and address changes in the calling thread's network namespace.
///
/// The socket is non-blocking and close-on-exec, and joins `RTMGRP_LINK`, `RTMGRP_IPV4_IFADDR` and
/// `RTMGRP_IPV6_IFADDR`. It reports changes only: read the current state separately (after
/// creating the monitor, so nothing falls in between) and again after every `.overrun`.
///
/// `@unchecked Sendable`: the libmnl handle is only read after `init` (`mnl_socket_recvfrom` keeps
/// no state in it) and every `readEvents()` call has its own buffer. Calls from several threads
/// at once are safe but split the events between them; call from one queue.
public final class NetworkEventMonitor: @unchecked Sendable {
    /// Bytes received per `recv`: one netlink datagram must fit, or it is lost (reported as
    /// `.overrun`). A link message with every attribute and statistic is about 1.5 KiB.
    public static let receiveBufferSize = 32 * 1024
    /// The most datagrams one `readEvents()` call receives (the kernel sends each notification as
    /// its own), so a flood of changes cannot hold the caller's queue. Whatever is left keeps the
    /// descriptor readable, and the next call continues there.
    public static let maximumMessagesPerRead = 256

    private let socket: OpaquePointer

    /// The socket's descriptor, for a read source or `Descriptor.waitReadable(_:timeout:)`.
    /// Owned by the monitor: closed when it is deinitialised (cancel any read source first).
    public let descriptor: Descriptor

    /// Opens the socket and joins the groups, in the calling thread's network namespace.
    /// - Throws: `SystemError` from `mnl_socket_open2` (e.g. EMFILE) or `mnl_socket_bind`.
    /// The corresponding C functions are `mnl_socket_open2` and `mnl_socket_bind`.
    public init() throws(SystemError) {
        let flags = Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard let socket = mnl_socket_open2(NETLINK_ROUTE, flags) else {
            throw SystemError(call: "mnl_socket_open2", errno: Syscall.currentErrno)
        }
        guard mnl_socket_bind(socket, culvert_mnl_event_groups(), pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let code = Syscall.currentErrno
            mnl_socket_close(socket)
            throw SystemError(call: "mnl_socket_bind", errno: code)
        }
        self.socket = socket
        self.descriptor = Descriptor(rawValue: mnl_socket_get_fd(socket))
    }

    deinit { mnl_socket_close(socket) }

    /// Receives and parses every pending notification, up to `maximumMessagesPerRead`, without
    /// blocking. Returns `[]` when nothing is pending.
    ///
    /// Events come in the kernel's order. Messages of other types or families are skipped, as are
    /// malformed ones. When the kernel dropped notifications (ENOBUFS) or one did not fit in
    /// `receiveBufferSize` bytes, the result holds `.overrun` (once per call) where the loss was
    /// noticed: that is not an error, the monitor keeps working, and the caller should re-read the
    /// full state of what it watches.
    /// - Throws: `SystemError` from `recvmsg` for anything else (e.g. ENOMEM).
    /// The corresponding C function is `mnl_socket_recvfrom`.
    public func readEvents() throws(SystemError) -> [NetworkEvent] {
        let result: Result<[NetworkEvent], SystemError> = withUnsafeTemporaryAllocation(
            byteCount: Self.receiveBufferSize, alignment: 8
        ) { buffer in
            do throws(SystemError) { return .success(try drain(into: buffer)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// The loop of `readEvents()`, with its buffer.
    private func drain(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> [NetworkEvent] {
        var events: [NetworkEvent] = []
        var overrunReported = false
        func reportOverrun() {
            guard !overrunReported else { return }
            overrunReported = true
            events.append(.overrun)
        }
        for _ in 0..<Self.maximumMessagesPerRead {  // bounded; what is left keeps the descriptor readable
            let received: Int
            do throws(SystemError) {
                received = try Syscall.call("recvmsg") { mnl_socket_recvfrom(socket, buffer.baseAddress, buffer.count) }
            } catch {
                if error.isWouldBlock { break }
                // ENOBUFS: the kernel's queue overflowed. ENOSPC: libmnl's word for MSG_TRUNC.
                guard error.errno == ENOBUFS || error.errno == ENOSPC else { throw error }
                reportOverrun()
                continue
            }
            if parse(UnsafeRawBufferPointer(rebasing: buffer[0..<received]), into: &events) { reportOverrun() }
        }
        return events
    }

    /// Appends the events of one datagram (one or more netlink messages) to `events`.
    /// - Returns: whether it held an NLMSG_OVERRUN.
    private func parse(_ datagram: UnsafeRawBufferPointer, into events: inout [NetworkEvent]) -> Bool {
        var sawOverrun = false
        guard let base = datagram.baseAddress, var remaining = Int32(exactly: datagram.count) else { return false }
        var message = base.assumingMemoryBound(to: nlmsghdr.self)
        var parsed = culvert_mnl_event()
        while mnl_nlmsg_ok(message, remaining) {  // bounded: each step consumes at least a header
            culvert_mnl_parse_event(message, &parsed)
            switch parsed.eventKind {
            case CULVERT_MNL_EVENT_LINK_NEW, CULVERT_MNL_EVENT_LINK_DELETED:
                events.append(.link(LinkEvent(parsed)))
            case CULVERT_MNL_EVENT_ADDRESS_NEW, CULVERT_MNL_EVENT_ADDRESS_DELETED:
                if let event = AddressEvent(parsed) { events.append(.address(event)) }
            case CULVERT_MNL_EVENT_OVERRUN:
                sawOverrun = true
            default:
                break  // ignored or malformed: nothing a caller could act on
            }
            message = UnsafePointer(mnl_nlmsg_next(message, &remaining))
        }
        return sawOverrun
    }
}

extension culvert_mnl_event {
    /// `kind` as the C enum (stored as int32_t for a fixed layout).
    fileprivate var eventKind: culvert_mnl_event_kind { culvert_mnl_event_kind(rawValue: UInt32(bitPattern: kind)) }
}

extension LinkEvent {
    /// The link half of a parsed message.
    fileprivate init(_ parsed: culvert_mnl_event) {
        let flags = parsed.link_flags
        self.init(
            kind: parsed.eventKind == CULVERT_MNL_EVENT_LINK_DELETED ? .deleted : .newOrChanged,
            interfaceIndex: parsed.interface_index,
            name: withUnsafeBytes(of: parsed.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) },
            isUp: flags & UInt32(CULVERT_MNL_IFF_UP) != 0,
            isRunning: flags & UInt32(CULVERT_MNL_IFF_RUNNING) != 0,
            hasCarrier: flags & UInt32(CULVERT_MNL_IFF_LOWER_UP) != 0,
            mtu: parsed.has_mtu != 0 ? Int(parsed.mtu) : nil)
    }
}

extension AddressEvent {
    /// The address half of a parsed message; nil if its length is out of range for the family.
    fileprivate init?(_ parsed: culvert_mnl_event) {
        let count = Int(parsed.address_length)
        let bytes = withUnsafeBytes(of: parsed.address) { Array($0.prefix(count)) }
        guard let address = IPAddress(bytes: bytes),
            let interfaceAddress = try? InterfaceAddress(address: address, prefixLength: Int(parsed.prefix_length))
        else { return nil }  // try?: a prefix length over 32/128 is a malformed message, skipped like one
        self.init(
            kind: parsed.eventKind == CULVERT_MNL_EVENT_ADDRESS_DELETED ? .removed : .added,
            interfaceIndex: parsed.interface_index, address: interfaceAddress)
    }
}
