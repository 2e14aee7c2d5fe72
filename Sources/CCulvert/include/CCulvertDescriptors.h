// Descriptor passing over AF_UNIX sockets (SCM_RIGHTS): the CMSG_* macros do not import into
// Swift. Used for provider channels and, later, for handing descriptors across re-exec.
#ifndef CCULVERT_DESCRIPTORS_H
#define CCULVERT_DESCRIPTORS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// Most descriptors carried by one message (the kernel allows 253; providers need a few).
#define CULVERT_MAXIMUM_PASSED_DESCRIPTORS 16

/// socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC).
int culvert_socketpair(int fds[2]);
/// sendmsg of `len` bytes (at least one) with `count` descriptors as SCM_RIGHTS, MSG_NOSIGNAL.
ssize_t culvert_send_with_descriptors(int fd, const void *buf, size_t len, const int *descriptors, int count);
/// recvmsg with MSG_CMSG_CLOEXEC. On entry *count is the capacity of `descriptors` (at most
/// CULVERT_MAXIMUM_PASSED_DESCRIPTORS); on return, how many arrived. *truncated is set to 1 if the
/// kernel dropped descriptors for lack of room (MSG_CTRUNC); those it did deliver are returned.
ssize_t culvert_receive_with_descriptors(int fd, void *buf, size_t len, int *descriptors, int *count, int *truncated);

#endif
