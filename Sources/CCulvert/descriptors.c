// See CCulvertDescriptors.h. Hand-written because SCM_RIGHTS needs the CMSG_* macros.
#define _GNU_SOURCE
#include "CCulvertDescriptors.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int culvert_socketpair(int fds[2]) {
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
}

ssize_t culvert_send_with_descriptors(int fd, const void *buf, size_t len, const int *descriptors, int count) {
    if (count < 0 || count > CULVERT_MAXIMUM_PASSED_DESCRIPTORS || len == 0) {
        errno = EINVAL;
        return -1;
    }
    union {
        char bytes[CMSG_SPACE(sizeof(int) * CULVERT_MAXIMUM_PASSED_DESCRIPTORS)];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof(control));
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1};
    if (count > 0) {
        message.msg_control = control.bytes;
        message.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)count);
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)count);
        memcpy(CMSG_DATA(header), descriptors, sizeof(int) * (size_t)count);
    }
    return sendmsg(fd, &message, MSG_NOSIGNAL);
}

ssize_t culvert_receive_with_descriptors(int fd, void *buf, size_t len, int *descriptors, int *count, int *truncated) {
    int capacity = *count;
    *count = 0;
    *truncated = 0;
    if (capacity < 0 || capacity > CULVERT_MAXIMUM_PASSED_DESCRIPTORS) {
        errno = EINVAL;
        return -1;
    }
    union {
        char bytes[CMSG_SPACE(sizeof(int) * CULVERT_MAXIMUM_PASSED_DESCRIPTORS)];
        struct cmsghdr align;
    } control;
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes};
    message.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)(capacity > 0 ? capacity : 1));
    ssize_t n = recvmsg(fd, &message, MSG_CMSG_CLOEXEC);
    if (n < 0) return -1;
    if (message.msg_flags & MSG_CTRUNC) *truncated = 1;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header != NULL; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        int arrived = (int)((header->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < arrived; i++) {
            int received;
            memcpy(&received, CMSG_DATA(header) + sizeof(int) * (size_t)i, sizeof(int));
            if (*count < capacity) {
                descriptors[(*count)++] = received;
            } else {
                close(received);  // no room: never leak what the kernel installed
                *truncated = 1;
            }
        }
    }
    return n;
}
