// See CCulvertDatagram.h. Hand-written because sockaddr_in/sockaddr_in6, mmsghdr and the socket
// options are struct layouts and macros that should not reach Swift.
#define _GNU_SOURCE
#include "CCulvertDatagram.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

_Static_assert(CULVERT_FAMILY_IPV4 == AF_INET, "AF_INET");
_Static_assert(CULVERT_FAMILY_IPV6 == AF_INET6, "AF_INET6");
_Static_assert(sizeof(size_t) == sizeof(intptr_t), "size_t lengths are Swift Int");

/// Fills `storage` for `family`; returns the address length, or 0 with errno = EAFNOSUPPORT.
static socklen_t fill_ip_address(struct sockaddr_storage *storage, int family, const uint8_t *address, uint16_t port) {
    memset(storage, 0, sizeof(*storage));
    if (family == AF_INET) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)storage;
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        memcpy(&v4->sin_addr, address, 4);
        return sizeof(*v4);
    }
    if (family == AF_INET6) {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)storage;
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        memcpy(&v6->sin6_addr, address, 16);
        return sizeof(*v6);
    }
    errno = EAFNOSUPPORT;
    return 0;
}

/// Reads an AF_INET/AF_INET6 address out of `storage`; -1/EAFNOSUPPORT for any other family.
static int read_ip_address(const struct sockaddr_storage *storage, int *family, uint8_t *address, uint16_t *port) {
    if (storage->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)storage;
        *family = AF_INET;
        memcpy(address, &v4->sin_addr, 4);
        *port = ntohs(v4->sin_port);
        return 0;
    }
    if (storage->ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)storage;
        *family = AF_INET6;
        memcpy(address, &v6->sin6_addr, 16);
        *port = ntohs(v6->sin6_port);
        return 0;
    }
    errno = EAFNOSUPPORT;
    return -1;
}

int culvert_udp_socket(int family, int nonblocking) {
    if (family != AF_INET && family != AF_INET6) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    return socket(family, SOCK_DGRAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), IPPROTO_UDP);
}

int culvert_socket_bind(int fd, int family, const uint8_t *address, uint16_t port) {
    struct sockaddr_storage storage;
    socklen_t len = fill_ip_address(&storage, family, address, port);
    if (len == 0) return -1;
    return bind(fd, (struct sockaddr *)&storage, len);
}

int culvert_socket_connect(int fd, int family, const uint8_t *address, uint16_t port) {
    struct sockaddr_storage storage;
    socklen_t len = fill_ip_address(&storage, family, address, port);
    if (len == 0) return -1;
    return connect(fd, (struct sockaddr *)&storage, len);
}

int culvert_socket_address(int fd, int remote, int *family, uint8_t *address, uint16_t *port) {
    struct sockaddr_storage storage;
    socklen_t len = sizeof(storage);
    memset(&storage, 0, sizeof(storage));
    int rc = remote ? getpeername(fd, (struct sockaddr *)&storage, &len) : getsockname(fd, (struct sockaddr *)&storage, &len);
    if (rc < 0) return -1;
    return read_ip_address(&storage, family, address, port);
}

ssize_t culvert_datagram_send(int fd, const void *buf, size_t len, int family, const uint8_t *address, uint16_t port) {
    if (family == 0) return send(fd, buf, len, MSG_NOSIGNAL);
    struct sockaddr_storage storage;
    socklen_t address_len = fill_ip_address(&storage, family, address, port);
    if (address_len == 0) return -1;
    return sendto(fd, buf, len, MSG_NOSIGNAL, (struct sockaddr *)&storage, address_len);
}

ssize_t culvert_datagram_receive(int fd, void *buf, size_t len, int *family, uint8_t *address, uint16_t *port,
                                 int *truncated) {
    struct sockaddr_storage storage;
    socklen_t address_len = sizeof(storage);
    memset(&storage, 0, sizeof(storage));
    // MSG_TRUNC: the return value is the datagram's real length, so truncation is visible.
    ssize_t n = recvfrom(fd, buf, len, MSG_TRUNC, (struct sockaddr *)&storage, &address_len);
    if (n < 0) return -1;
    *truncated = (size_t)n > len ? 1 : 0;
    if (read_ip_address(&storage, family, address, port) < 0) *family = 0;
    return n;
}

/// The headers both batch receivers share: message i reads into slot i of `base`, and, with
/// `senders`, records its source address there.
static void prepare_receive(struct mmsghdr *messages, struct iovec *vectors, struct sockaddr_storage *senders, const void *base,
                            size_t slot_size, int count) {
    memset(messages, 0, sizeof(messages[0]) * (size_t)count);
    for (int i = 0; i < count; i++) {
        vectors[i].iov_base = (uint8_t *)base + slot_size * (size_t)i;
        vectors[i].iov_len = slot_size;
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
        if (senders != NULL) {
            memset(&senders[i], 0, sizeof(senders[i]));
            messages[i].msg_hdr.msg_name = &senders[i];
            messages[i].msg_hdr.msg_namelen = sizeof(senders[i]);
        }
    }
}

/// The checks and destination both batch senders share: `count` within the batch limit, and the
/// address (family 0: the socket's connected peer, length 0). -1 with errno on bad input.
static int batch_destination(int count, int family, const uint8_t *address, uint16_t port, struct sockaddr_storage *storage,
                             socklen_t *address_len) {
    if (count < 0 || count > CULVERT_DATAGRAM_BATCH_MAX) {
        errno = EINVAL;
        return -1;
    }
    *address_len = 0;
    if (family == 0) return 0;
    *address_len = fill_ip_address(storage, family, address, port);
    return *address_len == 0 ? -1 : 0;
}

int culvert_datagram_send_batch(int fd, const void *base, size_t slot_size, const size_t *lengths, int count, int family,
                                const uint8_t *address, uint16_t port) {
    struct sockaddr_storage storage;
    socklen_t address_len = 0;
    if (batch_destination(count, family, address, port, &storage, &address_len) < 0) return -1;
    struct mmsghdr messages[CULVERT_DATAGRAM_BATCH_MAX];
    struct iovec vectors[CULVERT_DATAGRAM_BATCH_MAX];
    memset(messages, 0, sizeof(messages[0]) * (size_t)count);
    for (int i = 0; i < count; i++) {
        vectors[i].iov_base = (uint8_t *)base + slot_size * (size_t)i;
        vectors[i].iov_len = lengths[i];
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
        if (family != 0) {
            messages[i].msg_hdr.msg_name = &storage;
            messages[i].msg_hdr.msg_namelen = address_len;
        }
    }
    return sendmmsg(fd, messages, (unsigned int)count, MSG_NOSIGNAL);
}

int culvert_datagram_receive_batch(int fd, void *base, size_t slot_size, size_t *lengths, uint8_t *truncated, int count,
                                   int *families, uint8_t *addresses, uint16_t *ports) {
    if (count < 0 || count > CULVERT_DATAGRAM_BATCH_MAX) {
        errno = EINVAL;
        return -1;
    }
    struct mmsghdr messages[CULVERT_DATAGRAM_BATCH_MAX];
    struct iovec vectors[CULVERT_DATAGRAM_BATCH_MAX];
    struct sockaddr_storage senders[CULVERT_DATAGRAM_BATCH_MAX];
    prepare_receive(messages, vectors, families != NULL ? senders : NULL, base, slot_size, count);
    // MSG_WAITFORONE: block (on a blocking socket) only for the first datagram, then take what is queued.
    int received = recvmmsg(fd, messages, (unsigned int)count, MSG_WAITFORONE, NULL);
    if (received < 0) return -1;
    for (int i = 0; i < received; i++) {
        lengths[i] = messages[i].msg_len;
        truncated[i] = (messages[i].msg_hdr.msg_flags & MSG_TRUNC) ? 1 : 0;
        if (families != NULL &&
            read_ip_address(&senders[i], &families[i], addresses + 16 * (size_t)i, &ports[i]) < 0) {
            families[i] = 0;
        }
    }
    return received;
}

int culvert_socket_domain(int fd) {
    int domain = -1;
    socklen_t len = sizeof(domain);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) return -1;
    return domain;
}

int culvert_socket_set_mark(int fd, uint32_t mark) {
    return setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark));
}

int culvert_socket_get_mark(int fd, uint32_t *mark) {
    socklen_t len = sizeof(*mark);
    return getsockopt(fd, SOL_SOCKET, SO_MARK, mark, &len);
}

int culvert_socket_force_buffer(int fd, int receive, int bytes) {
    return setsockopt(fd, SOL_SOCKET, receive ? SO_RCVBUFFORCE : SO_SNDBUFFORCE, &bytes, sizeof(bytes));
}

int culvert_socket_buffer(int fd, int receive, int *bytes) {
    socklen_t len = sizeof(*bytes);
    return getsockopt(fd, SOL_SOCKET, receive ? SO_RCVBUF : SO_SNDBUF, bytes, &len);
}

int culvert_eventfd(void) {
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

int culvert_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t n = write(fd, &one, sizeof(one));
    if (n < 0) return -1;
    return 0;
}

int culvert_eventfd_drain(int fd) {
    uint64_t value = 0;
    ssize_t n = read(fd, &value, sizeof(value));
    if (n < 0) return -1;
    return 1;
}

// UDP segmentation offload (declared in CCulvertOffload.h): kept here beside the sockaddr helpers.
#include <netinet/udp.h>
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

int culvert_udp_probe_segment(int fd) {
    int size = 0;
    socklen_t len = sizeof(size);
    return getsockopt(fd, SOL_UDP, UDP_SEGMENT, &size, &len) < 0 ? -1 : 0;
}

int culvert_udp_set_gro(int fd, int on) {
    int value = on ? 1 : 0;
    return setsockopt(fd, SOL_UDP, UDP_GRO, &value, sizeof(value));
}

int culvert_udp_send_segmented(int fd, const void *base, size_t slot_size, const size_t *lengths, const int *firsts,
                               const int *segments, const uint16_t *segment_sizes, int count, int family,
                               const uint8_t *address, uint16_t port) {
    struct sockaddr_storage storage;
    socklen_t address_len = 0;
    if (batch_destination(count, family, address, port, &storage, &address_len) < 0) return -1;
    struct mmsghdr messages[CULVERT_DATAGRAM_BATCH_MAX];
    struct iovec vectors[CULVERT_DATAGRAM_BATCH_MAX];
    union {
        char bytes[CMSG_SPACE(sizeof(uint16_t))];
        struct cmsghdr align;
    } controls[CULVERT_DATAGRAM_BATCH_MAX];
    memset(messages, 0, sizeof(messages[0]) * (size_t)count);
    int used = 0;  // iovecs handed out so far; every datagram is in at most one message
    for (int i = 0; i < count; i++) {
        int first = firsts[i], n = segments[i];
        if (n < 1 || first < 0 || used + n > CULVERT_DATAGRAM_BATCH_MAX || first + n > CULVERT_DATAGRAM_BATCH_MAX) {
            errno = EINVAL;
            return -1;
        }
        for (int j = 0; j < n; j++) {
            vectors[used + j].iov_base = (uint8_t *)base + slot_size * (size_t)(first + j);
            vectors[used + j].iov_len = lengths[first + j];
        }
        messages[i].msg_hdr.msg_iov = &vectors[used];
        messages[i].msg_hdr.msg_iovlen = (size_t)n;
        used += n;
        if (family != 0) {
            messages[i].msg_hdr.msg_name = &storage;
            messages[i].msg_hdr.msg_namelen = address_len;
        }
        if (n > 1) {
            memset(&controls[i], 0, sizeof(controls[i]));
            messages[i].msg_hdr.msg_control = controls[i].bytes;
            messages[i].msg_hdr.msg_controllen = sizeof(controls[i].bytes);
            struct cmsghdr *cmsg = CMSG_FIRSTHDR(&messages[i].msg_hdr);
            cmsg->cmsg_level = SOL_UDP;
            cmsg->cmsg_type = UDP_SEGMENT;
            cmsg->cmsg_len = CMSG_LEN(sizeof(uint16_t));
            memcpy(CMSG_DATA(cmsg), &segment_sizes[i], sizeof(uint16_t));
        }
    }
    return sendmmsg(fd, messages, (unsigned int)count, MSG_NOSIGNAL);
}

int culvert_udp_receive_coalesced(int fd, void *base, size_t slot_size, size_t *lengths, uint8_t *truncated,
                                  int *segment_sizes, int count, int *families, uint8_t *addresses, uint16_t *ports) {
    if (count < 0 || count > CULVERT_DATAGRAM_BATCH_MAX) {
        errno = EINVAL;
        return -1;
    }
    struct mmsghdr messages[CULVERT_DATAGRAM_BATCH_MAX];
    struct iovec vectors[CULVERT_DATAGRAM_BATCH_MAX];
    struct sockaddr_storage senders[CULVERT_DATAGRAM_BATCH_MAX];
    union {
        char bytes[CMSG_SPACE(sizeof(int)) * 2];
        struct cmsghdr align;
    } controls[CULVERT_DATAGRAM_BATCH_MAX];
    prepare_receive(messages, vectors, families != NULL ? senders : NULL, base, slot_size, count);
    for (int i = 0; i < count; i++) {
        messages[i].msg_hdr.msg_control = controls[i].bytes;
        messages[i].msg_hdr.msg_controllen = sizeof(controls[i].bytes);
    }
    int received = recvmmsg(fd, messages, (unsigned int)count, MSG_WAITFORONE, NULL);
    if (received < 0) return -1;
    for (int i = 0; i < received; i++) {
        struct msghdr *header = &messages[i].msg_hdr;
        lengths[i] = messages[i].msg_len;
        truncated[i] = (header->msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ? 1 : 0;
        segment_sizes[i] = 0;
        for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(header); cmsg != NULL; cmsg = CMSG_NXTHDR(header, cmsg)) {
            if (cmsg->cmsg_level != SOL_UDP || cmsg->cmsg_type != UDP_GRO) continue;
            int size = -1;
            if (cmsg->cmsg_len == CMSG_LEN(sizeof(int))) memcpy(&size, CMSG_DATA(cmsg), sizeof(int));
            segment_sizes[i] = size > 0 ? size : -1;
        }
        if (families != NULL && read_ip_address(&senders[i], &families[i], addresses + 16 * (size_t)i, &ports[i]) < 0) {
            families[i] = 0;
        }
    }
    return received;
}
