// The offloaded data plane's system calls: UDP segmentation offload (UDP_SEGMENT sends, UDP_GRO receives, whose
// control messages are macros and struct layouts that should not reach Swift).
#ifndef CCULVERT_OFFLOAD_H
#define CCULVERT_OFFLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// getsockopt(SOL_UDP, UDP_SEGMENT): 0 if this kernel knows UDP segmentation offload; -1 with errno
/// (ENOPROTOOPT on kernels before 4.18) if not.
int culvert_udp_probe_segment(int fd);
/// setsockopt(SOL_UDP, UDP_GRO, on): coalesced receives with a UDP_GRO control message (Linux 5.0+).
int culvert_udp_set_gro(int fd, int on);

/// sendmmsg() of `count` (at most CULVERT_DATAGRAM_BATCH_MAX) messages. Message i carries
/// `segments[i]` consecutive datagrams starting at slot `firsts[i]` (datagram j is `lengths[j]` bytes at
/// `base + j * slot_size`, gathered with one iovec each); a message of more than one datagram gets a
/// UDP_SEGMENT control message with `segment_sizes[i]`. `family` 0 sends to the connected peer.
/// Returns how many messages were sent; -1 with errno if the first could not be (EIO: the route's
/// device cannot segment, so send without UDP_SEGMENT).
int culvert_udp_send_segmented(int fd, const void *base, size_t slot_size, const size_t *lengths, const int *firsts,
                               const int *segments, const uint16_t *segment_sizes, int count, int family,
                               const uint8_t *address, uint16_t port);

/// recvmmsg() with MSG_WAITFORONE of up to `count` (at most CULVERT_DATAGRAM_BATCH_MAX) messages into slots
/// of `slot_size` bytes at `base + i * slot_size`, each with room for a UDP_GRO control message. Writes
/// each length to `lengths[i]`, 1 to `truncated[i]` if it was cut (message or control), and the UDP_GRO
/// segment size to `segment_sizes[i]`: 0 when there was none, -1 when a UDP_GRO control message was
/// malformed. Senders as culvert_datagram_receive_batch (`families` may be NULL). Returns how many
/// messages arrived; -1 with errno if none did.
int culvert_udp_receive_coalesced(int fd, void *base, size_t slot_size, size_t *lengths, uint8_t *truncated,
                                  int *segment_sizes, int count, int *families, uint8_t *addresses, uint16_t *ports);

#endif
