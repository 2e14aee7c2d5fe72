// The data plane: UDP sockets (sockaddr_in/sockaddr_in6 built and read here, so Swift only sees
// family + 4 or 16 address bytes + port), sendmmsg/recvmmsg over a slot buffer, SO_MARK, SO_DOMAIN
// and eventfd. Addresses are network-order bytes; ports are host-order.
#ifndef CCULVERT_DATAGRAM_H
#define CCULVERT_DATAGRAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// Most messages one culvert_datagram_send_batch / culvert_datagram_receive_batch call moves
/// (the size of their on-stack mmsghdr arrays). PacketBatch.maximumPacketCount is this value.
#define CULVERT_DATAGRAM_BATCH_MAX 64
/// Address families as the Swift side passes them (AF_INET, AF_INET6; pinned in datagram.c).
#define CULVERT_FAMILY_IPV4 2
#define CULVERT_FAMILY_IPV6 10

/// socket(family, SOCK_DGRAM|SOCK_CLOEXEC[|SOCK_NONBLOCK], IPPROTO_UDP).
int culvert_udp_socket(int family, int nonblocking);
/// bind() to `address` (4 or 16 bytes for `family`) and `port` (0: the kernel picks).
int culvert_socket_bind(int fd, int family, const uint8_t *address, uint16_t port);
/// connect() to `address` and `port`.
int culvert_socket_connect(int fd, int family, const uint8_t *address, uint16_t port);
/// getsockname() (remote = 0) or getpeername() (remote = 1). Writes the family (AF_INET or
/// AF_INET6; -1/EAFNOSUPPORT for any other), 4 or 16 bytes into `address` (16 bytes of room) and the port.
int culvert_socket_address(int fd, int remote, int *family, uint8_t *address, uint16_t *port);

/// sendto() with MSG_NOSIGNAL; `family` 0 sends to the connected peer.
ssize_t culvert_datagram_send(int fd, const void *buf, size_t len, int family, const uint8_t *address, uint16_t port);
/// recvfrom(). Writes the sender as culvert_socket_address does (*family = 0 if the kernel gave none)
/// and *truncated = 1 if the datagram was longer than `len` (the return value is then its full length).
ssize_t culvert_datagram_receive(int fd, void *buf, size_t len, int *family, uint8_t *address, uint16_t *port,
                                 int *truncated);

/// sendmmsg() of `count` (at most CULVERT_DATAGRAM_BATCH_MAX) datagrams: datagram i is `lengths[i]` bytes at
/// `base + i * slot_size`. `family` 0 sends to the connected peer. Returns how many were sent (fewer than
/// `count` when the kernel stopped early); -1 with errno if the first could not be sent.
int culvert_datagram_send_batch(int fd, const void *base, size_t slot_size, const size_t *lengths, int count, int family,
                                const uint8_t *address, uint16_t port);
/// recvmmsg() with MSG_WAITFORONE of up to `count` (at most CULVERT_DATAGRAM_BATCH_MAX) datagrams into slots
/// of `slot_size` bytes at `base + i * slot_size`. Writes each one's length to `lengths[i]`, and 1 to
/// `truncated[i]` if it was longer than its slot (else 0). If `families` is not NULL, each sender goes into
/// `families[i]`, `addresses + 16 * i` and `ports[i]`. Returns how many arrived; -1 with errno if none did.
int culvert_datagram_receive_batch(int fd, void *base, size_t slot_size, size_t *lengths, uint8_t *truncated, int count,
                                   int *families, uint8_t *addresses, uint16_t *ports);

/// getsockopt(SO_DOMAIN): the socket's address family. -1/ENOTSOCK for a descriptor that is not a socket.
int culvert_socket_domain(int fd);
/// setsockopt(SO_MARK): needs CAP_NET_ADMIN (EPERM without).
int culvert_socket_set_mark(int fd, uint32_t mark);
/// getsockopt(SO_MARK).
int culvert_socket_get_mark(int fd, uint32_t *mark);

/// setsockopt(SO_RCVBUFFORCE or SO_SNDBUFFORCE): a buffer size beyond net.core.[rw]mem_max; needs
/// CAP_NET_ADMIN (EPERM without). The kernel doubles `bytes` for its bookkeeping.
int culvert_socket_force_buffer(int fd, int receive, int bytes);
/// getsockopt(SO_RCVBUF or SO_SNDBUF): the size in force (as the kernel reports it, doubled).
int culvert_socket_buffer(int fd, int receive, int *bytes);

/// eventfd(0, EFD_CLOEXEC|EFD_NONBLOCK).
int culvert_eventfd(void);
/// Adds 1 to the eventfd counter (write of a uint64_t). -1/EAGAIN if the counter is at its maximum.
int culvert_eventfd_signal(int fd);
/// Reads and clears the counter; returns 1 if it was non-zero, -1/EAGAIN if it was zero.
int culvert_eventfd_drain(int fd);

#endif
